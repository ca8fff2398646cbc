"""Stage deadline rows of tickets (``TicketDeadline``): start, stop, extend and recompute.

One row per stage of a ticket (签收, 处置, 核查, 回访); the database is the source of truth for
deadlines (design §6). A deadline computed across a year whose holiday schedule is only
estimated is stored as ``provisional`` (预计). :func:`recompute_provisional` recomputes those
rows once the calendar knows the official schedule (a ``holidays`` upgrade, or the operator's
entries in ``routing_rules.yaml``): ``hotline sla recompute`` runs it, and the scheduler's
leader runs it on its first sweep after every start. Each change is logged as a
``deadline_recomputed`` ticket event; a deadline that has already passed never moves, and a
recomputed deadline never lands in the past (decision 0007).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.timeline import LogEvent, append_event
from hotline.cases.workflow import STAGE_HANDLE, Action
from hotline.sla import Stage, WorkCalendar, compute_deadline
from hotline.times import iso

__all__ = [
    "Recomputed", "StagePolicy",
    "start_stage", "stop_stage", "extend_handle_stage", "recompute_provisional",
]

#: Ticket event of a deadline moved by the official holiday schedule (a system event, not a
#: workflow action: the state does not change).

StagePolicy = Callable[[Ticket, str], "Stage | None"]


def deadline_row(session: Session, ticket_id: int, stage: str) -> TicketDeadline | None:
    return session.execute(select(TicketDeadline).where(
        TicketDeadline.ticket_id == ticket_id, TicketDeadline.stage == stage)).scalar_one_or_none()


def stop_stage(session: Session, ticket: Ticket, stage: str, at: datetime) -> dict | None:
    row = deadline_row(session, ticket.id, stage)
    if row is None or row.completed_at is not None:
        return None
    row.completed_at = at
    return {"stage": stage, "completed_at": iso(at), "due_at": iso(row.due_at),
            "overdue": at > row.due_at}


def start_stage(session: Session, ticket: Ticket, stage_name: str, at: datetime,
                stage_policy: StagePolicy, calendar: WorkCalendar) -> dict | None:
    stage = stage_policy(ticket, stage_name)
    if stage is None:
        return None
    if not isinstance(stage, Stage):
        raise TypeError(f"stage_policy must return a hotline.sla.Stage or None, got {stage!r}")
    due = compute_deadline(at, stage, calendar)
    provisional = calendar.depends_on_estimate(at, due)
    row = deadline_row(session, ticket.id, stage_name)
    if row is None:
        row = TicketDeadline(ticket_id=ticket.id, stage=stage_name)
        session.add(row)
    row.amount, row.unit = float(stage.amount), stage.unit.value
    row.started_at, row.due_at, row.provisional = at, due, provisional
    row.paused_at = row.completed_at = row.warned_at = row.overdue_at = None
    out = {"stage": stage_name, "amount": stage.amount, "unit": stage.unit.value,
           "started_at": iso(at), "due_at": iso(due)}
    if provisional:
        out["provisional"] = True
    return out


def _latest_extension_request(session: Session, ticket_id: int) -> TicketEvent | None:
    return session.execute(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                  TicketEvent.action == Action.REQUEST_EXTENSION.value)
        .order_by(TicketEvent.seq.desc()).limit(1)).scalar_one_or_none()


def extend_handle_stage(session: Session, ticket: Ticket, calendar: WorkCalendar) -> dict | None:
    """Move the 处置 deadline by the duration of the latest extension request."""
    request = _latest_extension_request(session, ticket.id)
    row = deadline_row(session, ticket.id, STAGE_HANDLE)
    if request is None or row is None or row.completed_at is not None:
        return None
    duration, unit = request.data.get("duration"), request.data.get("unit")
    if duration is None or unit is None:
        return None
    old_due = row.due_at
    row.due_at = compute_deadline(old_due, Stage(STAGE_HANDLE, duration, unit), calendar)
    row.provisional = calendar.depends_on_estimate(row.started_at, row.due_at)
    row.warned_at = row.overdue_at = None
    out = {"stage": STAGE_HANDLE, "extended_by": duration, "unit": unit,
           "previous_due_at": iso(old_due), "due_at": iso(row.due_at)}
    if row.provisional:
        out["provisional"] = True
    return out


# --- recompute ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Recomputed:
    """One provisional deadline looked at by :func:`recompute_provisional`."""

    ticket_number: str
    stage: str
    previous_due_at: datetime
    due_at: datetime           # equal to previous_due_at when it did not move
    provisional: bool          # still depends on an estimated year
    why: str                   # moved / unchanged / passed / would_be_past / busy


def _replayed_due(session: Session, row: TicketDeadline, calendar: WorkCalendar) -> datetime:
    """The deadline as ``calendar`` computes it now: the stage from its start, then every
    extension approved since, in order (the amounts stored with the approval events)."""
    due = compute_deadline(row.started_at, Stage(row.stage, row.amount, row.unit), calendar)
    if row.stage != STAGE_HANDLE:
        return due
    approvals = session.execute(
        select(TicketEvent.data).where(TicketEvent.ticket_id == row.ticket_id,
                                       TicketEvent.action == Action.APPROVE_EXTENSION.value,
                                       TicketEvent.at >= row.started_at)
        .order_by(TicketEvent.seq)).scalars()
    for data in approvals:
        for change in (data or {}).get("deadlines", ()):
            if change.get("stage") == STAGE_HANDLE and change.get("extended_by") is not None:
                due = compute_deadline(due, Stage(STAGE_HANDLE, change["extended_by"], change["unit"]), calendar)
    return due


def _fmt(moment: datetime, calendar: WorkCalendar) -> str:
    return moment.astimezone(calendar.tz).strftime("%Y-%m-%d %H:%M")


def recompute_provisional(session: Session, calendar: WorkCalendar, now: datetime,
                          *, limit: int | None = None) -> list[Recomputed]:
    """Recompute every open provisional deadline on ``calendar`` (in the caller's transaction).

    * passed already (``due_at <= now``): never moved; it stops being provisional;
    * recomputed into the past: not moved (the officer was given the later one);
    * otherwise the new deadline is stored, with ``provisional`` as the calendar now says,
      and a ``deadline_recomputed`` event is appended when it moved.
    On PostgreSQL the ticket row is locked first (``FOR UPDATE SKIP LOCKED``, the order
    workflow actions use); a ticket being changed right now is left for the next run.
    """
    stmt = (select(TicketDeadline).where(TicketDeadline.provisional.is_(True),
                                         TicketDeadline.completed_at.is_(None))
            .order_by(TicketDeadline.ticket_id, TicketDeadline.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = list(session.execute(stmt).scalars())
    postgres = session.get_bind().dialect.name == "postgresql"
    out: list[Recomputed] = []
    for row in rows:
        ticket_q = select(Ticket).where(Ticket.id == row.ticket_id)
        if postgres:
            ticket_q = ticket_q.with_for_update(skip_locked=True)
        ticket = session.execute(ticket_q).scalar_one_or_none()
        if ticket is None:    # locked by a workflow action in progress: the next run takes it
            out.append(Recomputed("", row.stage, row.due_at, row.due_at, True, "busy"))
            continue
        session.refresh(row)
        if not row.provisional or row.completed_at is not None:
            continue
        old = row.due_at
        if old <= now:
            row.provisional = False
            out.append(Recomputed(ticket.number, row.stage, old, old, False, "passed"))
            continue
        new = _replayed_due(session, row, calendar)
        still = calendar.depends_on_estimate(row.started_at, new)
        if new == old:
            row.provisional = still
            out.append(Recomputed(ticket.number, row.stage, old, old, still, "unchanged"))
            continue
        if new <= now:
            row.provisional = False
            out.append(Recomputed(ticket.number, row.stage, old, old, False, "would_be_past"))
            continue
        row.due_at, row.provisional = new, still
        if new > old and row.warned_at is not None:
            row.warned_at = None    # the warning belonged to the earlier deadline
        label = "预计" if still else "正式"
        append_event(
            session, ticket, action=LogEvent.DEADLINE_RECOMPUTED, at=now,
            note=(f"节假日安排更新，{row.stage}时限按{label}日历重算：{_fmt(old, calendar)} → {_fmt(new, calendar)}"),
            data={"deadlines": [{"stage": row.stage, "previous_due_at": iso(old), "due_at": iso(new),
                                 "provisional": still}]})
        out.append(Recomputed(ticket.number, row.stage, old, new, still, "moved"))
    session.flush()
    return out


def provisional_summary(results: list[Recomputed]) -> dict[str, Any]:
    """Counts by outcome, for logs and the command line."""
    summary: dict[str, Any] = {"looked_at": len(results)}
    for r in results:
        summary[r.why] = summary.get(r.why, 0) + 1
    summary["still_provisional"] = sum(1 for r in results if r.provisional)
    return summary
