"""Work lists (待办) of the console, each in tabs with counts: the officers' inbox (我的待办), the
dispatch desk (派遣待办), review (核查结案 and 延期审批) and supervision (督办).

Every list is scoped like the ticket search (:func:`hotline.cases.service.scope_filter`): an
officer's inbox holds only the tickets their unit is responsible for. The tab counts are the
number of rows each tab shows under the same filters (one query for all of them).

Deadline tabs use the SLA sweep's marks on the running stage: 即将超时 = warned (``warned_at``,
set once ``warning_at_percent`` of the allowance is used) and not yet due; 已超时 = past its
``due_at`` (exact, without waiting for the sweep). 待核查返工 = back in progress after 返工: the
running 处置 clock was (re)started by a ``verify_fail``.

The running stage is joined, not looked up per row: the workflow runs one stage at a time (a
transition that starts a stage stops the previous one), so each ticket of a list has at most
one running deadline row. With a thousand open tickets in a district this keeps the inbox to
one pass over them (benchmarks/results/console_pages.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import and_, case, exists, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.service import check_page, scope_filter, ticket_conditions
from hotline.cases.timeline import LogEvent
from hotline.cases.workflow import STAGE_HANDLE, Action, Actor, TicketState

__all__ = [
    "Tab", "QueuePage", "InboxFilter", "INBOX_TABS", "DISPATCH_TABS", "REVIEW_TABS", "SUPERVISE_TABS",
    "inbox", "dispatch_desk", "review", "supervise", "Supervised", "running_deadlines", "latest_events", "RUNNING",
]

S = TicketState
_HANDLING = [S.DISPATCHED.value, S.IN_PROGRESS.value, S.EXTENSION_REQUESTED.value]
_WORKING = [S.IN_PROGRESS.value, S.EXTENSION_REQUESTED.value]


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    count: int


@dataclass
class QueuePage:
    tabs: list[Tab]
    tab: str
    items: list[Any]
    total: int
    page: int
    page_size: int
    deadlines: dict[int, list[TicketDeadline]] = field(default_factory=dict)   # running rows per ticket

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# --- conditions ------------------------------------------------------------------------------

#: The running stage of a listed ticket (outer-joined by every work list: at most one per ticket).
RUNNING = aliased(TicketDeadline, name="running_stage")
_RUNNING_JOIN = and_(RUNNING.ticket_id == Ticket.id, RUNNING.completed_at.is_(None), RUNNING.paused_at.is_(None))


def _warning(now: datetime):
    return and_(RUNNING.warned_at.is_not(None), RUNNING.due_at > now)


def _overdue(now: datetime):
    return RUNNING.due_at <= now


def _rework() -> Any:
    """The running 处置 clock was started by a 返工 (verify_fail restarts it at the event's time)."""
    return and_(RUNNING.stage == STAGE_HANDLE,
                exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.action == Action.VERIFY_FAIL.value,
                               TicketEvent.at >= RUNNING.started_at))


Condition = Callable[[datetime], Any]

INBOX_TABS: dict[str, tuple[str, Condition]] = {
    "accept": ("待签收", lambda now: Ticket.state == S.DISPATCHED.value),
    "handling": ("处理中", lambda now: Ticket.state.in_(_WORKING)),
    "warning": ("即将超时", lambda now: and_(Ticket.state.in_(_HANDLING), _warning(now))),
    "overdue": ("已超时", lambda now: and_(Ticket.state.in_(_HANDLING), _overdue(now))),
    "rework": ("待核查返工", lambda now: and_(Ticket.state.in_(_WORKING), _rework())),
}
DISPATCH_TABS: dict[str, tuple[str, Condition]] = {
    "register": ("待立案", lambda now: and_(Ticket.state == S.RECEIVED.value, Ticket.category_code != "")),
    "dispatch": ("待派遣", lambda now: Ticket.state == S.REGISTERED.value),
    "returned": ("被退回", lambda now: Ticket.state == S.RETURNED.value),
    "complete": ("待补录", lambda now: and_(Ticket.state == S.RECEIVED.value, Ticket.category_code == "")),
}
REVIEW_TABS: dict[str, tuple[str, Condition]] = {
    "verify": ("待核查", lambda now: Ticket.state == S.RESOLVED.value),
    "extension": ("延期审批", lambda now: Ticket.state == S.EXTENSION_REQUESTED.value),
}
_DEADLINE_FILTERS: dict[str, Condition] = {
    "overdue": _overdue,
    "warning": _warning,
    "normal": lambda now: or_(RUNNING.id.is_(None), and_(RUNNING.warned_at.is_(None), RUNNING.due_at > now)),
}


