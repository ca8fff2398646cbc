"""Server behaviour: routing, failures reported to the channel, robustness, stop, scale."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from agi_peer import make_env, run_peer

from ivr.agi import (
    AgiHangup,
    AgiProtocolError,
    AgiRouter,
    AgiSession,
    AgiSessionClosed,
    AgiTimeout,
    FastAgiServer,
)

OK = lambda command: b"200 result=1\n"  # noqa: E731


def no_tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def served_once(server: FastAgiServer, script_calls: list) -> None:
    """A normal session still works (the server keeps serving)."""
    result = await run_peer(server.bound_port, make_env("ivr"), OK)
    assert result.commands == ["ANSWER"] and result.eof
    assert script_calls, "script ran"


async def test_route_on_script_name_and_expose_query(serve):
    seen = {}

    async def status(session: AgiSession) -> None:
        seen["query"] = dict(session.env.query)
        seen["args"] = session.args
        await session.set_variable("TICKET_STATUS", "处理中")

    server = await serve({"status": status})
    env = make_env("status?ticket=12319-20261127-00042&lang=zh", args=["0476", "张三"])
    result = await run_peer(server.bound_port, env, OK)
    assert result.commands == ["SET VARIABLE TICKET_STATUS 处理中"]
    assert seen == {"query": {"ticket": "12319-20261127-00042", "lang": "zh"}, "args": ("0476", "张三")}
    assert result.eof


async def test_unknown_script_sets_variable_and_fails_agistatus(serve, caplog):
    caplog.set_level(logging.DEBUG, logger="ivr.agi")

    async def ivr(session: AgiSession) -> None:  # pragma: no cover - never routed here
        await session.answer()

    server = await serve({"ivr": ivr})
    result = await run_peer(server.bound_port, make_env("nope?x=1"), OK)
    assert result.commands == [
        "SET VARIABLE HOTLINE_AGI_ERROR UNKNOWN_SCRIPT",
        'VERBOSE "FastAGI: unknown script nope" 1',
        "failure",  # Asterisk: AGISTATUS=FAILURE
    ]
    assert result.eof
    assert any("unknown script 'nope?x=1'" in r.getMessage() for r in caplog.records)
    assert not no_tracebacks(caplog)


async def test_unknown_script_with_fail_goto(serve):
    server = await serve({}, fail_goto=("agi-fail", "s", 1))
    result = await run_peer(server.bound_port, make_env("missing"), OK)
    assert result.commands[2:] == ["SET CONTEXT agi-fail", "SET EXTENSION s", "SET PRIORITY 1", "failure"]


async def test_script_exception_is_logged_reported_and_server_keeps_serving(serve, caplog):
    calls = []

    async def broken(session: AgiSession) -> None:
        await session.answer()
        raise RuntimeError("directory unavailable")

    async def ivr(session: AgiSession) -> None:
        calls.append(session.env.uniqueid)
        await session.answer()

    server = await serve({"broken": broken, "ivr": ivr})
    result = await run_peer(server.bound_port, make_env("broken"), OK)
    assert result.commands == [
        "ANSWER",
        "SET VARIABLE HOTLINE_AGI_ERROR SCRIPT_ERROR",
        'VERBOSE "FastAGI script error" 1',
        "failure",
    ]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "directory unavailable" in str(errors[0].exc_info[1])
    assert server.sessions_failed == 1
    await served_once(server, calls)


async def test_health_checks_and_garbage_do_not_disturb_the_server(serve, caplog):
    caplog.set_level(logging.DEBUG)
    calls = []

    async def ivr(session: AgiSession) -> None:
        calls.append(1)
        await session.answer()

    server = await serve({"ivr": ivr})
    port = server.bound_port
    env = make_env("ivr")
    for payload in (b"", env[:1], env[:40], env[:-1], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\xff\xfe\n\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    # a check that sends garbage and waits sees the connection closed
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"PING\n\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await served_once(server, calls)
    assert calls == [1]
    assert not no_tracebacks(caplog)
    assert server.active_sessions == 0


async def test_oversized_environment_is_refused(serve, caplog):
    async def ivr(session: AgiSession) -> None:  # pragma: no cover
        raise AssertionError("must not run")

    server = await serve({"ivr": ivr}, max_env_lines=50, max_env_bytes=2048)
    many = make_env("ivr", args=[str(n) for n in range(100)])
    long_line = b"agi_request: agi://h/ivr\nagi_x: " + b"x" * 5000 + b"\n\n"
    for payload in (many, long_line):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(payload)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    assert server.sessions_started == 0
    assert not no_tracebacks(caplog)


async def test_overlong_reply_line_ends_the_session(serve, caplog):
    seen = {}

    async def ivr(session: AgiSession) -> None:
        try:
            await session.get_variable("HUGE")
        except AgiProtocolError as exc:
            seen["error"] = str(exc)
        seen["closed"] = session.closed

    server = await serve({"ivr": ivr}, max_line_bytes=1024)
    result = await run_peer(server.bound_port, make_env("ivr"), lambda c: b"200 result=1 (" + b"x" * 4000 + b")\n")
    assert result.commands == ["GET VARIABLE HUGE"] and result.eof
    assert seen == {"error": "reply line longer than 1024 bytes", "closed": True}


async def test_slow_environment_times_out(serve):
    server = await serve({}, env_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
    writer.write(b"agi_network: yes\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_caller_hangs_up_mid_session(serve, caplog):
    seen = {}

    async def ivr(session: AgiSession) -> None:
        await session.answer()
        try:
            await session.stream_file("custom/welcome")
        except AgiHangup:
            seen["hung_up"] = session.hung_up
            raise

    server = await serve({"ivr": ivr})
    result = await run_peer(server.bound_port, make_env("ivr"), [b"200 result=0\n"])  # then closes
    assert result.commands == ["ANSWER", 'STREAM FILE custom/welcome ""']
    for _ in range(500):  # the script sees the EOF a moment after the peer closed
        if "hung_up" in seen and server.active_sessions == 0:
            break
        await asyncio.sleep(0.01)
    assert seen == {"hung_up": True}
    assert server.sessions_failed == 0 and not no_tracebacks(caplog)


async def test_per_command_timeout(serve, caplog):
    seen = {}

    async def ivr(session: AgiSession) -> None:
        try:
            await session.noop()
        except AgiTimeout as exc:
            seen["timeout"] = exc.timeout
        with pytest.raises(AgiSessionClosed):
            await session.noop()
        seen["closed"] = session.closed

    server = await serve({"ivr": ivr}, command_timeout=0.2)
    result = await run_peer(server.bound_port, make_env("ivr"), lambda c: b"")  # never answers
    assert result.commands == ["NOOP"] and result.eof
    assert seen == {"timeout": 0.2, "closed": True}


async def test_uncaught_timeout_is_logged_without_traceback(serve, caplog):
    async def ivr(session: AgiSession) -> None:
        await session.noop()

    server = await serve({"ivr": ivr}, command_timeout=0.2)
    result = await run_peer(server.bound_port, make_env("ivr"), lambda c: b"")
    assert result.eof and result.commands == ["NOOP"]
    assert any("no reply to 'NOOP'" in r.getMessage() for r in caplog.records)
    assert not no_tracebacks(caplog)


async def test_busy_server_refuses_with_failure(serve):
    gate = asyncio.Event()

    async def ivr(session: AgiSession) -> None:
        await gate.wait()
        await session.answer()

    server = await serve({"ivr": ivr}, max_sessions=1)
    first = asyncio.create_task(run_peer(server.bound_port, make_env("ivr"), OK))
    while server.active_sessions < 1:
        await asyncio.sleep(0.01)
    second = await run_peer(server.bound_port, make_env("ivr"), OK)
    assert second.commands == ['SET VARIABLE HOTLINE_AGI_ERROR BUSY', 'VERBOSE "FastAGI server busy" 1', "failure"]
    gate.set()
    assert (await first).commands == ["ANSWER"]


async def test_graceful_stop_waits_for_running_sessions():
    gate = asyncio.Event()

    async def ivr(session: AgiSession) -> None:
        await gate.wait()
        await session.hangup()

    server = FastAgiServer("127.0.0.1", 0, {"ivr": ivr})
    await server.start()
    port = server.bound_port
    peer = asyncio.create_task(run_peer(port, make_env("ivr"), OK))
    while server.active_sessions < 1:
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(server.stop(grace=30))
    await asyncio.sleep(0.05)
    assert not stopping.done()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    gate.set()
    await stopping
    assert (await peer).commands == ["HANGUP"]


async def test_stop_cancels_sessions_after_grace():
    seen = {}

    async def ivr(session: AgiSession) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    server = FastAgiServer("127.0.0.1", 0, {"ivr": ivr})
    await server.start()
    peer = asyncio.create_task(run_peer(server.bound_port, make_env("ivr"), OK))
    while server.active_sessions < 1:
        await asyncio.sleep(0.01)
    await server.stop(grace=0.1)
    result = await peer
    assert seen == {"cancelled": True} and result.eof and result.commands == []
    assert server.active_sessions == 0


def test_router_validation():
    router = AgiRouter()

    def sync_script(session):  # pragma: no cover
        pass

    with pytest.raises(TypeError):
        router.add("ivr", sync_script)

    @router.route("ivr")
    async def ivr(session):  # pragma: no cover
        pass

    with pytest.raises(ValueError):
        router.add("/ivr/", ivr)
    assert router.resolve("ivr") is ivr and "ivr" in router and router.names == ("ivr",)
    with pytest.raises(TypeError):
        FastAgiServer("127.0.0.1", 0, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FastAgiServer("127.0.0.1", 0, {"x": sync_script})
    with pytest.raises(RuntimeError):
        FastAgiServer("127.0.0.1", 0, router).bound_port


async def test_thousand_concurrent_sessions(serve):
    n = 1000
    inside = 0
    threads_before = threading.active_count()
    peak_threads: list[int] = []
    all_inside = asyncio.Event()
    results: dict[str, list] = {}

    async def ivr(session: AgiSession) -> None:
        nonlocal inside
        me = session.args[0]
        await session.answer()
        inside += 1
        if inside == n:
            all_inside.set()
        await asyncio.wait_for(all_inside.wait(), 60)  # every session is open at the same time
        peak_threads.append(threading.active_count())
        got = [await session.get_variable("WHO")]
        for _ in range(7):
            got.append(await session.wait_for_digit(1000))
        await session.set_variable("DONE", me)
        results[me] = got

    def responder_for(i: int):
        def respond(command: str) -> bytes:
            if command == "GET VARIABLE WHO":
                return f"200 result=1 (caller-{i})\n".encode()
            if command.startswith("WAIT FOR DIGIT"):
                return f"200 result={ord(str(i % 10))}\n".encode()
            return b"200 result=1\n"

        return respond

    server = await serve({"ivr": ivr})
    peers = [run_peer(server.bound_port, make_env("ivr", args=[str(i)]), responder_for(i), read_timeout=60) for i in range(n)]
    outcomes = await asyncio.gather(*peers)
    assert len(results) == n
    for i, outcome in enumerate(outcomes):
        assert len(outcome.commands) == 10 and outcome.commands[-1] == f"SET VARIABLE DONE {i}"
        assert results[str(i)] == [f"caller-{i}"] + [str(i % 10)] * 7
    assert server.sessions_started == n and server.active_sessions == 0
    assert max(peak_threads) <= threads_before  # no thread per session


async def test_media_commands_are_not_cut_by_the_command_timeout(serve):
    """media_timeout=None: a prompt may play longer than command_timeout."""
    seen = {}

    async def ivr(session: AgiSession) -> None:
        seen["stream"] = await session.stream_file("custom/long-announcement")
        with pytest.raises(AgiTimeout):
            await session.noop()

    async def slow_stream(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(make_env("ivr"))
        assert (await reader.readline()).startswith(b"STREAM FILE")
        await asyncio.sleep(0.5)  # longer than command_timeout + one watchdog tick
        writer.write(b"200 result=0 endpos=96000\n")
        assert await reader.readline() == b"NOOP\n"  # never answered
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()

    server = await serve({"ivr": ivr}, command_timeout=0.1, media_timeout=None, watchdog_tick=0.05)
    await slow_stream(server.bound_port)
    assert seen == {"stream": (None, 96000)}


async def test_session_without_watchdog_uses_its_own_timer():
    """An AgiSession used outside the server (no watchdog) still times out."""
    from ivr.agi import AgiEnvironment
    from ivr.agi.errors import AgiArgumentError

    async def silent(reader, writer):
        await reader.read()  # never replies

    plain = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = plain.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = AgiEnvironment.parse(make_env("ivr"))
    session = AgiSession(env, reader, writer, command_timeout=0.1)
    with pytest.raises(AgiArgumentError):
        await session.raw("NOOP", timeout=0)
    with pytest.raises(AgiTimeout):
        await session.raw("NOOP")
    assert session.closed
    with pytest.raises(AgiSessionClosed):
        await session.answer()
    plain.close()
    await plain.wait_closed()
