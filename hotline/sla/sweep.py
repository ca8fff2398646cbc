"""The SLA sweep: warnings (预警), overdue marks and escalations (催办/督办/通报) from the
deadline rows (design §6: the database is the source of truth; jobs only sweep it).

``sweep(session, now=…, rules=…, calendar=…)`` looks at open ``TicketDeadline`` rows
(not completed, not paused) and, for each row whose time has come:

* **warning** — once ``rules.sla.warning_at_percent`` of the stage's allowance is used
  (working time for working-hour/working-day stages, elapsed time for natural hours),
  ``warned_at`` is set and a ``sla_warning`` event (预警) is appended;
* **overdue** — once ``now`` is past ``due_at``, ``overdue_at`` is set; every escalation
  level of ``rules.sla.escalation`` whose ``after_deadline`` has passed appends one
  ``escalate`` event (data: stage, level, name, due_at, notified targets). A level with
  nothing reached yet leaves an ``sla_overdue`` event (超时) when the row is marked.

The sweep owns the deadline marks; what it writes into other domains goes through their
services: the ticket log through :class:`hotline.cases.timeline.EventBatch` (numbered like every
other event), and the notices through :func:`hotline.notify.service.internal_rows` /
:func:`~hotline.notify.service.add_outbox` (the rows a workflow action writes, resolved to
people by :mod:`hotline.notify.flows`). Targets come from roles: department officer → ``responsible``,
district officer → ``district``, dispatcher/supervisor/admin/agent → that role, and
``department:<code>`` for ``notify_departments``.

Exactly once: a batch's marks, events and outbox rows are written in one transaction
(set-based: a handful of statements per batch), behind conditional updates
(``… WHERE warned_at IS NULL … RETURNING id``) and, for later levels, a re-read of the
event log after the lock (the log is the record of which levels fired in the
current overdue episode: ``escalate`` events of the stage at or after ``overdue_at``). On
PostgreSQL the ticket row is locked first with ``FOR UPDATE SKIP LOCKED`` (the order
:func:`hotline.cases.service.perform` uses), so a concurrent sweeper or a workflow action
in progress makes the sweep skip that ticket until the next run. On SQLite writers are
serialised (``BEGIN IMMEDIATE``). Batches commit as they go; a crash loses at most the
uncommitted batch, which the next run redoes.

Efficiency: candidates are found by ``due_at`` range queries, never by loading every open
row. A warning can only be due for a row whose deadline lies within the remaining share
(100 % − warning %) of the largest allowance a stage of its unit and amount can have; that
horizon is computed per run for each configured (unit, amount) and the gaps between them
(amounts above the largest configured one are checked without a horizon), so 20-working-day
stages do not widen the range scanned for 1-day ones. The queries are ordered like an
index on ``(unit, amount, due_at)`` over the unwarned open rows, which then serves each one
exactly (benchmarks/results/sla_sweep.md). Stages whose deadline an approved extension
moved have a larger allowance than their amount says; they are found through their
``approve_extension`` event and checked exactly. Candidates are pre-checked in Python
(integer microseconds of working time, cached per day) before anything is locked.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, exists, literal, select, tuple_, update
from sqlalchemy.orm import Session

from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.timeline import EventBatch, LogEvent
from hotline.cases.workflow import Action
from hotline.notify.service import add_outbox, internal_rows, notice_context
from hotline.sla.calendar import CalendarNotCovered, WorkCalendar
from hotline.users.roles import Role
from hotline.times import iso

log = logging.getLogger(__name__)

__all__ = [
    "ACTION_WARNING", "ACTION_OVERDUE", "ACTION_ESCALATE",
    "Level", "SweepPolicy", "SweepReport", "WorkTime", "sweep", "role_target",
]

ACTION_WARNING = LogEvent.SLA_WARNING.value
ACTION_OVERDUE = LogEvent.SLA_OVERDUE.value
ACTION_ESCALATE = LogEvent.ESCALATE.value
ACTION_EXTENSION_APPROVED = Action.APPROVE_EXTENSION.value

_NATURAL, _WORKING_HOURS, _WORKING_DAYS = "natural_hours", "working_hours", "working_days"

# Role → internal notification target (resolved by hotline.notify.flows).
_ROLE_TARGETS = {
    Role.DEPARTMENT_OFFICER: "responsible",
    Role.DISTRICT_OFFICER: "district",
    Role.DISPATCHER: "dispatcher",
    Role.SUPERVISOR: "supervisor",
    Role.ADMIN: "admin",
    Role.AGENT: "agent",
}


def role_target(role: Role | str) -> str:
    """The internal notification target for a role of the rules."""
    return _ROLE_TARGETS[Role(role)]


def _targets(roles: Iterable[Role], departments: Iterable[str] = ()) -> tuple[str, ...]:
    out = [role_target(r) for r in roles] + [f"department:{code}" for code in departments]
    return tuple(dict.fromkeys(out))


# --- policy from the rules ------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    level: int
    name: str                 # 催办, 督办, 通报
    amount: float             # after the deadline
    unit: str
    targets: tuple[str, ...]
    sms: bool

    def moment(self, due: _dt.datetime, calendar: WorkCalendar) -> _dt.datetime:
        """When this level is reached for a stage due at ``due`` (amount 0 = at the deadline)."""
        if not self.amount:
            return due
        if self.unit == _NATURAL:
            return calendar.add_natural_hours(due, self.amount)
        if self.unit == _WORKING_HOURS:
            return calendar.add_working_hours(due, self.amount)
        return calendar.add_working_days(due, int(self.amount))

    def min_delay(self) -> _dt.timedelta:
        """A lower bound of ``moment(due) - due`` in elapsed time (for an indexed range query)."""
        if not self.amount:
            return _dt.timedelta(0)
        if self.unit == _WORKING_DAYS:
            # close of business of the n-th following working day ≥ the same clock time n-1 days later
            return _dt.timedelta(days=max(int(self.amount) - 1, 0))
        return _dt.timedelta(hours=self.amount)


@dataclass(frozen=True)
class SweepPolicy:
    warning_percent: int
    warning_targets: tuple[str, ...]
    levels: tuple[Level, ...]
    # (unit, amount, largest allowance) of every stage the rules configure: the warning
    # horizon is computed per group, so long stages do not widen the range of short ones
    groups: tuple[tuple[str, float, _dt.timedelta], ...]
    max_working: _dt.timedelta      # largest working-time allowance of a configured stage
    max_natural: _dt.timedelta      # largest natural-hours allowance

    @classmethod
    def from_rules(cls, rules, calendar: WorkCalendar, *,
                   extra_allowance: _dt.timedelta = _dt.timedelta(0)) -> "SweepPolicy":
        sla = rules.sla
        day = sum(((_dt.datetime.combine(_dt.date(2000, 1, 1), e) - _dt.datetime.combine(_dt.date(2000, 1, 1), s))
                   for s, e in calendar.office_hours), _dt.timedelta(0))
        groups: dict[tuple[str, float], _dt.timedelta] = {}

        def add(unit: str, amount: float) -> None:
            if unit == _WORKING_DAYS:   # the start day's remainder plus n full days
                allowance = day * (int(amount) + 1)
            else:
                allowance = _dt.timedelta(hours=amount)
            groups[(unit, float(amount))] = allowance + extra_allowance

        for limit_set in rules.time_limits.values():
            for stages in (limit_set.normal, limit_set.high or (), limit_set.urgent or ()):
                for stage in stages:
                    add(stage.unit.value, stage.amount)
        add(rules.callbacks.due.unit.value, rules.callbacks.due.amount)
        max_working = max([a for (u, _), a in groups.items() if u != _NATURAL], default=_dt.timedelta(0))
        max_natural = max([a for (u, _), a in groups.items() if u == _NATURAL], default=_dt.timedelta(0))
        levels = tuple(sorted((
            Level(e.level, e.name, float(e.after_deadline.amount), e.after_deadline.unit.value,
                  _targets(e.notify_roles, e.notify_departments), e.sms)
            for e in sla.escalation), key=lambda lv: lv.level))
        return cls(sla.warning_at_percent, _targets(sla.warning_notify_roles), levels,
                   tuple((u, a, allowance) for (u, a), allowance in sorted(groups.items())),
                   max_working, max_natural)


# --- fast working time ------------------------------------------------------------------------

_US = _dt.timedelta(microseconds=1)


class WorkTime:
    """Working time between moments in integer microseconds, with per-day caching.

    The same definition as :meth:`WorkCalendar.working_time_between` (office periods of
    working days), but each day's periods are computed once per instance, so checking many
    rows in one sweep costs a few dictionary look-ups per row.
    """

    def __init__(self, calendar: WorkCalendar):
        self.calendar = calendar
        self._days: dict[_dt.date, tuple[tuple[_dt.datetime, _dt.datetime], ...]] = {}
        self._totals: dict[_dt.date, int] = {}

    def _periods(self, day: _dt.date):
        periods = self._days.get(day)
        if periods is None:
            periods = tuple(self.calendar.office_periods(day))
            self._days[day] = periods
            self._totals[day] = sum((e - s) // _US for s, e in periods)
        return periods

    def between(self, a: _dt.datetime, b: _dt.datetime) -> int:
        """Office time from ``a`` to ``b`` in microseconds (0 when ``b`` ≤ ``a``)."""
        if b <= a:
            return 0
        tz = self.calendar.tz
        a, b = a.astimezone(tz), b.astimezone(tz)
        first, last = a.date(), b.date()
        total = 0
        day = first
        while day <= last:
            periods = self._periods(day)
            if first < day < last:
                total += self._totals[day]
            else:
                for s, e in periods:
                    lo, hi = max(s, a), min(e, b)
                    if lo < hi:
                        total += (hi - lo) // _US
            day += _dt.timedelta(days=1)
        return total


# --- report -----------------------------------------------------------------------------------

@dataclass
class SweepReport:
    now: _dt.datetime
    candidates: int = 0          # rows looked at (found by the range queries)
    warned: int = 0
    overdue: int = 0
    escalations: dict[int, int] = field(default_factory=dict)   # level → events appended
    notifications: int = 0       # internal outbox rows written
    skipped_locked: int = 0      # ticket busy (another sweeper, a workflow action): next run
    errors: list[str] = field(default_factory=list)             # rows that could not be computed
    batches: int = 0

    @property
    def events(self) -> int:
        return self.warned + self.overdue_events + sum(self.escalations.values())

    overdue_events: int = 0      # sla_overdue events (overdue with no level reached yet)


# --- the sweep ----------------------------------------------------------------------------------

def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_OPEN = (TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None))


def _level_fired():
    """Correlated condition: an ``escalate`` event of this stage and level in the current episode."""
    return exists().where(
        TicketEvent.ticket_id == TicketDeadline.ticket_id,
        TicketEvent.action == ACTION_ESCALATE,
        TicketEvent.at >= TicketDeadline.overdue_at,
        TicketEvent.data["stage"].as_string() == TicketDeadline.stage,
    )


def sweep(session: Session, *, now: _dt.datetime, rules, calendar: WorkCalendar,
          batch_size: int = 500, policy: SweepPolicy | None = None) -> SweepReport:
    """Warn, mark overdue and escalate every open deadline row whose time has come at ``now``.

    Commits ``session`` after every batch of ``batch_size`` candidate rows (and commits a
    transaction already in progress first). Never raises for a single row that cannot be computed (e.g. a
    year the holiday calendar does not cover): the row is listed in ``report.errors`` and
    retried by the next run. Any other error propagates; committed batches stay done.
    """
    if not isinstance(now, _dt.datetime) or now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if batch_size < 1:
        raise ValueError("batch_size must be ≥ 1")
    if session.in_transaction():
        session.commit()
    policy = policy or SweepPolicy.from_rules(rules, calendar)
    report = SweepReport(now=now)
    worker = _Sweeper(session, now, policy, calendar, report)

    # 1. overdue rows not yet marked
    worker.run(and_(*_OPEN, TicketDeadline.overdue_at.is_(None), TicketDeadline.due_at < now), batch_size)
    # 2. later escalation levels of rows already marked overdue
    for level in policy.levels:
        if not level.amount:
            continue  # reached at the deadline: fired when the row was marked overdue
        threshold = worker.level_threshold(level)
        level_fired = _level_fired().where(TicketEvent.data["level"].as_integer() == level.level)
        worker.run(and_(*_OPEN, TicketDeadline.overdue_at.is_not(None), TicketDeadline.due_at < now,
                        TicketDeadline.due_at <= threshold, ~level_fired), batch_size, level=level)
    # 3. warnings, per unit in amount intervals: a row with amount in (a_prev, a] has at most the
    #    allowance of a configured stage of amount a, so its deadline lies within that horizon;
    #    amounts above the largest configured one are few and checked without a horizon
    unwarned = and_(*_OPEN, TicketDeadline.warned_at.is_(None), TicketDeadline.overdue_at.is_(None),
                    TicketDeadline.due_at >= now)
    # ordered like an index on (unit, amount, due_at), so such an index serves the query and its LIMIT
    by_amount = (TicketDeadline.amount, TicketDeadline.due_at, TicketDeadline.id)
    by_unit: dict[str, list[tuple[float, _dt.timedelta]]] = {}
    for unit, amount, allowance in policy.groups:
        by_unit.setdefault(unit, []).append((amount, allowance))
    for unit, amounts in sorted(by_unit.items()):
        previous = None
        for amount, allowance in sorted(amounts):
            horizon = worker.warning_horizon(unit, allowance)
            # the configured amount itself (equality: a tight index range) and the gap below it
            worker.run(and_(unwarned, TicketDeadline.unit == unit, TicketDeadline.amount == amount,
                            TicketDeadline.due_at <= horizon), batch_size, order=by_amount)
            lower = TicketDeadline.amount > previous if previous is not None else True
            worker.run(and_(unwarned, TicketDeadline.unit == unit, lower, TicketDeadline.amount < amount,
                            TicketDeadline.due_at <= horizon), batch_size, order=by_amount)
            previous = amount
        worker.run(and_(unwarned, TicketDeadline.unit == unit, TicketDeadline.amount > previous), batch_size,
                   order=by_amount)
    # rows whose deadline an approved extension moved (allowance beyond their group's): few, checked exactly
    extended = exists().where(TicketEvent.ticket_id == TicketDeadline.ticket_id,
                              TicketEvent.action == ACTION_EXTENSION_APPROVED,
                              TicketEvent.at >= TicketDeadline.started_at)
    worker.run(and_(unwarned, extended), batch_size)
    return report


class _Sweeper:
    def __init__(self, session: Session, now: _dt.datetime, policy: SweepPolicy,
                 calendar: WorkCalendar, report: SweepReport):
        self.session, self.now, self.policy, self.calendar, self.report = session, now, policy, calendar, report
        self.work = WorkTime(calendar)
        self._moments: dict[tuple[int, _dt.datetime], _dt.datetime] = {}
        self.pg = _is_postgres(session)

    def level_threshold(self, level: Level) -> _dt.datetime:
        """A deadline bound for an indexed query: rows that reached ``level`` have ``due_at`` ≤ it.

        Working days exactly: the level of a stage due on day d is reached at the close of the
        n-th working day after d, which is ≤ now iff d is before V, the working day n-1 working
        days before the last working day that has closed by now. Other units: a lower bound of
        the delay (the pre-check then decides exactly).
        """
        if level.unit == _WORKING_DAYS and level.amount >= 1:
            try:
                cal = self.calendar
                today = self.now.astimezone(cal.tz).date()
                day = today if cal.is_workday(today) and self.now >= cal.close_of_business(today) else None
                if day is None:
                    day = today - _dt.timedelta(days=1)
                    while not cal.is_workday(day):
                        day -= _dt.timedelta(days=1)
                for _ in range(int(level.amount) - 1):
                    day -= _dt.timedelta(days=1)
                    while not cal.is_workday(day):
                        day -= _dt.timedelta(days=1)
                return _dt.datetime.combine(day, _dt.time(0), cal.tz)
            except (CalendarNotCovered, ValueError) as exc:
                self.report.errors.append(f"level {level.level} threshold: {exc}")
        return self.now - level.min_delay()

    def warning_horizon(self, unit: str, allowance: _dt.timedelta) -> _dt.datetime:
        """The latest deadline a row with at most ``allowance`` can have and already be due a warning."""
        remaining = allowance * (100 - self.policy.warning_percent) / 100
        if unit == _NATURAL:
            return self.now + remaining + _dt.timedelta(seconds=1)
        try:
            return self.calendar.add_working_hours(self.now, remaining) + _dt.timedelta(seconds=1)
        except (CalendarNotCovered, ValueError) as exc:
            self.report.errors.append(f"warning horizon: {exc}")
            return self.now + _dt.timedelta(days=31)

    # -- candidates in keyset pages ------------------------------------------------------------

    def run(self, condition, batch_size: int, level: Level | None = None, order=None) -> None:
        """Visit the rows matching ``condition`` in keyset pages ordered by ``order`` (columns ending in id)."""
        order = order or (TicketDeadline.due_at, TicketDeadline.id)
        after: tuple | None = None
        while True:
            stmt = (select(TicketDeadline.id, TicketDeadline.due_at, TicketDeadline.started_at, TicketDeadline.unit,
                           TicketDeadline.warned_at, TicketDeadline.overdue_at, *order[:-2]).where(condition)
                    .order_by(*order).limit(batch_size))
            if after is not None:
                stmt = stmt.where(tuple_(*order) > tuple_(*(literal(v, c.type) for v, c in zip(after, order))))
            page = self.session.execute(stmt).all()
            if not page:
                self.session.commit()
                return
            self.report.candidates += len(page)
            todo = [c.id for c in page if self._needs_action(c, level)]
            if todo:
                self._batch(todo)
            self.session.commit()
            self.report.batches += 1
            last = page[-1]._mapping
            after = tuple(last[c.key] for c in order)
            if len(page) < batch_size:
                return

    def _needs_action(self, c, level: Level | None = None) -> bool:
        """Cheap check on the candidate's columns (no lock): only rows with work are locked."""
        try:
            if self.now > c.due_at:
                # not yet marked overdue, or (queried for a level not fired yet) that level is reached
                return c.overdue_at is None or level is None or self.now >= self._moment(level, c.due_at)
            if c.warned_at is not None or c.overdue_at is not None:
                return False
            return self._warning_reached(c)
        except (CalendarNotCovered, ValueError) as exc:
            self.report.errors.append(f"deadline {c.id}: {exc}")
            return False

    def _moment(self, level: Level, due: _dt.datetime) -> _dt.datetime:
        key = (level.level, due)
        moment = self._moments.get(key)
        if moment is None:
            moment = self._moments[key] = level.moment(due, self.calendar)
        return moment

    # -- one batch, set-based: lock, re-read, decide, guarded updates, events, outbox ----------------

    def _batch(self, ids: list[int]) -> None:
        s, now = self.session, self.now
        ticket_ids = sorted(set(s.execute(select(TicketDeadline.ticket_id).where(TicketDeadline.id.in_(ids))).scalars()))
        lock = select(Ticket.id, Ticket.number, Ticket.state, Ticket.category_name, Ticket.address,
                      Ticket.district_code, Ticket.department_code).where(Ticket.id.in_(ticket_ids))
        if self.pg:  # the order perform() uses: ticket first; busy tickets are left for the next run
            lock = lock.with_for_update(skip_locked=True)
        tickets = {t.id: t for t in s.execute(lock)}
        self.report.skipped_locked += len(ticket_ids) - len(tickets)
        if not tickets:
            return
        rows = s.execute(select(TicketDeadline.__table__).where(
            TicketDeadline.id.in_(ids), TicketDeadline.ticket_id.in_(list(tickets)), *_OPEN)).all()

        warn, mark, levels_for = [], [], {}
        overdue_since: dict[int, _dt.datetime] = {}
        for row in rows:
            try:
                if now > row.due_at:
                    reached = [lv for lv in self.policy.levels if now >= self._moment(lv, row.due_at)]
                    if row.overdue_at is None:
                        mark.append(row.id)
                        overdue_since[row.id] = now
                    else:
                        overdue_since[row.id] = row.overdue_at
                    levels_for[row.id] = reached
                elif row.warned_at is None and row.overdue_at is None and self._warning_reached(row):
                    warn.append(row.id)
            except (CalendarNotCovered, ValueError) as exc:
                self.report.errors.append(f"deadline {row.id}: {exc}")
                log.warning("SLA sweep: deadline %s not computable: %s", row.id, exc)
                levels_for.pop(row.id, None)
                if row.id in mark:
                    mark.remove(row.id)
        if not (warn or levels_for):
            return
        # the event log says which levels already fired in each row's current overdue episode
        fired: dict[int, set[tuple[str, int]]] = {}
        old = [r for r in rows if r.id in levels_for and r.overdue_at is not None]
        if old:
            for ticket_id, at, data in s.execute(select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.data).where(
                    TicketEvent.ticket_id.in_({r.ticket_id for r in old}), TicketEvent.action == ACTION_ESCALATE)):
                if isinstance(data, dict) and "level" in data:
                    fired.setdefault(ticket_id, set()).add((data.get("stage"), int(data["level"]), at))
        warned = self._guarded(warn, (TicketDeadline.warned_at.is_(None), TicketDeadline.overdue_at.is_(None)),
                               warned_at=now)
        marked = self._guarded(mark, (TicketDeadline.overdue_at.is_(None),), overdue_at=now)

        self._log = EventBatch(s, tickets)
        self._outbox = []
        for row in rows:
            ticket = tickets[row.ticket_id]
            if row.id in warned:
                due_local = row.due_at.astimezone(self.calendar.tz)
                note = f"{row.stage}时限已用 {self.policy.warning_percent}%，将于 {due_local:%Y-%m-%d %H:%M} 到期(预警)"
                self._event(ticket, row, LogEvent.SLA_WARNING, note, {"percent": self.policy.warning_percent},
                            self.policy.warning_targets)
                self.report.warned += 1
            elif row.id in levels_for:
                newly = row.id in marked
                if row.overdue_at is None and not newly:
                    continue  # lost the guarded update (cannot happen under the ticket lock)
                since = overdue_since[row.id]
                done = {lv for stage, lv, at in fired.get(row.ticket_id, ()) if stage == row.stage and at >= since}
                new = [lv for lv in levels_for[row.id] if lv.level not in done]
                for lv in new:
                    self._event(ticket, row, LogEvent.ESCALATE, f"{row.stage}超时，第 {lv.level} 级{lv.name}",
                                {"level": lv.level, "name": lv.name, "overdue_since": iso(since)},
                                lv.targets if lv.sms else ())
                    self.report.escalations[lv.level] = self.report.escalations.get(lv.level, 0) + 1
                if newly:
                    self.report.overdue += 1
                    if not new:
                        self._event(ticket, row, LogEvent.SLA_OVERDUE, f"{row.stage}已超时(超时)", {}, ())
                        self.report.overdue_events += 1
        self._log.write()
        self.report.notifications += add_outbox(s, self._outbox)

    def _guarded(self, ids: list[int], conditions, **values) -> set[int]:
        """Set ``values`` on the rows still matching ``conditions``; returns the ids changed."""
        if not ids:
            return set()
        stmt = (update(TicketDeadline).where(TicketDeadline.id.in_(ids), *_OPEN, *conditions)
                .values(**values).returning(TicketDeadline.id).execution_options(synchronize_session=False))
        return set(self.session.execute(stmt).scalars())

    def _warning_reached(self, row) -> bool:
        p = self.policy.warning_percent
        if row.unit == _NATURAL:
            total = (row.due_at - row.started_at) // _US
            remaining = max((row.due_at - self.now) // _US, 0)
        else:
            total = self.work.between(row.started_at, row.due_at)
            remaining = self.work.between(self.now, row.due_at)
        if total <= 0:
            return remaining <= 0
        return 100 * remaining <= (100 - p) * total

    # -- event and outbox rows (written by _batch) ----------------------------------------------------

    def _event(self, ticket, row, action: LogEvent, note: str, extra: dict[str, Any], targets: Sequence[str]) -> None:
        now = self.now
        data = {"stage": row.stage, "due_at": iso(row.due_at), "started_at": iso(row.started_at),
                "unit": row.unit, "amount": row.amount, **extra, "notified": list(targets)}
        seq = self._log.add(ticket.id, ticket.state, action=action, at=now, note=note, data=data)
        if not targets:
            return
        context = notice_context(
            number=ticket.number, action=action.value, action_label=action.label, from_state=ticket.state,
            to_state=ticket.state, state_label="", note=note, category_name=ticket.category_name,
            address=ticket.address, district_code=ticket.district_code, department_code=ticket.department_code,
            at=now, stage=row.stage, due_at=iso(row.due_at),
            **{k: v for k, v in extra.items() if k in ("level", "name", "percent")})
        self._outbox += internal_rows(ticket_id=ticket.id, event_seq=seq, action=action.value, targets=targets,
                                      context=context, at=now)
