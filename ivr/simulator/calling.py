"""Outbound legs: channel requests (Local pairs, scripted SIP endpoints), Dial() and Originate.

Event order follows the Asterisk 20 transcripts: Newchannel for both Local
halves, ``Newexten`` AppDial/AppDial2 ``(Outgoing Line)`` on ``;1``,
caller-id updates, ``LocalBridge``, ``DialBegin``; after answer ``DialEnd``
and, for Dial, a basic bridge.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .channels import Channel, Hungup, Interrupted, parse_callerid
from .expressions import split_args

if TYPE_CHECKING:  # pragma: no cover
    from .dialplan import Interpreter
    from .pbx import Pbx

log = logging.getLogger(__name__)

DIAL_RESET_VARS = (
    "DIALSTATUS DIALEDPEERNUMBER DIALEDPEERNAME ANSWEREDTIME ANSWEREDTIME_MS DIALEDTIME DIALEDTIME_MS "
    "RINGTIME RINGTIME_MS PROGRESSTIME PROGRESSTIME_MS"
).split()

#: OriginateResponse ``Reason`` codes (pbx_dial_reason)
REASON_FAILURE, REASON_HANGUP, REASON_NOANSWER, REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION = 0, 1, 3, 4, 5, 8


def parse_local(resource: str) -> tuple[str, str, bool]:
    """``"100@district-lines/n"`` -> ``("100", "district-lines", True)``."""
    no_opt = resource.endswith("/n")
    if no_opt:
        resource = resource[:-2]
    exten, _, context = resource.partition("@")
    return exten, context or "default", no_opt


def request_channel(
    it: "Interpreter",
    dialstring: str,
    *,
    linkedid: str | None,
    caller: Channel | None,
    dial_app: str,
    cid: tuple[str, str] = ("", ""),
    accountcode: str = "",
    uniqueids: tuple[str, str] = ("", ""),
) -> Channel | None:
    """Create the outbound channel for ``Tech/resource`` (not yet called). ``None`` = unavailable."""
    pbx = it.pbx
    tech, _, resource = dialstring.partition("/")
    tech_l = tech.lower()
    if tech_l == "local" and "@" in resource:
        exten, context, _ = parse_local(resource)
        one, two = pbx.new_local_pair(exten, context, linkedid=linkedid, uniqueids=uniqueids)
        if caller is not None:
            pbx.set_var(one, "DIALEDPEERNUMBER", resource)
            pbx.set_var(two, "DIALEDPEERNUMBER", resource)
        _local_identity(pbx, one, two, dial_app, caller, cid, accountcode)
        return one
    if tech_l in ("sip", "pjsip", "iax2") and resource:
        peer = resource.split("/")[0].split("@")[0]
        endpoint = pbx.endpoint(peer)
        if endpoint is None or endpoint.behaviour == "unavailable":
            return None
        seq = pbx.next_seq()
        chan = pbx.new_channel(
            f"{tech}/{peer}-{seq:08x}", "default", peer, state=0, linkedid=linkedid, tech=tech, accountcode=accountcode,
            uniqueid=uniqueids[0] or None,
        )
        if caller is not None:
            pbx.set_connected(chan, caller.cid_name, caller.cid_num)
        chan.variables["__endpoint"] = peer
        return chan
    return None


def _outgoing(pbx: "Pbx", one: Channel, app_name: str) -> None:
    pbx.chan_event("Newexten", one, ("Extension", one.exten), ("Application", app_name), ("AppData", "(Outgoing Line)"),
                   cls="dialplan")


def _local_identity(pbx: "Pbx", one: Channel, two: Channel, dial_app: str, caller: Channel | None,
                    cid: tuple[str, str], accountcode: str) -> None:
    """Caller-id / account code set-up of a new Local pair, in the order Asterisk 20 reports it."""
    if caller is not None and dial_app == "AppDial":
        # app_dial: ;1 shows the caller's exten as its number (as the transcripts show)
        one.exten = "s"
        one.cid_name, one.cid_num = caller.cid_name, caller.exten
        one.conn_name, one.conn_num = caller.cid_name, caller.cid_num
        _outgoing(pbx, one, dial_app)
        pbx.chan_event("NewCallerid", one, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        pbx.chan_event("NewConnectedLine", one)
        two.conn_name, two.conn_num = one.cid_name, one.cid_num
        pbx.set_callerid(two, caller.cid_name, caller.cid_num)
        pbx.chan_event("NewConnectedLine", two)
        return
    if caller is not None:  # app_queue
        one.cid_name, one.cid_num = caller.cid_name, caller.cid_num
        _outgoing(pbx, one, dial_app)
        pbx.chan_event("NewCallerid", one, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        one.exten = "s"
        one.conn_name, one.conn_num = caller.cid_name, caller.cid_num
        two.conn_name, two.conn_num = caller.cid_name, caller.cid_num
        pbx.set_callerid(two, caller.cid_name, caller.cid_num)
        pbx.chan_event("NewConnectedLine", two)
        return
    # Originate
    _outgoing(pbx, one, dial_app)
    if accountcode:
        one.accountcode = accountcode
        pbx.chan_event("NewAccountCode", one, ("OldAccountCode", ""))
        two.accountcode = accountcode
    name, num = cid
    if name or num:
        pbx.set_callerid(one, name, num)
        pbx.set_connected(one, name, num)
        two.conn_name, two.conn_num = name, num
        pbx.set_callerid(two, name, num)
    if accountcode:
        pbx.chan_event("NewAccountCode", two, ("OldAccountCode", ""))
    if name or num:
        pbx.chan_event("NewConnectedLine", two)


def call_channel(it: "Interpreter", chan: Channel) -> bool:
    """Start the far end ringing; returns False when the call cannot be placed."""
    pbx = it.pbx
    chan.progress = asyncio.get_running_loop().create_future()
    if chan.tech == "Local":
        two = chan.local_peer
        assert two is not None
        if not it.dialplan.exists(two.context, two.exten, 1):
            two.hangup_cause = 0
            chan.local_peer = two.local_peer = None
            pbx.destroy(two)
            return False
        pbx.local_bridge_event(chan, two)
        return True
    peer = chan.variables.get("__endpoint")
    endpoint = pbx.endpoint(peer or "")
    if endpoint is None:
        return False
    pbx.spawn(_run_endpoint(pbx, chan, endpoint))
    return True


async def _run_endpoint(pbx: "Pbx", chan: Channel, endpoint) -> None:
    run = getattr(endpoint, "run", None)
    if run is not None:        # a phone someone answers (ivr.simulator.softphone)
        await run(pbx, chan)
        return
    try:
        if endpoint.behaviour == "busy":
            await pbx.clock.sleep(0.2)
            chan.hangup_cause = 17
            pbx.signal_busy(chan, "busy")
            return
        if endpoint.behaviour == "congestion":
            await pbx.clock.sleep(0.2)
            chan.hangup_cause = 34
            pbx.signal_busy(chan, "congestion")
            return
        pbx.set_state(chan, 5)
        if endpoint.behaviour == "noanswer":
            return
        await pbx.wait(chan, endpoint.answer_after)
        pbx.answer(chan)
        if endpoint.talk_time is not None:
            await pbx.wait(chan, endpoint.talk_time)
            pbx.request_hangup(chan, 16, announce=True)
    except Interrupted:
        return


def _outgoing_line(pbx: "Pbx", chan: Channel, app_name: str, exten: str) -> None:
    if chan.local_half != 1:
        return
    chan.exten = exten
    pbx.chan_event("Newexten", chan, ("Extension", exten), ("Application", app_name), ("AppData", "(Outgoing Line)"), cls="dialplan")


def start_far_end(it: "Interpreter", chan: Channel) -> None:
    if chan.tech == "Local" and chan.local_peer is not None:
        it.start(chan.local_peer)


def _dial_status_for(outcome: str, cause: int | None) -> str:
    if outcome == "busy" or cause == 17:
        return "BUSY"
    if outcome == "congestion" or cause == 34:
        return "CONGESTION"
    if cause in (16, 18, 19):
        return "NOANSWER"
    return "CHANUNAVAIL"


def _option_arg(options: str, letter: str) -> str | None:
    """The argument of option ``letter(...)`` in a Dial options string, or None."""
    i = 0
    while i < len(options):
        c = options[i]
        if options.startswith("(", i + 1):
            j = options.find(")", i + 1)
            j = len(options) if j < 0 else j
            if c == letter:
                return options[i + 2 : j]
            i = j + 1
            continue
        if c == letter:
            return ""
        i += 1
    return None


def dial_begin(pbx: "Pbx", caller: Channel | None, callee: Channel, dialstring: str) -> None:
    head = caller.snapshot() if caller is not None else []
    pbx.emit("DialBegin", "call", head + callee.snapshot("Dest") + [("DialString", dialstring)])


def dial_end(pbx: "Pbx", caller: Channel | None, callee: Channel, status: str) -> None:
    head = caller.snapshot() if caller is not None else []
    pbx.emit("DialEnd", "call", head + callee.snapshot("Dest") + [("DialStatus", status)])


async def dial(it: "Interpreter", chan: Channel, args: str) -> int:
    """The Dial() application."""
    pbx = it.pbx
    parts = split_args(args) + ["", ""]
    targets = [t for t in parts[0].split("&") if t.strip()]
    try:
        timeout = float(parts[1]) if parts[1].strip() else None
    except ValueError:
        timeout = None
    options = parts[2]
    for v in DIAL_RESET_VARS:
        pbx.set_var(chan, v, "")
    started = pbx.clock.now()
    callees: list[tuple[str, Channel]] = []
    for target in targets:
        callee = request_channel(it, target.strip(), linkedid=chan.linkedid, caller=chan, dial_app="AppDial")
        if callee is None:
            continue
        if not call_channel(it, callee):
            pbx.request_hangup(callee, 0)
            continue
        _, _, resource = target.partition("/")
        dial_begin(pbx, chan, callee, resource)
        start_far_end(it, callee)
        callees.append((resource, callee))
    if not callees:
        pbx.set_var(chan, "DIALSTATUS", "CHANUNAVAIL")
        return 0

    pending = {c.progress: (r, c) for r, c in callees if c.progress is not None}
    stopper = asyncio.ensure_future(chan.interrupt.wait())
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + pbx.clock.real(timeout)
    winner: tuple[str, Channel] | None = None
    outcomes: list[tuple[str, int | None]] = []
    try:
        while pending and winner is None:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(set(pending) | {stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                for _, c in pending.values():
                    dial_end(pbx, chan, c, "CANCEL")
                    pbx.request_hangup(c, 16)
                raise Hungup() if chan.hanging_up else Interrupted()
            if not done:
                break  # timeout
            for fut in done:
                resource, callee = pending.pop(fut)
                outcome = fut.result()
                if outcome == "answer" and winner is None:
                    winner = (resource, callee)
                else:
                    outcomes.append((outcome, callee.hangup_cause))
                    dial_end(pbx, chan, callee, _dial_status_for(outcome, callee.hangup_cause))
                    pbx.request_hangup(callee, callee.hangup_cause if callee.hangup_cause is not None else 16)
    finally:
        stopper.cancel()

    if winner is None:
        if pending:  # timed out
            for _, c in pending.values():
                dial_end(pbx, chan, c, "NOANSWER")
                pbx.request_hangup(c, 19)
            status = "NOANSWER"
        else:
            status = _dial_status_for(*outcomes[-1]) if outcomes else "CHANUNAVAIL"
        pbx.set_var(chan, "DIALSTATUS", status)
        return 0

    for _, c in pending.values():
        dial_end(pbx, chan, c, "CANCEL")
        pbx.request_hangup(c, 26)
    resource, callee = winner
    sub = _option_arg(options, "U")
    if sub is not None:
        name, *sub_args = sub.split("^")
        callee.variables.pop("GOSUB_RESULT", None)
        try:
            await it.run_subroutine(callee, name.replace("^", ","), sub_args)
        except Interrupted:
            pass
        result = callee.variables.get("GOSUB_RESULT", "")
        if callee.gone or result in ("ABORT", "CONTINUE", "BUSY", "CONGESTION") or result.startswith("GOTO:"):
            dial_end(pbx, chan, callee, "ANSWER")
            if not callee.gone:
                pbx.request_hangup(callee, 16)
            if result == "ABORT":
                chan.hangup_cause = 16
                return -1
            if result.startswith("GOTO:"):
                pbx.set_var(chan, "DIALSTATUS", "ANSWER")
                return it.goto(chan, result[5:].replace("^", ","))
            pbx.set_var(chan, "DIALSTATUS", {"BUSY": "BUSY", "CONGESTION": "CONGESTION"}.get(result, "ANSWER"))
            return 0
    answered = pbx.clock.now()
    pbx.set_var(chan, "DIALSTATUS", "ANSWER")
    pbx.set_var(chan, "DIALEDPEERNAME", callee.name)
    pbx.set_var(chan, "DIALEDPEERNUMBER", resource)
    dial_end(pbx, chan, callee, "ANSWER")
    if not chan.is_up:
        pbx.answer(chan)
    chan.variables["__cdr_dstchannel"] = callee.name
    pbx.bridge_channels(chan, callee, before_enter=lambda: _outgoing_line(pbx, callee, "AppDial", ""))
    try:
        await pbx.wait_bridge(chan)
    finally:
        if not callee.gone and (callee.owner is None or callee.owner.done()):
            pbx.request_hangup(callee, 16, announce=callee.local_half == 0)
    ended = pbx.clock.now()
    pbx.set_var(chan, "ANSWEREDTIME", str(int(ended - answered)))
    pbx.set_var(chan, "ANSWEREDTIME_MS", str(int((ended - answered) * 1000)))
    pbx.set_var(chan, "DIALEDTIME", str(int(ended - started)))
    pbx.set_var(chan, "DIALEDTIME_MS", str(int((ended - started) * 1000)))
    pbx.set_var(chan, "DIALSTATUS", "ANSWER")
    return 0 if "g" in _plain_options(options) else -1


def _plain_options(options: str) -> str:
    """Option letters with their ``(...)`` arguments removed."""
    out, depth = [], 0
    for c in options:
        depth += c == "("
        if depth == 0:
            out.append(c)
        depth -= c == ")"
    return "".join(out)


# ----------------------------------------------------------------------------- originate


@dataclass(slots=True)
class OriginateRequest:
    channel: str
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    timeout: float = 30.0
    callerid: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    account: str = ""
    channel_id: str = ""
    other_channel_id: str = ""


@dataclass(slots=True)
class OriginateResult:
    success: bool
    reason: int
    channel: str
    uniqueid: str
    cid_num: str
    cid_name: str


async def originate(it: "Interpreter", req: OriginateRequest) -> OriginateResult:
    """Place an outbound call and, once answered, run the application or dialplan on it."""
    pbx = it.pbx
    cid_name, cid_num = parse_callerid(req.callerid)
    unknown = OriginateResult(False, REASON_FAILURE, req.channel, "<unknown>", cid_num or "<unknown>", cid_name or "<unknown>")
    chan = request_channel(
        it, req.channel, linkedid=None, caller=None, dial_app="AppDial2", cid=(cid_name, cid_num), accountcode=req.account,
        uniqueids=(req.channel_id, req.other_channel_id),
    )
    if chan is None:
        return unknown
    for k, v in req.variables.items():
        chan.variables[k] = v
        if chan.local_peer is not None:
            chan.local_peer.variables[k] = v

    def result(ok: bool, reason: int) -> OriginateResult:
        if not ok:
            return OriginateResult(False, reason, req.channel, "<unknown>", cid_num or "<unknown>", cid_name or "<unknown>")
        return OriginateResult(True, reason, chan.name, chan.uniqueid, chan.cid_num or "<unknown>", chan.cid_name or "<unknown>")

    if not call_channel(it, chan):
        chan.hangup_cause = 0
        res = result(False, REASON_FAILURE)
        pbx.spawn(_later_destroy(pbx, chan))
        return res
    _, _, resource = req.channel.partition("/")
    dial_begin(pbx, None, chan, resource)
    start_far_end(it, chan)
    assert chan.progress is not None
    try:
        outcome = await asyncio.wait_for(asyncio.shield(chan.progress), pbx.clock.real(req.timeout))
    except asyncio.TimeoutError:
        outcome = "timeout"
    if outcome == "answer":
        dial_end(pbx, None, chan, "ANSWER")
        res = result(True, REASON_ANSWERED)
        _run_after_answer(it, chan, req)
        return res
    if outcome in ("busy", "congestion"):
        dial_end(pbx, None, chan, "BUSY" if outcome == "busy" else "CONGESTION")
        pbx.request_hangup(chan, 0)
        return result(False, REASON_BUSY if outcome == "busy" else REASON_CONGESTION)
    if outcome == "timeout":
        pbx.request_hangup(chan, 19)
        return result(False, REASON_NOANSWER)
    return result(False, REASON_HANGUP if (chan.hangup_cause or 0) else REASON_FAILURE)


async def _later_destroy(pbx: "Pbx", chan: Channel) -> None:
    await asyncio.sleep(0)
    pbx.destroy(chan)


def _run_after_answer(it: "Interpreter", chan: Channel, req: OriginateRequest) -> None:
    if req.application:
        chan.owner = it.pbx.spawn(run_application(it, chan, req.application, req.data))
    else:
        chan.context, chan.exten, chan.priority = req.context, req.exten, req.priority
        it.start(chan)


async def run_application(it: "Interpreter", chan: Channel, application: str, data: str) -> None:
    """An originated channel running one application (no dialplan): hangs up when it returns."""
    from .dialplan import APPS, CANONICAL

    pbx = it.pbx
    fn = APPS.get(application.lower())
    chan.app, chan.appdata = CANONICAL.get(application.lower(), application), data
    chan.cdr_lastapp, chan.cdr_lastdata = chan.app, data
    try:
        if fn is not None:
            await fn(it, chan, data)
    except Interrupted:
        if chan.redirect_to is not None and not chan.hanging_up:
            chan.context, chan.exten, chan.priority = chan.redirect_to
            chan.redirect_to = None
            chan.interrupt.clear()
            chan.owner = None
            it.start(chan)
            return
    except Exception:  # noqa: BLE001
        log.exception("originate application failed on %s", chan.name)
    chan.owner = None
    pbx.destroy(chan)
