"""Typed session API over real TCP: exact command lines sent and results parsed."""

from __future__ import annotations

import asyncio

import pytest
from agi_peer import make_env, run_peer

from ivr.agi import (
    AgiArgumentError,
    AgiCommandError,
    AgiCommandFailed,
    AgiDeadChannel,
    AgiHangup,
    AgiSession,
    RecordResult,
)


async def drive(serve, script, responder, **options):
    outcome: dict = {}

    async def route(session: AgiSession) -> None:
        outcome["value"] = await script(session)

    server = await serve({"t": route}, **options)
    result = await run_peer(server.bound_port, make_env("t"), responder)
    return result, outcome.get("value")


def always(reply: bytes):
    return lambda command: reply


async def test_command_lines_are_quoted_for_asterisk(serve):
    async def script(s: AgiSession):
        await s.exec("UserEvent", "AGIStep,Step: done")
        await s.exec("Playback", "custom/欢迎")
        await s.set_variable("CASE_NOTE", '井盖 "缺失" \\ 路口')
        await s.set_variable("EMPTY", "")
        await s.verbose("来电 12319", 3)
        await s.say_digits("12319")
        await s.say_number(42, "#")
        await s.get_data("custom/enter-ticket")
        await s.get_data("custom/enter-ticket", max_digits=4)
        await s.record_file("/var/spool/msg-1", "wav", "#", 60000, beep=True, silence_s=3)
        await s.record_file("/var/spool/msg-2", offset_samples=0, beep=True)
        await s.goto_on_exit("ivr-branch-info", "s", 1)
        await s.get_full_variable("${CHANNEL(state)}", "Local/x;2")
        await s.hangup()

    result, _ = await drive(serve, script, always(b"200 result=1\n"))
    assert result.commands == [
        'EXEC UserEvent "AGIStep,Step: done"',
        "EXEC Playback custom/欢迎",
        'SET VARIABLE CASE_NOTE "井盖 \\"缺失\\" \\\\ 路口"',
        'SET VARIABLE EMPTY ""',
        'VERBOSE "来电 12319" 3',
        'SAY DIGITS 12319 ""',
        'SAY NUMBER 42 "#"',
        "GET DATA custom/enter-ticket",
        "GET DATA custom/enter-ticket 0 4",
        'RECORD FILE /var/spool/msg-1 wav "#" 60000 BEEP s=3',
        'RECORD FILE /var/spool/msg-2 wav "#" -1 0 BEEP',
        "SET CONTEXT ivr-branch-info",
        "SET EXTENSION s",
        "SET PRIORITY 1",
        'GET FULL VARIABLE "${CHANNEL(state)}" Local/x;2',
        "HANGUP",
    ]
    assert result.received.decode("utf-8").count("\n") == len(result.commands)


async def test_bad_arguments_raise_before_anything_is_sent(serve):
    errors = []

    async def script(s: AgiSession):
        for call in (
            lambda: s.set_variable("TWO WORDS", "x"),
            lambda: s.set_variable("X", "line\nbreak"),
            lambda: s.set_variable("X", None),  # type: ignore[arg-type]
            lambda: s.stream_file("prompt", "12x"),
            lambda: s.wait_for_digit(-5),
            lambda: s.verbose("x", 9),
            lambda: s.say_digits("12a"),
            lambda: s.get_data("p", 1000, 0),
            lambda: s.exec("Two Words"),
            lambda: s.raw("NOOP\nHANGUP"),
        ):
            with pytest.raises(AgiArgumentError) as exc:
                await call()
            errors.append(str(exc.value))
        await s.noop()  # the session is still in sync and usable

    result, _ = await drive(serve, script, always(b"200 result=0\n"))
    assert result.commands == ["NOOP"]
    assert len(errors) == 10 and all(errors)


