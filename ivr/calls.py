"""Call tracker: AMI events in, one :class:`CallSnapshot` per citizen conversation out.

The tracker consumes AMI ``Message`` events only (it never sends actions) and keeps
one call per conversation, keyed by the Linkedid of the conversation's first
(root) channel. It publishes the domain events of :mod:`ivr.events` — on an
:class:`~ivr.bus.EventBus` and/or to an ``on_event`` callback — and forgets a
call as soon as its ``CallEnded`` has been published.

Identity rules (docs/telephony-research.md §1.10):

* A ``Newchannel`` whose Linkedid is not known starts a call; ``call_id`` is that
  Linkedid. Every channel carrying the same Linkedid (Local halves, Dial() legs,
  queue member channels) joins the call. A Linkedid a channel of the call takes
  later (bridging with an older channel, transfers) becomes an alias; when the
  Linkedid belongs to another live call, a non-citizen channel moves there.
* The **citizen channel** is the channel that runs the hotline dialplan for the
  caller: the root channel itself (a SIP/PJSIP inbound call), except when the
  root is a ``Local/...;1`` half — then it is its ``;2`` sibling, because ``;2``
  executes ``exten@context`` while ``;1`` is the originator's end (in the
  Asterisk 20 captures every call is an AMI Originate into ``Local/s@ivr-12319``,
  so the IVR and the DTMF ``Direction: Received`` are on ``;2``).
  ``BridgeEnter`` with ``SwapUniqueid`` hands the role to the replacing channel.
* The call ends when the citizen channel hangs up (or no channel of the call is
  left); late events of its channels are ignored.

Time: an event's own PBX timestamp when it has one (``Timestamp:`` with
``timestampevents=yes``, ``EventTV``), else the injectable ``clock``. CEL records
(``EventTime``, PBX local time read in ``pbx_tz``) then give the exact start, answer
and hang-up times of the call; CEL times further than ``max_cel_skew`` seconds
from the clock are ignored (a wrong ``pbx_tz``) with one warning.
:mod:`ivr.replay` supplies a clock that follows the capture's stamps.

IVR path: the citizen channel's ``Newexten`` (context entered, exten changed to
one or two keys / ``t`` / ``i``, AGI scripts) and the dialplan's ``UserEvent`` marks
``IVR<Kind>`` (``IVRStart`` = enter, ``IVRChoice`` = choice, ``IVRTimeout``,
``IVRInvalid``, ``IVRSpeech`` ...; optional ``Menu:`` header). A mark that confirms
the step just derived from ``Newexten`` (same menu and kind) is merged into it.

Hotline dialplan marks (all optional):

* ``UserEvent(HotlineDistrict,District: 150402[,Number: ...])`` — or a ``VarSet`` of
  ``HOTLINE_DISTRICT`` — before ``Dial()``: the next dial of the citizen channel is
  a district-line transfer with that district code (target ``district:<code>``).
  Without a mark, a ``Dial()`` into or from one of ``district_contexts`` (default
  ``district-lines`` as in the test PBX, ``district-dial``) is a district line.
* ``UserEvent(HotlineSelfServed)`` (or ``IVRSelfServed``): the IVR served the caller.
* ``UserEvent(HotlineMessage,File: <path>)``: an after-hours message was recorded.
* ``VarSet`` of ``HOTLINE_*`` on the citizen channel is copied to ``variables``.

Disposition, first rule that holds: voicemail (``Record``/``VoiceMail`` app or a
message mark) → the last serving outcome, agent (``AgentConnect``) or transferred
(an answered district/dial transfer, a successful blind/attended transfer) →
self-served mark → abandoned if it joined a queue → failed if never answered →
failed if the last transfer attempt failed → abandoned (a menu choice alone is not
self-service: only the dialplan's mark says the IVR served the caller). A blind/attended
transfer whose line then fails does not count.

Subscribers that fall behind: the tracker keeps the final snapshots of the last
``ended_snapshots`` calls (:meth:`CallTracker.ended_snapshot`), so a subscriber whose
``CallEnded`` was dropped by the bus can still store the call (see :mod:`ivr.bus`).

Resync after an AMI reconnect: ``begin_resync()``, ``resync_channel(row)`` for each
``CoreShowChannel`` (and ``resync_queue_item(row)`` for each item of ``QueueStatus``),
``end_resync()``. Calls whose citizen channel (or every
channel) is no longer listed end as ``ended_while_disconnected``; listed channels of
unknown conversations are adopted (``CallStarted(adopted=True)``, started ``Duration``
ago). What an adopted call had before comes from the rows: the dialled number and the
answer time from the channel variables ``HOTLINE_DIALED`` / ``HOTLINE_ANSWERED`` (manager.conf
``channelvars``; a state ``Up`` without them: answered at the start), the queue and its wait
from the ``QueueEntry``, and a citizen bridged (``BridgeId``) with another channel of the call
is talking to an agent (in ``Queue``; named as the ``QueueMember``) or to the line it dialled (``Dial``: a district line
when ``HOTLINE_DISTRICT`` is set). ``max_live_calls`` caps live calls: the oldest is ended
the same way.
"""

from __future__ import annotations

from functools import lru_cache

import copy
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterable

from .ami.messages import Message
from .bus import EventBus
from .events import (
    AgentAnswered,
    CallAnswered,
    CallEnded,
    CallSnapshot,
    CallStarted,
    Disposition,
    IvrStep,
    MenuChosen,
    QueueJoined,
    QueueLeft,
    Recorded,
    Transfer,
    Transferred,
    TransferResult,
)

log = logging.getLogger(__name__)

__all__ = ["CallTracker", "message_time", "parse_pbx_time", "is_local_one"]

