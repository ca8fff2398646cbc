"""“Today so far” for the live wallboard: cheap enough to run every few seconds.

Call figures come straight from the calls table (today's calls only: an index range on
``started_at``), so they include calls that ended a moment ago; ticket counts come from the
ticket state and the running deadlines (partial index ``ix_ticket_deadlines_running_due``).
The wallboard page and the agent states are the lead's; these functions only count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hotline.cases.models import Ticket, TicketDeadline
from hotline.metrics.call_tally import CallFigures, CallThresholds, CallTally
from hotline.metrics.models import OPEN_TICKETS
from hotline.metrics.rollups import call_rows
from hotline.times import iso

__all__ = ["Today", "today_so_far", "calls_today", "tickets_now", "start_of_day"]

_OPEN = text(f"tickets.{OPEN_TICKETS}")     # literal, so the partial index ix_tickets_open serves it


@dataclass(frozen=True)
class Today:
    as_of: datetime
    calls: CallFigures                          # every queue (and calls that never queued)
    queues: dict[str, CallFigures]              # per queue id ("" = never queued)
    open_tickets: int
    overdue_tickets: int                        # open tickets with a running stage past its deadline
    overdue_by_stage: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        def figures(f: CallFigures) -> dict:
            return {"offered": f.offered, "answered": f.answered, "abandoned": f.abandoned,
                    "short_abandoned": f.short_abandoned, "calls": f.calls, "answer_rate": f.answer_rate,
                    "service_level": f.service_level, "asa": f.asa, "max_wait": f.max_wait, "aht": f.aht}
        return {"as_of": iso(self.as_of), "calls": figures(self.calls),
                "queues": {q: figures(f) for q, f in self.queues.items() if q},
                "tickets": {"open": self.open_tickets, "overdue": self.overdue_tickets,
                            "overdue_by_stage": dict(self.overdue_by_stage)}}


def start_of_day(now: datetime, tz: ZoneInfo | None = None) -> datetime:
    local = now.astimezone(tz) if tz else now
    return datetime.combine(local.date(), time(0), local.tzinfo)


def calls_today(session: Session, now: datetime, thresholds: CallThresholds,
                tz: ZoneInfo | None = None) -> tuple[CallFigures, dict[str, CallFigures]]:
    """Today's call figures (local day of ``now``), in total and per queue."""
    per_queue = CallTally(thresholds).add_all(call_rows(session, start_of_day(now, tz), now)).per_queue()
    return (CallFigures.of(per_queue, thresholds),
            {queue: CallFigures.of({queue: counts}, thresholds) for queue, counts in per_queue.items()})


def tickets_now(session: Session, now: datetime) -> tuple[int, int, dict[str, int]]:
    """Open tickets, open tickets overdue now, and overdue running stages per stage name."""
    open_count = session.execute(select(func.count()).select_from(Ticket)
                                 .where(_OPEN)).scalar_one()
    running = (TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None),
               TicketDeadline.due_at < now)
    per_stage = dict(session.execute(
        select(TicketDeadline.stage, func.count()).join(Ticket, Ticket.id == TicketDeadline.ticket_id)
        .where(*running, _OPEN).group_by(TicketDeadline.stage)).all())
    overdue = session.execute(select(func.count(func.distinct(TicketDeadline.ticket_id)))
                              .join(Ticket, Ticket.id == TicketDeadline.ticket_id)
                              .where(*running, _OPEN)).scalar_one()
    return open_count, overdue, per_stage


def today_so_far(session: Session, now: datetime, thresholds: CallThresholds, tz: ZoneInfo | None = None) -> Today:
    total, queues = calls_today(session, now, thresholds, tz)
    open_count, overdue, per_stage = tickets_now(session, now)
    return Today(now, total, queues, open_count, overdue, per_stage)