@dataclass(frozen=True)
class InboxFilter:
    """The filters of a work list (all optional): state, category code prefix, street, creation
    time ``created_from`` ≤ t < ``created_before``, deadline light (normal/warning/overdue)."""

    state: str | None = None
    category: str | None = None
    street: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    deadline: str | None = None

    def conditions(self, actor: Actor, now: datetime) -> list[Any]:
        out = ticket_conditions(actor, state=self.state, category_code=self.category, street_code=self.street,
                                created_from=self.created_from, created_before=self.created_before)
        if self.deadline:
            out.append(_DEADLINE_FILTERS[self.deadline](now))
        return out


# --- reads -----------------------------------------------------------------------------------

def running_deadlines(session: Session, ticket_ids: list[int]) -> dict[int, list[TicketDeadline]]:
    """The running deadline rows of these tickets (the lights of a list)."""
    out: dict[int, list[TicketDeadline]] = {}
    if not ticket_ids:
        return out
    for row in session.execute(select(TicketDeadline).where(TicketDeadline.ticket_id.in_(ticket_ids),
                                                            TicketDeadline.completed_at.is_(None))).scalars():
        out.setdefault(row.ticket_id, []).append(row)
    return out


def latest_events(session: Session, ticket_ids: list[int], action: str) -> dict[int, TicketEvent]:
    """The latest event of ``action`` of each ticket (e.g. the extension request under review)."""
    if not ticket_ids:
        return {}
    last = (select(TicketEvent.ticket_id, func.max(TicketEvent.seq).label("seq"))
            .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.action == action)
            .group_by(TicketEvent.ticket_id).subquery())
    rows = session.execute(select(TicketEvent).join(
        last, and_(TicketEvent.ticket_id == last.c.ticket_id, TicketEvent.seq == last.c.seq))).scalars()
    return {e.ticket_id: e for e in rows}


def _tab_counts(session: Session, tabs: dict[str, tuple[str, Condition]], base: list[Any], now: datetime,
                states: list[str]) -> list[Tab]:
    """All tab counts in one query over the rows any tab can hold."""
    columns = [func.coalesce(func.sum(case((condition(now), 1), else_=0)), 0).label(key)
               for key, (_label, condition) in tabs.items()]
    row = session.execute(select(*columns).select_from(Ticket).outerjoin(RUNNING, _RUNNING_JOIN)
                          .where(*base, Ticket.state.in_(states))).one()
    return [Tab(key, label, int(getattr(row, key))) for key, (label, _c) in tabs.items()]


def _work_list(session: Session, actor: Actor, tabs: dict[str, tuple[str, Condition]], tab: str, states: list[str],
               filters: InboxFilter, page: int, page_size: int, now: datetime, order: list[Any]) -> QueuePage:
    check_page(page, page_size)
    if tab not in tabs:
        tab = next(iter(tabs))
    base = filters.conditions(actor, now)
    counts = _tab_counts(session, tabs, base, now, states)
    where = [*base, tabs[tab][1](now)]
    total = next(t.count for t in counts if t.key == tab)
    items = list(session.execute(select(Ticket).outerjoin(RUNNING, _RUNNING_JOIN).where(*where).order_by(*order)
                                 .offset((page - 1) * page_size).limit(page_size)).scalars())
    return QueuePage(counts, tab, items, total, page, page_size, running_deadlines(session, [t.id for t in items]))


def inbox(session: Session, actor: Actor, *, tab: str = "accept", filters: InboxFilter = InboxFilter(),
          page: int = 1, page_size: int = 20, now: datetime) -> QueuePage:
    """我的待办 of a district or department officer: the most urgent deadline first (tickets
    without a running stage last)."""
    return _work_list(session, actor, INBOX_TABS, tab, _HANDLING, filters, page, page_size, now,
                      [RUNNING.due_at.is_(None), RUNNING.due_at, Ticket.id])