async def test_results_are_typed(serve):
    replies = {
        "GET VARIABLE UNSET": b"200 result=0\n",
        "GET VARIABLE EMPTY": b"200 result=1 ()\n",
        "GET VARIABLE NAME": "200 result=1 (张三 (先生))\n".encode(),
        "STREAM FILE custom/menu \"123\"": b"200 result=50 endpos=4321\n",
        "GET DATA custom/enter 3000 6": b"200 result=012345\n",
        "WAIT FOR DIGIT -1": b"200 result=35\n",
        "WAIT FOR DIGIT 100": b"200 result=0\n",
        "CHANNEL STATUS": b"200 result=6\n",
        'SAY NUMBER 7 "1"': b"200 result=49\n",
        "EXEC Wait 1": b"200 result=0\n",
    }

    async def script(s: AgiSession):
        return [
            await s.get_variable("UNSET"),
            await s.get_variable("EMPTY"),
            await s.get_variable("NAME"),
            await s.stream_file("custom/menu", "123"),
            await s.get_data("custom/enter", 3000, 6),
            await s.wait_for_digit(-1),
            await s.wait_for_digit(100),
            await s.channel_status(),
            await s.say_number(7, "1"),
            await s.exec("Wait", "1"),
        ]

    result, values = await drive(serve, script, lambda c: replies[c])
    assert values == [None, "", "张三 (先生)", ("2", 4321), ("012345", False), "#", None, 6, "1", 0]


@pytest.mark.parametrize(
    "reply, expected",
    [
        (b"200 result=-1 (hangup) endpos=16000\n", RecordResult("hangup", None, 16000)),
        (b"200 result=35 (dtmf) endpos=8000\n", RecordResult("dtmf", "#", 8000)),
        (b"200 result=0 (timeout) endpos=480000\n", RecordResult("timeout", None, 480000)),
    ],
)
async def test_record_file_outcomes(serve, reply, expected):
    async def script(s: AgiSession):
        return await s.record_file("/var/spool/msg", "wav", "#", 60000)

    _, value = await drive(serve, script, always(reply))
    assert value == expected


@pytest.mark.parametrize(
    "call, reply, error",
    [
        (lambda s: s.record_file("/nope/msg"), b"200 result=-1 (writefile)\n", AgiCommandFailed),
        (lambda s: s.exec("NoSuchApp"), b"200 result=-2\n", AgiCommandFailed),
        (lambda s: s.stream_file("missing"), b"200 result=-1 endpos=0\n", AgiCommandFailed),
        (lambda s: s.answer(), b"511 Command Not Permitted on a dead channel or intercept routine\n", AgiDeadChannel),
        (lambda s: s.raw("BOGUS"), b"510 Invalid or unknown command\n", AgiCommandError),
    ],
)
async def test_failures_raise_typed_errors(serve, call, reply, error):
    async def script(s: AgiSession):
        with pytest.raises(error) as exc:
            await call(s)
        return exc.value

    _, value = await drive(serve, script, always(reply))
    assert isinstance(value, AgiCommandError)
    assert value.response.lines == (reply.decode().rstrip("\n"),)
    if error is AgiDeadChannel:
        assert isinstance(value, AgiHangup) and value.code == 511


async def test_raw_without_check_returns_error_replies(serve):
    async def script(s: AgiSession):
        return await s.raw("BOGUS", check=False)

    _, value = await drive(serve, script, always(b"510 Invalid or unknown command\n"))
    assert value.code == 510 and not value.ok and value.text == "Invalid or unknown command"


async def test_gosub_trying_line_is_skipped(serve):
    async def script(s: AgiSession):
        return [await s.raw("GOSUB sub-lookup s 1"), await s.gosub("sub-lookup", "s", 1, "150402", "井 盖")]

    result, value = await drive(serve, script, always(b"100 result=0 Trying...\n200 result=0 Gosub complete\n"))
    assert value[0].code == 200 and value[0].result == 0 and value[0].text == "result=0 Gosub complete"
    assert value[1] == 0
    assert result.commands == ["GOSUB sub-lookup s 1", 'GOSUB sub-lookup s 1 "150402,井 盖"']


async def test_set_music(serve):
    async def script(s: AgiSession):
        await s.set_music(True, "default")
        await s.set_music(False)

    result, _ = await drive(serve, script, always(b"200 result=0\n"))
    assert result.commands == ["SET MUSIC on default", "SET MUSIC off"]


async def test_concurrent_commands_on_one_session_are_serialised(serve):
    """Two tasks of one script never interleave command and reply on the wire."""

    async def script(s: AgiSession):
        names = [f"V{i}" for i in range(20)]
        return await asyncio.gather(*(s.get_variable(n) for n in names))

    def respond(command: str) -> bytes:
        return f"200 result=1 (value-of-{command.split()[-1]})\n".encode()

    result, values = await drive(serve, script, respond)
    assert values == [f"value-of-V{i}" for i in range(20)]
    assert sorted(result.commands) == sorted(f"GET VARIABLE V{i}" for i in range(20))
