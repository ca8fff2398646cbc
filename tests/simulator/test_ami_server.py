"""AMI server behaviour of the simulator: login variants, event masks, bad input, CLI output, lifecycle."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from ivr.ami.messages import Message
from ivr.ami.protocol import AmiParser, parse_stream
from ivr.simulator import PbxSimulator
from sim_driver import FIXTURES, AmiTap, free_port


def sim(**kw) -> PbxSimulator:
    kw.setdefault("agi_address", ("127.0.0.1", free_port()))
    kw.setdefault("speed", 50)
    kw.setdefault("login_failure_delay", 0.05)
    return PbxSimulator(**kw)


async def raw_session(port: int, payload: bytes, read_timeout: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), read_timeout)
            if not chunk:
                break
            data += chunk
    except asyncio.TimeoutError:
        pass
    writer.close()
    return data


async def test_banner_is_first_line_without_blank_line() -> None:
    async with sim() as s:
        data = await raw_session(s.bound_port, b"Action: Logoff\r\n\r\n")
    assert data.startswith(b"Asterisk Call Manager/9.0.0\r\nResponse: Goodbye\r\n")
    assert data.endswith(b"Message: Thanks for all the fish.\r\n\r\n")


async def test_md5_challenge_login() -> None:
    async with sim() as s:
        reader, writer = await asyncio.open_connection("127.0.0.1", s.bound_port)
        parser = AmiParser()
        writer.write(b"Action: Challenge\r\nAuthType: MD5\r\nActionID: c1\r\n\r\n")
        msgs: list[Message] = []
        while not msgs:
            msgs += parser.feed(await reader.read(4096))
        challenge = msgs[0]
        assert [k for k, _ in challenge.headers] == ["Response", "ActionID", "Challenge"]
        key = hashlib.md5((challenge["Challenge"] + "hotline-secret").encode()).hexdigest()
        writer.write(f"Action: Login\r\nAuthType: MD5\r\nUsername: hotline\r\nKey: {key}\r\nEvents: off\r\nActionID: l1\r\n\r\n".encode())
        msgs = []
        while not msgs:
            msgs += parser.feed(await reader.read(4096))
        assert msgs[0].name == "Success" and msgs[0]["Message"] == "Authentication accepted"
        writer.close()


async def test_failed_login_closes_connection() -> None:
    async with sim() as s:
        data = await raw_session(s.bound_port, (FIXTURES / "08a_login_failure.sent").read_bytes(), read_timeout=5)
    assert data == (FIXTURES / "08a_login_failure.txt").read_bytes()


async def test_event_mask_filters_classes() -> None:
    async with sim() as s, AmiTap(s.bound_port, events="call,user") as tap, AmiTap(s.bound_port, events="off") as quiet:
        call = await s.place_call("13800000001", "12319")
        await call.wait_ended(10)
        await tap.wait_for(lambda m: m.name == "Hangup" and m.get("Channel") == call.name)
        privileges = {m.get("Privilege") for m in tap.events()}
        assert privileges <= {"call,all", "user,all"}
        assert any(m.name == "UserEvent" for m in tap.events())
        assert not any(m.name in ("Newexten", "VarSet", "Cdr") for m in tap.events())
        assert quiet.events() == []
        resp = await quiet.action("Events", EventMask="on")
        assert resp.get("Events") == "On"


async def test_garbage_and_oversized_input_do_not_crash() -> None:
    async with sim() as s:
        junk = b"\x00\xff\xfegarbage without colon\r\n\r\n" + b"X" * 200_000 + b"\r\n\r\n" + b"Action:\r\n\r\n"
        await raw_session(s.bound_port, junk, read_timeout=0.5)
        async with AmiTap(s.bound_port) as tap:
            pong = await tap.action("Ping")
            assert pong.get("Ping") == "Pong"
            bad = await tap.action("Originate", Channel="NoSlash")
            assert bad.name == "Error"
            bad = await tap.action("Originate", Channel="Local/s@hold", Application="Wait", Priority="x")
            assert bad.get("Message") == "Invalid priority"


async def test_command_output_like_asterisk_20() -> None:
    want = {m.get("ActionID"): m for m in parse_stream((FIXTURES / "07_command_core_show_channels.txt").read_bytes())}
    async with sim() as s, AmiTap(s.bound_port) as tap:
        await tap.action("Originate", Channel="Local/s@hold", Application="Wait", Data="20", Async="true",
                         CallerID='"X" <0907000007>')
        await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Application") == "Wait")
        got = {}
        for i, cmd in enumerate(["core show channels", "core show channels concise", "core show version",
                                 "core show nosuchthing", "queue show test", "sip show peers"], start=2):
            got[f"command-{i}"] = await tap.action("Command", Command=cmd)
    for aid, m in got.items():
        ref = want[aid]
        assert (m.name, m.get("Message")) == (ref.name, ref.get("Message")), aid
        assert len(m.getall("Output")) == len(ref.getall("Output")), aid
    lines = got["command-2"].getall("Output")
    assert lines[0] == want["command-2"].getall("Output")[0]
    seq = re.compile(r"-[0-9a-f]{8};")
    for mine, ref in zip(lines[1:3], want["command-2"].getall("Output")[1:3]):
        assert seq.sub("-#;", mine) == seq.sub("-#;", ref)
    assert lines[3:5] == ["2 active channels", "1 active call"]
    concise = got["command-3"].getall("Output")
    assert [len(line.split("!")) for line in concise] == [14, 14]
    assert concise[0].split("!")[1:8] == ["hold", "s", "2", "Up", "Wait", "60", "0907000007"]
    assert got["command-5"].getall("Output") == want["command-5"].getall("Output")
    assert got["command-7"].getall("Output") == want["command-7"].getall("Output")
    assert got["command-4"]["Output"].startswith("Asterisk 20.20.1 built by root @ vm on a x86_64 running Linux on ")


async def test_stop_hangs_up_calls_and_closes_port() -> None:
    s = sim()
    async with s:
        port = s.bound_port
        async with AmiTap(port) as tap:
            call = await s.place_call("13800000002", "12319")
            await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Application") == "WaitExten")
    assert call.ended
    assert not s.pbx.channels
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_redirect_both_legs_and_blind_transfer() -> None:
    plan = {
        "contexts": {
            "in": {"12319": ["Answer()", "Dial(SIP/agent1,10,g)", "UserEvent(AfterDial,Status: ${DIALSTATUS})", "Hangup()"]},
            "park": {"s": ["Answer()", "UserEvent(Parked,Channel: ${CHANNEL})", "Wait(60)"]},
            "district": {"_X.": ["UserEvent(District,Exten: ${EXTEN})", "Dial(SIP/street${EXTEN},10)", "Hangup()"]},
        }
    }
    from ivr.simulator import Endpoint

    async with sim(dialplan=plan, inbound_context="in") as s, AmiTap(s.bound_port) as tap:
        s.add_endpoint("agent1", Endpoint("answer", answer_after=1, talk_time=None))
        s.add_endpoint("street55", Endpoint("answer", answer_after=1, talk_time=2))
        call = await s.place_call("13800000003", "12319")
        enter = await tap.wait_for(lambda m: m.name == "BridgeEnter" and m.get("Channel", "").startswith("SIP/agent1"))
        agent = enter["Channel"]
        resp = await tap.action("BlindTransfer", Channel=agent, Context="district", Exten="55")
        assert resp.get("Message") == "Transfer succeeded"
        bt = await tap.wait_for(lambda m: m.name == "BlindTransfer")
        assert bt.get("TransfereeChannel") == call.name and bt.get("Extension") == "55"
        ev = await tap.wait_for(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "District")
        assert ev.get("Channel") == call.name
        await call.wait_ended(10)
        await s.wait_idle(5)
        # dual redirect of two parked calls
        a = await s.place_call("13800000004", "s", context="park")
        b = await s.place_call("13800000005", "s", context="park")
        await tap.wait_for(lambda m: m.get("UserEvent") == "Parked" and m.get("Channel") == b.name)
        r = await tap.action("Redirect", Channel=a.name, ExtraChannel=b.name, Context="district", Exten="55", Priority="1")
        assert r.get("Message") == "Dual Redirect successful"
        for c in (a, b):
            await tap.wait_for(lambda m, c=c: m.get("UserEvent") == "District" and m.get("Channel") == c.name)


async def test_manager_conf_users_read_and_write_classes() -> None:
    conf = (FIXTURES / "manager.conf.used").read_text() + """
