"""Console notices within moments of the action that caused them, whatever the scheduler's
interval: the case service marks the session (:func:`deliver_after_commit`) when it writes
internal notification rows for a ticket; once that transaction has committed, the
:class:`NoticeDelivery` installed on the session factory hands the ticket ids to its own thread,
which resolves their pending rows (:meth:`NotificationFlows.resolve_pending`) and pushes each new
notice to its recipient's open pages (``notice`` live event with the unread count). The request
never waits for it; the scheduler leader's tick stays the safety net for anything missed (a crash
between the commit and the delivery), and rows are resolved once whoever gets there first.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from hotline.notify.console import NoticeOut, unread_counts

log = logging.getLogger(__name__)

__all__ = ["NoticeDelivery", "deliver_after_commit", "publish_notices"]

_PENDING = "hotline_notice_tickets"


def deliver_after_commit(session: Session, ticket_id: int) -> None:
    """Ask for the ticket's internal rows to be delivered once ``session`` commits (a rollback
    forgets the request)."""
    session.info.setdefault(_PENDING, set()).add(ticket_id)


def publish_notices(live: Any, read_sessions: sessionmaker[Session], notices: list[NoticeOut]) -> None:
    """Push each notice to its recipient (``notice`` event with the new unread count)."""
    from hotline.web.live import Audience, LiveEvent   # web imports domains; this edge is the other way

    with read_sessions() as s:
        counts = unread_counts(s, (n.user_id for n in notices))
    for n in notices:
        live.publish(LiveEvent("notice", {"id": n.id, "title": n.title, "body": n.body, "ticket": n.ticket_number,
                                          "unread": counts.get(n.user_id, 0)}, Audience.users(n.user_id)))


class NoticeDelivery:
    """Resolves the tickets' notifications after commit, on one background thread."""

    def __init__(self, sessions: sessionmaker[Session], flows: Any):
        self.sessions = sessions
        self.flows = flows
        self.delivered = 0
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._busy = 0
        self._closed = False
        # after_commit also fires when a savepoint is released (before the data is visible to
        # others): act when the outermost transaction ends; a real rollback forgets the request first
        event.listen(sessions, "after_transaction_end", self._after_transaction_end)
        event.listen(sessions, "after_rollback", self._after_rollback)

    def _after_transaction_end(self, session: Session, transaction) -> None:
        if transaction.parent is not None or transaction.nested:
            return
        ticket_ids = session.info.pop(_PENDING, None)
        if ticket_ids and not self._closed:
            for ticket_id in ticket_ids:
                self.submit(ticket_id)

    def _after_rollback(self, session: Session) -> None:      # the real rollback, not a savepoint's
        session.info.pop(_PENDING, None)

    def submit(self, ticket_id: int) -> None:
        with self._idle:
            self._busy += 1
        self._queue.put(ticket_id)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="notice-delivery", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            ticket_ids, taken = {first}, 1
            while True:                       # everything queued meanwhile goes in one pass
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                ticket_ids.add(more)
                taken += 1
            try:
                report = self.flows.resolve_pending(self.sessions, ticket_ids=sorted(ticket_ids))
                self.delivered += report.notices
            except Exception:
                log.exception("delivering notices of tickets %s failed; the scheduler will retry",
                              sorted(ticket_ids))
            with self._idle:
                self._busy -= taken
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10) -> bool:
        """Wait until everything submitted has been delivered (tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy <= 0, timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        event.remove(self.sessions, "after_transaction_end", self._after_transaction_end)
        event.remove(self.sessions, "after_rollback", self._after_rollback)
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