UNKNOWN_CID = {"", "<unknown>", "unknown"}
_DIGITS = re.compile(r"^[0-9*#]{1,2}$")  # a menu key; longer numbers are Goto targets
_AGI_APPS = {"agi", "eagi", "deadagi"}
_RECORD_APPS = {"record"}
_VOICEMAIL_APPS = {"voicemail"}
_DIAL_APPS = {"dial", "agi", "eagi"}  # AGI "EXEC Dial" leaves the app at AGI
_DISTRICT_MARKS = {"hotlinedistrict", "districttransfer", "districtdial", "ivrdistrict"}
_SELF_SERVED_MARKS = {"hotlineselfserved", "ivrselfserved", "selfserved"}
_MESSAGE_MARKS = {"hotlinemessage"}
_UP = "6"
# list items of action responses and accounting events: never channel activity
_NOT_CHANNEL_EVENTS = {
    "cdr", "coreshowchannel", "status", "queueentry", "queuemember",
    "queueparams", "originateresponse", "channelhungup",
}
_DIAL_RESULTS = {
    "ANSWER": TransferResult.ANSWERED,
    "BUSY": TransferResult.BUSY,
    "NOANSWER": TransferResult.NO_ANSWER,
    "CONGESTION": TransferResult.CONGESTION,
    "CHANUNAVAIL": TransferResult.UNAVAILABLE,
    "CANCEL": TransferResult.CANCELLED,
    "ABORT": TransferResult.CANCELLED,
}
_DIAL_PROGRESS = {"", "RINGING", "PROGRESS", "PROCEEDING"}
_FAILED_RESULTS = {
    TransferResult.BUSY, TransferResult.NO_ANSWER, TransferResult.CONGESTION,
    TransferResult.UNAVAILABLE, TransferResult.FAILED,
}


# -- helpers ------------------------------------------------------------------

def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def parse_pbx_time(text: str, tz: tzinfo = timezone.utc) -> datetime | None:
    """``2026-11-27 17:07:23[.ffffff]`` in the PBX zone ``tz``, or epoch seconds -> aware UTC."""
    return _parse_pbx_time(text.strip(), tz)


