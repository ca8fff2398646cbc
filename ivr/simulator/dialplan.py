"""Dialplan interpreter: runs a channel through contexts/extensions/priorities.

Applications implemented (the set the hotline dialplans use): Answer, NoOp,
Verbose, Log, Set, UserEvent, Goto, GotoIf, ExecIf, AGI, BackGround, Playback,
WaitExten, Read, Wait, SendDTMF, Dial, Queue, MixMonitor, StopMixMonitor,
Record, Busy, Congestion, Ringing, Progress, Hangup, Gosub/GosubIf/Return,
GotoIfTime/ExecIfTime. An unknown application hangs the channel up, as Asterisk
does when an application is not loaded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Awaitable, Callable

from .channels import Channel, Hungup, Interrupted, parse_callerid
from . import timespec
from .expressions import split_args, substitute

if TYPE_CHECKING:  # pragma: no cover
    from .pbx import Pbx

log = logging.getLogger(__name__)

JUMP = 1  # the application moved the channel (Goto); do not advance the priority
_SUB_END = "\x00gosub-end"  # return address of a subroutine run by run_subroutine

CANONICAL = {
    name.lower(): name
    for name in (
        "Answer NoOp Verbose Log Set UserEvent Goto GotoIf GotoIfTime ExecIf ExecIfTime AGI BackGround Playback WaitExten Read Wait "
        "Gosub GosubIf Return StackPop SendDTMF Dial Queue MixMonitor StopMixMonitor Record Busy Congestion Ringing Progress Hangup "
        "AppDial AppDial2 AppQueue"
    ).split()
}

AppFunc = Callable[["Interpreter", Channel, str], Awaitable[int]]
APPS: dict[str, AppFunc] = {}


def app(name: str):
    def deco(fn: AppFunc) -> AppFunc:
        APPS[name.lower()] = fn
        return fn

    return deco


class Interpreter:
    """Dialplan execution for one PBX; application helpers live here."""

    def __init__(self, pbx: "Pbx") -> None:
        self.pbx = pbx
        self.sound_seconds: dict[str, float] = {}
        self.default_sound_seconds = 1.0
        self.monitor_dir = "/var/spool/asterisk/monitor"
        self.agi_runner = None  # set by the simulator: async (interp, chan, url, args) -> str
        self.recorded_files: dict[str, int] = {}   # path -> bytes, for STAT(s,path) after Record()

    @property
    def dialplan(self):
        return self.pbx.dialplan

    # -- variables ----------------------------------------------------------
    def resolver(self, chan: Channel | None) -> Callable[[str], str]:
        def resolve(expr: str) -> str:
            return self.read_var(chan, expr)

        return resolve

    def expand(self, chan: Channel | None, text: str) -> str:
        return substitute(text, self.resolver(chan))

    def read_var(self, chan: Channel | None, expr: str) -> str:
        expr = expr.strip()
        name, _, arg = expr.partition("(")
        arg = arg[:-1] if arg.endswith(")") else arg
        upper = name.upper()
        if "(" in expr:
            return self._function(chan, upper, arg)
        if chan is not None:
            special = {
                "CHANNEL": lambda: chan.name,
                "UNIQUEID": lambda: chan.uniqueid,
                "EXTEN": lambda: chan.exten,
                "CONTEXT": lambda: chan.context,
                "PRIORITY": lambda: str(chan.priority),
                "CALLERIDNUM": lambda: chan.cid_num,
                "CALLERIDNAME": lambda: chan.cid_name,
                "HANGUPCAUSE": lambda: str(chan.hangup_cause if chan.hangup_cause is not None else 0),
                "EPOCH": lambda: str(int(self.pbx.clock.now())),
            }
            if upper in special:
                return special[upper]()
            if name in chan.variables:
                return chan.variables[name]
        return self.pbx.globals.get(name, "")

    def _function(self, chan: Channel | None, name: str, arg: str) -> str:
        if name == "IF":
            cond, _, rest = arg.partition("?")
            a, _, b = rest.partition(":")
            truth = cond.strip() not in ("", "0")
            return a if truth else b
        if name == "LEN":
            return str(len(arg))
        if name == "STRFTIME":
            return timespec.strftime(arg, self.pbx.clock.now())
        if name == "IFTIME":
            spec, _, rest = arg.partition("?")
            a, _, b = rest.partition(":")
            return a if timespec.matches(spec, self.pbx.clock.now()) else b
        if name == "GLOBAL":
            return self.pbx.globals.get(arg, "")
        if name == "STAT":     # only the size of files Record() wrote ("s"); nothing else exists here
            flag, _, path = arg.partition(",")
            size = self.recorded_files.get(path.strip())
            return str(size) if flag.strip() == "s" and size is not None else ""
        if chan is None:
            return ""
        if name == "CALLERID":
            what = arg.lower()
            if what == "all":
                return chan.callerid_all
            if what == "num":
                return chan.cid_num
            if what == "name":
                return chan.cid_name
            if what == "dnid":
                return chan.dnid
            return ""
        if name == "CDR":
            if arg.lower() == "userfield":
                return chan.cdr_userfield
            return chan.variables.get(f"CDR({arg})", "")
        if name == "TIMEOUT":
            return chan.variables.get(f"__timeout_{arg.lower()}", "")
        if name == "CHANNEL":
            what = arg.lower()
            return {
                "name": chan.name,
                "uniqueid": chan.uniqueid,
                "linkedid": chan.linkedid,
                "language": chan.language,
                "state": "Up" if chan.is_up else "Ring",
            }.get(what, "")
        return chan.variables.get(f"{name}({arg})", "")

    def write_var(self, chan: Channel | None, name: str, value: str) -> None:
        name = name.strip()
        fname, _, arg = name.partition("(")
        arg = arg[:-1] if arg.endswith(")") else arg
        upper = fname.upper()
        if "(" in name:
            if upper == "GLOBAL":
                self.pbx.set_var(None, arg, value)
            elif chan is None:
                return
            elif upper == "CDR" and arg.lower() == "userfield":
                chan.cdr_userfield = value
            elif upper == "TIMEOUT":
                chan.variables[f"__timeout_{arg.lower()}"] = value
            elif upper == "CHANNEL" and arg.lower() == "language":
                chan.language = value
            elif upper == "CHANNEL" and arg.lower() == "accountcode":
                old = chan.accountcode
                chan.accountcode = value
                self.pbx.chan_event("NewAccountCode", chan, ("OldAccountCode", old))
            elif upper == "CALLERID":
                if arg.lower() == "num":
                    self.pbx.set_callerid(chan, chan.cid_name, value)
                elif arg.lower() == "name":
                    self.pbx.set_callerid(chan, value, chan.cid_num)
                elif arg.lower() == "all":
                    n, num = parse_callerid(value)
                    self.pbx.set_callerid(chan, n, num)
            else:
                chan.variables[name] = value
            return
        self.pbx.set_var(chan, name.lstrip("_"), value)

    def timeout(self, chan: Channel, which: str, default: float) -> float:
        raw = chan.variables.get(f"__timeout_{which}", "")
        try:
            return float(raw) if raw else default
        except ValueError:
            return default

    # -- running ------------------------------------------------------------
    def start(self, chan: Channel) -> asyncio.Task:
        chan.owner = self.pbx.spawn(self.run(chan))
        return chan.owner

    async def run(self, chan: Channel) -> None:
        """Run ``chan`` from its current context/exten/priority until it hangs up."""
        pbx = self.pbx
        chan.in_pbx = True
        if not self.dialplan.exists(chan.context, chan.exten, chan.priority):
            chan.hangup_cause = chan.hangup_cause if chan.hangup_cause is not None else 0
            chan.owner = None
            pbx.destroy(chan)
            return
        try:
            while not chan.gone:
                ext = self.dialplan.find(chan.context, chan.exten)
                step = ext.step(chan.priority) if ext else None
                if step is None:
                    break  # autofallthrough
                try:
                    res = await self.execute(chan, step.app, step.args)
                except Hungup:
                    break
                except Interrupted:
                    if not self._take_redirect(chan):
                        break
                    continue
                if self._take_redirect(chan):
                    continue
                if res == JUMP:
                    await asyncio.sleep(0)
                    continue
                if res < 0:
                    break
                chan.priority += 1
                await asyncio.sleep(0)  # let other channels and the AMI writer run between priorities
        except asyncio.CancelledError:
            chan.owner = None
            pbx.destroy(chan)
            raise
        except Exception:  # noqa: BLE001 - a dialplan bug must not kill the simulator
            log.exception("dialplan execution failed on %s", chan.name)
        await self._finish(chan)

    async def run_subroutine(self, chan: Channel, target: str, args: list[str]) -> None:
        """Run a Gosub on ``chan`` in the caller's task until its Return (Dial's ``U()`` option)."""
        saved = (chan.context, chan.exten, chan.priority)
        if "," not in target:
            target = f"{target},s,1"
        if self.goto(chan, target) != JUMP:
            chan.context, chan.exten, chan.priority = saved
            return
        chan.gosub_stack.append((_SUB_END, "", 0, {}))
        for n, a in enumerate(args, start=1):
            chan.variables[f"ARG{n}"] = a
        try:
            for _ in range(10_000):  # a runaway subroutine must not spin forever
                ext = self.dialplan.find(chan.context, chan.exten)
                step = ext.step(chan.priority) if ext else None
                if step is None:
                    break
                res = await self.execute(chan, step.app, step.args)
                if chan.context == _SUB_END:
                    break
                if res < 0:
                    break
                if res != JUMP:
                    chan.priority += 1
                await asyncio.sleep(0)
        finally:
            chan.context, chan.exten, chan.priority = saved

    def _take_redirect(self, chan: Channel) -> bool:
        if chan.redirect_to is None or chan.hanging_up:
            return False
        chan.context, chan.exten, chan.priority = chan.redirect_to
        chan.redirect_to = None
        chan.interrupt.clear()
        return True

    async def _finish(self, chan: Channel) -> None:
        pbx = self.pbx
        if chan.gone:
            return
        if chan.hangup_cause is None:
            chan.hangup_cause = 16
        pbx.chan_event("SoftHangupRequest", chan, ("Cause", "16"))
        chan.hanging_up = True
        chan.interrupt.set()
        if chan.bridge is not None:
            pbx.leave_bridge(chan)
        if self.dialplan.exists(chan.context, "h", 1):
            chan.exten, chan.priority = "h", 1
            ext = self.dialplan.find(chan.context, "h")
            while ext is not None and (step := ext.step(chan.priority)) is not None:
                try:
                    res = await self.execute(chan, step.app, step.args)
                except Interrupted:
                    res = 0
                except Exception:  # noqa: BLE001
                    log.exception("h extension failed on %s", chan.name)
                    break
                chan.priority += 1
                if res < 0:
                    break
        chan.owner = None
        pbx.destroy(chan)

    async def execute(self, chan: Channel, app_name: str, raw_args: str) -> int:
        args = self.expand(chan, raw_args)
        canonical = CANONICAL.get(app_name.lower(), app_name)
        chan.app, chan.appdata = canonical, args
        chan.cdr_lastapp, chan.cdr_lastdata = canonical, args
        self.pbx.chan_event(
            "Newexten", chan, ("Extension", chan.exten), ("Application", canonical), ("AppData", args), cls="dialplan"
        )
        fn = APPS.get(app_name.lower())
        if fn is None:
            log.warning("application %s not available; hanging up %s", app_name, chan.name)
            return -1
        return await fn(self, chan, args)

    def goto(self, chan: Channel, target: str) -> int:
        """``[[context,]exten,]priority`` with priority a number or a label."""
        parts = [p.strip() for p in target.split(",")] if target else []
        if not parts:
            return -1
        if len(parts) == 1:
            ctx, exten, prio = chan.context, chan.exten, parts[0]
        elif len(parts) == 2:
            ctx, exten, prio = chan.context, parts[0], parts[1]
        else:
            ctx, exten, prio = parts[0], parts[1], parts[2]
        ext = self.dialplan.find(ctx, exten)
        if ext is None:
            log.warning("Goto to nonexistent %s,%s,%s", ctx, exten, prio)
            return -1
        if prio.lstrip("+-").isdigit():
            number = int(prio)
        else:
            found = ext.label(prio)
            if found is None:
                log.warning("Goto to unknown label %s in %s,%s", prio, ctx, exten)
                return -1
            number = found
        chan.context, chan.exten, chan.priority = ctx, exten, number
        return JUMP

    async def play(self, chan: Channel, files: str, escape: str | None) -> str | None:
        """Play ``&``-separated files; return the escape digit pressed, if any."""
        for f in [x for x in files.split("&") if x]:
            seconds = self.sound_seconds.get(f, self.default_sound_seconds)
            if escape is None:
                await self.pbx.wait(chan, seconds)
                continue
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.pbx.clock.real(seconds)
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    break
                digit = await self.pbx.wait_digit(chan, left * self.pbx.clock.speed)
                if digit is None:
                    break
                if escape == "" or digit in escape:
                    return digit
        return None

    async def collect_exten(self, chan: Channel, first: str) -> str:
        """After ``first`` digit, keep collecting while a longer extension could match."""
        typed = first
        digit_timeout = self.timeout(chan, "digit", 5.0)
        while self.dialplan.can_match_more(chan.context, typed):
            d = await self.pbx.wait_digit(chan, digit_timeout)
            if d is None:
                break
            typed += d
        return typed

    def route_exten(self, chan: Channel, typed: str) -> int:
        if self.dialplan.exists(chan.context, typed, 1):
            chan.exten, chan.priority = typed, 1
            return JUMP
        if self.dialplan.exists(chan.context, "i", 1):
            self.pbx.set_var(chan, "INVALID_EXTEN", typed)
            chan.exten, chan.priority = "i", 1
            return JUMP
        return -1


# ----------------------------------------------------------------------------- apps


@app("NoOp")
@app("Verbose")
@app("Log")
async def _noop(it: Interpreter, chan: Channel, args: str) -> int:
    return 0


@app("Answer")
async def _answer(it: Interpreter, chan: Channel, args: str) -> int:
    it.pbx.answer(chan)
    return 0


@app("Ringing")
async def _ringing(it: Interpreter, chan: Channel, args: str) -> int:
    if not chan.is_up:
        it.pbx.set_state(chan, 5)
    return 0


@app("Progress")
async def _progress(it: Interpreter, chan: Channel, args: str) -> int:
    return 0


@app("Set")
async def _set(it: Interpreter, chan: Channel, args: str) -> int:
    name, sep, value = args.partition("=")
    if sep and name.strip():
        it.write_var(chan, name, value)
    return 0


@app("UserEvent")
async def _userevent(it: Interpreter, chan: Channel, args: str) -> int:
    parts = split_args(args)
    headers: list[tuple[str, str]] = [("UserEvent", parts[0].strip())]
    for p in parts[1:]:
        k, sep, v = p.partition(":")
        if sep and k.strip():
            headers.append((k.strip(), v.strip()))
    it.pbx.emit("UserEvent", "user", chan.snapshot() + headers)
    return 0


@app("Goto")
async def _goto(it: Interpreter, chan: Channel, args: str) -> int:
    return it.goto(chan, args)


@app("GotoIf")
async def _gotoif(it: Interpreter, chan: Channel, args: str) -> int:
    cond, _, rest = args.partition("?")
    iftrue, _, iffalse = rest.partition(":")
    truth = cond.strip() not in ("", "0")
    target = iftrue if truth else iffalse
    if not target.strip():
        return 0
    return it.goto(chan, target)


@app("GotoIfTime")
async def _gotoiftime(it: Interpreter, chan: Channel, args: str) -> int:
    spec, _, rest = args.partition("?")
    iftrue, _, iffalse = rest.partition(":")
    target = iftrue if timespec.matches(spec, it.pbx.clock.now()) else iffalse
    if not target.strip():
        return 0
    return it.goto(chan, target)


@app("ExecIfTime")
async def _execiftime(it: Interpreter, chan: Channel, args: str) -> int:
    spec, _, rest = args.partition("?")
    if not timespec.matches(spec, it.pbx.clock.now()) or not rest.strip():
        return 0
    from .conf import split_app

    name, a = split_app(rest)
    fn = APPS.get(name.lower())
    return await fn(it, chan, a) if fn else 0


@app("ExecIf")
async def _execif(it: Interpreter, chan: Channel, args: str) -> int:
    cond, _, rest = args.partition("?")
    iftrue, _, iffalse = rest.partition(":")
    target = iftrue if cond.strip() not in ("", "0") else iffalse
    if not target.strip():
        return 0
    from .conf import split_app

    name, a = split_app(target)
    fn = APPS.get(name.lower())
    return await fn(it, chan, a) if fn else 0


def _split_target_args(target: str) -> tuple[str, list[str]]:
    """``"ctx,s,1(a,b)"`` -> ``("ctx,s,1", ["a", "b"])``."""
    target = target.strip()
    if target.endswith(")") and "(" in target:
        head, _, rest = target.partition("(")
        return head, split_args(rest[:-1])
    return target, []


def _gosub(it: Interpreter, chan: Channel, target: str) -> int:
    where, args = _split_target_args(target)
    stack = chan.gosub_stack
    saved = {k: v for k, v in chan.variables.items() if k.startswith("ARG") and k[3:].isdigit()}
    frame = (chan.context, chan.exten, chan.priority + 1, saved)
    for k in saved:
        chan.variables.pop(k, None)
    res = it.goto(chan, where)
    if res != JUMP:
        for k, v in saved.items():
            chan.variables[k] = v
        return -1
    stack.append(frame)
    for n, a in enumerate(args, start=1):
        chan.variables[f"ARG{n}"] = a
    return JUMP


@app("Gosub")
async def _gosub_app(it: Interpreter, chan: Channel, args: str) -> int:
    return _gosub(it, chan, args)


@app("GosubIf")
async def _gosubif(it: Interpreter, chan: Channel, args: str) -> int:
    cond, _, rest = args.partition("?")
    depth, cut = 0, len(rest)
    for i, c in enumerate(rest):  # the ':' outside parentheses separates the two targets
        depth += c == "("
        depth -= c == ")"
        if c == ":" and depth == 0:
            cut = i
            break
    iftrue, iffalse = rest[:cut], rest[cut + 1 :]
    target = iftrue if cond.strip() not in ("", "0") else iffalse
    return _gosub(it, chan, target) if target.strip() else 0


@app("Return")
async def _return(it: Interpreter, chan: Channel, args: str) -> int:
    stack = chan.gosub_stack
    it.pbx.set_var(chan, "GOSUB_RETVAL", args)
    if not stack:
        log.warning("Return without Gosub on %s", chan.name)
        return -1
    ctx, exten, prio, saved = stack.pop()
    for k in [k for k in chan.variables if k.startswith("ARG") and k[3:].isdigit()]:
        chan.variables.pop(k, None)
    chan.variables.update(saved)
    chan.context, chan.exten, chan.priority = ctx, exten, prio
    return JUMP


@app("StackPop")
async def _stackpop(it: Interpreter, chan: Channel, args: str) -> int:
    if chan.gosub_stack:
        chan.gosub_stack.pop()
    return 0


@app("Wait")
async def _wait(it: Interpreter, chan: Channel, args: str) -> int:
    try:
        seconds = float(args.split(",")[0] or 0)
    except ValueError:
        seconds = 0.0
    await it.pbx.wait(chan, seconds)
    return 0


@app("Playback")
async def _playback(it: Interpreter, chan: Channel, args: str) -> int:
    files = split_args(args)[0]
    if not chan.is_up:
        it.pbx.answer(chan)
    await it.play(chan, files, None)
    it.pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
    return 0


@app("BackGround")
async def _background(it: Interpreter, chan: Channel, args: str) -> int:
    parts = split_args(args)
    files = parts[0]
    options = parts[1] if len(parts) > 1 else ""
    if not chan.is_up and "n" not in options:
        it.pbx.answer(chan)
    digit = await it.play(chan, files, None if "p" in options else "")
    it.pbx.set_var(chan, "BACKGROUNDSTATUS", "SUCCESS")
    if digit is None:
        return 0
    typed = await it.collect_exten(chan, digit)
    return it.route_exten(chan, typed)


@app("WaitExten")
async def _waitexten(it: Interpreter, chan: Channel, args: str) -> int:
    raw = split_args(args)[0].strip()
    try:
        seconds = float(raw) if raw else it.timeout(chan, "response", 10.0)
    except ValueError:
        seconds = it.timeout(chan, "response", 10.0)
    digit = await it.pbx.wait_digit(chan, seconds)
    if digit is None:
        if it.dialplan.exists(chan.context, "t", 1):
            chan.exten, chan.priority = "t", 1
            return JUMP
        return -1
    typed = await it.collect_exten(chan, digit)
    return it.route_exten(chan, typed)


@app("Read")
async def _read(it: Interpreter, chan: Channel, args: str) -> int:
    parts = split_args(args) + [""] * 6
    var, files, maxdigits_s, options, attempts_s, timeout_s = parts[:6]
    try:
        maxdigits = int(maxdigits_s) if maxdigits_s else 0
    except ValueError:
        maxdigits = 0
    try:
        attempts = max(1, int(attempts_s)) if attempts_s else 1
    except ValueError:
        attempts = 1
    try:
        timeout = float(timeout_s) if timeout_s else it.timeout(chan, "response", 10.0)
    except ValueError:
        timeout = 10.0
    if not chan.is_up and "n" not in options:
        it.pbx.answer(chan)
    typed = ""
    status = "TIMEOUT"
    for _ in range(attempts):
        typed = ""
        first = await it.play(chan, files, "") if files else None
        if first is not None:
            typed = first
        while True:
            if first is None or typed:
                if typed.endswith("#"):
                    typed = typed[:-1]
                    status = "OK"
                    break
                if maxdigits and len(typed) >= maxdigits:
                    status = "OK"
                    break
            first = "x"
            d = await it.pbx.wait_digit(chan, timeout if not typed else it.timeout(chan, "digit", timeout))
            if d is None:
                status = "OK" if typed else "TIMEOUT"
                break
            typed += d
        if typed:
            break
    it.pbx.set_var(chan, var.strip(), typed)
    it.pbx.set_var(chan, "READSTATUS", status)
    return 0


@app("SendDTMF")
async def _senddtmf(it: Interpreter, chan: Channel, args: str) -> int:
    parts = split_args(args)
    digits = parts[0]
    try:
        between = float(parts[1]) / 1000 if len(parts) > 1 and parts[1] else 0.25
        duration = int(parts[2]) if len(parts) > 2 and parts[2] else 100
    except ValueError:
        between, duration = 0.25, 100
    target = it.pbx.dtmf_target(chan)
    for d in digits:
        if d in "wW":
            await it.pbx.wait(chan, 0.5)
            continue
        await it.pbx.dtmf_in(target, d, duration)
        await it.pbx.wait(chan, between)
    return 0


@app("MixMonitor")
async def _mixmonitor(it: Interpreter, chan: Channel, args: str) -> int:
    filename = split_args(args)[0]
    if not filename.startswith("/"):
        filename = f"{it.monitor_dir}/{filename}"  # relative names go to astspooldir/monitor
    it.pbx.set_var(chan, "MIXMONITOR_FILENAME", filename)
    it.pbx.chan_event("MixMonitorStart", chan)
    chan.variables["__mixmonitor"] = filename
    return 0


@app("StopMixMonitor")
async def _stopmixmonitor(it: Interpreter, chan: Channel, args: str) -> int:
    if chan.variables.pop("__mixmonitor", None) is not None:
        it.pbx.chan_event("MixMonitorStop", chan)
    return 0


@app("Record")
async def _record(it: Interpreter, chan: Channel, args: str) -> int:
    parts = split_args(args) + ["", "", ""]
    filename, silence_s, maxdur_s, options = parts[0], parts[1], parts[2], parts[3]
    if not chan.is_up and "n" not in options:
        it.pbx.answer(chan)
    try:
        maxdur = float(maxdur_s) if maxdur_s else None
    except ValueError:
        maxdur = None
    if maxdur == 0:
        maxdur = None
    it.pbx.set_var(chan, "RECORDED_FILE", filename.rsplit(".", 1)[0])
    started = it.pbx.clock.now()

    def written() -> None:  # what STAT(s,file) then reports: a WAV header + 8 kHz 16-bit audio
        it.recorded_files[filename] = 44 + int(16000 * max(0.0, it.pbx.clock.now() - started))

    terminators = "#" if "t" not in options else "*"
    if "y" in options:
        terminators = "0123456789*#"
    status = "TIMEOUT"
    try:
        while True:
            d = await it.pbx.wait_digit(chan, maxdur)
            if d is None:
                status = "TIMEOUT"
                break
            if d == "0" and "o" in options:
                status = "OPERATOR"
                break
            if d in terminators and "x" not in options:
                status = "DTMF"
                break
    except Hungup:
        written()
        chan.variables["RECORD_STATUS"] = "HANGUP"
        raise
    written()
    it.pbx.set_var(chan, "RECORD_STATUS", status)
    return 0


@app("Busy")
async def _busy(it: Interpreter, chan: Channel, args: str) -> int:
    it.pbx.set_state(chan, 7)
    chan.hangup_cause = 17
    it.pbx.signal_busy(chan, "busy")
    try:
        secs = float(args) if args.strip() else None
    except ValueError:
        secs = None
    await it.pbx.wait(chan, secs)
    return -1


@app("Congestion")
async def _congestion(it: Interpreter, chan: Channel, args: str) -> int:
    chan.hangup_cause = 34
    it.pbx.signal_busy(chan, "congestion")
    try:
        secs = float(args) if args.strip() else None
    except ValueError:
        secs = None
    await it.pbx.wait(chan, secs)
    return -1


@app("Hangup")
async def _hangup(it: Interpreter, chan: Channel, args: str) -> int:
    chan.hangup_source_dialplan = True
    try:
        chan.hangup_cause = int(args) if args.strip() else 16
    except ValueError:
        chan.hangup_cause = 16
    return -1


@app("AGI")
async def _agi(it: Interpreter, chan: Channel, args: str) -> int:
    parts = split_args(args)
    if it.agi_runner is None:
        it.pbx.set_var(chan, "AGISTATUS", "FAILURE")
        return 0
    status = await it.agi_runner(it, chan, parts[0], parts[1:])
    it.pbx.set_var(chan, "AGISTATUS", status)
    if status == "HANGUP" or chan.hanging_up:
        raise Hungup()
    return 0


@app("Dial")
async def _dial(it: Interpreter, chan: Channel, args: str) -> int:
    from .calling import dial

    return await dial(it, chan, args)


@app("Queue")
async def _queue(it: Interpreter, chan: Channel, args: str) -> int:
    if it.pbx.queues is None:
        it.pbx.set_var(chan, "QUEUESTATUS", "JOINUNAVAIL")
        return 0
    return await it.pbx.queues.run_queue_app(it, chan, args)

