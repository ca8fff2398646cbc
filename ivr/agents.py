"""Agent board: queue member events in, one :class:`AgentSnapshot` per agent seat out.

A seat is a queue member interface (``PJSIP/agent-1101``); an agent signs it into one or more
queues (``QueueAdd``), pauses it (``QueuePause`` with a reason: 示忙) and signs it out
(``QueueRemove``). The board follows what Asterisk reports, so the console, the wallboard and
Asterisk agree whoever changed the state (the console, a phone's feature code, an operator
on the CLI):

* membership and pause: ``QueueMemberAdded`` / ``QueueMemberRemoved`` / ``QueueMemberPause``
  / ``QueueMemberStatus`` (``Paused``, ``PausedReason``, ``InCall``);
* calls: ``AgentCalled`` (振铃, the call id of the ringing call), ``AgentRingNoAnswer`` /
  ``AgentDump`` (ringing ended), ``AgentConnect`` (通话中), ``AgentComplete`` (the call ended:
  话后整理 for the queue's ``wrapuptime``, during which app_queue offers the seat no call).

State, first rule that holds: member of no queue → 未签入; a connected call → 通话中; a ringing
call → 振铃; paused in every queue → 示忙 (话后整理 when the reason is the wrap-up reason, as the
console pauses a seat to extend wrap-up); inside the wrap-up window → 话后整理; else 签入空闲.
Each change publishes :class:`~ivr.events.AgentStateChanged`. The end of a wrap-up window has
no AMI event: :meth:`AgentBoard.expire` (called every second by :meth:`run_timer`) notices it.

After every (re)connect the controller rebuilds the board from ``QueueStatus``
(:meth:`AgentBoard.resync`): seats that left a queue meanwhile are signed out, new ones appear.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping

from .ami.messages import Message
from .bus import EventBus
from .events import AgentSnapshot, AgentState, AgentStateChanged

log = logging.getLogger(__name__)

__all__ = ["AgentBoard", "WRAP_UP_REASON"]

#: Pause reason the console uses for wrap-up beyond the queue's wrapuptime (话后整理).
WRAP_UP_REASON = "话后整理"

_RINGING_STATUS = {"6", "7"}       # AST_DEVICE_RINGING, AST_DEVICE_RINGINUSE


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


@dataclass
class _Membership:
    paused: bool = False
    reason: str = ""


@dataclass(eq=False)
class _Seat:
    interface: str
    name: str = ""
    queues: dict[str, _Membership] = field(default_factory=dict)
    ringing_call: str = ""
    connected_call: str = ""
    in_call: bool = False
    wrap_up_until: datetime | None = None
    calls_taken: int = 0
    state: AgentState = AgentState.LOGGED_OUT
    since: datetime | None = None
    published: AgentSnapshot | None = None      # what the last AgentStateChanged said


class AgentBoard:
    """Agent seats from queue events; see the module docstring.

    ``call_id_for(uniqueid)`` maps the caller's channel to its call id (the call tracker's);
    ``wrapup_seconds`` is each queue's ``wrapuptime`` (``queues.conf``).
    """

    #: The AMI events the board reads.
    EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberPaused",
              "QueueMemberStatus", "AgentCalled", "AgentRingNoAnswer", "AgentDump", "AgentConnect",
              "AgentComplete")

    def __init__(self, bus: EventBus | None = None, *, on_event: Callable[[object], None] | None = None,
                 clock: Callable[[], datetime] | None = None,
                 call_id_for: Callable[[str], str | None] | None = None,
                 wrapup_seconds: Mapping[str, float] | None = None, wrap_up_reason: str = WRAP_UP_REASON):
        self.bus = bus
        self.on_event = on_event
        self.clock = clock or _utc_now
        self.call_id_for = call_id_for or (lambda _uid: None)
        self.wrapup_seconds = dict(wrapup_seconds or {})
        self.wrap_up_reason = wrap_up_reason
        self._seats: dict[str, _Seat] = {}          # interface (lower case) → seat
        self.errors = 0

    # -- queries -------------------------------------------------------------------------
    def snapshot(self, interface: str) -> AgentSnapshot:
        seat = self._seats.get(interface.lower())
        return self._snap(seat) if seat else AgentSnapshot(interface=interface)

    def snapshots(self) -> list[AgentSnapshot]:
        """Every seat the board has seen, signed in first, then by interface."""
        seats = sorted(self._seats.values(), key=lambda s: (s.state is AgentState.LOGGED_OUT, s.interface))
        return [self._snap(s) for s in seats]

    def _snap(self, seat: _Seat) -> AgentSnapshot:
        paused = [m for m in seat.queues.values() if m.paused]
        return AgentSnapshot(
            interface=seat.interface, name=seat.name, state=seat.state, since=seat.since,
            queues=tuple(sorted(seat.queues)), pause_reason=paused[0].reason if paused else "",
            call_id=seat.connected_call or seat.ringing_call, calls_taken=seat.calls_taken,
            wrap_up_until=seat.wrap_up_until)

    # -- events --------------------------------------------------------------------------
    def feed(self, msg: Message) -> None:
        """Apply one AMI message. Never raises."""
        try:
            if not isinstance(msg, Message) or not msg.is_event:
                return
            handler = getattr(self, "_on_" + msg.name.strip().lower(), None)
            if handler is not None:
                handler(msg, self._now())
        except Exception:  # odd input must never take the AMI reader down
            self.errors += 1
            log.exception("agent board: failed on %r", msg)

    def _now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=timezone.utc)

    def _seat(self, msg: Message, *keys: str) -> _Seat | None:
        for key in keys or ("Interface",):
            interface = (msg.get(key) or "").strip()
            if interface:
                seat = self._seats.get(interface.lower())
                if seat is None:
                    seat = self._seats[interface.lower()] = _Seat(interface)
                return seat
        return None

    def _member(self, msg: Message, at: datetime, *keys: str) -> None:
        """Membership and pause from a member event (Added / Pause / Status)."""
        seat = self._seat(msg, *keys)
        queue = (msg.get("Queue") or "").strip()
        if seat is None or not queue:
            return
        name = (msg.get("MemberName") or msg.get("Name") or "").strip()
        if name:
            seat.name = name
        member = seat.queues.setdefault(queue, _Membership())
        if msg.get("Paused") is not None:
            member.paused = _flag(msg.get("Paused"))
            member.reason = (msg.get("PausedReason") or msg.get("Reason") or "").strip() if member.paused else ""
        if msg.get("CallsTaken"):
            try:
                seat.calls_taken = max(seat.calls_taken, int(msg.get("CallsTaken")))
            except ValueError:
                pass
        status = (msg.get("Status") or "").strip()
        if status and status not in _RINGING_STATUS and seat.ringing_call and not seat.connected_call:
            seat.ringing_call = ""          # the device stopped ringing
        if msg.get("InCall") is not None:
            if _flag(msg.get("InCall")):
                seat.in_call = True
            elif seat.in_call or seat.connected_call:
                self._complete(seat, queue, at)
        self._update(seat, at)

    _on_queuememberadded = _member
    _on_queuememberpause = _member
    _on_queuememberstatus = _member
    _on_queuememberpaused = _member      # Asterisk 11 name of QueueMemberPause

    def _on_queuememberremoved(self, msg: Message, at: datetime) -> None:
        seat = self._seat(msg)
        if seat is None:
            return
        seat.queues.pop((msg.get("Queue") or "").strip(), None)
        if not seat.queues:
            seat.ringing_call = seat.connected_call = ""
            seat.in_call = False
            seat.wrap_up_until = None
        self._update(seat, at)

    def _call_id(self, msg: Message) -> str:
        uid = (msg.get("Uniqueid") or "").strip()
        return self.call_id_for(uid) or (msg.get("Linkedid") or uid).strip()

    def _on_agentcalled(self, msg: Message, at: datetime) -> None:
        seat = self._seat(msg)
        if seat is None:
            return
        seat.ringing_call = self._call_id(msg)
        self._update(seat, at)

    def _ring_ended(self, msg: Message, at: datetime) -> None:
        seat = self._seat(msg)
        if seat is None:
            return
        seat.ringing_call = ""
        self._update(seat, at)

    _on_agentringnoanswer = _ring_ended
    _on_agentdump = _ring_ended

    def _on_agentconnect(self, msg: Message, at: datetime) -> None:
        seat = self._seat(msg)
        if seat is None:
            return
        seat.connected_call = self._call_id(msg)
        seat.in_call = True
        seat.ringing_call = ""
        seat.wrap_up_until = None
        self._update(seat, at)

    def _on_agentcomplete(self, msg: Message, at: datetime) -> None:
        seat = self._seat(msg)
        if seat is None:
            return
        self._complete(seat, (msg.get("Queue") or "").strip(), at)
        self._update(seat, at)

    def _complete(self, seat: _Seat, queue: str, at: datetime) -> None:
        if not seat.connected_call and not seat.in_call:
            return
        seat.connected_call = ""
        seat.in_call = False
        seat.calls_taken += 1
        wrap = float(self.wrapup_seconds.get(queue, 0) or 0)
        seat.wrap_up_until = at + timedelta(seconds=wrap) if wrap > 0 else None

    # -- state -----------------------------------------------------------------------------
    def _derive(self, seat: _Seat, at: datetime) -> AgentState:
        if not seat.queues:
            return AgentState.LOGGED_OUT
        if seat.connected_call or seat.in_call:
            return AgentState.ON_CALL
        if seat.ringing_call:
            return AgentState.RINGING
        if all(m.paused for m in seat.queues.values()):
            reasons = {m.reason for m in seat.queues.values()}
            return AgentState.WRAP_UP if reasons == {self.wrap_up_reason} else AgentState.PAUSED
        if seat.wrap_up_until is not None and at < seat.wrap_up_until:
            return AgentState.WRAP_UP
        seat.wrap_up_until = None
        return AgentState.IDLE

    def _update(self, seat: _Seat, at: datetime) -> None:
        state = self._derive(seat, at)
        if state is not seat.state:
            seat.state, seat.since = state, at
        after = self._snap(seat)
        if after != seat.published:
            seat.published = after
            self._emit(AgentStateChanged(at=at, agent=replace(after)))

    def _emit(self, event: AgentStateChanged) -> None:
        if self.on_event is not None:
            self.on_event(event)
        if self.bus is not None:
            self.bus.publish(event)

    def expire(self, now: datetime | None = None) -> None:
        """Seats whose wrap-up window has ended become idle (no AMI event says so)."""
        at = now or self._now()
        for seat in list(self._seats.values()):
            if seat.wrap_up_until is not None and at >= seat.wrap_up_until:
                self._update(seat, at)

    async def run_timer(self, interval: float = 1.0) -> None:
        """``expire`` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.expire()
            except Exception:
                self.errors += 1
                log.exception("agent board: expire failed")

    # -- resync ----------------------------------------------------------------------------
    def resync(self, items: Iterable[Message]) -> None:
        """Rebuild memberships from ``QueueStatus`` ``QueueMember`` items (after a reconnect)."""
        at = self._now()
        listed: dict[str, dict[str, Message]] = {}
        for item in items:
            if not isinstance(item, Message) or item.name.strip().lower() != "queuemember":
                continue
            interface = (item.get("Location") or item.get("Interface") or "").strip()
            queue = (item.get("Queue") or "").strip()
            if interface and queue:
                listed.setdefault(interface.lower(), {})[queue] = item
        for key, seat in list(self._seats.items()):
            if key not in listed:
                seat.queues.clear()
                seat.ringing_call = seat.connected_call = ""
                seat.in_call = False
                seat.wrap_up_until = None
                self._update(seat, at)
        for key, queues in listed.items():
            seat = self._seats.get(key)
            if seat is None:
                first = next(iter(queues.values()))
                seat = self._seats[key] = _Seat((first.get("Location") or first.get("Interface")).strip())
            for queue in list(seat.queues):
                if queue not in queues:
                    del seat.queues[queue]
            in_call = False
            for queue, item in queues.items():
                member = seat.queues.setdefault(queue, _Membership())
                seat.name = (item.get("Name") or item.get("MemberName") or seat.name).strip()
                member.paused = _flag(item.get("Paused"))
                member.reason = (item.get("PausedReason") or "").strip() if member.paused else ""
                in_call = in_call or _flag(item.get("InCall"))
            seat.in_call = in_call
            if not in_call:
                seat.connected_call = ""
            self._update(seat, at)

    def __len__(self) -> int:
        return len(self._seats)