[monitor]
secret = look-only
read = call,agent
write = reporting
"""
    async with sim(manager_conf=conf) as s:
        async with AmiTap(s.bound_port) as admin:
            ok = await admin.action("Originate", Channel="Local/s@hold", Application="Wait", Data="1", Async="true")
            assert ok.name == "Success"
        reader, writer = await asyncio.open_connection("127.0.0.1", s.bound_port)
        parser = AmiParser()
        writer.write(b"Action: Login\r\nUsername: monitor\r\nSecret: look-only\r\nActionID: 1\r\n\r\n"
                     b"Action: Originate\r\nChannel: Local/s@hold\r\nApplication: Wait\r\nActionID: 2\r\n\r\n"
                     b"Action: CoreShowChannels\r\nActionID: 3\r\n\r\n"
                     b"Action: Command\r\nCommand: core show version\r\nActionID: 4\r\n\r\n")
        msgs: list[Message] = []
        while not any(m.name == "CoreShowChannelsComplete" for m in msgs) or not any(m.get("ActionID") == "4" for m in msgs):
            msgs += parser.feed(await asyncio.wait_for(reader.read(65536), 5))
        writer.close()
        replies = {m.get("ActionID"): m for m in msgs if m.is_response}
        assert replies["1"].get("Message") == "Authentication accepted"
        assert (replies["2"].name, replies["2"].get("Message")) == ("Error", "Permission denied")
        assert replies["3"].get("EventList") == "start"
        assert (replies["4"].name, replies["4"].get("Message")) == ("Error", "Permission denied")
        assert not any(m.name == "FullyBooted" for m in msgs)  # no 'system' read permission
        privileges = {m.get("Privilege") for m in msgs if m.is_event and m.get("Privilege")}
        assert privileges <= {"call,all", "agent,all"}
    with pytest.raises(KeyError):
        s.ami.users["hotline-x"]
    assert set(s.ami.users) == {"hotline", "monitor"}


async def test_unauthenticated_session_is_dropped_after_authtimeout() -> None:
    async with sim() as s:
        s.ami.auth_timeout = 0.2
        reader, writer = await asyncio.open_connection("127.0.0.1", s.bound_port)
        banner = await reader.readline()
        assert banner == b"Asterisk Call Manager/9.0.0\r\n"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()
        async with AmiTap(s.bound_port) as tap:  # an authenticated session is not affected
            await asyncio.sleep(0.4)
            assert (await tap.action("Ping")).get("Ping") == "Pong"


async def test_fastagi_server_sending_garbage_does_not_break_the_call() -> None:
    async def evil(reader, writer):
        while (await reader.readline()) not in (b"\n", b""):
            pass
        writer.write(b"X" * 100_000 + b"\n" + b"\xff\xfe NOT A COMMAND\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()

    server = await asyncio.start_server(evil, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with PbxSimulator(agi_address=("127.0.0.1", port), speed=50) as s, AmiTap(s.bound_port) as tap:
            call = await s.place_call("13800000020", "12319")
            await call.wait_ended(15)
            status = await tap.wait_for(lambda m: m.name == "VarSet" and m.get("Variable") == "AGISTATUS")
            assert status.get("Value") in ("SUCCESS", "FAILURE")
            await tap.wait_for(lambda m: m.get("UserEvent") == "IVRTimeout" and m.get("Channel") == call.name)
    finally:
        server.close()


async def test_filter_action_includes_and_excludes() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        r = await tap.action("Filter", Operation="Add", Filter="Event: (Newchannel|Hangup|VarSet|UserEvent)\\r\\n")
        assert r.get("Message") == "Filter Added Successfully"
        await tap.action("Filter", Operation="Add", Filter="!Variable: (BRIDGEPEER|DIAL)")
        bad = await tap.action("Filter", Operation="Add", Filter="(unclosed")
        assert bad.name == "Error"
        from ivr.simulator import CallerScript

        call = await s.place_call("13800000030", "12319", CallerScript().until_app("WaitExten").press("1"))
        await call.wait_ended(15)
        await tap.wait_for(lambda m: m.name == "Hangup" and m.get("Channel") == call.name)
        assert any(m.get("Variable") == "BACKGROUNDSTATUS" for m in tap.events("VarSet"))
        names = {m.name for m in tap.events()}
        assert names <= {"Newchannel", "Hangup", "VarSet", "UserEvent", "FullyBooted", "SuccessfulAuth"}
        assert {"Newchannel", "Hangup", "VarSet", "UserEvent"} <= names
        assert not [m for m in tap.events("VarSet") if m.get("Variable", "").startswith(("BRIDGEPEER", "DIAL"))]
