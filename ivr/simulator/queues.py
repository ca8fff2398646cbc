"""ACD queues: members, waiting callers, the Queue() application and queue statistics."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .calling import _outgoing_line, call_channel, dial_begin, dial_end, request_channel, start_far_end
from .channels import Channel, Hungup, Interrupted
from .conf import QueueConf
from .expressions import split_args

if TYPE_CHECKING:  # pragma: no cover
    from .dialplan import Interpreter
    from .pbx import Pbx

log = logging.getLogger(__name__)

NOT_INUSE, INUSE, RINGING = 1, 2, 6

_EMPTY_OPTIONS = frozenset({"paused", "penalty", "inuse", "ringing", "invalid", "wrapup", "unavailable", "unknown"})


def empty_conditions(value: str | None, *, joinempty: bool) -> frozenset[str]:
    """The member conditions that count as "nobody there" for ``joinempty`` / ``leavewhenempty``.

    As app_queue's ``parse_empty_options``: a comma list of conditions, ``loose``, ``strict``, or
    the legacy booleans (``joinempty = yes`` and ``leavewhenempty = no`` check nothing; the
    opposite values mean ``penalty,invalid,paused``).
    """
    legacy = frozenset({"penalty", "invalid", "paused"})
    out: set[str] = set()
    for option in (value or "").split(","):
        option = option.strip().lower()
        if option in _EMPTY_OPTIONS:
            out.add(option)
        elif option == "loose":
            out = {"penalty", "invalid"}
        elif option == "strict":
            out = {"penalty", "invalid", "paused", "unavailable"}
        elif option in ("no", "false", "off", "0"):
            out = set(legacy) if joinempty else set()
        elif option in ("yes", "true", "on", "1"):
            out = set() if joinempty else set(legacy)
    return frozenset(out)


@dataclass(eq=False)
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    membership: str = "static"
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    ringing: bool = False
    paused: bool = False
    paused_reason: str = ""
    wrapuptime: int = 0

    @property
    def status(self) -> int:
        if self.in_call:
            return INUSE
        if self.ringing:
            return RINGING
        return NOT_INUSE

    def fields(self, name_key: str = "MemberName", iface_key: str = "Interface", ringinuse: bool = True) -> list[tuple[str, str]]:
        h = [
            (name_key, self.name),
            (iface_key, self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", self.membership),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
        ]
        if ringinuse:
            h.append(("Ringinuse", "1"))
        h.append(("Wrapuptime", str(self.wrapuptime)))
        return h


@dataclass(eq=False)
class QueueEntry:
    chan: Channel
    joined: float
    original_position: int
    pending: bool = False        # ringing members right now (app_queue's ``pending``)


@dataclass(eq=False)
class Queue:
    conf: QueueConf
    members: list[Member] = field(default_factory=list)
    entries: list[QueueEntry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    total_hold: float = 0.0
    total_talk: float = 0.0
    last_rung: str = ""  # interface rung last (round-robin strategies)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.conf.name

    def member(self, interface: str) -> Member | None:
        for m in self.members:
            if m.interface.lower() == interface.lower():
                return m
        return None

    def holdtime(self) -> int:
        return int(round(self.total_hold / self.completed)) if self.completed else 0

    def talktime(self) -> int:
        return int(round(self.total_talk / self.completed)) if self.completed else 0


class QueueManager:
    def __init__(self, pbx: "Pbx", confs: dict[str, QueueConf]) -> None:
        self.pbx = pbx
        self._rng = random.Random()
        self.queues: dict[str, Queue] = {}
        now = int(pbx.clock.now())
        for name, conf in confs.items():
            q = Queue(conf)
            for mc in conf.members:
                q.members.append(Member(mc.interface, mc.name or mc.interface, mc.state_interface or mc.interface, mc.penalty, login_time=now))
            self.queues[name] = q

    # -- member events ------------------------------------------------------
    def member_event(self, event: str, q: Queue, m: Member) -> None:
        self.pbx.emit(event, "agent", [("Queue", q.name)] + m.fields())

    def _poke(self, q: Queue) -> None:
        q.changed.set()

    def pause(self, interface: str, paused: bool, queue: str | None, reason: str) -> bool:
        found = False
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.member(interface)
            if m is None:
                continue
            found = True
            m.paused = paused
            m.paused_reason = reason if paused else ""
            if paused:
                m.last_pause = int(self.pbx.clock.now())
            self.member_event("QueueMemberPause", q, m)
            self._poke(q)
        return found

    def add(self, queue: str, interface: str, penalty: int, paused: bool, name: str, state_interface: str) -> str:
        q = self.queues.get(queue)
        if q is None:
            return "Unable to add interface to queue: No such queue"
        if q.member(interface) is not None:
            return "Unable to add interface: Already there"
        m = Member(interface, name or interface, state_interface or interface, penalty, membership="dynamic",
                   login_time=int(self.pbx.clock.now()), paused=paused)
        q.members.append(m)
        self.member_event("QueueMemberAdded", q, m)
        self._poke(q)
        return ""

    def remove(self, queue: str, interface: str) -> str:
        q = self.queues.get(queue)
        m = q.member(interface) if q else None
        if q is None or m is None:
            return "Unable to remove interface: Not there"
        if m.membership == "static":
            return "Unable to remove interface: Member not dynamic"
        q.members.remove(m)
        self.member_event("QueueMemberRemoved", q, m)
        return ""

    # -- the Queue() application -------------------------------------------
    async def run_queue_app(self, it: "Interpreter", chan: Channel, args: str) -> int:
        pbx = self.pbx
        parts = split_args(args) + [""] * 5
        qname, options = parts[0].strip(), parts[1]
        try:
            overall = float(parts[4]) if parts[4].strip() else None
        except ValueError:
            overall = None
        q = self.queues.get(qname)
        if q is None:
            pbx.set_var(chan, "QUEUESTATUS", "JOINUNAVAIL")
            return 0
        if self.is_empty(q, "joinempty"):
            pbx.set_var(chan, "QUEUESTATUS", "JOINEMPTY")  # refused before joining: no QueueCallerJoin
            return 0
        joined = pbx.clock.now()
        entry = QueueEntry(chan, joined, len(q.entries) + 1)
        q.entries.append(entry)
        pbx.chan_event("QueueCallerJoin", chan, ("Queue", q.name), ("Position", str(len(q.entries))), ("Count", str(len(q.entries))), cls="agent")
        pbx.chan_event("MusicOnHoldStart", chan, ("Class", q.conf.musicclass))
        loop = asyncio.get_running_loop()
        deadline = None if overall is None else loop.time() + pbx.clock.real(overall)
        try:
            while True:
                if deadline is not None and loop.time() >= deadline:
                    self._leave(q, entry, moh=True)
                    pbx.set_var(chan, "QUEUESTATUS", "TIMEOUT")
                    return 0
                if self.is_empty(q, "leavewhenempty"):
                    self._leave(q, entry, moh=True)
                    pbx.set_var(chan, "QUEUESTATUS", "LEAVEEMPTY")
                    return 0
                connected = await self._try_members(it, q, entry, deadline)
                if connected is not None:
                    return await self._talk(it, q, entry, *connected, options=options)
                # nobody answered: wait for retry or a member change
                q.changed.clear()
                wait_for = q.conf.retry
                if deadline is not None:
                    wait_for = min(wait_for, max(0.0, (deadline - loop.time()) * pbx.clock.speed))
                changed = asyncio.ensure_future(q.changed.wait())
                stop = asyncio.ensure_future(chan.interrupt.wait())
                try:
                    await asyncio.wait({changed, stop}, timeout=pbx.clock.real(wait_for), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                    stop.cancel()
                if chan.interrupt.is_set():
                    raise Hungup() if chan.hanging_up else Interrupted()
        except Interrupted:
            if entry in q.entries:
                position = q.entries.index(entry) + 1
                if chan.hanging_up:
                    q.abandoned += 1
                    pbx.chan_event(
                        "QueueCallerAbandon", chan, ("Queue", q.name), ("Position", str(position)),
                        ("OriginalPosition", str(entry.original_position)),
                        ("HoldTime", str(int(pbx.clock.now() - entry.joined))), cls="agent",
                    )
                self._leave(q, entry, moh=False)
            raise

    def _leave(self, q: Queue, entry: QueueEntry, moh: bool) -> None:
        if entry not in q.entries:
            return
        position = q.entries.index(entry) + 1
        q.entries.remove(entry)
        if moh:
            self.pbx.chan_event("MusicOnHoldStop", entry.chan)
        self.pbx.chan_event(
            "QueueCallerLeave", entry.chan, ("Queue", q.name), ("Position", str(position)), ("Count", str(len(q.entries))), cls="agent"
        )

    @staticmethod
    def _our_turn(q: Queue, entry: QueueEntry, available: int) -> bool:
        """app_queue's ``is_our_turn``: a caller rings members when fewer callers ahead of it (not
        already ringing someone) wait than members are available — with ``autofill`` (the default),
        several callers are offered to several free agents at once; without it only the first."""
        ahead = 0
        for e in q.entries:
            if e is entry:
                break
            if not e.pending:
                ahead += 1
        else:
            return False
        autofill = q.conf.options.get("autofill", "yes").strip().lower() not in ("no", "false", "0", "off")
        return ahead < available and (autofill or q.entries[0] is entry)

    async def _try_members(self, it: "Interpreter", q: Queue, entry: QueueEntry, deadline: float | None):
        now = self.pbx.clock.now()
        available = [
            m for m in q.members
            if not m.paused and not m.in_call and not m.ringing and now - m.last_call >= self._wrapup(q, m)
        ]
        if not available or not self._our_turn(q, entry, len(available)):
            return None
        entry.pending = True
        try:
            return await self._ring(it, q, entry, self._pick(q, available), deadline)
        finally:
            entry.pending = False

    async def _ring(self, it: "Interpreter", q: Queue, entry: QueueEntry, available: list[Member],
                    deadline: float | None):
        pbx = self.pbx
        chan = entry.chan
        ringing: dict[asyncio.Future, tuple[Member, Channel]] = {}
        for m in available:
            callee = request_channel(it, m.interface, linkedid=chan.linkedid, caller=chan, dial_app="AppQueue")
            if callee is None or not call_channel(it, callee):
                if callee is not None:
                    pbx.request_hangup(callee, 0)
                continue
            m.ringing = True
            start_far_end(it, callee)
            pbx.emit(
                "AgentCalled", "agent",
                chan.snapshot() + callee.snapshot("Dest") + [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)],
            )
            dial_begin(pbx, chan, callee, m.interface.partition("/")[2])
            assert callee.progress is not None
            ringing[callee.progress] = (m, callee)
        if not ringing:
            return None
        loop = asyncio.get_running_loop()
        ring_until = loop.time() + pbx.clock.real(q.conf.timeout)
        if deadline is not None:
            ring_until = min(ring_until, deadline)
        started = loop.time()
        stop = asyncio.ensure_future(chan.interrupt.wait())
        winner = None
        try:
            while ringing and winner is None:
                left = max(0.0, ring_until - loop.time())
                done, _ = await asyncio.wait(set(ringing) | {stop}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    for m, c in ringing.values():
                        m.ringing = False
                        dial_end(pbx, chan, c, "CANCEL")
                        pbx.request_hangup(c, 16)
                    raise Hungup() if chan.hanging_up else Interrupted()
                if not done:
                    break
                for fut in done:
                    m, c = ringing.pop(fut)
                    if fut.result() == "answer" and winner is None:
                        winner = (m, c)
                    else:
                        m.ringing = False
                        dial_end(pbx, chan, c, "BUSY" if fut.result() == "busy" else "CHANUNAVAIL")
                        pbx.request_hangup(c, 16)
        finally:
            stop.cancel()
        ring_secs = (loop.time() - started) * pbx.clock.speed
        for m, c in ringing.values():
            m.ringing = False
            pbx.emit(
                "AgentRingNoAnswer", "agent",
                chan.snapshot() + c.snapshot("Dest")
                + [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name), ("RingTime", str(int(ring_secs * 1000)))],
            )
            dial_end(pbx, chan, c, "NOANSWER" if winner is None else "CANCEL")
            pbx.request_hangup(c, 19 if winner is None else 26)
        if winner is None:
            return None
        winner[0].ringing = False
        callee = winner[1]
        _outgoing_line(pbx, callee, "AppQueue", "s")
        pbx.chan_event("NewConnectedLine", callee)
        return winner[0], winner[1], int(ring_secs)

    def is_empty(self, q: Queue, option: str) -> bool:
        """True when no member is available under the queue's ``joinempty``/``leavewhenempty``
        conditions (app_queue's ``get_member_status``: no members at all also counts as empty)."""
        conditions = empty_conditions(q.conf.options.get(option), joinempty=option == "joinempty")
        if not conditions:
            return False
        now = self.pbx.clock.now()
        for m in q.members:
            if m.status == INUSE and "inuse" in conditions:
                continue
            if m.status == RINGING and "ringing" in conditions:
                continue
            if m.paused and "paused" in conditions:
                continue
            wrapup = self._wrapup(q, m)
            if "wrapup" in conditions and m.last_call and wrapup and now - wrapup < m.last_call:
                continue
            return False
        return True

    @staticmethod
    def _wrapup(q: Queue, m: Member) -> float:
        try:
            return float(m.wrapuptime or q.conf.options.get("wrapuptime", "0") or 0)
        except ValueError:
            return 0.0

    def _pick(self, q: Queue, available: list[Member]) -> list[Member]:
        """Members to ring now: the lowest penalty tier, then the queue's strategy."""
        low = min(m.penalty for m in available)
        tier = [m for m in available if m.penalty == low]
        strategy = q.conf.strategy
        if strategy == "ringall":
            return tier
        if strategy == "leastrecent":
            return [min(tier, key=lambda m: m.last_call)]
        if strategy == "fewestcalls":
            return [min(tier, key=lambda m: m.calls_taken)]
        if strategy in ("random", "wrandom"):
            return [self._rng.choice(tier)]
        # rrmemory / rrordered / linear: the next member after the last one rung, in configured order
        order = [m for m in q.members if m in tier]
        last = q.last_rung
        names = [m.interface for m in order]
        start = (names.index(last) + 1) % len(order) if last in names and strategy != "linear" else 0
        chosen = order[start]
        q.last_rung = chosen.interface
        return [chosen]

    async def _talk(self, it: "Interpreter", q: Queue, entry: QueueEntry, m: Member, callee: Channel, ring_secs: int, options: str) -> int:
        pbx = self.pbx
        chan = entry.chan
        hold = pbx.clock.now() - entry.joined
        dial_end(pbx, chan, callee, "ANSWER")
        self._leave(q, entry, moh=True)
        pbx.emit(
            "AgentConnect", "agent",
            chan.snapshot() + callee.snapshot("Dest")
            + [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name), ("HoldTime", str(int(hold))), ("RingTime", str(ring_secs))],
        )
        if not chan.is_up:
            pbx.answer(chan)
        m.in_call = True
        talk_start = pbx.clock.now()
        done = False

        def complete(leaving: Channel) -> None:
            nonlocal done
            if done:
                return
            done = True
            talk = pbx.clock.now() - talk_start
            m.in_call = False
            m.calls_taken += 1
            m.last_call = int(pbx.clock.now())
            q.completed += 1
            q.total_hold += hold
            q.total_talk += talk
            pbx.emit(
                "AgentComplete", "agent",
                chan.snapshot() + callee.snapshot("Dest")
                + [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name), ("HoldTime", str(int(hold))),
                   ("TalkTime", str(int(talk))), ("Reason", "caller" if leaving is chan else "agent")],
            )

        bridge = pbx.bridge_channels(chan, callee)
        bridge.on_leave = complete
        self.member_event("QueueMemberStatus", q, m)
        try:
            await pbx.wait_bridge(chan)
        finally:
            complete(chan)
            if not callee.gone and (callee.owner is None or callee.owner.done()):
                pbx.request_hangup(callee, 16)
            self.member_event("QueueMemberStatus", q, m)
            self._poke(q)
        if "c" in options:  # continue in the dialplan when the agent hangs up
            pbx.set_var(chan, "QUEUESTATUS", "CONTINUE")
            return 0
        return -1

    # -- AMI list items -----------------------------------------------------
    def status_items(self, queue: str | None, member: str | None) -> list[list[tuple[str, str]]]:
        now = self.pbx.clock.now()
        items: list[list[tuple[str, str]]] = []
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            perf = "100.0" if q.completed else "0.0"
            items.append([
                ("Event", "QueueParams"), ("Queue", q.name), ("Max", q.conf.options.get("maxlen", "0")),
                ("Strategy", q.conf.strategy), ("Calls", str(len(q.entries))), ("Holdtime", str(q.holdtime())),
                ("TalkTime", str(q.talktime())), ("Completed", str(q.completed)), ("Abandoned", str(q.abandoned)),
                ("ServiceLevel", q.conf.options.get("servicelevel", "0")), ("ServicelevelPerf", perf),
                ("ServicelevelPerf2", perf), ("Weight", q.conf.options.get("weight", "0")),
            ])
            for m in q.members:
                if member and m.interface != member:
                    continue
                items.append([("Event", "QueueMember"), ("Queue", q.name)] + m.fields("Name", "Location", ringinuse=False))
            for pos, e in enumerate(q.entries, start=1):
                c = e.chan
                items.append([
                    ("Event", "QueueEntry"), ("Queue", q.name), ("Position", str(pos)), ("Channel", c.name),
                    ("Uniqueid", c.uniqueid), ("CallerIDNum", c.cid_num or "<unknown>"),
                    ("CallerIDName", c.cid_name or "<unknown>"), ("ConnectedLineNum", c.conn_num or "<unknown>"),
                    ("ConnectedLineName", c.conn_name or "<unknown>"), ("Wait", str(int(now - e.joined))), ("Priority", "0"),
                ])
        return items

    def summary_items(self, queue: str | None) -> list[list[tuple[str, str]]]:
        now = self.pbx.clock.now()
        items = []
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            logged = len(q.members)
            avail = len([m for m in q.members if not m.paused and not m.in_call])
            longest = int(max((now - e.joined for e in q.entries), default=0))
            items.append([
                ("Event", "QueueSummary"), ("Queue", q.name), ("LoggedIn", str(logged)), ("Available", str(avail)),
                ("Callers", str(len(q.entries))), ("HoldTime", str(q.holdtime())), ("TalkTime", str(q.talktime())),
                ("LongestHoldTime", str(longest)),
            ])
        return items
