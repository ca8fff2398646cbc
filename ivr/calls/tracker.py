"""The tracker core: the live calls and their indexes, event dispatch, publishing and the end of a call.

The tracker consumes AMI ``Message`` events only (it never sends actions) and keeps
one call per conversation, keyed by the Linkedid of the conversation's first
(root) channel (identity rules: :mod:`.channels`). It publishes the domain events of
:mod:`ivr.events` — on an :class:`~ivr.bus.EventBus` and/or to an ``on_event`` callback —
and forgets a call as soon as its ``CallEnded`` has been published. Each AMI event
``Foo`` goes to the ``_on_foo`` handler of one of the family mixins.

Disposition, first rule that holds: internal (a staff leg of another conversation: the
consult call of an attended transfer, see :mod:`.dials`, or a call whose own channel joined an
older live call, as a pickup does, see :mod:`.channels`) → voicemail (``Record``/``VoiceMail`` app or a
message mark) → the last serving outcome, agent (``AgentConnect``) or transferred
(an answered district/dial transfer, a successful blind/attended transfer) →
self-served mark → abandoned if it joined a queue → failed if never answered →
failed if the last transfer attempt failed → abandoned (a menu choice alone is not
self-service: only the dialplan's mark says the IVR served the caller). A blind/attended
transfer whose line then fails does not count.

Subscribers that fall behind: the tracker keeps the final snapshots of the last
``ended_snapshots`` calls (:meth:`CallTracker.ended_snapshot`), so a subscriber whose
``CallEnded`` was dropped by the bus can still store the call (see :mod:`ivr.bus`).
``max_live_calls`` caps live calls: the oldest is ended as ``ended_while_disconnected``.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from datetime import datetime, timezone, tzinfo
from typing import Callable, Iterable

from ..ami.messages import Message
from ..bus import EventBus
from ..events import CallEnded, CallSnapshot, CallStarted, Disposition, TransferResult
from .channels import ChannelEvents
from .compat import unsupported_reason
from .dials import DialEvents
from .ivr_events import IvrEvents
from .queues import QueueEvents
from .resync import Resync
from .state import FAILED_RESULTS, UNKNOWN_CID, Call, Channel, is_local_one, uid_order
from .times import CelTimes, aware, message_time, utc_now

log = logging.getLogger("ivr.calls")

# list items of action responses and accounting events: never channel activity
_NOT_CHANNEL_EVENTS = {
    "cdr", "coreshowchannel", "status", "queueentry", "queuemember",
    "queueparams", "originateresponse", "channelhungup",
}


class CallTracker(ChannelEvents, DialEvents, QueueEvents, IvrEvents, CelTimes, Resync):
    """Maintains live calls from AMI events; see :mod:`ivr.calls` for the rules."""

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
        self.clock = clock or utc_now
        self.pbx_tz = pbx_tz
        self.district_contexts = {c.lower() for c in district_contexts}
        self.max_live_calls = max_live_calls
        self._calls: dict[str, Call] = {}            # call_id -> call, oldest first
        self._by_linkedid: dict[str, Call] = {}
        self._by_uid: dict[str, Channel] = {}
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
        self._newexten_seen = False                     # on this AMI connection (begin_resync starts one)
        self.newexten_missing = False                   # a Dial() came without Newexten: no 'dialplan' class
        self.refused: str | None = None                 # why this PBX is not followed (check_banner)

    # -- public API -------------------------------------------------------------
    def feed(self, msg: Message) -> None:
        """Apply one AMI message. Never raises."""
        try:
            if self.refused or not isinstance(msg, Message) or not msg.is_event:
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

    def check_banner(self, banner: str | None) -> bool:
        """Follow the PBX behind this AMI banner, or refuse it (AMI 1, Asterisk 11 or older: see
        :mod:`.compat`): a refused tracker drops its live calls, logs why and ignores every event
        until a banner it fits."""
        reason = unsupported_reason(banner)
        if reason is None:
            self.refused = None
            return True
        if reason != self.refused:
            log.error("call tracker: %s", reason)
        self.refused = reason
        self._calls.clear()
        self._by_linkedid.clear()
        self._by_uid.clear()
        return False

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

    # -- time -------------------------------------------------------------------
    def _at(self, msg: Message) -> datetime:
        own = message_time(msg, self.pbx_tz)
        return own if own is not None else aware(self.clock())

    # -- call/channel bookkeeping ---------------------------------------------------
    def _remember(self, key: str) -> None:
        self._ended[key] = None
        self._ended.move_to_end(key)
        while len(self._ended) > self._ended_memory:
            self._ended.popitem(last=False)

    def _new_call(self, call_id: str, *, root: str, at: datetime) -> Call:
        if self.max_live_calls is not None and len(self._calls) >= self.max_live_calls:
            oldest = next(iter(self._calls.values()))
            log.warning("call tracker: more than %d live calls, dropping %s", self.max_live_calls,
                        oldest.snap.call_id)
            self._end(oldest, at, Disposition.ENDED_DISCONNECTED)
        self._seq += 1
        call = Call(snap=CallSnapshot(call_id=call_id, started_at=at), root=root, seq=self._seq)
        call.linkedids.add(call_id)
        self._calls[call_id] = call
        self._by_linkedid[call_id] = call
        return call

    def _add_channel(self, call: Call, uid: str, name: str, msg: Message | None = None,
                     prefix: str = "", *, assign: bool = True) -> Channel:
        ch = Channel(uid, name, call)
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

    def _assign_citizen(self, call: Call, *, fallback: bool = False) -> None:
        root = call.channels.get(call.root)
        chosen: Channel | None = None
        if root is not None and not is_local_one(root.name):
            chosen = root
        elif root is not None:
            sibling = root.name[:-1] + "2"
            chosen = next((c for c in call.channels.values() if c.name == sibling), None)
        elif call.channels:
            # root never seen (tracker started mid-call): oldest channel that is not a ;1 half
            candidates = [c for c in call.channels.values() if not is_local_one(c.name)]
            if candidates:
                chosen = min(candidates, key=lambda c: uid_order(c.uniqueid))
        if chosen is None and fallback and call.channels:
            chosen = min(call.channels.values(), key=lambda c: uid_order(c.uniqueid))
        if chosen is not None:
            call.citizen = chosen.uniqueid
            call.snap.channel = chosen.name
            if not call.snap.dialed and chosen.exten:
                call.snap.dialed = chosen.exten

    def _move(self, ch: Channel, target: Call, at: datetime) -> None:
        old = ch.call
        old.channels.pop(ch.uniqueid, None)
        ch.call = target
        target.channels[ch.uniqueid] = ch
        if old.citizen == ch.uniqueid or not old.channels:
            self._end(old, at)

    def _follow_linkedid(self, ch: Channel, lid: str | None, at: datetime) -> None:
        if not lid or lid in ch.call.linkedids:
            return
        other = self._by_linkedid.get(lid)
        if other is None:
            if lid not in self._ended:
                ch.call.linkedids.add(lid)
                self._by_linkedid[lid] = ch.call
        elif other is not ch.call:
            if ch.uniqueid == ch.call.citizen:
                # a citizen channel joined an older live conversation (a pickup of its ringing call):
                # its own call was only a staff leg of that one
                ch.call.internal = True
            self._move(ch, other, at)

    def _touch(self, msg: Message, prefix: str, at: datetime) -> Channel | None:
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

    def _caller_from(self, call: Call, msg: Message, prefix: str) -> None:
        num = (msg.get(prefix + "CallerIDNum") or "").strip()
        if num.lower() not in UNKNOWN_CID and not call.snap.caller:
            call.snap.caller = num
        nm = (msg.get(prefix + "CallerIDName") or "").strip()
        if nm.lower() not in UNKNOWN_CID and not call.snap.caller_name:
            call.snap.caller_name = nm

    def _channel(self, msg: Message, prefix: str = "") -> Channel | None:
        uid = msg.get(prefix + "Uniqueid")
        return self._by_uid.get(uid) if uid else None

    def _citizen(self, msg: Message) -> Channel | None:
        ch = self._channel(msg)
        return ch if ch is not None and ch.uniqueid == ch.call.citizen else None

    # -- publishing -----------------------------------------------------------------
    def _emit_call(self, call: Call, event: object) -> None:
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

    def _maybe_started(self, call: Call) -> None:
        if call.started_published or call.citizen is None:
            return
        cit = call.citizen_channel()
        if call.snap.caller or (cit is not None and cit.seen_exten):
            self._publish_started(call)

    def _publish_started(self, call: Call) -> None:
        if call.started_published:
            return
        call.started_published = True
        s = call.snap
        self._emit(CallStarted(call_id=s.call_id, at=s.started_at or aware(self.clock()),
                               caller=s.caller, dialed=s.dialed, channel=s.channel,
                               adopted=call.adopted))

    def _end(self, call: Call, at: datetime, disposition: Disposition | None = None) -> None:
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
    def _disposition(call: Call) -> Disposition:
        s = call.snap
        if call.internal:
            return Disposition.INTERNAL
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
        if attempts and attempts[-1].result in FAILED_RESULTS:
            return Disposition.FAILED
        # Only the dialplan's HotlineSelfServed mark says a caller was served by the IVR;
        # a menu choice followed by a hang-up (in a submenu, while a line rings, while keying
        # a ticket number) is an abandonment, or IVR containment would be inflated.
        return Disposition.ABANDONED