@lru_cache(maxsize=4096)
def _parse_pbx_time(text: str, tz: tzinfo) -> datetime | None:
    # CEL stamps of one call repeat the same second many times: cached, and parsed with
    # fromisoformat (an order of magnitude cheaper than strptime) when it is a date.
    if not text:
        return None
    if "-" not in text:
        try:
            return datetime.fromtimestamp(float(text), timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(timezone.utc)


def message_time(msg: Message, tz: tzinfo = timezone.utc) -> datetime | None:
    """The PBX time a message carries itself, as aware UTC, or ``None``.

    ``Timestamp:`` (epoch, manager.conf ``timestampevents``; also in Ping replies),
    ``EventTV:`` (security events, with offset) and CEL ``EventTime:`` (PBX local
    time, interpreted in ``tz``).
    """
    try:
        ts = msg.get("Timestamp")
        if ts:
            return datetime.fromtimestamp(float(ts), timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    tv = msg.get("EventTV")
    if tv:
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return datetime.strptime(tv.strip(), fmt).astimezone(timezone.utc)
            except ValueError:
                continue
    if msg.name.lower() == "cel":
        return parse_pbx_time(msg.get("EventTime", "") or "", tz)
    return None


def is_local_one(name: str) -> bool:
    """``Local/x@ctx-0000001;1`` — the originator-side half of a Local pair."""
    return name.startswith("Local/") and name.endswith(";1")


def _uid_order(uid: str) -> tuple[float, int, str]:
    """Sort key for 'oldest channel' heuristics; Uniqueids stay opaque strings otherwise."""
    tail = uid.rsplit("-", 1)[-1]
    epoch, _, seq = tail.partition(".")
    try:
        return (float(epoch), int(seq or 0), uid)
    except ValueError:
        return (float("inf"), 0, uid)


def _duration(text: str | None) -> timedelta | None:
    """``HH:MM:SS`` (CoreShowChannel ``Duration``) or seconds."""
    if not text:
        return None
    try:
        parts = [int(p) for p in text.strip().split(":")]
    except ValueError:
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + p
    return timedelta(seconds=seconds)


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(str(text).strip())
    except (TypeError, ValueError):
        return None


# -- internal state -------------------------------------------------------------

@dataclass(eq=False)
class _Channel:
    uniqueid: str
    name: str
    call: "_Call"
    context: str = ""
    exten: str = ""
    app: str = ""
    seen_exten: bool = False
    cel_answer: datetime | None = None
    cel_hangup: datetime | None = None


@dataclass(eq=False)
class _Call:
    snap: CallSnapshot
    root: str
    seq: int
    channels: dict[str, _Channel] = field(default_factory=dict)
    linkedids: set[str] = field(default_factory=set)
    citizen: str | None = None
    started_published: bool = False
    adopted: bool = False
    answered: bool = False
    dials: dict[str, Transfer] = field(default_factory=dict)
    agent_legs: set[str] = field(default_factory=set)
    unconfirmed_step: bool = False  # the last IVR step came from Newexten, no mark yet
    pending_district: str | None = None
    served: str = ""              # "agent" or "transferred": the last serving outcome
    voicemail: bool = False
    self_served: bool = False
    queue_abandoned: bool = False
    last_cause: int | None = None
    last_cause_text: str = ""

    def citizen_channel(self) -> _Channel | None:
        return self.channels.get(self.citizen) if self.citizen else None


# -- the tracker ------------------------------------------------------------------

class CallTracker:
    """Maintains live calls from AMI events; see the module docstring for the rules."""

    def __init__(
        self,
        bus: EventBus | None = None,
        *,
        on_event: Callable[[object], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        pbx_tz: tzinfo = timezone.utc,
        district_contexts: Iterable[str] = ("district-lines", "district-dial"),
        max_live_calls: int | None = None,
        ended_memory: int = 10_000,
        ended_snapshots: int = 5_000,
        max_cel_skew: float = 300.0,
    ) -> None:
        self.bus = bus
        self.on_event = on_event
        self.clock = clock or _utc_now
        self.pbx_tz = pbx_tz
        self.district_contexts = {c.lower() for c in district_contexts}
        self.max_live_calls = max_live_calls
        self._calls: dict[str, _Call] = {}            # call_id -> call, oldest first
        self._by_linkedid: dict[str, _Call] = {}
        self._by_uid: dict[str, _Channel] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()  # uniqueids/linkedids of ended calls
        self._ended_memory = ended_memory
        self._ended_snapshots: OrderedDict[str, CallSnapshot] = OrderedDict()
        self._ended_snapshot_memory = ended_snapshots
        self._seq = 0
        self._resync_rows: list[Message] | None = None
        self._resync_new: set[str] = set()
        self._resync_queue: dict[str, Message] = {}
        self._resync_members: dict[str, str] = {}     # interface (lower case) -> member name
        self._cel_early: OrderedDict[str, dict[str, datetime]] = OrderedDict()
        self.max_cel_skew = max_cel_skew
        self._skew_warned = False
        self.errors = 0                                 # events that raised inside a handler
        self._resync_sources: list[Callable[[], Iterable[Message]]] = []

    # -- public API -------------------------------------------------------------
    def feed(self, msg: Message) -> None:
        """Apply one AMI message. Never raises."""
        try:
            if not isinstance(msg, Message) or not msg.is_event:
                return
            name = msg.name.strip().lower()
            if name in _NOT_CHANNEL_EVENTS:
                return
            at = self._at(msg)
            handler = getattr(self, "_on_" + name, None)
            if name not in ("newchannel", "cel"):
                self._touch(msg, "", at)
                if msg.get("DestUniqueid"):
                    self._touch(msg, "Dest", at)
            if handler is not None:
                handler(msg, at)
        except Exception:  # odd input must never take the AMI reader down
            self.errors += 1
            log.exception("call tracker: failed on %r", msg)

    def snapshot(self, call_id: str) -> CallSnapshot | None:
        """A copy of what is known about a live call (``None`` when unknown or ended)."""
        call = self._calls.get(call_id) or self._by_linkedid.get(call_id)
        return copy.deepcopy(call.snap) if call else None

    def live_snapshots(self) -> list[CallSnapshot]:
        """Copies of every live call, oldest first."""
        return [copy.deepcopy(c.snap) for c in self._calls.values()]

    def is_live(self, call_id: str) -> bool:
        return call_id in self._calls or call_id in self._by_linkedid

    def ended_snapshot(self, call_id: str) -> CallSnapshot | None:
        """The final snapshot of a recently ended call (the last ``ended_snapshots`` are kept)."""
        return self._ended_snapshots.get(call_id)

    def ended_snapshots(self) -> list[CallSnapshot]:
        """The final snapshots the tracker still remembers, oldest first."""
        return list(self._ended_snapshots.values())

    def call_id_for(self, channel_or_uniqueid: str) -> str | None:
        """The call a channel (name or Uniqueid) belongs to."""
        ch = self._by_uid.get(channel_or_uniqueid)
        if ch is None:
            ch = next((c for c in self._by_uid.values() if c.name == channel_or_uniqueid), None)
        return ch.call.snap.call_id if ch else None

    def channels_of(self, call_id: str) -> list[str]:
        """Names of the live channels of a call, citizen channel first."""
        call = self._calls.get(call_id) or self._by_linkedid.get(call_id)
        if not call:
            return []
        names = [ch.name for uid, ch in call.channels.items() if uid == call.citizen]
        return names + [ch.name for uid, ch in call.channels.items() if uid != call.citizen]

    def __len__(self) -> int:
        return len(self._calls)

    # -- resync -------------------------------------------------------------------
    def begin_resync(self) -> None:
        """Start collecting ``CoreShowChannel`` rows after an AMI reconnect."""
        self._resync_rows = []
        self._resync_new = set()
        self._resync_queue = {}
        self._resync_members = {}

    def resync_channel(self, msg: Message) -> None:
        """Record one ``CoreShowChannel`` (or ``Status``) row of the live-channel list."""
        try:
            if self._resync_rows is not None and isinstance(msg, Message) and msg.get("Uniqueid"):
                self._resync_rows.append(msg)
        except Exception:
            log.exception("call tracker: bad resync row %r", msg)

    def add_resync_source(self, rows: Callable[[], Iterable[Message]]) -> None:
        """Another source feeding this tracker (Twilio, :mod:`ivr.twilio`) whose live channels the PBX
        does not list: ``rows()`` gives them as ``CoreShowChannel`` rows at every resync, so they stay."""
        self._resync_sources.append(rows)

    def resync_queue_item(self, msg: Message) -> None:
        """Record one item of ``QueueStatus``: a ``QueueEntry`` (a caller waiting) or a
        ``QueueMember`` (its name names the agent of an adopted call)."""
        if self._resync_rows is None or not isinstance(msg, Message):
            return
        kind = msg.name.lower()
        if kind == "queueentry" and msg.get("Uniqueid"):
            self._resync_queue[msg.get("Uniqueid", "")] = msg
        elif kind == "queuemember" and msg.get("Location") and msg.get("Name"):
            self._resync_members[msg.get("Location", "").lower()] = msg.get("Name", "")

    def end_resync(self) -> None:
        """Reconcile: close calls that vanished, adopt live calls never seen."""
        if self._resync_rows is not None:
            for source in self._resync_sources:
                try:
                    self._resync_rows.extend(source())
                except Exception:
                    log.exception("call tracker: resync source failed")
        rows, self._resync_rows = self._resync_rows, None
        if rows is None:
            return
        try:
            self._reconcile(rows)
        except Exception:
            self.errors += 1
            log.exception("call tracker: resync failed")
        finally:
            self._resync_new = set()
            self._resync_queue = {}
            self._resync_members = {}

    def _reconcile(self, rows: list[Message]) -> None:
        at = _aware(self.clock())
        listed = {r.get("Uniqueid", ""): r for r in rows}
        alive = set(listed) | self._resync_new
        for call in list(self._calls.values()):
            gone = [uid for uid in call.channels if uid not in alive]
            for uid in gone:
                ch = call.channels.pop(uid)
                self._by_uid.pop(ch.uniqueid, None)
                self._remember(uid)
            if not call.channels or (call.citizen in gone):
                self._end(call, at, Disposition.ENDED_DISCONNECTED)
        adopted: dict[str, _Call] = {}
        ages: dict[str, timedelta] = {}
        for row in rows:
            uid = row.get("Uniqueid", "")
            if not uid or uid in self._by_uid or uid in self._ended:
                continue
            lid = row.get("Linkedid") or uid
            call = self._by_linkedid.get(lid)
            if call is None:
                if lid in self._ended:
                    continue
                call = self._new_call(lid, root=lid, at=at)
                call.adopted = True
                adopted[call.snap.call_id] = call
            ch = self._add_channel(call, uid, row.get("Channel", ""), row,
                                   assign=call.snap.call_id not in adopted)
            ch.app = row.get("Application", "") or ""
            ch.seen_exten = True
            age = _duration(row.get("Duration"))
            if age is not None and call.snap.call_id in adopted:
                ages[call.snap.call_id] = max(age, ages.get(call.snap.call_id, age))
        for call_id, call in adopted.items():
            self._assign_citizen(call, fallback=True)
            if call_id in ages:
                call.snap.started_at = at - ages[call_id]
            row = listed.get(call.citizen or "")
            if row is not None:
                call.answered = row.get("ChannelState") == _UP
                self._caller_from(call, row, "")
                self._adopt_state(call, row, [listed[u] for u in call.channels if u in listed], at)
            self._publish_started(call)

    def _adopt_state(self, call: _Call, row: Message, rows: list[Message], at: datetime) -> None:
        """What an adopted call had before the tracker saw it (see the module docstring)."""
        s = call.snap
        variables = row.variables()
        if variables.get("HOTLINE_DIALED"):
            s.dialed = variables["HOTLINE_DIALED"]
        elif s.dialed == "s":
            s.dialed = ""                       # the extension the dialplan runs, not a number
        for name, value in variables.items():
            if name.upper().startswith("HOTLINE_") and value:
                s.variables.setdefault(name, value)
        if call.answered:
            epoch = _float(variables.get("HOTLINE_ANSWERED"))
            answered = datetime.fromtimestamp(epoch, timezone.utc) if epoch else s.started_at
            s.answered_at = answered if answered is not None and answered <= at else s.started_at
            if epoch and s.answered_at is not None and s.started_at is not None:
                # Duration is whole seconds (and read a moment ago); the entry answers at once
                s.started_at = min(s.started_at, s.answered_at)
        app = (row.get("Application") or "").lower()
        bridge = row.get("BridgeId") or ""
        peers = [r for r in rows if bridge and r.get("BridgeId") == bridge and r.get("Uniqueid") != call.citizen]
        peer = max(peers, key=lambda r: _uid_order(r.get("Uniqueid", ""))) if peers else None
        since = at - (_duration(peer.get("Duration")) or timedelta(0)) if peer is not None else at
        entry = self._resync_queue.get(call.citizen or "")
        if entry is not None or app == "queue":
            s.queue = (entry.get("Queue") if entry is not None else "") or variables.get("HOTLINE_QUEUE", "")
            wait = _float(entry.get("Wait")) if entry is not None else None
            # waiting: Wait seconds ago; talking to an agent: no later than the agent answered
            s.queue_joined_at = at - timedelta(seconds=wait) if wait is not None else since
        if peer is None:
            return
        if app == "queue":
            interface = re.sub(r"-[0-9a-f]{8}$", "", peer.get("Channel", "") or "")
            s.agent = self._resync_members.get(interface.lower(), interface)
            s.agent_answered_at = since
            call.served = "agent"
        elif app == "dial":
            code = variables.get("HOTLINE_DISTRICT", "")
            s.transfers.append(Transfer(at=since, target=f"district:{code}" if code else peer.get("Channel", ""),
                                        kind="district_line" if code else "dial", result=TransferResult.ANSWERED,
                                        dial_status="ANSWER", district_code=code))
            call.served = "transferred"

    # -- time -------------------------------------------------------------------
    def _at(self, msg: Message) -> datetime:
        own = message_time(msg, self.pbx_tz)
        return own if own is not None else _aware(self.clock())

    # -- call/channel bookkeeping ---------------------------------------------------
    def _remember(self, key: str) -> None:
        self._ended[key] = None
        self._ended.move_to_end(key)
        while len(self._ended) > self._ended_memory:
            self._ended.popitem(last=False)

    def _new_call(self, call_id: str, *, root: str, at: datetime) -> _Call:
        if self.max_live_calls is not None and len(self._calls) >= self.max_live_calls:
            oldest = next(iter(self._calls.values()))
            log.warning("call tracker: more than %d live calls, dropping %s", self.max_live_calls,
                        oldest.snap.call_id)
            self._end(oldest, at, Disposition.ENDED_DISCONNECTED)
        self._seq += 1
        call = _Call(snap=CallSnapshot(call_id=call_id, started_at=at), root=root, seq=self._seq)
        call.linkedids.add(call_id)
        self._calls[call_id] = call
        self._by_linkedid[call_id] = call
        return call

    def _add_channel(self, call: _Call, uid: str, name: str, msg: Message | None = None,
                     prefix: str = "", *, assign: bool = True) -> _Channel:
        ch = _Channel(uid, name, call)
        if msg is not None:
            ch.context = msg.get(prefix + "Context", "") or ""
            ch.exten = msg.get(prefix + "Exten", "") or ""
        call.channels[uid] = ch
        self._by_uid[uid] = ch
        if self._resync_rows is not None:
            self._resync_new.add(uid)
        if call.citizen is None and assign:
            self._assign_citizen(call)
        for kind, when in self._cel_early.pop(uid, {}).items():
            self._apply_cel(ch, kind, when)
        return ch

    def _assign_citizen(self, call: _Call, *, fallback: bool = False) -> None:
        root = call.channels.get(call.root)
        chosen: _Channel | None = None
        if root is not None and not is_local_one(root.name):
            chosen = root
        elif root is not None:
            sibling = root.name[:-1] + "2"
            chosen = next((c for c in call.channels.values() if c.name == sibling), None)
        elif call.channels:
            # root never seen (tracker started mid-call): oldest channel that is not a ;1 half
            candidates = [c for c in call.channels.values() if not is_local_one(c.name)]
            if candidates:
                chosen = min(candidates, key=lambda c: _uid_order(c.uniqueid))
        if chosen is None and fallback and call.channels:
            chosen = min(call.channels.values(), key=lambda c: _uid_order(c.uniqueid))
        if chosen is not None:
            call.citizen = chosen.uniqueid
            call.snap.channel = chosen.name
            if not call.snap.dialed and chosen.exten:
                call.snap.dialed = chosen.exten

    def _move(self, ch: _Channel, target: _Call, at: datetime) -> None:
        old = ch.call
        old.channels.pop(ch.uniqueid, None)
        ch.call = target
        target.channels[ch.uniqueid] = ch
        if old.citizen == ch.uniqueid or not old.channels:
            self._end(old, at)

    def _follow_linkedid(self, ch: _Channel, lid: str | None, at: datetime) -> None:
        if not lid or lid in ch.call.linkedids:
            return
        other = self._by_linkedid.get(lid)
        if other is None:
            if lid not in self._ended:
                ch.call.linkedids.add(lid)
                self._by_linkedid[lid] = ch.call
        elif other is not ch.call and ch.uniqueid != ch.call.citizen:
            self._move(ch, other, at)

    def _touch(self, msg: Message, prefix: str, at: datetime) -> _Channel | None:
        """Common bookkeeping for any event carrying a channel snapshot."""
        uid = msg.get(prefix + "Uniqueid")
        if not uid:
            return None
        ch = self._by_uid.get(uid)
        if ch is None:
            return None
        self._follow_linkedid(ch, msg.get(prefix + "Linkedid"), at)
        call = ch.call
        if ch.uniqueid == call.citizen:
            self._caller_from(call, msg, prefix)
            self._maybe_started(call)
        return ch

    def _caller_from(self, call: _Call, msg: Message, prefix: str) -> None:
        num = (msg.get(prefix + "CallerIDNum") or "").strip()
        if num.lower() not in UNKNOWN_CID and not call.snap.caller:
            call.snap.caller = num
        nm = (msg.get(prefix + "CallerIDName") or "").strip()
        if nm.lower() not in UNKNOWN_CID and not call.snap.caller_name:
            call.snap.caller_name = nm

    def _channel(self, msg: Message, prefix: str = "") -> _Channel | None:
        uid = msg.get(prefix + "Uniqueid")
        return self._by_uid.get(uid) if uid else None

    def _citizen(self, msg: Message) -> _Channel | None:
        ch = self._channel(msg)
        return ch if ch is not None and ch.uniqueid == ch.call.citizen else None

    # -- publishing -----------------------------------------------------------------
    def _emit_call(self, call: _Call, event: object) -> None:
        """Publish an event of ``call``; its ``CallStarted`` always goes first."""
        self._publish_started(call)
        self._emit(event)

    def _emit(self, event: object) -> None:
        if self.bus is not None:
            try:
                self.bus.publish(event)
            except Exception:
                log.exception("call tracker: bus publish failed")
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("call tracker: on_event failed")

    def _maybe_started(self, call: _Call) -> None:
        if call.started_published or call.citizen is None:
            return
        cit = call.citizen_channel()
        if call.snap.caller or (cit is not None and cit.seen_exten):
            self._publish_started(call)

    def _publish_started(self, call: _Call) -> None:
        if call.started_published:
            return
        call.started_published = True
        s = call.snap
        self._emit(CallStarted(call_id=s.call_id, at=s.started_at or _aware(self.clock()),
                               caller=s.caller, dialed=s.dialed, channel=s.channel,
                               adopted=call.adopted))

    def _add_step(self, call: _Call, step: IvrStep, *, mark: bool = False) -> None:
        """Append a step; a dialplan mark confirming the step just derived from
        ``Newexten`` (same menu and kind) is merged into it instead."""
        path = call.snap.ivr_path
        if mark and path and call.unconfirmed_step:
            last = path[-1]
            if last.menu == step.menu and last.kind == step.kind and (
                    not last.value or not step.value or last.value == step.value):
                last.value = last.value or step.value
                call.unconfirmed_step = False
                return
        call.unconfirmed_step = not mark
        path.append(step)
        self._emit_call(call, MenuChosen(call_id=call.snap.call_id, at=step.at, step=copy.copy(step)))

    def _end(self, call: _Call, at: datetime, disposition: Disposition | None = None) -> None:
        if self._calls.get(call.snap.call_id) is not call:
            return
        s = call.snap
        if s.ended_at is None:
            s.ended_at = at
        if s.hangup_cause is None and call.last_cause is not None:
            s.hangup_cause, s.hangup_cause_text = call.last_cause, call.last_cause_text
        for t in s.transfers:
            if t.result == TransferResult.PENDING:
                t.result = TransferResult.CANCELLED
        s.disposition = disposition or self._disposition(call)
        self._publish_started(call)
        del self._calls[s.call_id]
        for lid in call.linkedids:
            if self._by_linkedid.get(lid) is call:
                del self._by_linkedid[lid]
            self._remember(lid)
        for uid in list(call.channels):
            if self._by_uid.get(uid) is not None and self._by_uid[uid].call is call:
                del self._by_uid[uid]
            self._remember(uid)
        # the call is gone from every index: nothing mutates ``s`` again, so no copy is needed
        self._ended_snapshots[s.call_id] = s
        while len(self._ended_snapshots) > self._ended_snapshot_memory:
            self._ended_snapshots.popitem(last=False)
        self._emit(CallEnded(call_id=s.call_id, at=s.ended_at, snapshot=s))

    @staticmethod
    def _disposition(call: _Call) -> Disposition:
        s = call.snap
        if call.voicemail:
            return Disposition.VOICEMAIL
        if call.served == "agent":
            return Disposition.AGENT
        if call.served == "transferred":
            return Disposition.TRANSFERRED
        if call.self_served:
            return Disposition.SELF_SERVED
        if s.queue_joined_at is not None or s.queue:
            return Disposition.ABANDONED
        if not call.answered:
            return Disposition.FAILED
        attempts = [t for t in s.transfers if t.kind in ("district_line", "dial")]
        if attempts and attempts[-1].result in _FAILED_RESULTS:
            return Disposition.FAILED
        # Only the dialplan's HotlineSelfServed mark says a caller was served by the IVR;
        # a menu choice followed by a hang-up (in a submenu, while a line rings, while keying
        # a ticket number) is an abandonment, or IVR containment would be inflated.
        return Disposition.ABANDONED

    # -- event handlers ---------------------------------------------------------------
    def _on_newchannel(self, msg: Message, at: datetime) -> None:
        uid = msg.get("Uniqueid")
        if not uid or uid in self._by_uid or uid in self._ended:
            return
        lid = msg.get("Linkedid") or uid
        call = self._by_linkedid.get(lid)
        if call is None:
            if lid in self._ended:
                return
            call = self._new_call(lid, root=lid, at=at)
        ch = self._add_channel(call, uid, msg.get("Channel", "") or "", msg)
        if ch.uniqueid == call.citizen:
            self._caller_from(call, msg, "")
            self._maybe_started(call)

    def _on_localbridge(self, msg: Message, at: datetime) -> None:
        one = self._channel(msg, "LocalOne")
        two_uid = msg.get("LocalTwoUniqueid")
        if one is None or not two_uid:
            return
        two = self._by_uid.get(two_uid)
        if two is None and two_uid not in self._ended:
            two = self._add_channel(one.call, two_uid, msg.get("LocalTwoChannel", "") or "", msg,
                                    "LocalTwo")
        elif two is not None and two.call is not one.call and two.uniqueid != two.call.citizen:
            self._move(two, one.call, at)
        if one.call.citizen is None:
            self._assign_citizen(one.call)
        call = one.call
        if call.citizen:
            self._caller_from(call, msg, "LocalTwo" if call.citizen == two_uid else "LocalOne")
            self._maybe_started(call)

    def _on_bridgeenter(self, msg: Message, at: datetime) -> None:
        swap = msg.get("SwapUniqueid")
        uid = msg.get("Uniqueid")
        if not swap or not uid:
            return
        old = self._by_uid.get(swap)
        if old is None:
            return
        call = old.call
        ch = self._by_uid.get(uid)
        if ch is None:
            ch = self._add_channel(call, uid, msg.get("Channel", "") or "", msg)
        elif ch.call is not call and ch.uniqueid != ch.call.citizen:
            self._move(ch, call, at)
        if call.citizen == swap and ch.call is call:
            call.citizen = ch.uniqueid
            call.snap.channel = ch.name

    def _on_newstate(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        if ch is None or msg.get("ChannelState") != _UP:
            return
        call = ch.call
        if call.snap.answered_at is None:
            call.answered = True
            call.snap.answered_at = ch.cel_answer or at
            self._emit_call(call, CallAnswered(call_id=call.snap.call_id, at=at))

    def _on_newexten(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        ctx = msg.get("Context", "") or ""
        exten = msg.get("Exten") or msg.get("Extension") or ""
        app = msg.get("Application", "") or ""
        data = msg.get("AppData", "") or ""
        call = ch.call
        if ch.uniqueid == call.citizen:
            if not call.snap.dialed and exten:
                call.snap.dialed = exten
            if not ch.seen_exten or ctx != ch.context:
                self._add_step(call, IvrStep(at=at, menu=ctx, kind="enter"))
            elif exten != ch.exten:
                if exten == "t":
                    self._add_step(call, IvrStep(at=at, menu=ctx, kind="timeout"))
                elif exten == "i":
                    self._add_step(call, IvrStep(at=at, menu=ctx, kind="invalid"))
                elif _DIGITS.match(exten):
                    self._add_step(call, IvrStep(at=at, menu=ctx, kind="choice", value=exten))
            low = app.lower()
            if low in _AGI_APPS:
                script = data.split(",", 1)[0].strip()
                self._add_step(call, IvrStep(at=at, menu=ctx, kind="agi", value=script))
            elif low in _RECORD_APPS:
                call.voicemail = True
                path = data.split(",", 1)[0].strip()
                if path:
                    self._add_recording(call, path, "message", at)
            elif low in _VOICEMAIL_APPS:
                call.voicemail = True
        ch.context, ch.exten, ch.app, ch.seen_exten = ctx, exten, app, True
        self._maybe_started(call)

    def _on_userevent(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        name = (msg.get("UserEvent") or "").strip()
        low = name.lower()
        if low in _DISTRICT_MARKS:
            code = (msg.get("District") or msg.get("DistrictCode") or "").strip()
            call.pending_district = code or call.pending_district or ""
            return
        if low in _SELF_SERVED_MARKS:
            call.self_served = True
            return
        if low in _MESSAGE_MARKS:
            call.voicemail = True
            path = (msg.get("File") or msg.get("Path") or "").strip()
            if path:
                self._add_recording(call, path, "message", at)
            return
        if not low.startswith("ivr") or len(low) <= 3:
            return
        kind = low[3:]
        if kind == "start":
            kind = "enter"
        menu = (msg.get("Menu") or "").strip() or ch.context or msg.get("Context", "") or ""
        value = ""
        for key in ("Digit", "Choice", "Value", "Keyword", "Text", "Script"):
            v = msg.get(key)
            if v:
                value = v.strip()
                break
        self._add_step(call, IvrStep(at=at, menu=menu, kind=kind, value=value), mark=True)

    def _on_dtmfend(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        if ch is None or (msg.get("Direction") or "").lower() != "received":
            return
        digit = (msg.get("Digit") or "").strip()
        if digit:
            ch.call.snap.digits += digit

    def _on_varset(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        var = (msg.get("Variable") or "").strip()
        value = msg.get("Value") or ""
        upper = var.upper()
        if upper == "MIXMONITOR_FILENAME" and value:
            self._add_recording(call, value, "call", at)
        elif upper == "RECORDED_FILE" and value and ch.uniqueid == call.citizen:
            self._add_recording(call, value, "message", at)
        elif upper.startswith("HOTLINE_") and ch.uniqueid == call.citizen:
            call.snap.variables[var] = value
            if upper == "HOTLINE_DISTRICT" and value:
                call.pending_district = value

    def _add_recording(self, call: _Call, path: str, kind: str, at: datetime) -> None:
        known = call.snap.recordings
        # Record(name.wav) then RECORDED_FILE=name (no extension) is one recording
        if any(p == path or p.startswith(path + ".") or path.startswith(p + ".") for p in known):
            return
        known.append(path)
        self._emit_call(call, Recorded(call_id=call.snap.call_id, at=at, path=path, kind=kind))

    def _is_district(self, msg: Message, ch: _Channel) -> bool:
        """Dialled into a district context, or dialled from one (``district-dial``)."""
        if ch.context.lower() in self.district_contexts:
            return True
        ctx = (msg.get("DestContext") or "").lower()
        ds = (msg.get("DialString") or "").lower()
        for d in self.district_contexts:
            if ctx == d or ds.endswith("@" + d) or ("@" + d + "/") in ds:
                return True
        return False

    def _on_dialbegin(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        dest = msg.get("DestUniqueid")
        if ch is None or not dest:
            return
        call = ch.call
        marked = call.pending_district is not None
        if dest in call.agent_legs:
            return  # Queue() ringing a member (AgentCalled came first): not a transfer
        if ch.app.lower() not in _DIAL_APPS and not marked:
            return  # Queue(), Page(), ...: not a transfer
        code = call.pending_district or ""
        call.pending_district = None
        if marked or self._is_district(msg, ch):
            kind = "district_line"
        else:
            kind = "dial"
        target = f"district:{code}" if code else (msg.get("DialString") or msg.get("DestChannel") or "")
        t = Transfer(at=at, target=target, kind=kind, district_code=code)
        call.snap.transfers.append(t)
        call.dials[dest] = t
        self._publish_started(call)

    def _on_dialend(self, msg: Message, at: datetime) -> None:
        dest = msg.get("DestUniqueid")
        ch = self._channel(msg)
        if ch is None or not dest:
            return
        call = ch.call
        t = call.dials.get(dest)
        status = (msg.get("DialStatus") or "").strip().upper()
        if t is None or status in _DIAL_PROGRESS:
            return
        del call.dials[dest]
        t.dial_status = status
        t.result = _DIAL_RESULTS.get(status, TransferResult.FAILED)
        if t.result == TransferResult.ANSWERED:
            call.served = "transferred"
        elif t.result in _FAILED_RESULTS:
            # a blind/attended transfer into a dialplan that then failed to reach the line
            earlier = call.snap.transfers[:-1] if call.snap.transfers[-1:] == [t] else []
            if call.served == "transferred" and earlier and earlier[-1].kind in ("blind", "attended"):
                call.served = "agent" if call.snap.agent_answered_at else ""
        self._emit_call(call, Transferred(call_id=call.snap.call_id, at=at, transfer=copy.copy(t)))

    def _transfer_call(self, msg: Message, *prefixes: str) -> _Call | None:
        for p in prefixes:
            ch = self._channel(msg, p)
            if ch is not None:
                return ch.call
        for p in prefixes:
            call = self._by_linkedid.get(msg.get(p + "Linkedid") or "")
            if call is not None:
                return call
        return None

    def _on_blindtransfer(self, msg: Message, at: datetime) -> None:
        call = self._transfer_call(msg, "Transferee", "Transferer")
        if call is None:
            return
        result = (msg.get("Result") or "").strip()
        ctx, ext = msg.get("Context") or "", msg.get("Extension") or ""
        target = f"{ext}@{ctx}" if ctx else ext
        t = Transfer(at=at, target=target, kind="blind", dial_status=result,
                     result=TransferResult.ANSWERED if result.lower() == "success"
                     else TransferResult.FAILED)
        self._record_transfer(call, t, at)

    def _on_attendedtransfer(self, msg: Message, at: datetime) -> None:
        call = self._transfer_call(msg, "Transferee", "OrigTransferer", "SecondTransferer")
        if call is None:
            return
        result = (msg.get("Result") or "").strip()
        target = (msg.get("TransferTargetChannel") or msg.get("SecondTransfererConnectedLineNum")
                  or msg.get("DestApp") or msg.get("DestType") or "")
        t = Transfer(at=at, target=target, kind="attended", dial_status=result,
                     result=TransferResult.ANSWERED if result.lower() == "success"
                     else TransferResult.FAILED)
        self._record_transfer(call, t, at)

    def _record_transfer(self, call: _Call, t: Transfer, at: datetime) -> None:
        call.snap.transfers.append(t)
        if t.result == TransferResult.ANSWERED:
            call.served = "transferred"
        self._emit_call(call, Transferred(call_id=call.snap.call_id, at=at, transfer=copy.copy(t)))

    def _on_queuecallerjoin(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        s = call.snap
        s.queue = msg.get("Queue") or ""
        s.queue_joined_at = at
        s.queue_left_at = None
        s.queue_wait_s = None
        call.queue_abandoned = False
        self._emit_call(call, QueueJoined(call_id=s.call_id, at=at, queue=s.queue,
                               position=_int(msg.get("Position"))))

    def _on_queuecallerabandon(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        call.queue_abandoned = True
        hold = _float(msg.get("HoldTime"))
        if hold is not None:
            call.snap.queue_wait_s = hold

    def _on_queuecallerleave(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        s = call.snap
        if not s.queue:
            s.queue = msg.get("Queue") or ""
        s.queue_left_at = at
        if s.queue_wait_s is None and s.queue_joined_at is not None:
            s.queue_wait_s = max(0.0, (at - s.queue_joined_at).total_seconds())
        self._emit_call(call, QueueLeft(call_id=s.call_id, at=at, queue=s.queue, wait_s=s.queue_wait_s,
                             abandoned=call.queue_abandoned))

    def _on_agentcalled(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        dest = msg.get("DestUniqueid")
        if ch is not None and dest:
            ch.call.agent_legs.add(dest)

    def _on_agentconnect(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        s = call.snap
        hold = _float(msg.get("HoldTime"))
        if hold is not None:
            s.queue_wait_s = hold  # Asterisk's own hold time (queue_log CONNECT), as in ASA
        if not s.queue:
            s.queue = msg.get("Queue") or ""
        s.agent = (msg.get("MemberName") or msg.get("Interface") or "").strip()
        s.agent_answered_at = at
        call.served = "agent"
        self._emit_call(call, AgentAnswered(call_id=s.call_id, at=at, queue=s.queue, agent=s.agent,
                                 wait_s=s.queue_wait_s))

    def _on_hangup(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        cause = _int(msg.get("Cause"))
        text = (msg.get("Cause-txt") or "").strip()
        call.channels.pop(ch.uniqueid, None)
        self._by_uid.pop(ch.uniqueid, None)
        self._remember(ch.uniqueid)
        call.last_cause, call.last_cause_text = cause, text
        if ch.uniqueid == call.citizen:
            call.snap.hangup_cause, call.snap.hangup_cause_text = cause, text
            self._end(call, ch.cel_hangup or at)
        elif not call.channels:
            self._end(call, at)

    def _on_cel(self, msg: Message, at: datetime) -> None:
        """CEL records give second-exact PBX times for start, answer and hangup.

        CEL and channel events travel on different Stasis topics, so a CEL record
        may arrive before the ``Newchannel`` of its channel: it is then kept (bounded)
        until the channel appears.
        """
        uid = msg.get("Uniqueid")
        when = message_time(msg, self.pbx_tz)
        kind = (msg.get("EventName") or "").strip().upper()
        if not uid or when is None or kind not in ("CHAN_START", "ANSWER", "HANGUP"):
            return
        if abs((when - _aware(self.clock())).total_seconds()) > self.max_cel_skew:
            if not self._skew_warned:
                self._skew_warned = True
                log.warning("call tracker: CEL EventTime %s is far from the clock %s; CEL times "
                            "ignored (is pbx_tz the PBX's time zone?)", when, self.clock())
            return
        ch = self._by_uid.get(uid)
        if ch is None:
            if uid not in self._ended:
                self._cel_early.setdefault(uid, {})[kind] = when
                self._cel_early.move_to_end(uid)
                while len(self._cel_early) > 1000:
                    self._cel_early.popitem(last=False)
            return
        self._apply_cel(ch, kind, when)

    def _apply_cel(self, ch: _Channel, kind: str, when: datetime) -> None:
        call = ch.call
        if kind == "CHAN_START" and ch.uniqueid == call.root:
            call.snap.started_at = when
        elif kind == "ANSWER":
            ch.cel_answer = when
            if ch.uniqueid == call.citizen and call.snap.answered_at is not None:
                call.snap.answered_at = when
        elif kind == "HANGUP":
            ch.cel_hangup = when
