"""The project's AMI client (ivr.ami.client) against the simulator: MD5 login, lists, originate, CLI."""

from __future__ import annotations

import asyncio

from ivr.ami.client import AmiClient
from ivr.simulator import PbxSimulator
from sim_driver import free_port


async def test_ami_client_md5_lists_originate_and_command() -> None:
    async with PbxSimulator(agi_address=("127.0.0.1", free_port()), speed=25) as sim:
        client = AmiClient("127.0.0.1", sim.bound_port, "hotline", "hotline-secret", auth="md5", ping_interval=None)
        seen: list[str] = []
        client.on("UserEvent", lambda m: seen.append(m.get("UserEvent")))
        async with client:
            res = await client.send_action("Originate", Channel="Local/s@ivr-12319", Application="Wait", Data="30",
                                           Async="true", CallerID='"李四" <13900000000>', until_event="OriginateResponse")
            assert res.success
            channels = await client.send_action("CoreShowChannels")
            names = sorted(m.get("Channel") for m in channels.events if m.name == "CoreShowChannel")
            assert names == ["Local/s@ivr-12319-00000000;1", "Local/s@ivr-12319-00000000;2"]
            status = await client.send_action("Status", Channel="Local/s@ivr-12319-00000000;2", Variables="CALLERID(name)")
            item = [m for m in status.events if m.name == "Status"][0]
            assert item.get("Variable") == "CALLERID(name)=李四"
            queue = await client.send_action("QueueStatus", Queue="test")
            assert [m.name for m in queue.events] == ["QueueParams", "QueueMember"]
            out = await client.send_action("Command", Command="core show channels")
            assert out.output[-3:] == ["2 active channels", "1 active call", "1 call processed"]
            hung = await client.send_action("Hangup", Channel="/^Local/s@ivr-12319-.*;1$/")
            assert [m.get("Channel") for m in hung.events if m.name == "ChannelHungup"] == ["Local/s@ivr-12319-00000000;1"]
            await asyncio.wait_for(sim.wait_idle(), 10)
        assert "IVRStart" in seen
