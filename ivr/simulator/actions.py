"""AMI action handlers of the simulated PBX (texts as in the Asterisk 20 transcripts)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import time as _time
from typing import Awaitable, Callable

from ivr.ami.messages import Message

from .calling import OriginateRequest, originate
from .channels import Channel, STATE_DESC
from .server import AmiServer, AmiSession, error, parse_classes, response

log = logging.getLogger(__name__)

Handler = Callable[[AmiServer, AmiSession, Message], Awaitable[bool | None]]
HANDLERS: dict[str, Handler] = {}
PRE_AUTH = {"login", "logoff", "challenge"}
#: ``write=`` classes of which a user needs one per action (their registrations in manager.c / app_queue.c)
WRITE_CLASS: dict[str, frozenset[str]] = {
    name: frozenset(classes.split())
    for name, classes in {
        "originate": "originate", "command": "command", "redirect": "call", "hangup": "system call",
        "setvar": "call", "getvar": "call reporting", "playdtmf": "call", "status": "system call reporting",
        "coreshowchannels": "system reporting", "coresettings": "system reporting",
        "corestatus": "system reporting", "blindtransfer": "call", "atxfer": "call", "userevent": "user",
        "queueadd": "agent", "queueremove": "agent", "queuepause": "agent", "filter": "system",
    }.items()
}


def action(*names: str):
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n.lower()] = fn
        return fn

    return deco


async def dispatch(server: AmiServer, s: AmiSession, msg: Message) -> bool:
    """Handle one action; returns False when the connection must close."""
    name = (msg.get("Action") or "").strip()
    if not name:
        s.send(error(msg, "Missing action in request"))
        return True
    key = name.lower()
    if not s.authenticated and key not in PRE_AUTH:
        s.send(error(msg, "Permission denied"))
        return True
    handler = HANDLERS.get(key)
    needed = WRITE_CLASS.get(key)
    if handler is not None and needed and s.authenticated:
        user = server.users.get(s.username or "")
        if user is None or not (needed & user.write):
            s.send(error(msg, "Permission denied"))
            return True
    if handler is None:
        s.send(error(msg, f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."))
        server.security_event(s, "RequestBadFormat", "Error", [], [("RequestType", f"Action: {name}")])
        return True
    try:
        keep = await handler(server, s, msg)
    except Exception:  # noqa: BLE001 - bad input never crashes the simulator
        log.exception("action %s failed", name)
        s.send(error(msg, "Internal error"))
        return True
    return keep is not False


def _sim(server: AmiServer):
    return server.sim


# ----------------------------------------------------------------------------- session


@action("Challenge")
async def _challenge(server: AmiServer, s: AmiSession, msg: Message):
    if (msg.get("AuthType") or "").lower() != "md5":
        s.send(error(msg, "Must specify AuthType"))
        return
    s.challenge = str(random.randint(10**8, 10**9 - 1))
    s.send(response(msg, "Success", None, ("Challenge", s.challenge)))


@action("Login")
async def _login(server: AmiServer, s: AmiSession, msg: Message):
    if s.authenticated:
        s.send(response(msg, "Success", "Already authenticated"))
        return
    user = server.users.get(msg.get("Username") or "")
    ok = False
    if user is not None:
        if (msg.get("AuthType") or "").lower() == "md5":
            key = (msg.get("Key") or "").lower()
            if s.challenge:
                ok = key == hashlib.md5((s.challenge + user.secret).encode()).hexdigest()
        else:
            ok = (msg.get("Secret") or "") == user.secret
    if not ok:
        await asyncio.sleep(server.login_failure_delay)
        s.send(error(msg, "Authentication failed"))
        return False
    s.username = msg.get("Username")
    s.authenticated = True
    s.classes = parse_classes(msg.get("Events")) & user.read
    s.send(response(msg, "Success", "Authentication accepted"))
    if "system" in s.classes:
        sim = _sim(server)
        up = int(sim.clock.now() - sim.pbx.started_at)
        rl = int(sim.clock.now() - sim.pbx.reloaded_at)
        s.send(Message([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", str(up)),
                        ("LastReload", str(rl)), ("Status", "Fully Booted")]))
    server.security_event(s, "SuccessfulAuth", "Informational", [])


@action("Logoff")
async def _logoff(server: AmiServer, s: AmiSession, msg: Message):
    s.send(response(msg, "Goodbye", "Thanks for all the fish."))
    return False


@action("Ping")
async def _ping(server: AmiServer, s: AmiSession, msg: Message):
    s.send(response(msg, "Success", None, ("Ping", "Pong"), ("Timestamp", f"{_time.time():.6f}")))


@action("Events")
async def _events(server: AmiServer, s: AmiSession, msg: Message):
    mask = msg.get("EventMask")
    if mask is None:
        s.send(error(msg, "Invalid event mask"))
        return
    user = server.users.get(s.username or "")
    s.classes = parse_classes(mask) & (user.read if user else frozenset())
    s.send(response(msg, "Success", None, ("Events", "On" if s.classes else "Off")))


@action("Filter")
async def _filter(server: AmiServer, s: AmiSession, msg: Message):
    """Legacy per-session regex filters: ``Operation: Add``, ``Filter: <regex>`` or ``!<regex>``."""
    if (msg.get("Operation") or "").strip().lower() != "add":
        s.send(error(msg, "Unknown operation"))
        return
    raw = msg.get("Filter") or ""
    exclude = raw.startswith("!")
    try:
        rx = re.compile(raw[1:] if exclude else raw)
    except re.error:
        s.send(error(msg, "Filter Not Added"))
        return
    s.filters.append((exclude, rx))
    s.send(response(msg, "Success", "Filter Added Successfully"))


@action("CoreSettings")
async def _coresettings(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    s.send(response(msg, "Success", None,
                    ("AMIversion", "9.0.0"), ("AsteriskVersion", sim.version), ("SystemName", sim.systemname),
                    ("CoreMaxCalls", "0"), ("CoreMaxLoadAvg", "0.000000"), ("CoreRunUser", ""), ("CoreRunGroup", ""),
                    ("CoreMaxFilehandles", "0"), ("CoreRealTimeEnabled", "No"), ("CoreCDRenabled", "Yes"),
                    ("CoreHTTPenabled", "No"), ("SoundsSearchCustomDir", "No")))


@action("CoreStatus")
async def _corestatus(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    st, rl = _time.gmtime(sim.pbx.started_at), _time.gmtime(sim.pbx.reloaded_at)
    s.send(response(msg, "Success", None,
                    ("CoreStartupDate", _time.strftime("%Y-%m-%d", st)), ("CoreStartupTime", _time.strftime("%H:%M:%S", st)),
                    ("CoreReloadDate", _time.strftime("%Y-%m-%d", rl)), ("CoreReloadTime", _time.strftime("%H:%M:%S", rl)),
                    ("CoreCurrentCalls", str(sim.active_calls())), ("CoreProcessedCalls", str(sim.pbx.processed_calls))))


@action("ListCommands")
async def _listcommands(server: AmiServer, s: AmiSession, msg: Message):
    s.send(response(msg, "Success", None, *[(n, n) for n in sorted(HANDLERS)]))


# ----------------------------------------------------------------------------- variables


def _split_global(name: str) -> tuple[bool, str]:
    m = re.fullmatch(r"GLOBAL\((.*)\)", name.strip(), re.IGNORECASE)
    return (True, m.group(1)) if m else (False, name.strip())


@action("Setvar")
async def _setvar(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    name = (msg.get("Variable") or "").strip()
    if not name:
        s.send(error(msg, "No variable specified"))
        return
    value = msg.get("Value") or ""
    chan_name = msg.get("Channel")
    is_global, var = _split_global(name)
    chan = None
    if chan_name:
        chan = sim.pbx.find_channel(chan_name)
        if chan is None:
            s.send(error(msg, "Channel not found"))
            return
    s.send(response(msg, "Success", "Variable Set"))
    if chan is not None and not is_global:
        sim.interp.write_var(chan, name, value)
    else:
        sim.pbx.set_var(None, var, value)


@action("Getvar")
async def _getvar(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    name = (msg.get("Variable") or "").strip()
    if not name:
        s.send(error(msg, "No variable specified"))
        return
    chan_name = msg.get("Channel")
    chan = None
    if chan_name:
        chan = sim.pbx.find_channel(chan_name)
        if chan is None:
            s.send(error(msg, "No such channel"))
            return
    is_global, var = _split_global(name)
    if is_global:
        value = sim.pbx.globals.get(var, "")
    else:
        value = sim.interp.read_var(chan, name)
    s.send(response(msg, "Success", None, ("Variable", name), ("Value", value)))


# ----------------------------------------------------------------------------- calls


@action("Originate")
async def _originate(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    channel = (msg.get("Channel") or "").strip()
    if not channel:
        s.send(error(msg, "Channel not specified"))
        return
    exten, context, app = msg.get("Exten") or "", msg.get("Context") or "", msg.get("Application") or ""
    prio_raw = (msg.get("Priority") or "1").strip() or "1"
    if not prio_raw.isdigit():
        s.send(error(msg, "Invalid priority"))
        return
    t_raw = (msg.get("Timeout") or "30000").strip()
    try:
        timeout_ms = float(t_raw)
    except ValueError:
        s.send(error(msg, "Invalid timeout"))
        return
    if not app and exten and not context:
        s.send(error(msg, "Originate with 'Exten' requires 'Context' and 'Priority'"))
        return
    if "/" not in channel:
        s.send(error(msg, "Invalid channel"))
        return
    variables = {}
    for raw in msg.getall("Variable"):
        for part in raw.split(","):
            k, sep, v = part.partition("=")
            if sep and k.strip():
                variables[k.strip()] = v
    req = OriginateRequest(
        channel=channel, context=context, exten=exten, priority=int(prio_raw), application=app,
        data=msg.get("Data") or "", timeout=timeout_ms / 1000, callerid=msg.get("CallerID") or "",
        variables=variables, account=msg.get("Account") or "",
        channel_id=(msg.get("ChannelId") or "").strip(), other_channel_id=(msg.get("OtherChannelId") or "").strip(),
    )
    if len(req.channel_id) > 149 or len(req.other_channel_id) > 149:
        s.send(error(msg, "Uniqueid length exceeds maximum of 149"))
        return
    for uid in (req.channel_id, req.other_channel_id):
        if uid and sim.pbx.find_channel(uid) is not None:
            s.send(error(msg, "Originate failed"))
            return
    is_async = (msg.get("Async") or "").strip().lower() in ("true", "yes", "1", "on")
    aid = msg.get("ActionID")

    def event(res) -> None:
        h: list[tuple[str, str]] = []
        if aid is not None:
            h.append(("ActionID", aid))
        h += [("Response", "Success" if res.success else "Failure"), ("Channel", res.channel)]
        if app:
            h += [("Application", app), ("Data", req.data)]
        else:
            h += [("Context", context), ("Exten", exten)]
        h += [("Reason", str(res.reason)), ("Uniqueid", res.uniqueid), ("CallerIDNum", res.cid_num),
              ("CallerIDName", res.cid_name)]
        sim.pbx.emit("OriginateResponse", "call", h)

    if is_async:
        s.send(response(msg, "Success", "Originate successfully queued"))

        async def run() -> None:
            res = await originate(sim.interp, req)
            event(res)

        sim.pbx.spawn(run())
        return
    res = await originate(sim.interp, req)
    if res.success:
        s.send(response(msg, "Success", "Originate successfully queued"))
    else:
        s.send(error(msg, "Originate failed"))


@action("Redirect")
async def _redirect(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    name = msg.get("Channel")
    if not name:
        s.send(error(msg, "Channel not specified"))
        return
    chan = sim.pbx.find_channel(name)
    if chan is None:
        s.send(error(msg, f"Channel does not exist: {name}"))
        return
    prio = (msg.get("Priority") or "1").strip()
    if not prio.isdigit():
        s.send(error(msg, "Priority is invalid"))
        return
    extra = None
    if msg.get("ExtraChannel"):
        extra = sim.pbx.find_channel(msg.get("ExtraChannel"))
        if extra is None:
            s.send(error(msg, f"ExtraChannel does not exist: {msg.get('ExtraChannel')}"))
            return
    ctx = msg.get("Context") or chan.context
    exten = msg.get("Exten") or chan.exten
    sim.redirect(chan, ctx, exten, int(prio))
    if extra is not None:
        eprio = (msg.get("ExtraPriority") or prio).strip()
        sim.redirect(extra, msg.get("ExtraContext") or ctx, msg.get("ExtraExten") or exten,
                     int(eprio) if eprio.isdigit() else 1)
        s.send(response(msg, "Success", "Dual Redirect successful"))
        return
    s.send(response(msg, "Success", "Redirect successful"))


@action("Hangup")
async def _hangup(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    name = (msg.get("Channel") or "").strip()
    if not name:
        s.send(error(msg, "No channel specified"))
        return
    cause_raw = (msg.get("Cause") or "").strip()
    cause = int(cause_raw) if cause_raw.isdigit() else 0
    if len(name) > 2 and name.startswith("/") and name.endswith("/"):
        try:
            rx = re.compile(name[1:-1])
        except re.error:
            s.send(error(msg, "Invalid regex"))
            return
        matched = [c for c in list(sim.pbx.channels.values()) if rx.search(c.name)]
        aid = msg.get("ActionID")
        tail = [("ActionID", aid)] if aid is not None else []
        out = [response(msg, "Success", "Channels hung up will follow", eventlist=True)]
        out += [Message([("Event", "ChannelHungup"), ("Channel", c.name)] + tail) for c in matched]
        out.append(Message([("Event", "ChannelsHungupListComplete")] + tail + [("EventList", "Complete"),
                                                                              ("ListItems", str(len(matched)))]))
        s.send(*out)
        for c in matched:
            sim.pbx.request_hangup(c, cause)
        return
    chan = sim.pbx.find_channel(name)
    if chan is None:
        s.send(error(msg, "No such channel"))
        return
    s.send(response(msg, "Success", "Channel Hungup"))
    sim.pbx.request_hangup(chan, cause)


@action("PlayDTMF")
async def _playdtmf(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    chan = sim.pbx.find_channel(msg.get("Channel"))
    if chan is None:
        s.send(error(msg, "Channel not found"))
        return
    digit = (msg.get("Digit") or "").strip()
    if not digit:
        s.send(error(msg, "No digit specified"))
        return
    try:
        duration = int(msg.get("Duration") or 250)
    except ValueError:
        duration = 250
    receive = (msg.get("Receive") or "").strip().lower() in ("yes", "true", "1", "on")
    target = chan if receive else sim.pbx.dtmf_target(chan)
    s.send(response(msg, "Success", "DTMF successfully queued"))
    sim.pbx.spawn(sim.pbx.dtmf_in(target, digit[0], duration, begin=not receive))


@action("UserEvent")
async def _userevent(server: AmiServer, s: AmiSession, msg: Message):
    name = msg.get("UserEvent")
    if not name:
        s.send(error(msg, "No UserEvent specified"))
        return
    rest = [(k, v) for k, v in msg.headers if k.lower() not in ("action", "userevent")]
    s.send(response(msg, "Success", "Event Sent"))
    _sim(server).pbx.emit("UserEvent", "user", [("UserEvent", name)] + rest)


@action("BlindTransfer")
async def _blindtransfer(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    name = msg.get("Channel")
    if not name:
        s.send(error(msg, "No channel specified"))
        return
    exten = msg.get("Exten")
    if not exten:
        s.send(error(msg, "No extension specified"))
        return
    chan = sim.pbx.find_channel(name)
    if chan is None:
        s.send(error(msg, "Channel specified does not exist"))
        return
    bridge = chan.bridge
    if bridge is None:
        s.send(error(msg, "Transfer invalid"))
        return
    context = msg.get("Context") or chan.context
    others = [m for m in bridge.members if m is not chan]
    s.send(response(msg, "Success", "Transfer succeeded"))
    h = chan.snapshot("Transferer") + bridge.snapshot()
    if others:
        h = [("Result", "Success")] + h + others[0].snapshot("Transferee")
    sim.pbx.emit("BlindTransfer", "call", h + [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)])
    for other in others:
        sim.redirect(other, context, exten, 1)
    sim.pbx.request_hangup(chan, 16)


@action("Atxfer")
async def _atxfer(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    if not msg.get("Channel"):
        s.send(error(msg, "No channel specified"))
        return
    if not msg.get("Exten"):
        s.send(error(msg, "No extension specified"))
        return
    chan = sim.pbx.find_channel(msg.get("Channel"))
    if chan is None:
        s.send(error(msg, "Channel specified does not exist"))
        return
    s.send(error(msg, "No attended transfer feature code found"))


# ----------------------------------------------------------------------------- lists


def _duration(seconds: float) -> str:
    sec = int(seconds)
    return f"{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


@action("CoreShowChannels")
async def _coreshowchannels(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    aid = msg.get("ActionID")
    head = [("ActionID", aid)] if aid is not None else []
    out = [response(msg, "Success", "Channels will follow", eventlist=True)]
    now = sim.clock.now()
    chans = list(sim.pbx.channels.values())
    for c in chans:
        out.append(Message([("Event", "CoreShowChannel")] + head + c.snapshot() + [
            ("Application", c.app), ("ApplicationData", c.appdata), ("Duration", _duration(now - c.created)),
            ("BridgeId", c.bridge.uniqueid if c.bridge else "")]))
    out.append(Message([("Event", "CoreShowChannelsComplete")] + head + [("EventList", "Complete"), ("ListItems", str(len(chans)))]))
    s.send(*out)


@action("Status")
async def _status(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    aid = msg.get("ActionID")
    tail = [("ActionID", aid)] if aid is not None else []
    name = msg.get("Channel")
    if name:
        chan = sim.pbx.find_channel(name)
        if chan is None:
            s.send(error(msg, "No such channel"))
            return
        chans = [chan]
    else:
        chans = list(sim.pbx.channels.values())
    wanted = [v.strip() for v in (msg.get("Variables") or "").split(",") if v.strip()]
    out = [response(msg, "Success", "Channel status will follow", eventlist=True)]
    now = sim.clock.now()
    for c in chans:
        h = [("Event", "Status"), ("Privilege", "Call")] + c.snapshot() + [
            ("Type", c.tech), ("DNID", c.dnid), ("EffectiveConnectedLineNum", c.conn_num or "<unknown>"),
            ("EffectiveConnectedLineName", c.conn_name or "<unknown>"), ("TimeToHangup", "0"),
            ("BridgeID", c.bridge.uniqueid if c.bridge else ""), ("Application", c.app), ("Data", c.appdata),
            ("Nativeformats", "(slin)"), ("Readformat", "slin"), ("Readtrans", ""), ("Writeformat", "slin"),
            ("Writetrans", ""), ("Callgroup", "0"), ("Pickupgroup", "0"), ("Seconds", str(int(now - c.created)))]
        for v in wanted:
            h.append(("Variable", f"{v}={sim.interp.read_var(c, v)}"))
        out.append(Message(h + tail))
    out.append(Message([("Event", "StatusComplete")] + tail + [("EventList", "Complete"), ("ListItems", str(len(chans))),
                                                               ("Items", str(len(chans)))]))
    s.send(*out)


@action("QueueStatus")
async def _queuestatus(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    aid = msg.get("ActionID")
    tail = [("ActionID", aid)] if aid is not None else []
    items = sim.queues.status_items(msg.get("Queue"), msg.get("Member"))
    out = [response(msg, "Success", "Queue status will follow", eventlist=True)]
    out += [Message(i + tail) for i in items]
    out.append(Message([("Event", "QueueStatusComplete")] + tail + [("EventList", "Complete"), ("ListItems", str(len(items)))]))
    s.send(*out)


@action("QueueSummary")
async def _queuesummary(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    aid = msg.get("ActionID")
    tail = [("ActionID", aid)] if aid is not None else []
    items = sim.queues.summary_items(msg.get("Queue"))
    out = [response(msg, "Success", "Queue summary will follow", eventlist=True)]
    out += [Message(i + tail) for i in items]
    out.append(Message([("Event", "QueueSummaryComplete")] + tail + [("EventList", "Complete"), ("ListItems", str(len(items)))]))
    s.send(*out)


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("true", "yes", "1", "on")


@action("QueuePause")
async def _queuepause(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    iface, paused = msg.get("Interface"), msg.get("Paused")
    if not iface or paused is None:
        s.send(error(msg, "Need 'Interface' and 'Paused' parameters."))
        return
    p = _truthy(paused)
    if not sim.queues.pause(iface, p, msg.get("Queue"), msg.get("Reason") or ""):
        s.send(error(msg, "Interface not found"))
        return
    s.send(response(msg, "Success", "Interface paused successfully" if p else "Interface unpaused successfully"))


@action("QueueAdd")
async def _queueadd(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    queue, iface = msg.get("Queue"), msg.get("Interface")
    if not queue or not iface:
        s.send(error(msg, "'Queue' and 'Interface' not set."))
        return
    try:
        penalty = int(msg.get("Penalty") or 0)
    except ValueError:
        penalty = 0
    err = sim.queues.add(queue, iface, penalty, _truthy(msg.get("Paused")), msg.get("MemberName") or "",
                         msg.get("StateInterface") or "")
    s.send(error(msg, err) if err else response(msg, "Success", "Added interface to queue"))


@action("QueueRemove")
async def _queueremove(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    queue, iface = msg.get("Queue"), msg.get("Interface")
    if not queue or not iface:
        s.send(error(msg, "Need 'Queue' and 'Interface' parameters."))
        return
    err = sim.queues.remove(queue, iface)
    s.send(error(msg, err) if err else response(msg, "Success", "Removed interface from queue"))


# ----------------------------------------------------------------------------- CLI


@action("Command")
async def _command(server: AmiServer, s: AmiSession, msg: Message):
    sim = _sim(server)
    cmd = " ".join((msg.get("Command") or "").split())
    ok, lines = cli(sim, cmd)
    out = response(msg, "Success" if ok else "Error", "Command output follows")
    out.headers += [("Output", line) for line in lines]
    s.send(out)


def _app_data(c: Channel) -> str:
    return f"{c.app}({c.appdata})" if c.app else "(None)"


def cli(sim, cmd: str) -> tuple[bool, list[str]]:
    """A few CLI commands, formatted as Asterisk 20 prints them."""
    low = cmd.lower()
    chans = list(reversed(list(sim.pbx.channels.values())))
    if low == "core show channels":
        lines = [f"{'Channel':<64} {'Location':<32} {'State':<7} {'Application(Data)':<30}"]
        for c in chans:
            loc = f"{c.exten}@{c.context}:{c.priority}"
            lines.append(f"{c.name[:64]:<64} {loc[:32]:<32} {STATE_DESC.get(c.state, 'Unknown')[:7]:<7} {_app_data(c)[:30]:<30}")
        n = len(chans)
        calls = sim.active_calls()
        lines.append(f"{n} active channel{'' if n == 1 else 's'}")
        lines.append(f"{calls} active call{'' if calls == 1 else 's'}")
        p = sim.pbx.processed_calls
        lines.append(f"{p} call{'' if p == 1 else 's'} processed")
        return True, lines
    if low == "core show channels concise":
        now = sim.clock.now()
        lines = []
        for c in chans:
            bridged = ""
            if c.bridge:
                bridged = next((m.name for m in c.bridge.members if m is not c), "")
            lines.append("!".join([
                c.name, c.context, c.exten, str(c.priority), STATE_DESC.get(c.state, "Unknown"), c.app or "(None)",
                c.appdata, c.cid_num, c.accountcode, "", "3", str(int(now - c.created)), bridged, c.uniqueid]))
        return True, lines
    if low == "core show version":
        return True, [f"Asterisk {sim.version} built by root @ vm on a x86_64 running Linux on "
                      f"{_time.strftime('%Y-%m-%d %H:%M:%S', _time.gmtime(sim.pbx.started_at))} UTC"]
    if low.startswith("queue show"):
        name = cmd.split()[2] if len(cmd.split()) > 2 else None
        lines = []
        for q in sim.queues.queues.values():
            if name and q.name != name:
                continue
            lines.append(f"{q.name} has {len(q.entries)} calls (max unlimited) in '{q.conf.strategy}' strategy "
                         f"({q.holdtime()}s holdtime, {q.talktime()}s talktime), W:0, C:{q.completed}, A:{q.abandoned}, "
                         f"SL:0.0%, SL2:0.0% within 0s")
            lines.append("   Members: ")
            for m in q.members:
                state = "In use" if m.in_call else ("Ringing" if m.ringing else "Not in use")
                paused = f" (paused:{m.paused_reason})" if m.paused and m.paused_reason else (" (paused)" if m.paused else "")
                lines.append(f"      {m.name} ({m.interface}) (ringinuse enabled){paused} ({state}) has taken "
                             f"{m.calls_taken} calls" + (" (last was 0 secs ago)" if m.calls_taken else "")
                             + " (login was 0 secs ago)")
            if q.entries:
                lines.append("   Callers: ")
                for i, e in enumerate(q.entries, 1):
                    lines.append(f"      {i}. {e.chan.name} (wait: 0:00, prio: 0)")
            else:
                lines.append("   No Callers")
            lines.append("")
        if name and not lines:
            return True, [f"No such queue: {name}."]
        return True, lines
    if low == "sip show peers":
        head = f"{'Name/username':<25} {'Host':<39} {'Dyn':<3} {'Forcerport':<10} {'Comedia':<10} {'ACL':<3} {'Port':<8} {'Status':<11} {'Description':<32} "
        peers = list(sim.pbx.endpoints)
        lines = [head]
        lines.append(f"{len(peers)} sip peers [Monitored: 0 online, 0 offline Unmonitored: {len(peers)} online, 0 offline]")
        return True, lines
    return False, [f"No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"]
