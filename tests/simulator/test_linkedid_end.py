"""LINKEDID_END comes once per linkedid, after its last channel is gone (as Asterisk's CEL does)."""

from __future__ import annotations

import asyncio

from ivr.simulator.clock import SimClock
from ivr.simulator.conf import Dialplan
from ivr.simulator.pbx import Pbx


async def test_linkedid_end_after_the_last_channel_of_each_call():
    pbx = Pbx(Dialplan.from_conf("[hold]\nexten => s,1,Wait(30)\n"), SimClock())
    cel: list[tuple[str, str, str]] = []
    pbx.listeners.append(lambda cls, m: cel.append((m.get("EventName"), m.get("Channel"), m.get("LinkedID")))
                         if m.name == "CEL" else None)
    calls = [pbx.new_local_pair("s", "hold") for _ in range(3)]
    extra = pbx.new_channel("SIP/agent-00000099", "hold", "s", linkedid=calls[0][0].linkedid)

    def ends() -> list[tuple[str, str]]:
        return [(chan, linked) for name, chan, linked in cel if name == "LINKEDID_END"]

    one, two = calls[0]
    pbx.destroy(one)
    pbx.destroy(two)
    assert ends() == []                                  # the agent leg still carries that linkedid
    pbx.destroy(extra)
    assert ends() == [(extra.name, one.linkedid)]
    for a, b in calls[1:]:
        pbx.destroy(b)
        pbx.destroy(a)
    assert ends() == [(extra.name, one.linkedid), (calls[1][0].name, calls[1][0].linkedid),
                      (calls[2][0].name, calls[2][0].linkedid)]
    pbx.destroy(calls[1][0])                             # a second destroy is a no-op
    assert len(ends()) == 3 and pbx.idle.is_set() and not pbx._linked
    await asyncio.sleep(0)
