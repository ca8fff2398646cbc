"""Satisfaction callbacks (回访) after closure: the agents' task list and recording results.

When a ticket is closed (``verify_pass``), the workflow starts the 回访 stage; its deadline
row (``TicketDeadline`` stage ``回访``) comes from the stage policy — the ticket's time-limit
set, or ``rules.callbacks.due`` (next working day by default) through
:func:`callback_stage_policy`. Practice is "回访 the day after 办结": a callback is *due* from
the start of the local day its deadline falls on, and *overdue* after the deadline (the SLA
sweep then warns and escalates it like any other stage).

The result is the workflow's ``callback`` action (:func:`record_callback`, through
:func:`hotline.cases.service.perform`): satisfied / basically satisfied / dissatisfied; a
dissatisfied result notifies the supervisor and lets an agent or dispatcher reopen (重办).
A call that does not reach the citizen is recorded with :func:`record_attempt` (an append-only
``callback_attempt`` event); after ``rules.callbacks.max_attempts`` the task is shown as
exhausted so a supervisor can decide.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.cases.errors import NotFound
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.service import perform
from hotline.cases.timeline import LogEvent, append_event
from hotline.cases.workflow import STAGE_CALLBACK, Action, Actor, TicketState
from hotline.sla import Stage, WorkCalendar

__all__ = ["CallbackTask", "callback_stage_policy", "due_callbacks", "record_attempt",
           "record_callback"]



@dataclass(frozen=True)
class CallbackTask:
    ticket_id: int
    number: str
    caller_number: str
    caller_name: str
    category_name: str
    closed_at: _dt.datetime        # when the 回访 stage started (结案)
    due_at: _dt.datetime           # the 回访 deadline
    overdue: bool
    attempts: int                  # unanswered calls recorded since closure
    exhausted: bool                # attempts ≥ max_attempts
    version: int                   # for perform(expected_version=…)


def callback_stage_policy(stage_policy: Callable[[Any, str], Stage | None], rules) -> Callable[[Any, str], Stage | None]:
    """``stage_policy`` with ``rules.callbacks.due`` as the 回访 limit when the ticket's set has none."""
    due = rules.callbacks.due

    def policy(ticket: Any, stage_name: str) -> Stage | None:
        stage = stage_policy(ticket, stage_name)
        if stage is None and stage_name == STAGE_CALLBACK:
            if due.unit.value == "working_days":
                return Stage(STAGE_CALLBACK, int(due.amount), due.unit.value)
            if due.amount > 0:
                return Stage(STAGE_CALLBACK, float(due.amount), due.unit.value)
        return stage

    return policy


def _day_after(now: _dt.datetime, calendar: WorkCalendar) -> _dt.datetime:
    local = now.astimezone(calendar.tz).date() + _dt.timedelta(days=1)
    return _dt.datetime.combine(local, _dt.time(0), calendar.tz)


def due_callbacks(session: Session, now: _dt.datetime, *, calendar: WorkCalendar | None = None,
                  max_attempts: int = 3, include_upcoming: bool = False, limit: int = 200) -> list[CallbackTask]:
    """Closed tickets whose 回访 is due today or earlier (``include_upcoming``: all open ones), oldest first."""
    if not isinstance(now, _dt.datetime) or now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError("limit must be an integer between 1 and 1000")
    calendar = calendar or WorkCalendar()
    attempts = (select(func.count()).where(
        TicketEvent.ticket_id == TicketDeadline.ticket_id, TicketEvent.action == LogEvent.CALLBACK_ATTEMPT.value,
        TicketEvent.at >= TicketDeadline.started_at).correlate(TicketDeadline).scalar_subquery())
    stmt = (select(Ticket, TicketDeadline, attempts.label("attempts"))
            .join(TicketDeadline, TicketDeadline.ticket_id == Ticket.id)
            .where(TicketDeadline.stage == STAGE_CALLBACK, TicketDeadline.completed_at.is_(None),
                   Ticket.state == TicketState.CLOSED.value)
            .order_by(TicketDeadline.started_at, Ticket.id).limit(limit))
    if not include_upcoming:
        stmt = stmt.where(TicketDeadline.due_at < _day_after(now, calendar))
    return [CallbackTask(
        ticket_id=t.id, number=t.number, caller_number=t.caller_number, caller_name=t.caller_name,
        category_name=t.category_name, closed_at=d.started_at, due_at=d.due_at, overdue=now > d.due_at,
        attempts=n, exhausted=n >= max_attempts, version=t.version,
    ) for t, d, n in session.execute(stmt).all()]


def record_callback(session: Session, ticket_id: int, actor: Actor, *, satisfaction: str, at: _dt.datetime,
                    stage_policy, calendar: WorkCalendar | None = None, note: str = "",
                    expected_version: int | None = None) -> Ticket:
    """Record the citizen's answer (the workflow's ``callback`` action); see ``perform`` for errors."""
    payload = {"satisfaction": satisfaction}
    if note:
        payload["note"] = note
    return perform(session, ticket_id, Action.CALLBACK, actor, payload, at=at, expected_version=expected_version,
                   stage_policy=stage_policy, calendar=calendar)


def record_attempt(session: Session, ticket_id: int, actor: Actor, *, at: _dt.datetime, note: str = "") -> int:
    """Append a ``callback_attempt`` event (未接通) to a closed ticket; returns the attempts so far."""
    if not isinstance(at, _dt.datetime) or at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ticket = session.execute(stmt).scalar_one_or_none()
    if ticket is None:
        raise NotFound(ticket_id)
    row = session.execute(select(TicketDeadline).where(
        TicketDeadline.ticket_id == ticket_id, TicketDeadline.stage == STAGE_CALLBACK,
        TicketDeadline.completed_at.is_(None))).scalar_one_or_none()
    if ticket.state != TicketState.CLOSED.value or row is None:
        raise ValueError(f"工单{ticket.number}当前没有待办的回访(no callback pending)")
    label = f"{actor.role.value}:{actor.user_id}" if actor.user_id is not None else actor.role.value
    append_event(session, ticket, action=LogEvent.CALLBACK_ATTEMPT, at=at, actor=label, actor_id=actor.user_id,
                 note=(note or "回访未接通").strip()[:500], data={"stage": STAGE_CALLBACK})
    return session.execute(select(func.count()).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.action == LogEvent.CALLBACK_ATTEMPT.value,
        TicketEvent.at >= row.started_at)).scalar_one()
