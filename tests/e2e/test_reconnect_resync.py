"""Kill the AMI side of the simulator mid-call: the controller reconnects with backoff,
re-synchronises from CoreShowChannels, closes the call that ended while it was away,
adopts the one it never saw, and refuses to replay side-effecting actions."""

from __future__ import annotations

import asyncio

import pytest

from ivr.ami.client import AmiClient
from ivr.ami.errors import ConnectionLostError
from ivr.bus import EventBus
from ivr.calls import CallTracker
from ivr.controller import AmiController
from ivr.events import CallEnded, CallStarted, Disposition
from ivr.simulator import PbxSimulator


async def until(pred, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_reconnect_resync_after_the_ami_side_dies():
    seen: list[object] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    async with PbxSimulator(ami_port=0) as sim:
        port = sim.bound_port
        tracker = CallTracker(bus)
        client = AmiClient("127.0.0.1", port, "hotline", "hotline-secret", ping_interval=0.5,
                           ping_timeout=0.5, backoff_initial=0.05, backoff_max=0.2)
        ctl = AmiController(client, tracker)
        await ctl.start()
        try:
            a = await sim.place_call(caller="13800000001", dialed="s", context="hold")
            await until(lambda: tracker.call_id_for(a.name) is not None)
            call_a = tracker.call_id_for(a.name)

            await sim.ami.stop()                     # the manager interface dies mid-call
            await until(lambda: not client.connected)
            with pytest.raises(ConnectionLostError):
                await ctl.hangup(call_a)             # never queued for replay

            sim.pbx.request_hangup(a.channel, 16)    # A ends while nobody listens ...
            b = await sim.place_call(caller="13800000002", dialed="s", context="hold")  # ... B starts
            await asyncio.sleep(0.3)

            sim.ami.port = port
            await sim.ami.start()                    # back on the same port
            await until(lambda: ctl.resyncs == 2)
            await bus.drain()
            await until(lambda: any(isinstance(e, CallEnded) and e.call_id == call_a for e in seen))

            ended_a = next(e for e in seen if isinstance(e, CallEnded) and e.call_id == call_a)
            assert ended_a.snapshot.disposition is Disposition.ENDED_DISCONNECTED
            adopted = [e for e in seen if isinstance(e, CallStarted) and e.adopted]
            assert [e.caller for e in adopted] == ["13800000002"]
            assert tracker.call_id_for(b.name) == adopted[0].call_id
            assert client.stats["connects"] == 2

            await ctl.hangup(adopted[0].call_id)     # commands work again after the resync
            await b.wait_ended(timeout=5)
        finally:
            await ctl.stop()
            await bus.close()
