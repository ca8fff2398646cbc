"""A simulated phone that a person answers: the agent's desk phone in the demo console, or a test.

Reachable as ``PJSIP/<name>`` like any simulated endpoint, it rings until :meth:`Softphone.answer`
(or :meth:`reject`, or the caller gives up), then stays connected until :meth:`hangup` or the
other side leaves. ``on_change(phone)`` is told every time it starts ringing, is answered or is
free again, so a console can show 振铃 / 接听 / 挂断 buttons.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable

from .channels import Channel, Interrupted

if TYPE_CHECKING:  # pragma: no cover
    from .pbx import Pbx

__all__ = ["Softphone"]


class Softphone:
    behaviour = "answer"   # available (what ``request_channel`` checks); the call itself is run()

    def __init__(self, name: str, on_change: Callable[["Softphone"], None] | None = None):
        self.name = name
        self.on_change = on_change
        self.channel: Channel | None = None
        self.state = "idle"                      # idle, ringing, connected
        self.caller = ""                         # the number shown while ringing / connected
        self._pbx: "Pbx | None" = None
        self._decision: asyncio.Future | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    async def run(self, pbx: "Pbx", chan: Channel) -> None:
        """Called by the simulator when the phone is dialled."""
        if self.state != "idle":                 # one call at a time: busy
            await pbx.clock.sleep(0.2)
            chan.hangup_cause = 17
            pbx.signal_busy(chan, "busy")
            return
        self._pbx, self.channel = pbx, chan
        self.caller = chan.conn_num or ""
        self._decision = asyncio.get_running_loop().create_future()
        pbx.set_state(chan, 5)
        self.state = "ringing"
        self._changed()
        try:
            stop = asyncio.ensure_future(chan.interrupt.wait())
            try:
                await asyncio.wait({self._decision, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if chan.interrupt.is_set() or not self._decision.done() or self._decision.result() != "answer":
                if not chan.interrupt.is_set():
                    pbx.request_hangup(chan, 21)          # rejected: call rejected
                return
            pbx.answer(chan)
            self.state = "connected"
            self._changed()
            await pbx.wait(chan, None)               # until either side hangs up
        except Interrupted:
            return
        finally:
            self.state, self.channel, self.caller, self._decision = "idle", None, "", None
            self._changed()

    def answer(self) -> bool:
        """接听: answer a ringing call; False when nothing rings."""
        if self.state != "ringing" or self._decision is None or self._decision.done():
            return False
        self._decision.set_result("answer")
        return True

    def reject(self) -> bool:
        if self.state != "ringing" or self._decision is None or self._decision.done():
            return False
        self._decision.set_result("reject")
        return True

    def hangup(self) -> bool:
        """挂断: end the connected call (or reject a ringing one)."""
        if self.state == "ringing":
            return self.reject()
        if self.state != "connected" or self.channel is None or self._pbx is None:
            return False
        self._pbx.request_hangup(self.channel, 16, announce=True)
        return True
