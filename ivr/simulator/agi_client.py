"""The Asterisk side of FastAGI: connect to ``agi://host[:port]/script``, send the
environment block, execute the server's commands on the channel and answer in
the exact reply shapes of ``shared/fixtures/asterisk-20/agi_*.txt``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shlex
import shutil
import wave
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .channels import Channel, Interrupted

if TYPE_CHECKING:  # pragma: no cover
    from .dialplan import Interpreter

log = logging.getLogger(__name__)

AGI_PORT = 4573
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
UNKNOWN = "510 Invalid or unknown command"
#: AGIExecEnd ``Result:`` per reply code
RESULT_TEXT = {"200": "Success", "510": "Invalid or unknown command", "511": "Command not permitted on a dead channel",
               "520": "Usage"}
USAGE = {
    "get variable": (
        "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns "
        "<literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in "
        "parentheses.\nExample return code: 200 result=1 (testvariable)"
    ),
}
DEAD_SAFE = {"noop", "verbose", "get variable", "get full variable", "set variable", "hangup", "exec", "channel status",
             "set context", "set extension", "set priority", "asyncagi break"}
COMMANDS = [
    "answer", "asyncagi break", "channel status", "control stream file", "database del", "database get", "database put",
    "exec", "get data", "get full variable", "get option", "get variable", "hangup", "noop", "receive char",
    "record file", "say alpha", "say digits", "say number", "send text", "set callerid", "set context",
    "set extension", "set music", "set priority", "set variable", "stream file", "verbose", "wait for digit",
]


def encode_env(env: dict[str, str], args: list[str]) -> bytes:
    """The environment block exactly as res_agi writes it: ``key: value\\n`` lines, then a blank line."""
    lines = [f"{k}: {v}\n" for k, v in env.items()]
    lines += [f"agi_arg_{n}: {v}\n" for n, v in enumerate(args, start=1)]
    return ("".join(lines) + "\n").encode("utf-8")


def _syntax(cmd: str) -> str:
    usage = USAGE.get(cmd)
    if usage is None:
        return "520 Invalid command syntax.  Proper usage not available."
    return "520-Invalid command syntax.  Proper usage follows:\n" + usage + "\n520 End of proper usage."


class AgiRunner:
    """Callable used by the ``AGI`` application."""

    def __init__(self, address_override: tuple[str, int] | None, version: str = "20.20.1") -> None:
        self.address_override = address_override
        self.version = version

    async def __call__(self, it: "Interpreter", chan: Channel, url: str, args: list[str]) -> str:
        parts = urlsplit(url)
        if parts.scheme != "agi":
            return "FAILURE"
        host, port = parts.hostname or "127.0.0.1", parts.port or AGI_PORT
        if self.address_override is not None:
            host, port = self.address_override
        script = url.split("://", 1)[1].partition("/")[2]
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, asyncio.TimeoutError):
            return "FAILURE"
        env = {}
        env["agi_network"] = "yes"
        if script:
            env["agi_network_script"] = script
        env.update(
            agi_request=url,
            agi_channel=chan.name,
            agi_language=chan.language,
            agi_type=chan.tech,
            agi_uniqueid=chan.uniqueid,
            agi_version=self.version,
            agi_callerid=chan.cid_num or "unknown",
            agi_calleridname=chan.cid_name or "unknown",
            agi_callingpres="0",
            agi_callingani2="0",
            agi_callington="0",
            agi_callingtns="0",
            agi_dnid=chan.dnid or "unknown",
            agi_rdnis="unknown",
            agi_context=chan.context,
            agi_extension=chan.exten,
            agi_priority=str(chan.priority),
            agi_enhanced="0.0",
            agi_accountcode=chan.accountcode,
            agi_threadid=str(random.randint(10**14, 10**15 - 1)),
        )
        session = _Session(it, chan, writer)
        try:
            writer.write(encode_env(env, [a.replace("\n", " ") for a in args]))
            await writer.drain()
            while True:
                line = await session.read_line(reader)
                if line is None:
                    break
                if not line.strip():
                    continue
                reply = await session.handle(line.strip())
                await session.send(reply)
        except (ConnectionError, OSError, ValueError):  # ValueError: a line over the stream limit
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if chan.hanging_up:
            return "HANGUP"
        return "SUCCESS"


class _Session:
    def __init__(self, it: "Interpreter", chan: Channel, writer: asyncio.StreamWriter) -> None:
        self.it = it
        self.pbx = it.pbx
        self.chan = chan
        self.writer = writer
        self.hangup_sent = False

    async def send(self, text: str) -> None:
        if self.chan.hanging_up and not self.hangup_sent:
            self.hangup_sent = True
            self.writer.write(b"HANGUP\n")
        self.writer.write((text + "\n").encode("utf-8"))
        await self.writer.drain()

    async def read_line(self, reader: asyncio.StreamReader) -> str | None:
        """Next command; writes the out-of-band ``HANGUP`` line when the channel dies while idle."""
        read = asyncio.ensure_future(reader.readline())
        while True:
            if self.chan.hanging_up and not self.hangup_sent:
                self.hangup_sent = True
                self.writer.write(b"HANGUP\n")
                await self.writer.drain()
            stop = asyncio.ensure_future(self.chan.interrupt.wait()) if not self.hangup_sent else None
            waits = {read} | ({stop} if stop else set())
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if stop is not None:
                stop.cancel()
            if read.done():
                raw = read.result()
                if not raw:
                    return None
                return raw.decode("utf-8", "replace")
            if self.chan.interrupt.is_set() and not self.chan.hanging_up:
                # redirect: Asterisk keeps the AGI until it ends; just keep reading
                await read
                raw = read.result()
                return raw.decode("utf-8", "replace") if raw else None

    async def handle(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        low = [w.lower() for w in words]
        cmd = None
        for n in (3, 2, 1):
            if " ".join(low[:n]) in COMMANDS:
                cmd = " ".join(low[:n])
                args = words[n:]
                break
        command_id = str(random.randint(10**8, 2**31 - 1))
        snap = self.chan
        self.pbx.chan_event("AGIExecStart", snap, ("CommandId", command_id), ("Command", line), cls="agi")
        if cmd is None:
            reply = UNKNOWN
        elif self.chan.hanging_up and cmd not in DEAD_SAFE:
            reply = DEAD
        else:
            try:
                reply = await self._run(cmd, args)
            except Interrupted:
                reply = "200 result=-1"
            except Exception:  # noqa: BLE001 - a bad command must not kill the call
                log.exception("AGI command failed: %s", line)
                reply = "200 result=-1"
        code = reply[:3]
        self.pbx.chan_event(
            "AGIExecEnd", snap, ("CommandId", command_id), ("Command", line), ("ResultCode", code),
            ("Result", RESULT_TEXT.get(code, "Failure")), cls="agi",
        )
        return reply

    async def _run(self, cmd: str, a: list[str]) -> str:
        pbx, chan, it = self.pbx, self.chan, self.it
        if cmd == "answer":
            pbx.answer(chan)
            return "200 result=0"
        if cmd == "noop":
            return "200 result=0"
        if cmd == "verbose":
            return "200 result=1"
        if cmd == "get variable":
            if len(a) != 1:
                return _syntax(cmd)
            name = a[0]
            if "(" not in name and name not in chan.variables and name not in pbx.globals and name.upper() not in (
                "CHANNEL", "UNIQUEID", "EXTEN", "CONTEXT", "PRIORITY", "CALLERIDNUM", "CALLERIDNAME", "HANGUPCAUSE", "EPOCH"
            ):
                return "200 result=0"
            return f"200 result=1 ({it.read_var(chan, name)})"
        if cmd == "get full variable":
            if not a:
                return _syntax(cmd)
            return f"200 result=1 ({it.expand(chan, a[0])})"
        if cmd == "set variable":
            if len(a) != 2:
                return _syntax(cmd)
            it.write_var(chan, a[0], a[1])
            return "200 result=1"
        if cmd == "channel status":
            return f"200 result={chan.state}"
        if cmd in ("stream file", "control stream file", "get option"):
            if len(a) < 2:
                return _syntax(cmd)
            digit = await it.play(chan, a[0], a[1])
            pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
            if cmd == "get option" and digit is None and len(a) > 2:
                try:
                    digit = await pbx.wait_digit(chan, float(a[2]) / 1000)
                except ValueError:
                    digit = None
            samples = int(it.sound_seconds.get(a[0], it.default_sound_seconds) * 8000)
            return f"200 result={ord(digit) if digit else 0} endpos={samples}"
        if cmd == "wait for digit":
            if len(a) != 1:
                return _syntax(cmd)
            try:
                ms = float(a[0])
            except ValueError:
                return _syntax(cmd)
            digit = await pbx.wait_digit(chan, None if ms < 0 else ms / 1000)
            return f"200 result={ord(digit) if digit else 0}"
        if cmd == "get data":
            if not a:
                return _syntax(cmd)
            timeout = float(a[1]) / 1000 if len(a) > 1 and a[1].lstrip("-").isdigit() and int(a[1]) > 0 else 6.0
            maxd = int(a[2]) if len(a) > 2 and a[2].isdigit() else 1024
            typed = ""
            first = await it.play(chan, a[0], "0123456789*#")
            if first is not None:
                typed = first
            timed_out = False
            while len(typed) < maxd and not typed.endswith("#"):
                d = await pbx.wait_digit(chan, timeout)
                if d is None:
                    timed_out = True
                    break
                typed += d
            typed = typed.rstrip("#")
            return f"200 result={typed}" + (" (timeout)" if timed_out else "")
        if cmd in ("say digits", "say number", "say alpha"):
            if len(a) < 2:
                return _syntax(cmd)
            await pbx.wait(chan, 0.5 * len(a[0]))
            return "200 result=0"
        if cmd == "exec":
            if not a:
                return _syntax(cmd)
            from .dialplan import APPS, CANONICAL

            fn = APPS.get(a[0].lower())
            if fn is None:
                return "200 result=-2"
            data = " ".join(a[1:])
            chan.app, chan.appdata = CANONICAL.get(a[0].lower(), a[0]), data
            res = await fn(it, chan, data)
            return f"200 result={0 if res >= 0 else -1}"
        if cmd == "hangup":
            target = pbx.find_channel(a[0]) if a else chan
            if target is None:
                return "200 result=-1"
            pbx.request_hangup(target, 16)
            return "200 result=1"
        if cmd == "set context":
            chan.context = a[0] if a else chan.context
            return "200 result=0"
        if cmd == "set extension":
            chan.exten = a[0] if a else chan.exten
            return "200 result=0"
        if cmd == "set priority":
            if a and a[0].isdigit():
                chan.priority = int(a[0]) - 1
            return "200 result=0"
        if cmd == "set callerid":
            return "200 result=1"
        if cmd == "set music":
            return "200 result=0"
        if cmd == "record file":
            if len(a) < 4:
                return _syntax(cmd)
            if chan.utterances:  # the caller says something (CallerScript.say): it becomes the file
                spoken = Path(chan.utterances.pop(0))
                target = Path(f"{a[0]}.{a[1]}")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(spoken, target)
                with wave.open(str(spoken)) as w:
                    frames, rate = w.getnframes(), w.getframerate()
                await pbx.wait(chan, frames / rate)
                return f"200 result=0 endpos={frames}"
            ms = float(a[3]) if a[3].lstrip("-").isdigit() else -1
            d = await pbx.wait_digit(chan, None if ms < 0 else ms / 1000)
            if d is None:
                return "200 result=0 (timeout) endpos=0"
            return f"200 result={ord(d)} (dtmf) endpos=0"
        return UNKNOWN
