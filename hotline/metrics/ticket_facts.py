"""One ticket's closed-loop facts, read from its append-only event log (pure: no SQL, no clock).

Metrics are computed from event timestamps, never from the mutable state alone (design §3):
when a ticket was registered, first dispatched, first accepted, first fed back (处置完成) and
first closed (核查通过), how often it was reworked, returned, extended and reopened — and the
deadline each step was judged against, as the workflow recorded it in the event that stopped the
stage clock (``data["deadlines"]``: ``{"stage", "due_at", "completed_at", "overdue"}``).

Attribution to a period (civic-research §1.7 "应结案 = due within period"): a case counts as
*应处置* at ``handle_ref_at`` — its first feedback when that was on time, else its 处置 deadline —
so every case is counted once, in the period where its disposal was due or done early, and
only once that moment has passed. The same holds for 结案 with ``close_ref_at``. A ticket voided
or merged before that step never becomes due for it.

Which deadline: 处置 — the deadline of the stage cycle the first feedback stopped (an approved
extension moved it already); before any feedback, the ticket's current 处置 deadline row.
结案 — the 核查 deadline when the ticket's time-limit set has one, else the 处置 deadline:
a case closes on time when it is verified and closed by the time its disposal was due.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, NamedTuple

from hotline.cases.workflow import (
    STAGE_ACCEPT, STAGE_HANDLE, STAGE_VERIFY, TERMINAL_STATES, Action, TicketState,
)

__all__ = ["TicketRow", "EventRow", "DeadlineRow", "Facts", "ticket_facts", "INTAKE_OUTCOMES"]

#: The first decision on a received ticket (受理 → …) and what the intake figures call it.
INTAKE_OUTCOMES = {
    Action.REGISTER.value: "registered",
    Action.REJECT.value: "rejected",
    Action.ANSWER_DIRECTLY.value: "answered",
    Action.MERGE.value: "merged",
    Action.VOID.value: "voided",
}
_ENDED_WITHOUT_WORK = frozenset(s.value for s in TERMINAL_STATES)   # rejected, answered, merged, voided


class TicketRow(NamedTuple):
    id: int
    created_at: datetime
    channel: str
    category_code: str
    category_name: str
    district_code: str | None
    street_code: str | None
    department_code: str | None
    state: str


class EventRow(NamedTuple):
    id: int
    seq: int
    at: datetime
    action: str
    from_state: str | None
    data: Mapping[str, Any] | None


class DeadlineRow(NamedTuple):
    stage: str
    due_at: datetime
    completed_at: datetime | None


@dataclass
class Facts:
    """The columns of ``metrics_ticket_facts``."""

    ticket_id: int
    channel: str
    category_code: str
    category_name: str
    district_code: str | None
    street_code: str | None
    department_code: str | None
    state: str
    created_at: datetime
    intake: str = "pending"
    registered_at: datetime | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    accept_due_at: datetime | None = None
    handled_at: datetime | None = None
    handle_due_at: datetime | None = None
    handle_ref_at: datetime | None = None
    closed_at: datetime | None = None
    close_due_at: datetime | None = None
    close_ref_at: datetime | None = None
    first_callback_at: datetime | None = None
    rework_count: int = 0
    return_count: int = 0
    extension_count: int = 0
    reopen_count: int = 0
    intake_s: float | None = None
    accept_s: float | None = None
    handle_s: float | None = None
    verify_s: float | None = None
    callback_s: float | None = None
    total_s: float | None = None
    last_event_id: int = 0

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _stopped_due(event: EventRow, stage: str) -> datetime | None:
    """The deadline the event's stop of ``stage`` was judged against."""
    for change in (event.data or {}).get("deadlines", ()) or ():
        if isinstance(change, Mapping) and change.get("stage") == stage and "completed_at" in change:
            due = change.get("due_at")
            return datetime.fromisoformat(due) if isinstance(due, str) else None
    return None


def _span(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def _reference(done_at: datetime | None, due_at: datetime | None, ended_without: bool) -> datetime | None:
    """When a step counts as due: done on time → when done; else its deadline."""
    if done_at is not None:
        return done_at if due_at is None or done_at <= due_at else due_at
    if due_at is None or ended_without:
        return None
    return due_at


def ticket_facts(ticket: TicketRow, events: Iterable[EventRow], deadlines: Iterable[DeadlineRow]) -> Facts:
    """The facts of ``ticket`` from its events (any order; replayed by ``seq``) and its deadline rows."""
    f = Facts(ticket_id=ticket.id, channel=ticket.channel or "", category_code=ticket.category_code or "",
              category_name=ticket.category_name or "", district_code=ticket.district_code,
              street_code=ticket.street_code, department_code=ticket.department_code, state=ticket.state,
              created_at=ticket.created_at)
    verify_due: datetime | None = None
    for e in sorted(events, key=lambda e: e.seq):
        f.last_event_id = max(f.last_event_id, e.id)
        a = e.action
        if f.intake == "pending" and e.from_state == TicketState.RECEIVED.value and a in INTAKE_OUTCOMES:
            f.intake = INTAKE_OUTCOMES[a]
        if a == Action.REGISTER.value and f.registered_at is None:
            f.registered_at = e.at
        elif a == Action.DISPATCH.value and f.dispatched_at is None:
            f.dispatched_at = e.at
        elif a == Action.ACCEPT.value and f.accepted_at is None:
            f.accepted_at, f.accept_due_at = e.at, _stopped_due(e, STAGE_ACCEPT)
        elif a == Action.FEEDBACK.value and f.handled_at is None:
            f.handled_at, f.handle_due_at = e.at, _stopped_due(e, STAGE_HANDLE)
        elif a == Action.VERIFY_PASS.value and f.closed_at is None:
            f.closed_at, verify_due = e.at, _stopped_due(e, STAGE_VERIFY)
        elif a == Action.CALLBACK.value and f.first_callback_at is None:
            f.first_callback_at = e.at
        if a == Action.VERIFY_FAIL.value:
            f.rework_count += 1
        elif a == Action.RETURN.value:
            f.return_count += 1
        elif a == Action.APPROVE_EXTENSION.value:
            f.extension_count += 1
        elif a == Action.REOPEN.value:
            f.reopen_count += 1

    rows = {d.stage: d for d in deadlines}
    if f.handled_at is None and STAGE_HANDLE in rows:
        f.handle_due_at = rows[STAGE_HANDLE].due_at
    if f.closed_at is None:
        running_verify = rows.get(STAGE_VERIFY)
        if running_verify is not None and running_verify.completed_at is None:
            verify_due = running_verify.due_at
    f.close_due_at = verify_due or f.handle_due_at

    ended_without = f.state in _ENDED_WITHOUT_WORK
    f.handle_ref_at = _reference(f.handled_at, f.handle_due_at, ended_without)
    f.close_ref_at = _reference(f.closed_at, f.close_due_at, ended_without)

    f.intake_s = _span(f.registered_at, f.created_at)
    f.accept_s = _span(f.accepted_at, f.dispatched_at)
    f.handle_s = _span(f.handled_at, f.accepted_at)
    f.verify_s = _span(f.closed_at, f.handled_at)
    f.callback_s = _span(f.first_callback_at, f.closed_at)
    f.total_s = _span(f.closed_at, f.created_at)
    return f
