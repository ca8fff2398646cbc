"""Replay real Asterisk 20 FastAGI sessions over TCP against the server.

The peer sends exactly the bytes Asterisk sent (``agi_*.txt``); the script issues the
commands of the matching ``agi_*.sent`` through the typed API; the bytes the server wrote
must equal the ``.sent`` file and the parsed results must match the fixture replies.
"""

from __future__ import annotations

import asyncio

import pytest
from agi_peer import load_fixture, run_peer

from ivr.agi import AgiCommandError, AgiCommandFailed, AgiSession


async def test_ivr_fixture_replay(serve):
    env, units, sent = load_fixture("agi_ivr_1")
    assert len(units) == len(sent.splitlines())
    seen: dict = {}

    async def ivr(session: AgiSession) -> None:
        seen["env"] = session.env
        await session.answer()
        await session.verbose("fastagi ivr script running", 1)
        seen["channel"] = await session.get_variable("CHANNEL")
        seen["full"] = await session.get_full_variable("${CALLERID(num)}-${EXTEN}")
        await session.set_variable("AGI_SEEN", "yes")
        seen["status"] = await session.channel_status()
        seen["stream"] = await session.stream_file("silence/1", "1234")
        seen["digit"] = await session.wait_for_digit(8000)
        seen["data"] = await session.get_data("silence/1", 1500, 1)
        # The recorded script sent the options unquoted (Asterisk then dropped "done");
        # raw() reproduces those exact bytes. exec() would quote them.
        seen["exec"] = (await session.raw("EXEC UserEvent AGIStep,Step: done")).result
        await session.noop()
        with pytest.raises(AgiCommandError) as bogus:
            await session.raw("BOGUS COMMAND")
        seen["510"] = bogus.value
        with pytest.raises(AgiCommandError) as usage:
            await session.raw("GET VARIABLE")
        seen["520"] = usage.value
        await session.set_variable("IVR_AGI_DONE", 1)
        seen["hung_up"] = session.hung_up

    server = await serve({"ivr": ivr})
    result = await run_peer(server.bound_port, env, units)

    assert result.received == sent
    assert result.eof, "the server closes the connection when the script returns"
    e = seen["env"]
    assert (e.network, e.network_script, e.script) == (True, "ivr", "ivr")
    assert e.request == "agi://127.0.0.1:4573/ivr"
    assert e.channel == "Local/s@ivr-12319-00000014;2"
    assert e.uniqueid == "hotline-test-1795799337.41"
    assert (e.callerid, e.calleridname) == ("0904000005", "AGI Caller")
    assert (e.context, e.extension, e.priority) == ("ivr-12319", "s", 8)
    assert e.dnid is None and e.rdnis is None  # "unknown"
    assert e.accountcode == "" and e.enhanced is False
    assert e.args == ("0904000005",)
    assert seen["channel"] == "Local/s@ivr-12319-00000014;2"
    assert seen["full"] == "0904000005-s"
    assert seen["status"] == 6
    assert seen["stream"] == (None, 8000)
    assert seen["digit"] == "7"  # 200 result=55
    assert seen["data"] == ("", True)  # 200 result= (timeout)
    assert seen["exec"] == 0
    assert seen["510"].code == 510 and seen["510"].text == "Invalid or unknown command"
    assert seen["520"].code == 520
    assert seen["520"].response.lines[-1] == "520 End of proper usage."
    assert "Example return code: 200 result=1 (testvariable)" in seen["520"].usage
    assert seen["hung_up"] is False


@pytest.mark.parametrize("hangup_timing", ["before_next_reply", "unsolicited_after_reply"])
async def test_hangup_fixture_replay(serve, hangup_timing):
    env, units, sent = load_fixture("agi_hangup-test_1")
    assert units[2].startswith(b"HANGUP\n")
    seen: dict = {}

    async def hangup_test(session: AgiSession) -> None:
        seen["arg"] = session.args
        await session.answer()
        with pytest.raises(AgiCommandFailed) as failed:
            await session.wait_for_digit(15000)  # 200 result=-1: the caller hung up
        seen["failed"] = failed.value.response.result
        seen["before_noop"] = session.hung_up
        await session.noop()  # dead-safe commands are still answered
        seen["after_noop"] = session.hung_up

    after_reply = None
    if hangup_timing == "unsolicited_after_reply":
        # Asterisk writes HANGUP on its own right after the -1 reply, before any command.
        units = [units[0], units[1], units[2].removeprefix(b"HANGUP\n")]

        def after_reply(i: int) -> bytes:
            return b"HANGUP\n" if i == 1 else b""

    server = await serve({"hangup-test": hangup_test})
    result = await run_peer(server.bound_port, env, units, after_reply=after_reply)

    assert result.received == sent
    assert seen["arg"] == ("0905000006",)
    assert seen["failed"] == -1
    assert seen["after_noop"] is True
    if hangup_timing == "before_next_reply":
        assert seen["before_noop"] is False
    # The HANGUP line never shows up as a reply: NOOP got "200 result=0".
    assert result.eof


async def test_hangup_line_split_across_segments(serve):
    """HANGUP and the reply arriving byte by byte are still parsed correctly."""
    env, units, sent = load_fixture("agi_hangup-test_1")
    seen: dict = {}

    async def script(session: AgiSession) -> None:
        await session.answer()
        try:
            await session.wait_for_digit(15000)
        except AgiCommandFailed:
            pass
        await session.noop()
        seen["hung_up"] = session.hung_up

    server = await serve({"hangup-test": script})
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
    for i in range(0, len(env), 7):
        writer.write(env[i : i + 7])
        await writer.drain()
    received = b""
    for unit in units:
        received += await reader.readline()
        for b in unit:
            writer.write(bytes([b]))
            await writer.drain()
    received += await reader.read()
    writer.close()
    assert received == sent
    assert seen["hung_up"] is True
