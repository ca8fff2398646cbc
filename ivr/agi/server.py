"""Asyncio FastAGI server: accepts Asterisk's connections and routes them to scripts.

One task per connection, no threads. A script is ``async def script(session)``; it is
chosen by the script name of ``agi_network_script`` (query string removed). When the
script returns, the connection is closed and Asterisk continues the dialplan with
``AGISTATUS=SUCCESS``. When no script matches or the script raises, the server does
what wazo-agid does: it logs, tells the channel (``VERBOSE`` plus a channel variable,
``HOTLINE_AGI_ERROR`` = ``UNKNOWN_SCRIPT`` / ``SCRIPT_ERROR`` / ``BUSY``), optionally
jumps to a failure extension, then sends ``failure`` so that ``AGISTATUS=FAILURE``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Awaitable, Callable, Mapping, Protocol, Union

from ivr.agi.errors import AgiError, AgiHangup, AgiProtocolError, AgiTimeout
from ivr.agi.protocol import (
    MAX_ENV_BYTES,
    MAX_ENV_LINES,
    MAX_LINE_BYTES,
    AgiEnvironment,
)
from ivr.agi.session import DEFAULT_COMMAND_TIMEOUT, DEFAULT_MEDIA_TIMEOUT, AgiSession, CommandWatchdog

log = logging.getLogger(__name__)

Script = Callable[[AgiSession], Awaitable[None]]

ERROR_UNKNOWN_SCRIPT = "UNKNOWN_SCRIPT"
ERROR_SCRIPT = "SCRIPT_ERROR"
ERROR_BUSY = "BUSY"


def _check_script(name: str, script: object) -> Script:
    if not isinstance(name, str):
        raise TypeError(f"FastAGI route name must be str, got {type(name).__name__}")
    call = getattr(script, "__call__", None)
    if not (inspect.iscoroutinefunction(script) or inspect.iscoroutinefunction(call)):
        raise TypeError(f"FastAGI route {name!r} must be an async function taking a session, got {script!r}")
    return script  # type: ignore[return-value]


class Resolver(Protocol):
    def resolve(self, script: str) -> Script | None: ...


class AgiRouter:
    """Script name -> async script. Names are matched exactly (``ivr``, ``hotline/status``)."""

    def __init__(self, routes: Mapping[str, Script] | None = None) -> None:
        self._routes: dict[str, Script] = {}
        for name, script in (routes or {}).items():
            self.add(name, script)

    def add(self, name: str, script: Script) -> None:
        script = _check_script(name, script)
        key = name.strip("/")
        if key in self._routes:
            raise ValueError(f"FastAGI route {key!r} is already registered")
        self._routes[key] = script

    def route(self, name: str) -> Callable[[Script], Script]:
        """Decorator form of :meth:`add`."""

        def decorate(script: Script) -> Script:
            self.add(name, script)
            return script

        return decorate

    def resolve(self, script: str) -> Script | None:
        return self._routes.get(script)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._routes))

    def __contains__(self, name: object) -> bool:
        return name in self._routes


Routes = Union[Mapping[str, Script], AgiRouter, Resolver]


class FastAgiServer:
    """``await server.start()`` ... ``await server.stop()``; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4573,
        routes: Routes | None = None,
        *,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        media_timeout: float | None = DEFAULT_MEDIA_TIMEOUT,
        env_timeout: float = 5.0,
        max_sessions: int = 10000,
        backlog: int = 1024,
        error_variable: str = "HOTLINE_AGI_ERROR",
        fail_goto: tuple[str, str, int | str] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_env_lines: int = MAX_ENV_LINES,
        max_env_bytes: int = MAX_ENV_BYTES,
        watchdog_tick: float = 0.1,
    ) -> None:
        if routes is None:
            routes = AgiRouter()
        elif isinstance(routes, Mapping):
            routes = AgiRouter(routes)
        elif not callable(getattr(routes, "resolve", None)):
            raise TypeError("routes must be a mapping of name -> async script or a router with resolve()")
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.routes: Resolver = routes
        self.host = host
        self.port = port
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self.env_timeout = env_timeout
        self.max_sessions = max_sessions
        self.backlog = backlog
        self.error_variable = error_variable
        self.fail_goto = fail_goto
        self.max_line_bytes = max_line_bytes
        self.max_env_lines = max_env_lines
        self.max_env_bytes = max_env_bytes
        self._server: asyncio.Server | None = None
        self._watchdog = CommandWatchdog(watchdog_tick)
        self._tasks: set[asyncio.Task] = set()
        self._active_sessions = 0
        self.sessions_started = 0
        self.sessions_failed = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAGI server is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def active_sessions(self) -> int:
        return self._active_sessions

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self.port, limit=max(self.max_line_bytes, self.max_env_bytes), backlog=self.backlog
        )
        log.info("FastAGI server listening on %s:%d", self.host, self.bound_port)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, wait up to ``grace`` seconds for running sessions, then cancel them."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        if pending:
            log.warning("FastAGI stop: cancelling %d session(s) still running after %.1f s", len(pending), grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._watchdog.close()
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ connections

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._serve_connection(reader, writer, peer)
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        except Exception:  # last line of defence: never let a connection kill the server
            log.exception("FastAGI: unexpected error on connection from %s", peer)
            writer.transport.abort()
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass

    async def _read_environment(self, reader: asyncio.StreamReader, peer: object) -> AgiEnvironment | None:
        try:
            block = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            # TCP health checks and port scans connect and leave: not an error.
            log.debug("FastAGI: %s closed before the end of the environment (%d bytes)", peer, len(exc.partial))
            return None
        except asyncio.LimitOverrunError:
            log.warning("FastAGI: environment from %s exceeds %d bytes; closing", peer, self.max_env_bytes)
            return None
        except (ConnectionError, OSError) as exc:
            log.debug("FastAGI: connection from %s lost during the environment: %s", peer, exc)
            return None
        if len(block) > self.max_env_bytes:
            log.warning("FastAGI: environment from %s exceeds %d bytes; closing", peer, self.max_env_bytes)
            return None
        lines = block.decode("utf-8", "replace").split("\n")
        if len(lines) > self.max_env_lines + 2:
            log.warning("FastAGI: environment from %s has more than %d lines; closing", peer, self.max_env_lines)
            return None
        try:
            return AgiEnvironment.from_lines(lines)
        except AgiProtocolError as exc:
            log.warning("FastAGI: bad environment from %s: %s; closing", peer, exc)
            return None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object) -> None:
        try:
            async with asyncio.timeout(self.env_timeout):
                env = await self._read_environment(reader, peer)
        except TimeoutError:
            log.info("FastAGI: no complete environment from %s within %.1f s; closing", peer, self.env_timeout)
            writer.transport.abort()
            return
        if env is None:
            writer.transport.abort()
            return
        session = AgiSession(
            env,
            reader,
            writer,
            command_timeout=self.command_timeout,
            media_timeout=self.media_timeout,
            max_line_bytes=self.max_line_bytes,
            watchdog=self._watchdog,
        )
        where = f"script {env.network_script!r} channel {env.channel} uniqueid {env.uniqueid}"
        if self._active_sessions >= self.max_sessions:
            log.warning("FastAGI: %d sessions running, refusing %s", self._active_sessions, where)
            await self._report_failure(session, ERROR_BUSY, "FastAGI server busy")
            return
        script = self.routes.resolve(env.script)
        if script is None:
            log.warning("FastAGI: unknown %s", where)
            await self._report_failure(session, ERROR_UNKNOWN_SCRIPT, f"FastAGI: unknown script {env.script}")
            return
        self._active_sessions += 1
        self.sessions_started += 1
        try:
            await script(session)
        except AgiHangup:
            log.debug("FastAGI: caller hung up during %s", where)
        except AgiTimeout as exc:
            self.sessions_failed += 1
            log.warning("FastAGI: %s: %s", where, exc)
        except AgiError as exc:
            self.sessions_failed += 1
            log.warning("FastAGI: %s ended with %s: %s", where, type(exc).__name__, exc)
            await self._report_failure(session, ERROR_SCRIPT, f"FastAGI script error: {type(exc).__name__}")
        except Exception:
            self.sessions_failed += 1
            log.exception("FastAGI: %s raised", where)
            await self._report_failure(session, ERROR_SCRIPT, "FastAGI script error")
        finally:
            self._active_sessions -= 1
            session.close()

    async def _report_failure(self, session: AgiSession, code: str, message: str) -> None:
        """Tell the channel why (variable + verbose), optionally jump, then AGISTATUS=FAILURE."""
        if session.closed or session.hung_up:
            session.close()
            return
        try:
            await session.set_variable(self.error_variable, code)
            await session.verbose(message, 1)
            if self.fail_goto is not None:
                context, exten, priority = self.fail_goto
                await session.goto_on_exit(context, exten, priority)
        except AgiError as exc:
            log.debug("FastAGI: could not report %s to the channel: %s", code, exc)
        except OSError:
            pass
        await session.fail()

