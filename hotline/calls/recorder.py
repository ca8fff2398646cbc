"""Persist calls from the event bus and open automatic tickets for unanswered ones.

``CallStarted`` gives a live row; ``CallEnded`` stores the full snapshot and, when the
call qualifies (``flows.auto_ticket_reason``), creates its ticket. The call and its ticket
are written in separate transactions: a failing ticket never loses the call, and a replay
of the same events retries the ticket without duplicating anything. Database work runs in
a worker thread so the event loop (AMI reader, AGI server) never blocks on it; a database
error is logged and the recorder keeps consuming.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import tzinfo

from sqlalchemy.orm import Session, sessionmaker

from hotline.calls.service import get_call, record_call_started, upsert_call
from hotline.cases.flows import auto_ticket_reason, ticket_from_call
from hotline.database import transaction
from ivr.bus import EventBus, Subscription
from ivr.events import CallEnded, CallStarted

log = logging.getLogger(__name__)

__all__ = ["CallRecorder"]


class CallRecorder:
    def __init__(self, sessions: sessionmaker[Session], tz: tzinfo, bus: EventBus):
        self.sessions, self.tz, self.bus = sessions, tz, bus
        self.failures = 0  # events whose persistence failed (for health checks and tests)
        self._subscription: Subscription | None = bus.subscribe(self.handle, CallStarted, CallEnded)

    def close(self) -> None:
        if self._subscription is not None:
            self.bus.unsubscribe(self._subscription)
            self._subscription = None

    async def handle(self, event: object) -> None:
        try:
            await asyncio.to_thread(self.handle_sync, event)
        except Exception:
            self.failures += 1
            log.exception("call recorder: could not persist %s of call %s",
                          type(event).__name__, getattr(event, "call_id", "?"))

    def handle_sync(self, event: object) -> None:
        """Persist one event (blocking); raises on database errors."""
        if isinstance(event, CallStarted):
            with transaction(self.sessions) as session:
                record_call_started(session, event)
        elif isinstance(event, CallEnded):
            with transaction(self.sessions) as session:
                reason = auto_ticket_reason(upsert_call(session, event.snapshot))
            if reason is not None:
                with transaction(self.sessions) as session:
                    call = get_call(session, event.snapshot.call_id)
                    at = call.ended_at or event.at
                    ticket = ticket_from_call(session, call, reason=reason, at=at, tz=self.tz)
                log.info("call %s: automatic ticket %s (%s)", call.call_id, ticket.number, reason)
