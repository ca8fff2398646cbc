"""One FastAGI conversation: the typed, async script API over one TCP connection.

Commands are strictly sequential (one outstanding command, as AGI requires); a lock
guards against two tasks of one script interleaving commands. A bare ``HANGUP`` line
from Asterisk sets :attr:`AgiSession.hung_up` and the real reply is still read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ivr.agi.errors import (
    AgiArgumentError,
    AgiCommandError,
    AgiCommandFailed,
    AgiDeadChannel,
    AgiHangup,
    AgiProtocolError,
    AgiSessionClosed,
    AgiTimeout,
)
from ivr.agi.protocol import (
    MAX_LINE_BYTES,
    AgiEnvironment,
    AgiResponse,
    ReplyAssembler,
    encode_command,
    quote,
    word,
)

DEFAULT_COMMAND_TIMEOUT = 10.0
#: Upper bound for commands whose duration depends on the caller or on media length.
DEFAULT_MEDIA_TIMEOUT = 3600.0
_DIGITS = set("0123456789*#ABCDabcd")


_DEFAULT: Any = object()  # "use the session's command_timeout" (None means no limit)


class CommandWatchdog:
    """One timer for many sessions: every ``tick`` seconds, sessions whose pending command
    is past its deadline are aborted (:class:`AgiTimeout`). With thousands of sessions this
    is cheaper than arming a timer per command; deadlines fire up to ``tick`` late.
    """

    def __init__(self, tick: float = 0.1) -> None:
        if tick <= 0:
            raise ValueError("watchdog tick must be > 0")
        self.tick = tick
        self._sessions: set[AgiSession] = set()
        self._task: asyncio.Task | None = None

    def watch(self, session: AgiSession) -> None:
        self._sessions.add(session)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def unwatch(self, session: AgiSession) -> None:
        self._sessions.discard(session)

    async def _run(self) -> None:
        try:
            while self._sessions:
                await asyncio.sleep(self.tick)
                now = time.monotonic()
                for session in [s for s in self._sessions if s._deadline is not None and s._deadline <= now]:
                    session._expire()
        finally:
            self._task = None

    async def close(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class RecordResult:
    """Outcome of RECORD FILE: why it stopped, the digit pressed, where it stopped."""

    reason: str | None  # "dtmf", "timeout", "hangup" or None (silence / max length reached)
    digit: str | None
    endpos: int | None


def _digit(result: int | None) -> str | None:
    """A result that is an ASCII code of a DTMF digit -> the digit; 0 -> None."""
    if not result:
        return None
    return chr(result)


def _escape_digits(digits: str) -> str:
    if not isinstance(digits, str) or any(ch not in _DIGITS for ch in digits):
        raise AgiArgumentError(f"escape digits must be DTMF characters 0-9*#A-D: {digits!r}")
    return quote(digits, always=True)


def _ms(value: int, what: str, *, allow_forever: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise AgiArgumentError(f"{what} must be an int (milliseconds), got {value!r}")
    if value < 0 and not (allow_forever and value == -1):
        raise AgiArgumentError(f"{what} must be >= 0{' or -1' if allow_forever else ''}: {value}")
    return value


class AgiSession:
    """Typed FastAGI script API. Created by the server; scripts receive it as argument."""

    def __init__(
        self,
        env: AgiEnvironment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        media_timeout: float | None = DEFAULT_MEDIA_TIMEOUT,
        encoding: str = "utf-8",
        max_line_bytes: int = MAX_LINE_BYTES,
        watchdog: CommandWatchdog | None = None,
    ) -> None:
        self.env = env
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self._reader = reader
        self._writer = writer
        self._encoding = encoding
        self._max_line_bytes = max_line_bytes
        self._assembler = ReplyAssembler()
        self._lock = asyncio.Lock()
        self._closed = False
        self._watchdog = watchdog
        self._deadline: float | None = None
        self._timed_out = False
        if watchdog is not None:
            watchdog.watch(self)

    # ------------------------------------------------------------------ state

    @property
    def hung_up(self) -> bool:
        """True once Asterisk sent the out-of-band ``HANGUP`` line or the connection dropped."""
        return self._assembler.hangup_seen

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def args(self) -> tuple[str, ...]:
        return self.env.args

    def close(self) -> None:
        """Close the connection: Asterisk ends the AGI with AGISTATUS=SUCCESS and the
        dialplan continues (at the context/extension/priority set by the script)."""
        if not self._closed:
            self._closed = True
            self._writer.close()
        self._release()

    def abort(self) -> None:
        """Drop the connection without a graceful shutdown."""
        self._closed = True
        transport = self._writer.transport
        if transport is not None:
            transport.abort()
        self._release()

    def _release(self) -> None:
        if self._watchdog is not None:
            self._watchdog.unwatch(self)

    def _expire(self) -> None:
        """Called by the watchdog: the pending command is past its deadline."""
        self._timed_out = True
        self.abort()

    async def fail(self) -> None:
        """Send ``failure``: Asterisk ends the AGI with AGISTATUS=FAILURE; then close."""
        if self._closed:
            return
        try:
            self._writer.write(b"failure\n")
            async with asyncio.timeout(self.command_timeout):
                await self._writer.drain()
        except (OSError, TimeoutError):
            pass
        self.close()

    # ------------------------------------------------------------------ raw I/O

    async def raw(self, command: str, *, timeout: float | None = _DEFAULT, check: bool = True) -> AgiResponse:
        """Send one command line as is and return its reply.

        ``check`` raises :class:`AgiCommandError` for 5xx replies (:class:`AgiDeadChannel`
        for 511); with ``check=False`` they are returned. ``timeout`` defaults to
        :attr:`command_timeout`; ``None`` waits without limit.
        """
        data = encode_command(command)
        if timeout is _DEFAULT:
            timeout = self.command_timeout
        elif timeout is not None and not timeout > 0:
            raise AgiArgumentError(f"timeout must be > 0 seconds or None: {timeout!r}")
        async with self._lock:
            if self._closed:
                raise AgiSessionClosed(f"session closed; cannot send {command!r}")
            try:
                if timeout is None:
                    response = await self._exchange(data)
                elif self._watchdog is not None:
                    self._deadline = time.monotonic() + timeout
                    try:
                        response = await self._exchange(data)
                    finally:
                        self._deadline = None
                else:
                    async with asyncio.timeout(timeout):
                        response = await self._exchange(data)
            except TimeoutError:
                self.abort()
                raise AgiTimeout(command, timeout) from None  # type: ignore[arg-type]
            except (OSError, asyncio.IncompleteReadError) as exc:  # reset, EOF, broken pipe
                if self._timed_out:
                    raise AgiTimeout(command, timeout) from None  # type: ignore[arg-type]
                self._closed = True
                self._assembler.hangup_seen = True
                self._release()
                raise AgiHangup(f"connection lost during {command!r}") from exc
            except AgiProtocolError:
                self.abort()
                raise
        if check and response.code != 200:
            if response.code == 511:
                raise AgiDeadChannel(command, response)
            raise AgiCommandError(command, response)
        return response

    async def command(self, verb: str, *args: str, timeout: float | None = _DEFAULT) -> AgiResponse:
        """Send ``verb`` followed by arguments quoted as needed; 5xx raise."""
        line = " ".join([verb, *(quote(a) for a in args)])
        return await self.raw(line, timeout=timeout)

    async def _exchange(self, data: bytes) -> AgiResponse:
        self._writer.write(data)
        await self._writer.drain()
        while True:
            try:
                raw = await self._reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                raise AgiProtocolError(f"reply line longer than {self._max_line_bytes} bytes") from exc
            if len(raw) > self._max_line_bytes:
                raise AgiProtocolError(f"reply line longer than {self._max_line_bytes} bytes")
            line = raw[:-1].decode(self._encoding, "replace")
            response = self._assembler.feed(line)
            if response is not None:
                return response

    def _media_timeout(self, wait_ms: int | None = None) -> float | None:
        """Timeout for commands that wait for the caller: their own wait plus the base."""
        if wait_ms is not None and wait_ms >= 0 and self.command_timeout is not None:
            return self.command_timeout + wait_ms / 1000.0
        return self.media_timeout

    @staticmethod
    def _check_failure(command: str, response: AgiResponse) -> AgiResponse:
        if response.result is not None and response.result < 0:
            raise AgiCommandFailed(command, response)
        return response

    async def _run(self, line: str, *, timeout: float | None = _DEFAULT, fail_negative: bool = True) -> AgiResponse:
        response = await self.raw(line, timeout=timeout)
        return self._check_failure(line, response) if fail_negative else response

    # ------------------------------------------------------------------ typed commands

    async def answer(self) -> None:
        await self._run("ANSWER")

    async def hangup(self, channel: str | None = None) -> None:
        line = "HANGUP" if channel is None else f"HANGUP {quote(channel)}"
        await self._run(line)

    async def noop(self) -> None:
        await self._run("NOOP", fail_negative=False)

    async def verbose(self, message: str, level: int = 1) -> None:
        if level not in (1, 2, 3, 4):
            raise AgiArgumentError(f"verbose level must be 1..4: {level!r}")
        await self._run(f"VERBOSE {quote(message, always=True)} {level}", fail_negative=False)

    async def channel_status(self, channel: str | None = None) -> int:
        """AST_STATE_* of the channel (6 = up)."""
        line = "CHANNEL STATUS" if channel is None else f"CHANNEL STATUS {quote(channel)}"
        return (await self._run(line)).result or 0

    async def set_variable(self, name: str, value: str | int) -> None:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise AgiArgumentError(f"variable value must be str or int: {value!r}")
        await self._run(f"SET VARIABLE {word(name, 'variable name')} {quote(str(value))}")

    async def get_variable(self, name: str) -> str | None:
        """Value of a channel variable or function; ``None`` when unset."""
        response = await self._run(f"GET VARIABLE {word(name, 'variable name')}", fail_negative=False)
        return response.data if response.result == 1 else None

    async def get_full_variable(self, expression: str, channel: str | None = None) -> str | None:
        """Evaluate an expression such as ``${CALLERID(num)}-${EXTEN}``."""
        line = f"GET FULL VARIABLE {quote(expression, always=True)}"
        if channel is not None:
            line += f" {quote(channel)}"
        response = await self._run(line, fail_negative=False)
        return response.data if response.result == 1 else None

    async def set_context(self, context: str) -> None:
        await self._run(f"SET CONTEXT {word(context, 'context')}")

    async def set_extension(self, extension: str) -> None:
        await self._run(f"SET EXTENSION {word(extension, 'extension')}")

    async def set_priority(self, priority: int | str) -> None:
        await self._run(f"SET PRIORITY {word(str(priority), 'priority')}")

    async def goto_on_exit(self, context: str, extension: str, priority: int | str = 1) -> None:
        """Where the dialplan continues after the script ends (menu jump)."""
        await self.set_context(context)
        await self.set_extension(extension)
        await self.set_priority(priority)

    async def exec(self, application: str, options: str = "") -> int:
        """Run a dialplan application; returns its result (-2 = no such application raises)."""
        line = f"EXEC {word(application, 'application name')}"
        if options:
            line += f" {quote(options)}"
        response = await self._run(line, timeout=self._media_timeout(), fail_negative=False)
        if response.result == -2:
            raise AgiCommandFailed(line, response, f"no such application: {application}")
        return response.result or 0

    async def gosub(self, context: str, extension: str, priority: int | str = 1, *args: str) -> int:
        """Run a dialplan subroutine and come back (Asterisk answers ``100 Trying`` first)."""
        line = f"GOSUB {word(context, 'context')} {word(extension, 'extension')} {word(str(priority), 'priority')}"
        if args:
            line += f" {quote(','.join(args))}"
        response = await self._run(line, timeout=self._media_timeout())
        return response.result or 0

    async def set_music(self, on: bool, moh_class: str | None = None) -> None:
        """Start or stop music on hold for the caller (while the script looks something up)."""
        line = f"SET MUSIC {'on' if on else 'off'}"
        if moh_class is not None:
            line += f" {word(moh_class, 'music class')}"
        await self._run(line, fail_negative=False)

    async def stream_file(self, name: str, escape_digits: str = "", offset: int | None = None) -> tuple[str | None, int | None]:
        """Play a prompt; returns (digit pressed or None, endpos)."""
        line = f"STREAM FILE {word(name, 'file name')} {_escape_digits(escape_digits)}"
        if offset is not None:
            line += f" {_ms(offset, 'offset')}"
        response = await self._run(line, timeout=self._media_timeout())
        return _digit(response.result), response.endpos

    async def get_data(self, prompt: str, timeout_ms: int | None = None, max_digits: int | None = None) -> tuple[str, bool]:
        """Play ``prompt`` and collect digits; returns (digits, timed_out)."""
        line = f"GET DATA {word(prompt, 'file name')}"
        if timeout_ms is not None or max_digits is not None:
            line += f" {_ms(timeout_ms or 0, 'timeout_ms')}"
        if max_digits is not None:
            if not isinstance(max_digits, int) or isinstance(max_digits, bool) or not 1 <= max_digits <= 1024:
                raise AgiArgumentError(f"max_digits must be 1..1024: {max_digits!r}")
            line += f" {max_digits}"
        # the prompt's length is unknown, so the media bound applies
        response = await self._run(line, timeout=self._media_timeout())
        return response.result_text, response.data == "timeout"

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait for one DTMF digit; ``None`` on timeout. ``-1`` waits forever."""
        _ms(timeout_ms, "timeout_ms", allow_forever=True)
        response = await self._run(f"WAIT FOR DIGIT {timeout_ms}", timeout=self._media_timeout(timeout_ms))
        return _digit(response.result)

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        if not isinstance(digits, str) or not digits.isdigit() or not digits.isascii():
            raise AgiArgumentError(f"say_digits needs ASCII digits: {digits!r}")
        response = await self._run(
            f"SAY DIGITS {digits} {_escape_digits(escape_digits)}", timeout=self._media_timeout()
        )
        return _digit(response.result)

    async def say_number(self, number: int, escape_digits: str = "", gender: str | None = None) -> str | None:
        if not isinstance(number, int) or isinstance(number, bool):
            raise AgiArgumentError(f"say_number needs an int: {number!r}")
        line = f"SAY NUMBER {number} {_escape_digits(escape_digits)}"
        if gender is not None:
            line += f" {word(gender, 'gender')}"
        response = await self._run(line, timeout=self._media_timeout())
        return _digit(response.result)

    async def record_file(
        self,
        filename: str,
        format: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = -1,
        *,
        offset_samples: int | None = None,
        beep: bool = False,
        silence_s: int | None = None,
    ) -> RecordResult:
        """Record the caller to ``filename.format``; ``timeout_ms=-1`` = no limit.

        A hang-up ends a recording normally (reason ``"hangup"``); write errors raise.
        """
        _ms(timeout_ms, "timeout_ms", allow_forever=True)
        parts = [
            "RECORD FILE",
            word(filename, "file name"),
            word(format, "format"),
            _escape_digits(escape_digits),
            str(timeout_ms),
        ]
        if offset_samples is not None:
            parts.append(str(_ms(offset_samples, "offset_samples")))
        if beep:
            parts.append("BEEP")
        if silence_s is not None:
            parts.append(f"s={_ms(silence_s, 'silence_s')}")
        line = " ".join(parts)
        response = await self._run(line, timeout=self._media_timeout(timeout_ms), fail_negative=False)
        reason = response.data
        if response.result is not None and response.result < 0 and reason != "hangup":
            raise AgiCommandFailed(line, response, f"recording failed: {reason or response.text}")
        digit = _digit(response.result) if reason == "dtmf" else None
        return RecordResult(reason=reason, digit=digit, endpos=response.endpos)
