"""AmiClient against a local server that replays real Asterisk 20 sessions."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ivr.ami import actions
from ivr.ami.client import AmiClient
from ivr.ami.errors import ActionTimeout, AmiError, AuthenticationError, ConnectionLostError, ProtocolError
from ivr.ami.messages import Message
from ivr.ami.protocol import parse_stream

from fake_ami import SECRET, USERNAME, FakeAmi


async def start(fixture=None, **kw) -> FakeAmi:
    server = FakeAmi(fixture, **{k: v for k, v in kw.items() if k in ("answer_login", "answer_ping", "drop_after", "chunk", "banner")})
    await server.start()
    return server


def client_for(server: FakeAmi, **kw) -> AmiClient:
    kw.setdefault("username", USERNAME)
    kw.setdefault("secret", SECRET)
    kw.setdefault("action_timeout", 5.0)
    kw.setdefault("connect_timeout", 5.0)
    kw.setdefault("ping_interval", None)
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    return AmiClient("127.0.0.1", server.port, **kw)


async def wait_until(pred, timeout=5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


# -- login ---------------------------------------------------------------------
async def test_login_ping_coresettings_logoff_session_00():
    server = await start("00_login_ping_logoff")
    client = client_for(server, events=False)
    await client.connect()
    try:
        assert client.connected
        assert client.banner == "Asterisk Call Manager/9.0.0"
        login = server.sessions[0].received[0]
        assert login.name == "Login" and login["Events"] == "off" and login["Secret"] == SECRET
        pong = await actions.ping(client)
        assert pong["Ping"] == "Pong" and pong.get("Timestamp")
        settings = await client.send_action("CoreSettings")
        assert settings["AsteriskVersion"] == "20.20.1"
        status = await client.send_action("CoreStatus")
        assert status["CoreCurrentCalls"] == "0"
    finally:
        await client.close()
    # Logoff was sent, answered Goodbye, and the session is closed
    assert server.sessions[0].received[-1].name == "Logoff"
    assert not client.connected
    assert server.mismatches == []
    await server.kill()


async def test_login_failure_raises_authentication_error_08a():
    server = await start("00_login_ping_logoff")
    client = client_for(server, secret="wrong-secret")
    with pytest.raises(AuthenticationError) as info:
        await client.connect()
    assert info.value.server_message == "Authentication failed"
    assert info.value.response.name == "Error"
    assert not client.connected
    assert server.failed_logins == 1
    await server.kill()


async def test_md5_challenge_login():
    server = await start("00_login_ping_logoff")
    client = client_for(server, auth="md5", events=False)
    await client.connect()
    try:
        first, login = server.sessions[0].received[:2]
        assert first.name == "Challenge" and first["AuthType"] == "MD5"
        assert login["AuthType"] == "MD5" and "Secret" not in login
        assert len(login["Key"]) == 32 and login["Key"] == login["Key"].lower()
        assert server.logins == 1
    finally:
        await client.close()
        await server.kill()


async def test_md5_challenge_wrong_secret_refused():
    server = await start("00_login_ping_logoff")
    client = client_for(server, auth="md5", secret="nope")
    with pytest.raises(AuthenticationError):
        await client.connect()
    await server.kill()


async def test_server_never_answers_login():
    server = await start(None, answer_login=False)
    client = client_for(server, connect_timeout=0.3)
    with pytest.raises(ActionTimeout):
        await client.connect()
    assert not client.connected
    await server.kill()


async def test_connection_refused_is_connection_lost_error():
    server = await start(None)
    port = server.port
    await server.kill()
    client = AmiClient("127.0.0.1", port, username="u", secret="s", ping_interval=None)
    with pytest.raises(ConnectionLostError):
        await client.connect()


async def test_not_ami_server_without_banner_times_out():
    done = asyncio.Event()

    async def silent(reader, writer):
        await reader.read()  # say nothing; the client gives up and closes
        writer.close()
        await writer.wait_closed()
        done.set()

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, username="u", secret="s", connect_timeout=0.2, ping_interval=None)
    with pytest.raises(ProtocolError):
        await client.connect()
    await asyncio.wait_for(done.wait(), 5)
    srv.close()
    await srv.wait_closed()


# -- action ids, errors, lists ---------------------------------------------------
async def test_error_responses_08_raise_ami_error_with_message():
    server = await start("08_error_responses")
    seen: list[Message] = []
    client = client_for(server)
    client.on("RequestBadFormat", seen.append)
    await client.connect()
    try:
        with pytest.raises(AmiError) as e:
            await client.send_action("NoSuchAction")
        assert "Invalid/unknown command: NoSuchAction" in e.value.server_message
        with pytest.raises(AmiError) as e:
            await actions.redirect(client, "SIP/nonexistent-00000000", "x", "s", 1)
        assert e.value.server_message == "Channel does not exist: SIP/nonexistent-00000000"
        with pytest.raises(AmiError) as e:
            await client.send_action("Originate", Application="Wait")
        assert e.value.server_message == "Channel not specified"
        with pytest.raises(AmiError, match="No such channel"):
            await actions.hangup(client, "Local/nothere@hold-00000000;1")
        with pytest.raises(AmiError, match="No such channel"):
            await actions.getvar(client, "X", channel="Local/nothere@hold-00000000;1")
        with pytest.raises(AmiError, match="Channel not found"):
            await actions.play_dtmf(client, "Local/nothere@hold-00000000;1", "1")
        with pytest.raises(AmiError, match="No such queue"):
            await actions.queue_add(client, "nosuchqueue", "Local/1@x")
        res = await client.send_action("Setvar", Variable="", check=False)
        assert not res.success and res.message == "No variable specified"
        await wait_until(lambda: len(seen) == 1)
        assert seen[0]["RequestType"] == "Action: NoSuchAction"
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


async def test_action_ids_unique_and_matched():
    server = await start(None)
    client = client_for(server)
    await client.connect()
    try:
        results = await asyncio.gather(*(client.send_action("Ping") for _ in range(50)))
        ids = [r.action_id for r in results]
        assert len(set(ids)) == 50
        sent = [m.action_id for m in server.sessions[0].received if m.name == "Ping"]
        assert sorted(sent) == sorted(ids)
        other = client_for(server)
        assert other.next_action_id().split("-")[0] != client.next_action_id().split("-")[0]
        with pytest.raises(ProtocolError):
            await client.send_action("Ping", Channel="a\r\nAction: Hangup")
        with pytest.raises(ValueError):
            await client.send_action("Originate", retry=True, Channel="x")
    finally:
        await client.close()
        await server.kill()


async def test_event_lists_05_coreshowchannels_status_hangup_regex():
    server = await start("05_coreshowchannels_status", chunk=97)
    client = client_for(server)
    await client.connect()
    try:
        r1 = await actions.originate(client, "Local/s@hold", application="Wait", data="30", timeout_ms=None,
                                     caller_id='"Caller A" <0901000001>')
        assert r1.success and r1.reason == 4 and r1.reason_text == "answered"
        assert r1.uniqueid == "hotline-test-1795799310.28"
        await actions.originate(client, "Local/wait@hold", application="Wait", data="30", timeout_ms=None,
                                caller_id='"Caller B" <0901000002>')
        chans = await actions.core_show_channels(client)
        assert [m.name for m in chans] == ["CoreShowChannel"] * 4
        assert len({m["Channel"] for m in chans}) == 4
        status = await client.send_action("Status")
        assert len(status.events) == 4 and status.complete["ListItems"] == "4"
        assert status.complete["Items"] == "4"
        one = await client.send_action("Status", Channel=chans[0]["Channel"], Variables="CALLERID(num),CDR(userfield)")
        assert len(one.events) == 1
        assert one.events[0].variables("Variable")["CDR(userfield)"] == ""
        name = await actions.getvar(client, "CALLERID(name)", channel=chans[0]["Channel"])
        assert name == "Caller B"
        hung = await actions.hangup(client, "/^Local\\/.*hold.*;2$/")
        assert hung.complete.name == "ChannelsHungupListComplete"
        assert len(hung.events) == int(hung.complete["ListItems"]) == 2
    finally:
        await client.close()
        await server.kill()


async def test_queue_status_and_summary_06():
    server = await start("06_queuestatus_and_queue_call")
    client = client_for(server)
    joined: list[Message] = []
    client.on("QueueCallerJoin", joined.append)
    await client.connect()
    try:
        await actions.queue_pause(client, "Local/200@queue-agents/n", True, queue="test", reason="lunch")
        await actions.originate(client, "Local/s@ivr-branch-queue", application="Wait", data="60",
                                timeout_ms=None, caller_id='"Queue Caller" <0902000003>', wait=False)
        await wait_until(lambda: joined)
        st = await actions.queue_status(client, "test")
        assert [e.name for e in st.events] == ["QueueParams", "QueueMember", "QueueEntry"]
        member = st.events[1]
        assert member["Paused"] == "1" and member["Location"] == "Local/200@queue-agents/n"
        assert member.action_id == st.action_id  # ActionID came last in the item and was rewritten
        summ = await actions.queue_summary(client, "test")
        assert summ.events[0]["Queue"] == "test" and summ.complete.name == "QueueSummaryComplete"
        await actions.queue_pause(client, "Local/200@queue-agents/n", False, queue="test")
        st2 = await actions.queue_status(client, "test")
        assert st2.complete["ListItems"] == "2"
        none = await actions.queue_status(client, "nosuchqueue")
        assert none.events == [] and none.complete["ListItems"] == "0"
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


async def test_command_output_07():
    server = await start("07_command_core_show_channels", chunk=13)
    client = client_for(server, events="off")
    await client.connect()
    try:
        lines = await actions.command(client, "core show channels")
        assert lines[-1] == "20 calls processed" and len(lines) == 6
        concise = await actions.command(client, "core show channels concise")
        assert all(line.count("!") >= 10 for line in concise) and len(concise) == 2
        version = await actions.command(client, "core show version")
        assert version[0].startswith("Asterisk 20.20.1")
        with pytest.raises(AmiError) as e:
            await actions.command(client, "core show nosuchthing")
        assert e.value.response.getall("Output")[0].startswith("No such command")
        queue = await actions.command(client, "queue show test")
        assert queue[0].startswith("test has 0 calls")
        await actions.command(client, "sip show peers")
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


async def test_originate_response_03_async_and_variables():
    server = await start("03_originate_response")
    client = client_for(server)
    await client.connect()
    try:
        res = await actions.originate(client, "Local/100@district-lines", context="hold", exten="s",
                                      caller_id='"Hotline" <12319>', timeout_ms=20000,
                                      variables={"CALL_KIND": "district", "TICKET": "42"})
        assert res.success and res.reason == 4 and res.channel == "Local/100@district-lines-00000009;1"
        assert res.event["ActionID"] == res.action_id
        sync = await client.send_action("Originate", Channel="Local/101@district-lines", Application="Wait",
                                        Data="1", Timeout=20000)
        assert sync.success
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


async def test_originate_failures_04():
    server = await start("04_originate_failure")
    client = client_for(server)
    await client.connect()
    try:
        busy = await actions.originate(client, "Local/busy@district-lines", application="Wait", data="5", timeout_ms=10000)
        assert not busy.success and busy.reason == 5 and busy.reason_text == "busy"
        noexten = await actions.originate(client, "Local/nosuchexten@nosuchcontext", application="Wait", data="5", timeout_ms=5000)
        assert not noexten.success and noexten.reason == 0
        with pytest.raises(AmiError, match="Originate failed"):
            await client.send_action("Originate", Channel="Bogus/123", Application="Wait", Data="5")
        noanswer = await actions.originate(client, "Local/noanswer@district-lines", application="Wait", data="5", timeout_ms=3000)
        assert not noanswer.success and noanswer.reason == 3
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


# -- events and handlers ---------------------------------------------------------
async def test_handlers_by_name_catch_all_and_failing_handler(caplog):
    server = await start("01_ivr_call_dtmf_playdtmf", chunk=61)
    client = client_for(server)
    by_name: list[Message] = []
    everything: list[Message] = []
    choices: list[str] = []

    def boom(msg):
        raise RuntimeError("handler bug")

    async def on_user(msg):
        await asyncio.sleep(0)
        if msg["UserEvent"] == "IVRChoice":
            choices.append(msg["Digit"])

    client.on("Newchannel", boom)
    client.on("newchannel", by_name.append)
    client.on("UserEvent", on_user)
    client.on(None, everything.append)
    await client.connect()
    try:
        with caplog.at_level(logging.ERROR):
            await actions.setvar(client, "GLOBAL(IVR_USE_AGI)", "yes")
            await actions.originate(client, "Local/s@ivr-12319", application="Wait", data="30", timeout_ms=None,
                                    caller_id='"Test Caller" <0987654321>', wait=False)
            await wait_until(lambda: any(m.name == "WaitExten" or m.get("AppData") == "" for m in everything) or len(everything) > 40)
            await actions.play_dtmf(client, "Local/s@ivr-12319-00000000;1", "1", duration_ms=250)
            await wait_until(lambda: any(m.name == "Cdr" for m in everything))
        assert choices == ["1"]
        assert any(m.name == "OriginateResponse" for m in everything)
        assert len(by_name) >= 2 and all(m.name == "Newchannel" for m in by_name)
        assert client.stats["handler_errors"] == len(by_name)
        assert "handler bug" in caplog.text
        # the reader survived: actions still work
        assert client.connected
        assert any(m.name == "DTMFEnd" and m["Direction"] == "Received" for m in everything)
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


async def test_handler_can_await_an_action_without_deadlock():
    server = await start("09_hangup_action_cdr")
    client = client_for(server)
    cdrs: list[Message] = []
    client.on("Cdr", cdrs.append)
    hung: list[str] = []

    async def on_newchannel(msg):
        if msg["Channel"].endswith(";2") and not hung:
            hung.append(msg["Channel"])
            await actions.hangup(client, msg["Channel"], cause=16)

    client.on("Newchannel", on_newchannel)
    await client.connect()
    try:
        await actions.originate(client, "Local/s@hold", application="Wait", data="30", timeout_ms=None,
                                caller_id='"Hangup Test" <0903000004>', account="acct-42")
        await wait_until(lambda: cdrs)
        assert hung == ["Local/s@hold-00000013;2"]
        assert cdrs[0]["AccountCode"] == "acct-42"
    finally:
        await client.close()
        await server.kill()
    assert server.mismatches == []


# -- failure of the connection ------------------------------------------------------
async def test_server_closes_mid_event_list():
    server = await start("05_coreshowchannels_status")
    # find how many replayed messages reach two CoreShowChannel items
    idx = [i for i, m in enumerate(server.script) if m.name == "CoreShowChannel"][1]
    server.drop_after = idx + 1
    client = client_for(server, reconnect=False)
    await client.connect()
    try:
        await actions.originate(client, "Local/s@hold", application="Wait", data="30", timeout_ms=None,
                                caller_id='"Caller A" <0901000001>')
        await actions.originate(client, "Local/wait@hold", application="Wait", data="30", timeout_ms=None,
                                caller_id='"Caller B" <0901000002>')
        with pytest.raises(ConnectionLostError):
            await client.send_action("CoreShowChannels", retry=False)
        assert not client.connected
        with pytest.raises(ConnectionLostError):
            await actions.ping(client)
    finally:
        await client.close()
        await server.kill()


async def test_action_timeout_leaves_connection_usable():
    server = await start(None, answer_ping=False)
    client = client_for(server)
    await client.connect()
    try:
        with pytest.raises(ActionTimeout):
            await client.send_action("Ping", timeout=0.2)
        assert client.connected
        server.answer_ping = True
        assert (await actions.ping(client))["Ping"] == "Pong"
    finally:
        await client.close()
        await server.kill()


async def test_idle_connection_keepalive_pings():
    server = await start(None)
    client = client_for(server, ping_interval=0.05, ping_timeout=1.0)
    await client.connect()
    try:
        await wait_until(lambda: server.pings >= 3)
        assert client.connected and client.stats["ping_failures"] == 0
        assert len(server.sessions) == 1
    finally:
        await client.close()
        await server.kill()


async def test_dead_peer_detected_by_unanswered_ping_and_reconnect():
    server = await start(None, answer_ping=False)
    client = client_for(server, ping_interval=0.05, ping_timeout=0.1)
    reconnects: list[int] = []

    async def hook(c):
        reconnects.append(c.stats["connects"])

    client.on_connected(hook)
    await client.connect()
    try:
        await wait_until(lambda: len(server.sessions) >= 2 and client.connected)
        assert client.stats["ping_failures"] >= 1
        assert reconnects[:2] == [1, 2]
    finally:
        await client.close()
        await server.kill()


async def test_reconnect_after_server_killed_runs_hooks_and_fails_non_idempotent():
    server = await start(None)
    port = server.port
    client = client_for(server)
    lost: list[object] = []
    client.on_disconnected(lost.append)
    hook_runs: list[bool] = []

    async def resync(c):
        res = await c.send_action("Ping")  # hooks may send actions
        hook_runs.append(res.success)

    client.on_connected(resync)
    await client.connect()
    assert hook_runs == [True]
    await server.kill()
    await wait_until(lambda: not client.connected)
    assert len(lost) == 1
    with pytest.raises(ConnectionLostError):
        await actions.originate(client, "Local/s@hold", application="Wait", data="1")
    with pytest.raises(ConnectionLostError):
        await actions.hangup(client, "Local/s@hold-1;2")
    # an idempotent read waits for the reconnect
    ping = asyncio.create_task(actions.ping(client, timeout=5))
    await asyncio.sleep(0.2)
    server2 = FakeAmi(None)
    await server2.start(port)
    res = await ping
    assert res["Ping"] == "Pong"
    assert client.connected and client.stats["connects"] == 2
    await wait_until(lambda: hook_runs == [True, True])
    await client.close()
    await server2.kill()


async def test_in_flight_originate_fails_on_drop_and_is_not_replayed():
    server = await start("02_redirect")
    server.drop_on = "Originate"  # the link dies with the Originate unanswered
    client = client_for(server)
    await client.connect()
    port = server.port
    server2 = FakeAmi(None)
    try:
        with pytest.raises(ConnectionLostError):
            await actions.originate(client, "Local/s@hold", application="Wait", data="30", timeout_ms=None,
                                    caller_id='"Redirect Test" <100>')
        assert [m.name for m in server.sessions[0].received] == ["Login", "Originate"]
        await server.kill()
        await server2.start(port)
        await wait_until(lambda: client.connected)
        await actions.ping(client)  # anything sent after the reconnect arrives after Login
        assert [m.name for m in server2.sessions[0].received] == ["Login", "Ping"]
    finally:
        await client.close()
        await server2.kill()


async def test_idempotent_read_in_flight_is_retried_after_reconnect():
    server = await start(None, answer_ping=False)
    port = server.port
    client = client_for(server)
    await client.connect()
    task = asyncio.create_task(client.send_action("Ping", timeout=5))
    await wait_until(lambda: server.pings == 1)
    await server.kill()
    server2 = FakeAmi(None)
    await server2.start(port)
    res = await task
    assert res["Ping"] == "Pong"
    assert server2.pings == 1
    await client.close()
    await server2.kill()


async def test_constructor_validates_arguments():
    with pytest.raises(ValueError):
        AmiClient(username="")
    with pytest.raises(ValueError):
        AmiClient(username="u", auth="sha")
    with pytest.raises(ValueError):
        AmiClient(username="u", ping_interval=0)
    with pytest.raises(ValueError):
        AmiClient(username="u", events=[])


async def test_action_helpers_validate_before_sending():
    client = AmiClient(username="u")
    with pytest.raises(ValueError):
        await actions.originate(client, "Local/1@x")  # neither exten/context nor application
    with pytest.raises(ValueError):
        await actions.originate(client, "Local/1@x", application="Wait", exten="s")
    with pytest.raises(ValueError):
        await actions.play_dtmf(client, "SIP/a-1", "12")
    with pytest.raises(ValueError):
        await actions.hangup(client, "SIP/a-1", cause=999)
    with pytest.raises(ValueError):
        await actions.redirect(client, "SIP/a-1", "ctx", "s", extra_exten="x")
    with pytest.raises(ConnectionLostError):
        await actions.setvar(client, "X", 1)  # never connected


async def test_legacy_follows_command_reply_from_asterisk_13():
    """Asterisk <= 13 answers Command with ``Response: Follows`` and a raw body."""

    async def legacy(reader, writer):
        writer.write(b"Asterisk Call Manager/2.10.6\r\n")
        parser_buf = b""
        while True:
            data = await reader.read(4096)
            if not data:
                break
            parser_buf += data
            while b"\r\n\r\n" in parser_buf:
                block, parser_buf = parser_buf.split(b"\r\n\r\n", 1)
                (msg,) = parse_stream(block + b"\r\n\r\n", expect_banner=False)
                aid = msg.action_id.encode()
                if msg.name == "Login":
                    writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n")
                elif msg.name == "Command":
                    writer.write(
                        b"Response: Follows\r\nPrivilege: Command\r\nActionID: " + aid + b"\r\n"
                        b"Channel   Location\n\n1 active call\n--END COMMAND--\r\n\r\n"
                    )
        writer.close()

    srv = await asyncio.start_server(legacy, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, username="u", secret="s", ping_interval=None)
    await client.connect()
    try:
        assert client.banner == "Asterisk Call Manager/2.10.6"
        lines = await actions.command(client, "core show channels")
        assert lines == ["Channel   Location", "", "1 active call"]
    finally:
        await client.close(logoff=False)
        srv.close()
        await srv.wait_closed()


async def test_keepalive_does_not_kill_a_blocking_sync_originate():
    """A synchronous Originate blocks the Asterisk session: no Ping answer until it ends."""

    async def blocking_server(reader, writer):
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        queue: list[Message] = []
        while True:
            data = await reader.read(4096)
            if not data:
                break
            buf += data
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                queue.extend(parse_stream(block + b"\r\n\r\n", expect_banner=False))
            while queue:
                msg = queue.pop(0)
                aid = msg.action_id
                if msg.name == "Login":
                    writer.write(Message.of(("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")).encode())
                elif msg.name == "Originate":
                    await asyncio.sleep(0.5)  # the session is blocked: queued actions wait
                    writer.write(Message.of(("Response", "Success"), ("ActionID", aid), ("Message", "Originate successfully queued")).encode())
                elif msg.name == "Ping":
                    writer.write(Message.of(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")).encode())
        writer.close()

    srv = await asyncio.start_server(blocking_server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, username="u", secret="s", ping_interval=0.05, ping_timeout=0.1)
    await client.connect()
    try:
        res = await client.send_action("Originate", Channel="Local/101@district-lines", Application="Wait", Data="1")
        assert res.success
        assert client.connected and client.stats["ping_failures"] == 0 and client.stats["connects"] == 1
    finally:
        await client.close(logoff=False)
        srv.close()
        await srv.wait_closed()


def test_backoff_delays_grow_exponentially_with_bounded_jitter():
    import itertools
    import random

    from ivr.ami.client import backoff_delays

    plain = list(itertools.islice(backoff_delays(0.5, 2.0, 30.0, 0.0), 9))
    assert plain == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    jittered = list(itertools.islice(backoff_delays(0.5, 2.0, 30.0, 0.25, random.Random(7)), 200))
    for got, base in zip(jittered, plain + [30.0] * 200, strict=False):
        assert base * 0.75 <= got <= base * 1.25
    assert len({round(x, 6) for x in jittered[10:]}) > 1  # jitter actually varies


async def test_reconnect_keeps_trying_until_the_server_returns():
    server = await start(None)
    port = server.port
    client = client_for(server, backoff_initial=0.02, backoff_max=0.05)
    await client.connect()
    await server.kill()
    await wait_until(lambda: client.stats["reconnect_failures"] >= 3)
    assert not client.connected
    server2 = FakeAmi(None)
    await server2.start(port)
    await wait_until(lambda: client.connected)
    assert server2.logins == 1
    await client.close()
    await server2.kill()


async def test_hook_waiting_on_a_dead_link_does_not_block_the_next_reconnect():
    server = await start(None)
    port = server.port
    client = client_for(server, action_timeout=10.0)
    runs: list[str] = []
    gate = asyncio.Event()

    async def hook(c):
        runs.append("start")
        if len(runs) == 2:  # first reconnect: this hook stays busy
            await gate.wait()
            runs.append("released")

    client.on_connected(hook)
    await client.connect()
    await server.kill()
    server2 = FakeAmi(None)
    await server2.start(port)
    await wait_until(lambda: len(runs) == 2)
    await server2.kill()
    await wait_until(lambda: not client.connected)
    server3 = FakeAmi(None)
    await server3.start(port)
    # reconnects although the previous hook is still waiting
    await wait_until(lambda: client.connected and runs.count("start") == 3)
    assert "released" not in runs
    gate.set()
    await wait_until(lambda: "released" in runs)
    await client.close()
    await server3.kill()


async def test_helpers_put_the_documented_headers_on_the_wire():
    server = FakeAmi(None, accept_all=True)
    await server.start()
    client = client_for(server)
    await client.connect()
    try:
        await actions.redirect(client, "SIP/a-1", "district-lines", "100", extra_channel="SIP/b-2")
        await actions.blind_transfer(client, "SIP/a-1", "100", "district-lines")
        await actions.atxfer(client, "SIP/a-1", "200")
        await actions.queue_remove(client, "hotline", "Local/200@queue-agents/n")
        await actions.queue_add(client, "hotline", "Local/201@queue-agents/n", member_name="坐席201", paused=False)
        await actions.setvar(client, "CDR(userfield)", "case-7", channel="SIP/a-1")
        await actions.play_dtmf(client, "SIP/a-1;2", "#", receive=True)
        await actions.user_event(client, "CaseOpened", {"CaseId": "12319-20261127-00001"})
        chid = actions.new_channel_id()
        res = await actions.originate(client, "Local/100@district-lines", exten="s", context="hold",
                                      channel_id=chid, variables={"CASE_ID": "7"}, wait=False)
        assert res.uniqueid == chid and res.reason_text == "queued"
    finally:
        await client.close()
        await server.kill()
    got = {m.name: m for m in server.sessions[0].received}
    red = got["Redirect"]
    assert (red["Channel"], red["ExtraChannel"], red["Context"], red["ExtraContext"], red["Exten"], red["ExtraExten"],
            red["Priority"], red["ExtraPriority"]) == ("SIP/a-1", "SIP/b-2", "district-lines", "district-lines",
                                                       "100", "100", "1", "1")
    assert got["BlindTransfer"].as_dict() | {"ActionID": ""} == {
        "Action": "BlindTransfer", "Channel": "SIP/a-1", "Exten": "100", "Context": "district-lines", "ActionID": ""}
    assert "Context" not in got["Atxfer"] and got["Atxfer"]["Exten"] == "200"
    assert got["QueueRemove"]["Interface"] == "Local/200@queue-agents/n"
    assert got["QueueAdd"]["MemberName"] == "坐席201" and got["QueueAdd"]["Paused"] == "false"
    assert got["Setvar"]["Variable"] == "CDR(userfield)" and got["Setvar"]["Value"] == "case-7"
    assert got["PlayDTMF"]["Digit"] == "#" and got["PlayDTMF"]["Receive"] == "yes"
    assert got["UserEvent"]["UserEvent"] == "CaseOpened" and got["UserEvent"]["CaseId"] == "12319-20261127-00001"
    orig = got["Originate"]
    assert orig["ChannelId"] == chid and orig["Async"] == "true" and orig["Priority"] == "1"
    assert orig.getall("Variable") == ["CASE_ID=7"]
    ids = [m.action_id for m in server.sessions[0].received]
    assert len(ids) == len(set(ids))