def dispatch_desk(session: Session, actor: Actor, *, tab: str = "register", filters: InboxFilter = InboxFilter(),
                  page: int = 1, page_size: int = 20, now: datetime) -> QueuePage:
    """派遣待办: the oldest first."""
    states = [S.RECEIVED.value, S.REGISTERED.value, S.RETURNED.value]
    return _work_list(session, actor, DISPATCH_TABS, tab, states, filters, page, page_size, now,
                      [Ticket.created_at, Ticket.id])


def review(session: Session, actor: Actor, *, tab: str = "verify", filters: InboxFilter = InboxFilter(),
           page: int = 1, page_size: int = 20, now: datetime) -> QueuePage:
    """核查结案 and 延期审批: the longest waiting first."""
    states = [S.RESOLVED.value, S.EXTENSION_REQUESTED.value]
    return _work_list(session, actor, REVIEW_TABS, tab, states, filters, page, page_size, now,
                      [Ticket.updated_at, Ticket.id])


# --- 督办 -------------------------------------------------------------------------------------

SUPERVISE_TABS = {"all": "全部", "overdue": "已超时", "warning": "即将超时"}


@dataclass(frozen=True)
class Supervised:
    """A running stage that is warned or overdue, with the escalation level reached (0 = none)."""

    ticket: Ticket
    deadline: TicketDeadline
    level: int
    level_name: str


def supervise(session: Session, actor: Actor, *, tab: str = "all", page: int = 1, page_size: int = 50,
              now: datetime) -> tuple[list[Tab], str, list[Supervised], int]:
    """督办: running stages warned or overdue, the most overdue first, with the highest escalation
    level the SLA sweep reached in the stage's current overdue episode."""
    check_page(page, page_size)
    if tab not in SUPERVISE_TABS:
        tab = "all"
    running = [TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None)]
    scope = scope_filter(actor)
    if scope is not None:
        running.append(scope)
    overdue = TicketDeadline.due_at <= now
    warning = and_(TicketDeadline.warned_at.is_not(None), TicketDeadline.due_at > now)
    conditions = {"all": or_(overdue, warning), "overdue": overdue, "warning": warning}
    counted = session.execute(
        select(func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
               func.coalesce(func.sum(case((warning, 1), else_=0)), 0))
        .select_from(TicketDeadline).join(Ticket, Ticket.id == TicketDeadline.ticket_id)
        .where(*running, or_(overdue, warning))).one()
    counts = {"overdue": int(counted[0]), "warning": int(counted[1])}
    counts["all"] = counts["overdue"] + counts["warning"]
    tabs = [Tab(key, label, counts[key]) for key, label in SUPERVISE_TABS.items()]
    rows = session.execute(
        select(Ticket, TicketDeadline).join(TicketDeadline, TicketDeadline.ticket_id == Ticket.id)
        .where(*running, conditions[tab] if conditions[tab] is not None else false())
        .order_by(TicketDeadline.due_at, TicketDeadline.id)
        .offset((page - 1) * page_size).limit(page_size)).all()
    levels = _escalation_levels(session, [d for _t, d in rows])
    items = [Supervised(t, d, *levels.get(d.id, (0, ""))) for t, d in rows]
    return tabs, tab, items, counts[tab]


def _escalation_levels(session: Session, rows: list[TicketDeadline]) -> dict[int, tuple[int, str]]:
    """deadline id → (highest level, its name) of the ``escalate`` events of its stage since it
    became overdue."""
    overdue = [r for r in rows if r.overdue_at is not None]
    if not overdue:
        return {}
    events = session.execute(select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.data).where(
        TicketEvent.ticket_id.in_({r.ticket_id for r in overdue}),
        TicketEvent.action == LogEvent.ESCALATE.value)).all()
    out: dict[int, tuple[int, str]] = {}
    for row in overdue:
        best = (0, "")
        for ticket_id, at, data in events:
            if ticket_id != row.ticket_id or at < row.overdue_at or not isinstance(data, dict):
                continue
            if data.get("stage") == row.stage and int(data.get("level") or 0) > best[0]:
                best = (int(data["level"]), str(data.get("name") or ""))
        if best[0]:
            out[row.id] = best
    return out
