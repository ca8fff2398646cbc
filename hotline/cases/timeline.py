"""The ticket log's vocabulary: every kind of ``TicketEvent`` and the Chinese label staff see.

Workflow actions (:class:`hotline.cases.workflow.Action`) change a ticket's state; the events
below record what happened to a ticket without a state change, written by the system, the IVR
or an agent. One name per kind: modules that write such an event take its value from here.

Every event is appended here too: :func:`append_event` for one ticket (the caller's transaction),
:class:`EventBatch` for many tickets in one statement (the SLA sweep). Both number the event
after the ticket's last one, so no other module counts ``seq`` by itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.cases.models import TicketEvent
from hotline.cases.workflow import ACTION_LABELS, Action

__all__ = ["LogEvent", "event_label", "SYSTEM_ACTOR", "next_seq", "append_event", "EventBatch"]

SYSTEM_ACTOR = "system"      # the actor of events nobody in particular did (the sweep, a recomputation)
_RETRIES = 5


class LogEvent(str, Enum):
    CREATE = "create"                            # 受理: the ticket's first event
    DEADLINE_RECOMPUTED = "deadline_recomputed"  # a provisional deadline moved (official holidays)
    SLA_WARNING = "sla_warning"                  # 预警
    SLA_OVERDUE = "sla_overdue"                  # 超时
    ESCALATE = "escalate"                        # 催办/督办/通报 (the level's name is in the data)
    CALLBACK_ATTEMPT = "callback_attempt"        # 回访未接通
    TRANSFER_REQUESTED = "transfer_requested"    # an agent asked to transfer the caller
    TRANSFER = "transfer"                        # the result of a transfer to a district line
    TRANSCRIBED = "transcribed"                  # 留言转写: the recording's transcript (or why none)
    PHOTOS = "photos"                            # 上传照片 by the responsible unit (hotline.cases.attachments)

    @property
    def label(self) -> str:
        return LOG_EVENT_LABELS[self]


LOG_EVENT_LABELS = {
    LogEvent.CREATE: "受理",
    LogEvent.DEADLINE_RECOMPUTED: "时限重算",
    LogEvent.SLA_WARNING: "预警",
    LogEvent.SLA_OVERDUE: "超时",
    LogEvent.ESCALATE: "督办",
    LogEvent.CALLBACK_ATTEMPT: "回访未接通",
    LogEvent.TRANSFER_REQUESTED: "申请转接",
    LogEvent.TRANSFER: "转接结果",
    LogEvent.TRANSCRIBED: "留言转写",
    LogEvent.PHOTOS: "上传照片",
}


def event_label(action: str) -> str:
    """The Chinese label of a ticket event's ``action`` (workflow action or log event)."""
    if action in Action._value2member_map_:
        return ACTION_LABELS[Action(action)]
    if action in LogEvent._value2member_map_:
        return LOG_EVENT_LABELS[LogEvent(action)]
    return action


def next_seq(session: Session, ticket_id: int) -> int:
    """The number the ticket's next event gets (one more than its last)."""
    last = session.execute(select(func.max(TicketEvent.seq)).where(TicketEvent.ticket_id == ticket_id)).scalar()
    return (last or 0) + 1


def append_event(session: Session, ticket: Any, *, action: LogEvent | Action | str, at: datetime,
                 actor: str = SYSTEM_ACTOR, actor_id: int | None = None, note: str = "",
                 data: dict[str, Any] | None = None) -> TicketEvent:
    """Append an event that does not change the ticket's state, in the caller's transaction.

    The ticket need not be locked: when another transaction took the same number first, the event
    is renumbered in a savepoint (the unique ``(ticket_id, seq)`` decides), so the caller's
    transaction survives the race.
    """
    action = getattr(action, "value", action)
    for attempt in range(_RETRIES):
        try:
            with session.begin_nested():
                event = TicketEvent(ticket_id=ticket.id, seq=next_seq(session, ticket.id), at=at, actor=actor,
                                    actor_id=actor_id, action=action, from_state=ticket.state,
                                    to_state=ticket.state, note=note, data=data or {})
                session.add(event)
                session.flush()
            return event
        except IntegrityError:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


class EventBatch:
    """System events for many tickets, written in one statement (the SLA sweep's batches).

    The caller holds the tickets (locked on PostgreSQL, the only writer on SQLite); events are
    numbered after each ticket's last one, in the order they are added.
    """

    def __init__(self, session: Session, ticket_ids: Iterable[int]):
        self.session = session
        ids = list(ticket_ids)
        self._seq: dict[int, int] = dict(session.execute(
            select(TicketEvent.ticket_id, func.max(TicketEvent.seq))
            .where(TicketEvent.ticket_id.in_(ids)).group_by(TicketEvent.ticket_id)).all()) if ids else {}
        self._rows: list[dict[str, Any]] = []

    def add(self, ticket_id: int, state: str, *, action: LogEvent, at: datetime, note: str,
            data: dict[str, Any]) -> int:
        """Queue one event; returns its ``seq``."""
        seq = self._seq.get(ticket_id, 0) + 1
        self._seq[ticket_id] = seq
        self._rows.append({"ticket_id": ticket_id, "seq": seq, "at": at, "actor_id": None, "actor": SYSTEM_ACTOR,
                           "action": LogEvent(action).value, "from_state": state, "to_state": state,
                           "note": note, "data": data})
        return seq

    def write(self) -> int:
        """Insert the queued events; returns how many."""
        rows, self._rows = self._rows, []
        if rows:
            self.session.execute(TicketEvent.__table__.insert(), rows)
        return len(rows)
