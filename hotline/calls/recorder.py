"""Persist calls from the event bus and open automatic tickets for unanswered ones.

``CallStarted`` gives a live row; ``CallEnded`` stores the full snapshot and, when the
call qualifies (``flows.auto_ticket_reason``; never an ``internal`` staff leg), creates its ticket. The call and its ticket
are written in separate transactions: a failing ticket never loses the call, and a replay
of the same events retries the ticket without duplicating anything. Database work runs in
a worker thread so the event loop (AMI reader, AGI server) never blocks on it; a database
error is logged and the recorder keeps consuming.

Falling behind: when the bus had to drop events for the recorder (``on_overflow``), or at
start, the recorder resynchronises from the call tracker, the source of truth: every ended
call the tracker still remembers (``ended_snapshots``) whose row is missing or open is
stored from its final snapshot; an open row whose call is neither live nor remembered (a
restart, a very long burst) is closed as ``ended_while_disconnected``; live calls without a
row get one. No call stays open forever.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import tzinfo

from sqlalchemy.orm import Session, sessionmaker

from typing import Protocol

from sqlalchemy import select

from hotline.calls.models import Call
from hotline.calls.service import close_call, get_call, record_call_started, upsert_call
from hotline.cases.flows import auto_ticket_reason, ticket_from_call
from hotline.database import transaction, utcnow
from ivr.bus import EventBus, Subscription
from ivr.events import CallEnded, CallSnapshot, CallStarted, Disposition

log = logging.getLogger(__name__)

__all__ = ["CallRecorder"]


def _chunks(items: list[str], size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class LiveCalls(Protocol):
    """What the recorder asks the call tracker when it resynchronises."""

    def is_live(self, call_id: str) -> bool: ...
    def ended_snapshot(self, call_id: str) -> CallSnapshot | None: ...
    def ended_snapshots(self) -> list[CallSnapshot]: ...
    def live_snapshots(self) -> list[CallSnapshot]: ...


class CallRecorder:
    def __init__(self, sessions: sessionmaker[Session], tz: tzinfo, bus: EventBus, calls: LiveCalls | None = None):
        self.sessions, self.tz, self.bus = sessions, tz, bus
        self.calls = calls
        self.failures = 0  # events whose persistence failed (for health checks and tests)
        self.resyncs = 0
        self._behind = False
        self._subscription: Subscription | None = bus.subscribe(self.handle, CallStarted, CallEnded,
                                                                on_overflow=self._fell_behind)

    def close(self) -> None:
        if self._subscription is not None:
            self.bus.unsubscribe(self._subscription)
            self._subscription = None

    def _fell_behind(self, _sub: Subscription) -> None:
        self._behind = True

    async def handle(self, event: object) -> None:
        try:
            await asyncio.to_thread(self.handle_sync, event)
        except Exception:
            self.failures += 1
            log.exception("call recorder: could not persist %s of call %s",
                          type(event).__name__, getattr(event, "call_id", "?"))
        if self._behind:
            await self.resync()

    def handle_sync(self, event: object) -> None:
        """Persist one event (blocking); raises on database errors."""
        if isinstance(event, CallStarted):
            with transaction(self.sessions) as session:
                record_call_started(session, event)
        elif isinstance(event, CallEnded):
            self._store_ended(event.snapshot, event.at)

    def _store_ended(self, snapshot: CallSnapshot, at) -> None:
        with transaction(self.sessions) as session:
            call = upsert_call(session, snapshot)
            # a staff leg (consult call, pickup) is no citizen's call: the conversation it served has its row
            reason = None if snapshot.disposition is Disposition.INTERNAL else auto_ticket_reason(call)
        if reason is not None:
            with transaction(self.sessions) as session:
                call = get_call(session, snapshot.call_id)
                ticket = ticket_from_call(session, call, reason=reason, at=call.ended_at or at, tz=self.tz)
            log.info("call %s: automatic ticket %s (%s)", call.call_id, ticket.number, reason)

    async def resync(self) -> dict[str, int]:
        """Bring the call rows in line with the tracker (see the module doc); returns counts."""
        self._behind = False
        try:
            counts = await asyncio.to_thread(self.resync_sync)
        except Exception:
            self.failures += 1
            log.exception("call recorder: resync failed")
            return {}
        self.resyncs += 1
        if any(counts.values()):
            log.info("call recorder resynchronised: %s", counts)
        return counts

    def resync_sync(self) -> dict[str, int]:
        counts = {"stored": 0, "closed": 0, "opened": 0}
        if self.calls is None:
            return counts
        remembered = self.calls.ended_snapshots()
        done: set[str] = set()
        for chunk in _chunks([s.call_id for s in remembered], 500):
            with self.sessions() as session:
                done.update(session.execute(select(Call.call_id).where(
                    Call.call_id.in_(chunk), Call.ended_at.is_not(None))).scalars())
        for snapshot in remembered:
            if snapshot.call_id not in done:
                self._store_ended(snapshot, snapshot.ended_at or utcnow())
                counts["stored"] += 1
        with self.sessions() as session:
            open_ids = list(session.execute(select(Call.call_id).where(Call.ended_at.is_(None))).scalars())
        for call_id in open_ids:
            if self.calls.is_live(call_id):
                continue
            with transaction(self.sessions) as session:
                if close_call(session, call_id, utcnow(), Disposition.ENDED_DISCONNECTED.value):
                    counts["closed"] += 1
        stored = set(open_ids)
        for snap in self.calls.live_snapshots():
            if snap.call_id in stored:
                continue
            with transaction(self.sessions) as session:
                if get_call(session, snap.call_id) is None:
                    record_call_started(session, CallStarted(call_id=snap.call_id, at=snap.started_at or utcnow(),
                                                             caller=snap.caller, dialed=snap.dialed,
                                                             channel=snap.channel, adopted=True))
                    counts["opened"] += 1
        return counts
