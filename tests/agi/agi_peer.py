"""The Asterisk side of a FastAGI connection, for tests: replays real fixture bytes over TCP."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

FIXTURES = Path(__file__).parent / "fixtures"
_FINAL = re.compile(rb"^(\d{3}) ")
_MULTI = re.compile(rb"^(\d{3})-")


def load_fixture(name: str) -> tuple[bytes, list[bytes], bytes]:
    """(environment block incl. blank line, reply units, bytes the script sent).

    A reply unit is what Asterisk wrote for one command: a 200/510/... line, or a whole
    multi-line 520, with any preceding out-of-band ``HANGUP`` line attached in front.
    """
    txt = (FIXTURES / f"{name}.txt").read_bytes()
    sent = (FIXTURES / f"{name}.sent").read_bytes()
    env, sep, rest = txt.partition(b"\n\n")
    assert sep, "fixture without environment terminator"
    units: list[bytes] = []
    current = b""
    multi: bytes | None = None
    for line in rest.splitlines(keepends=True):
        current += line
        if multi is not None:
            if line.startswith(multi + b" "):
                units.append(current)
                current, multi = b"", None
            continue
        m = _MULTI.match(line)
        if m:
            multi = m.group(1)
            continue
        m = _FINAL.match(line)
        if m and m.group(1) != b"100":
            units.append(current)
            current = b""
    assert not current, f"trailing bytes in fixture: {current!r}"
    return env + b"\n\n", units, sent


Responder = Union[Sequence[bytes], Callable[[str], Union[bytes, None]]]


@dataclass
class PeerResult:
    received: bytes = b""
    commands: list[str] = field(default_factory=list)
    eof: bool = False  # the server closed the connection


async def run_peer(
    port: int,
    env: bytes,
    responder: Responder,
    *,
    after_reply: Callable[[int], bytes] | None = None,
    read_timeout: float = 10.0,
) -> PeerResult:
    """Connect like Asterisk, send ``env``, answer each command line until the server closes.

    ``responder`` is a list of reply units (one per command, in order) or a function of
    the command line returning the reply bytes (``None`` = answer nothing and hang up).
    ``after_reply(i)`` may return bytes written right after the i-th reply (out-of-band lines).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    result = PeerResult()
    try:
        writer.write(env)
        await writer.drain()
        i = 0
        while True:
            line = await asyncio.wait_for(reader.readline(), read_timeout)
            if not line:
                result.eof = True
                break
            result.received += line
            command = line.decode("utf-8").rstrip("\n")
            result.commands.append(command)
            if command.startswith("failure"):
                continue
            if callable(responder):
                reply = responder(command)
            else:
                reply = responder[i] if i < len(responder) else None
            if reply is None:
                break
            writer.write(reply)
            if after_reply is not None:
                writer.write(after_reply(i))
            await writer.drain()
            i += 1
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return result


def make_env(script: str = "ivr", *, args: Sequence[str] = (), **extra: str) -> bytes:
    """A realistic environment block (shape of agi_ivr_1.txt) for the given script."""
    base = (FIXTURES / "agi_ivr_1.txt").read_bytes().partition(b"\n\n")[0].decode()
    lines = [ln for ln in base.split("\n") if not ln.startswith(("agi_network_script", "agi_request", "agi_arg_"))]
    lines.insert(1, f"agi_network_script: {script}")
    lines.insert(2, f"agi_request: agi://127.0.0.1:4573/{script}")
    for key, value in extra.items():
        lines.append(f"agi_{key}: {value}")
    for n, arg in enumerate(args, start=1):
        lines.append(f"agi_arg_{n}: {arg}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")
