"""Report queries: call figures, callbacks, case indicators per district, street, department,
category and channel, and what is overdue now. Read-only; the rollups they read are brought up
to date by :func:`hotline.metrics.rollups.refresh` first.

Every function takes a :class:`ReportFilter` (a period of whole local days and optional
district, street, department, queue and category filters) and ``now``: a period that has not
ended yet is counted up to ``now``. Which filters apply where: queue → call figures; district,
street, department, category → case figures and callbacks; district → transfers (the district
line dialled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import Date, Integer, String, and_, cast, extract, func, literal, null, or_, select, text, union_all
from sqlalchemy.orm import Session

from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.workflow import Satisfaction
from hotline.categories.models import Category
from hotline.metrics import day_rollups
from hotline.metrics.call_tally import CallCounts, CallThresholds, CallTally, TransferCounts, hour_of
from hotline.metrics.definitions import mean, ratio
from hotline.metrics.models import OPEN_TICKETS, CallHour, TicketFact, TransferHour
from hotline.metrics.rollups import call_rows, stored_until

__all__ = [
    "Period", "ReportFilter", "GROUPS", "CallReport", "CaseFigures", "OverdueTicket",
    "call_report", "case_figures", "overdue_tickets", "big_classes", "category_names",
]

#: How case figures can be grouped: name → fact column.
GROUPS = {
    "district": TicketFact.district_code,
    "street": TicketFact.street_code,
    "department": TicketFact.department_code,
    "category": TicketFact.category_code,
    "channel": TicketFact.channel,
}
_TICKET_GROUPS = {
    "district": Ticket.district_code, "street": Ticket.street_code, "department": Ticket.department_code,
    "category": Ticket.category_code, "channel": Ticket.channel,
}
# written out as the partial index ix_ticket_events_callbacks_at has it: SQLite uses a partial
# index only when the query's own terms imply its condition (bound parameters do not)
_CALLBACK_EVENTS = text("ticket_events.action IN ('callback', 'callback_attempt')")
_OPEN_TICKETS = text(f"tickets.{OPEN_TICKETS}")     # likewise ix_tickets_open


@dataclass(frozen=True)
class Period:
    """Whole local days ``first``…``last`` (inclusive) in ``tz``."""

    first: date
    last: date
    tz: tzinfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), self.tz)

    def until(self, now: datetime) -> datetime:
        """The end of what can be counted: the period's end, or now if earlier."""
        return max(self.start, min(self.end, now))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class ReportFilter:
    period: Period
    district_code: str | None = None
    street_code: str | None = None
    department_code: str | None = None
    queue: str | None = None
    category: str | None = None        # a category code or its prefix (big class "06")


def _fact_conditions(f: ReportFilter) -> list[Any]:
    out = []
    if f.district_code:
        out.append(TicketFact.district_code == f.district_code)
    if f.street_code:
        out.append(TicketFact.street_code == f.street_code)
    if f.department_code:
        out.append(TicketFact.department_code == f.department_code)
    if f.category:
        out.append(TicketFact.category_code.startswith(f.category, autoescape=True))
    return out


def _ticket_conditions(f: ReportFilter) -> list[Any]:
    out = []
    if f.district_code:
        out.append(Ticket.district_code == f.district_code)
    if f.street_code:
        out.append(Ticket.street_code == f.street_code)
    if f.department_code:
        out.append(Ticket.department_code == f.department_code)
    if f.category:
        out.append(Ticket.category_code.startswith(f.category, autoescape=True))
    return out


# --- calls ----------------------------------------------------------------------------------------

@dataclass
class CallReport:
    """Call counts of a period: per queue, per local hour of day, weekday and day, and transfers
    per district line."""

    per_queue: dict[str, CallCounts] = field(default_factory=dict)
    by_hour: list[CallCounts] = field(default_factory=lambda: [CallCounts() for _ in range(24)])
    by_weekday: list[CallCounts] = field(default_factory=lambda: [CallCounts() for _ in range(7)])
    by_day: dict[date, CallCounts] = field(default_factory=dict)
    transfers: dict[str, TransferCounts] = field(default_factory=dict)

    def _add(self, hour: datetime, queue: str, counts: CallCounts, tz: tzinfo) -> None:
        local = hour.astimezone(tz)
        self.per_queue.setdefault(queue, CallCounts()).add(counts)
        self.by_hour[local.hour].add(counts)
        self.by_weekday[local.weekday()].add(counts)
        self.by_day.setdefault(local.date(), CallCounts()).add(counts)


_COUNT_FIELDS = tuple(f for f in CallCounts.__dataclass_fields__ if f != "max_wait_s")


def _local_parts(session: Session, column: Any, offset_minutes: int) -> tuple[Any, Any, Any]:
    """Local hour of day, weekday (Monday 0) and date of a UTC timestamp column, for a zone at a
    fixed offset from UTC (China has had one since 1991)."""
    if session.get_bind().dialect.name == "postgresql":
        shifted = func.timezone("UTC", column) + text(f"interval '{int(offset_minutes)} minutes'")
        return (cast(extract("hour", shifted), Integer), cast(extract("isodow", shifted), Integer) - 1,
                cast(shifted, Date))
    shifted = func.datetime(column, f"{int(offset_minutes):+d} minutes")
    return (cast(func.strftime("%H", shifted), Integer), (cast(func.strftime("%w", shifted), Integer) + 6) % 7,
            func.date(shifted))


def _stored_hours(session: Session, report: CallReport, f: ReportFilter, start: datetime, split: datetime) -> None:
    """Add the stored hours in ``[start, split)`` to ``report``, aggregated by the database: the
    period's hours are read once (a materialised CTE with their local hour, weekday and date) and
    summed per queue, hour of day, weekday and date in one statement."""
    where = [CallHour.hour >= start, CallHour.hour < split]
    if f.queue:
        where.append(CallHour.queue == f.queue)
    hour, weekday, day = _local_parts(session, CallHour.hour, int(start.utcoffset().total_seconds() // 60))
    hours = (select(CallHour.queue.label("queue"), hour.label("h"), weekday.label("w"), day.label("d"),
                    *[getattr(CallHour, n).label(n) for n in CallCounts.__dataclass_fields__])
             .where(*where).cte("hours").prefix_with("MATERIALIZED"))
    measures = [*[func.sum(hours.c[n]).label(n) for n in _COUNT_FIELDS], func.max(hours.c.max_wait_s).label("max_wait_s")]
    parts = [select(literal(grp).label("grp"), cast(hours.c[column], String).label("key"), *measures)
             .group_by(hours.c[column]) for grp, column in (("q", "queue"), ("h", "h"), ("w", "w"), ("d", "d"))]
    for row in session.execute(union_all(*parts)):
        counts = CallCounts(**{n: (getattr(row, n) or 0) for n in CallCounts.__dataclass_fields__})
        if row.grp == "q":
            report.per_queue.setdefault(row.key, CallCounts()).add(counts)
        elif row.grp == "h":
            report.by_hour[int(row.key)].add(counts)
        elif row.grp == "w":
            report.by_weekday[int(row.key)].add(counts)
        else:
            report.by_day.setdefault(date.fromisoformat(str(row.key)[:10]), CallCounts()).add(counts)
    transfers = (select(TransferHour.district_code, func.sum(TransferHour.attempts), func.sum(TransferHour.answered),
                        func.sum(TransferHour.cancelled))
                 .where(TransferHour.hour >= start, TransferHour.hour < split).group_by(TransferHour.district_code))
    for district, attempts, answered, cancelled in session.execute(transfers):
        report.transfers.setdefault(district, TransferCounts()).add(
            TransferCounts(int(attempts or 0), int(answered or 0), int(cancelled or 0)))


def call_report(session: Session, f: ReportFilter, now: datetime, thresholds: CallThresholds) -> CallReport:
    """Stored hours for the part of the period the rollups cover, the calls table for the rest."""
    tz = f.period.tz
    start, end = f.period.start, f.period.until(now)
    report = CallReport()
    stored = stored_until(session)
    # stored hours are whole hours: the hour ``end`` falls in is counted live
    split = max(start, min(hour_of(end), stored)) if stored is not None else start
    if split > start:
        _stored_hours(session, report, f, start, split)
    if end > split:
        tally = CallTally(thresholds, bucket=hour_of).add_all(call_rows(session, split, end))
        for (hour, queue), counts in tally.counts.items():
            if not f.queue or queue == f.queue:
                report._add(hour, queue, counts, tz)
        for district, counts in tally.per_district().items():
            report.transfers.setdefault(district, TransferCounts()).add(counts)
    if f.district_code:
        report.transfers = {k: v for k, v in report.transfers.items() if k == f.district_code}
    return report


# --- cases ------------------------------------------------------------------------------------------

@dataclass
class CaseFigures:
    """Case indicators of one group (see :mod:`hotline.metrics.definitions` for each)."""

    # intake cohort: tickets received in the period
    received: int = 0
    answered_directly: int = 0
    rejected: int = 0
    merged: int = 0
    registered: int = 0
    closed: int = 0
    stage_sums: dict[str, float] = field(default_factory=dict)     # intake/accept/handle/… seconds
    stage_counts: dict[str, int] = field(default_factory=dict)
    # disposal due in the period
    due_handle: int = 0
    handled: int = 0
    handled_on_time: int = 0
    handled_late: int = 0
    overdue_unhandled: int = 0
    rework: int = 0
    # closure due in the period
    due_close: int = 0
    closed_in_due: int = 0
    closed_on_time: int = 0
    # callbacks recorded in the period
    callbacks: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    dissatisfied: int = 0
    callbacks_on_time: int = 0
    callback_unreached: int = 0
    # now
    open_now: int = 0
    overdue_now: int = 0

    @property
    def register_rate(self) -> float | None:
        return ratio(self.registered, self.received - self.answered_directly - self.merged)

    @property
    def close_rate(self) -> float | None:
        return ratio(self.closed, self.registered)

    @property
    def handle_rate(self) -> float | None:
        return ratio(self.handled, self.due_handle)

    @property
    def on_time_handle_rate(self) -> float | None:
        return ratio(self.handled_on_time, self.due_handle)

    @property
    def rework_rate(self) -> float | None:
        return ratio(self.rework, self.handled)

    @property
    def overdue(self) -> int:
        return self.handled_late + self.overdue_unhandled

    @property
    def on_time_close_rate(self) -> float | None:
        return ratio(self.closed_on_time, self.due_close)

    @property
    def satisfaction_rate(self) -> float | None:
        return ratio(self.satisfied + self.basically_satisfied, self.callbacks)

    @property
    def callback_calls(self) -> int:
        return self.callbacks + self.callback_unreached

    @property
    def callback_reach_rate(self) -> float | None:
        return ratio(self.callbacks, self.callback_calls)

    @property
    def callback_on_time_rate(self) -> float | None:
        return ratio(self.callbacks_on_time, self.callbacks)

    def average(self, stage: str) -> float | None:
        return mean(self.stage_sums.get(stage), self.stage_counts.get(stage, 0))

    avg_intake = property(lambda self: self.average("intake"))
    avg_accept = property(lambda self: self.average("accept"))
    avg_handle = property(lambda self: self.average("handle"))
    avg_verify = property(lambda self: self.average("verify"))
    avg_callback = property(lambda self: self.average("callback"))
    avg_total = property(lambda self: self.average("total"))

    def value(self, key: str) -> Any:
        return getattr(self, key)


STAGES = ("intake", "accept", "handle", "verify", "callback", "total")
_STAGE_COLUMNS = {s: getattr(TicketFact, f"{s}_s") for s in STAGES}

Grouped = dict  # {group name or None: {key: CaseFigures}}


def _grouped(session: Session, dims: Mapping[str, Any], measures: list[Any], where: list[Any],
             groups: list[str | None], select_from: Any = None) -> dict[str | None, dict[Any, Any]]:
    """Sums of ``measures`` per value of each group, in one statement: the rows matching
    ``where`` are first aggregated per cell of the groups' dimensions (a materialised CTE), and
    every grouping (and the total, group None) sums those cells. A portable GROUPING SETS."""
    needed = [g for g in groups if g is not None]
    cells = select(*[dims[g].label(f"d_{g}") for g in needed], *measures).where(*where)
    if select_from is not None:
        cells = cells.select_from(select_from)
    if needed:
        cells = cells.group_by(*[dims[g] for g in needed])
    cube = cells.cte("cells").prefix_with("MATERIALIZED")
    names = [m.name for m in measures]
    parts = []
    for g in groups:
        key = cast(cube.c[f"d_{g}"], String) if g else cast(null(), String)
        part = select(literal(g or "").label("grp"), key.label("key"), *[func.sum(cube.c[n]).label(n) for n in names])
        parts.append(part.group_by(cube.c[f"d_{g}"]) if g else part)
    out: dict[str | None, dict[Any, Any]] = {g: {} for g in groups}
    for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        group = row.grp or None
        if group is None and all(getattr(row, n) is None for n in names):
            continue                                      # the total of no rows
        out[group][row.key] = row
    return out


def _n(value: Any) -> int:
    return int(value or 0)


#: Read the day sums where they answer (decision 0017); False counts every block from the
#: facts (the reference the tests compare with, and the benchmark's "before").
USE_DAY_SUMS = True


def _add(x: CaseFigures, r: Any, fields: Mapping[str, str]) -> None:
    """Add the counts of row ``r`` to ``x`` (figure attribute → row column)."""
    for attribute, column in fields.items():
        setattr(x, attribute, getattr(x, attribute) + _n(getattr(r, column)))


_INTAKE = {"received": "n", "answered_directly": "answered", "rejected": "rejected", "merged": "merged",
           "registered": "registered", "closed": "closed"}
_DISPOSAL = {"due_handle": "n", "handled": "handled", "handled_on_time": "on_time", "handled_late": "late",
             "overdue_unhandled": "unhandled", "rework": "rework"}
_CLOSURE = {"due_close": "n", "closed_in_due": "closed", "closed_on_time": "on_time"}
_CALLBACKS = {"callback_unreached": "unreached", "callbacks": "callbacks", "satisfied": "satisfied",
              "basically_satisfied": "basically", "dissatisfied": "dissatisfied", "callbacks_on_time": "on_time"}


def _add_intake(x: CaseFigures, r: Any, microseconds: bool = False) -> None:
    """The cohort counts and stage durations (seconds from the facts, microseconds from day sums)."""
    _add(x, r, _INTAKE)
    for s in STAGES:
        total = int(getattr(r, f"{s}_us") or 0) / 1_000_000 if microseconds else float(getattr(r, f"{s}_sum") or 0.0)
        x.stage_sums[s] = x.stage_sums.get(s, 0.0) + total
        x.stage_counts[s] = x.stage_counts.get(s, 0) + _n(getattr(r, f"{s}_n"))


def _days_into(session: Session, f: ReportFilter, p: day_rollups.Plan, fig: Callable[[Any, Any], CaseFigures]) -> None:
    for block, add in (("intake", lambda x, r: _add_intake(x, r, microseconds=True)),
                       ("disposal", lambda x, r: _add(x, r, _DISPOSAL)), ("closure", lambda x, r: _add(x, r, _CLOSURE)),
                       ("callback", lambda x, r: _add(x, r, _CALLBACKS))):
        for group, key, row in day_rollups.sums(session, block, f, p):
            add(fig(group, key), row)


def _facts_into(session: Session, f: ReportFilter, start: datetime, until: datetime, groups: list[str | None],
                fig: Callable[[Any, Any], CaseFigures]) -> None:
    """The four period blocks of ``groups`` counted from the facts (and the ticket log for 回访)."""
    if not groups:
        return
    where = _fact_conditions(f)
    count = func.count
    cohort = _grouped(session, GROUPS, [
        count().label("n"),
        count().filter(TicketFact.intake == "answered").label("answered"),
        count().filter(TicketFact.intake == "rejected").label("rejected"),
        count().filter(TicketFact.intake == "merged").label("merged"),
        count(TicketFact.registered_at).label("registered"),
        count().filter(TicketFact.registered_at.is_not(None), TicketFact.closed_at.is_not(None)).label("closed"),
        *[func.sum(c).label(f"{s}_sum") for s, c in _STAGE_COLUMNS.items()],
        *[count(c).label(f"{s}_n") for s, c in _STAGE_COLUMNS.items()],
    ], [TicketFact.created_at >= start, TicketFact.created_at < until, *where], groups)
    for group, rows in cohort.items():
        for key, r in rows.items():
            _add_intake(fig(group, key), r)

    handled = TicketFact.handled_at.is_not(None)
    on_time = and_(handled, or_(TicketFact.handle_due_at.is_(None), TicketFact.handled_at <= TicketFact.handle_due_at))
    disposal = _grouped(session, GROUPS, [
        count().label("n"), count(TicketFact.handled_at).label("handled"),
        count().filter(on_time).label("on_time"),
        count().filter(handled, TicketFact.handled_at > TicketFact.handle_due_at).label("late"),
        count().filter(TicketFact.handled_at.is_(None)).label("unhandled"),
        count().filter(handled, TicketFact.rework_count > 0).label("rework"),
    ], [TicketFact.handle_ref_at >= start, TicketFact.handle_ref_at < until, *where], groups)
    for group, rows in disposal.items():
        for key, r in rows.items():
            _add(fig(group, key), r, _DISPOSAL)

    closed = TicketFact.closed_at.is_not(None)
    closure = _grouped(session, GROUPS, [
        count().label("n"), count(TicketFact.closed_at).label("closed"),
        count().filter(closed, or_(TicketFact.close_due_at.is_(None),
                                   TicketFact.closed_at <= TicketFact.close_due_at)).label("on_time"),
    ], [TicketFact.close_ref_at >= start, TicketFact.close_ref_at < until, *where], groups)
    for group, rows in closure.items():
        for key, r in rows.items():
            _add(fig(group, key), r, _CLOSURE)

    # 回访 results and unanswered callback calls recorded in the period (the ticket log)
    satisfaction = TicketEvent.data["satisfaction"].as_string()
    overdue = TicketEvent.data[("deadlines", 0, "overdue")].as_boolean()
    callback = TicketEvent.action == "callback"
    callbacks = _grouped(session, _TICKET_GROUPS, [
        count().filter(TicketEvent.action == "callback_attempt").label("unreached"),
        count().filter(callback).label("callbacks"),
        count().filter(callback, satisfaction == Satisfaction.SATISFIED.value).label("satisfied"),
        count().filter(callback, satisfaction == Satisfaction.BASICALLY_SATISFIED.value).label("basically"),
        count().filter(callback, satisfaction == Satisfaction.DISSATISFIED.value).label("dissatisfied"),
        count().filter(callback, or_(overdue.is_(None), overdue.is_(False))).label("on_time"),
    ], [_CALLBACK_EVENTS, TicketEvent.at >= start, TicketEvent.at < until, *_ticket_conditions(f)], groups,
        select_from=TicketEvent.__table__.join(Ticket.__table__, Ticket.id == TicketEvent.ticket_id))
    for group, rows in callbacks.items():
        for key, r in rows.items():
            _add(fig(group, key), r, _CALLBACKS)


def case_groups(session: Session, f: ReportFilter, now: datetime, groups: Iterable[str | None], *,
                with_now: bool = False, day_sums: bool | None = None) -> Grouped:
    """Case indicators of the period per value of each group of ``groups`` (names of
    :data:`GROUPS`; None = the total, keyed None). Per block (intake cohort, disposal, closure,
    callbacks): the whole days before the one ``now`` falls in from the day sums, for each
    grouping a shape covers (:mod:`~hotline.metrics.day_rollups`), the rest from the facts in one
    statement; with ``with_now`` the tickets open and overdue now — same filters, the period does
    not apply to them."""
    groups = list(dict.fromkeys(groups))
    for g in groups:
        if g is not None and g not in GROUPS:
            raise ValueError(f"unknown group {g!r}")
    if None not in groups:
        groups.append(None)
    start, until = f.period.start, f.period.until(now)
    out: Grouped = {g: {} for g in groups}

    def fig(group: str | None, key: Any) -> CaseFigures:
        figures = out[group].get(key)
        if figures is None:
            figures = out[group][key] = CaseFigures()
        return figures

    use = USE_DAY_SUMS if day_sums is None else day_sums
    p = day_rollups.plan(session, f, start, until, groups) if use else None
    if p is None:
        _facts_into(session, f, start, until, groups, fig)
    else:
        pg = session.get_bind().dialect.name == "postgresql"
        if pg:    # statements of a few thousand rows: parallel workers only add their start-up (measured)
            session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        _days_into(session, f, p, fig)
        covered = [g for g in groups if g in p.shapes]
        if until > p.split:
            _facts_into(session, f, p.split, until, covered, fig)
        rest = [g for g in groups if g not in p.shapes]
        if rest:
            if pg:
                session.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))
            _facts_into(session, f, start, until, rest, fig)

    if with_now:
        # the open tickets first (a few thousand of a million): a planner grouping by an index on
        # the grouping column would otherwise walk every ticket
        open_tickets = (select(Ticket.id, *[c.label(name) for name, c in _TICKET_GROUPS.items()])
                        .where(_OPEN_TICKETS, *_ticket_conditions(f))
                        .cte("open_tickets").prefix_with("MATERIALIZED"))
        overdue_now = open_tickets.c.id.in_(select(TicketDeadline.ticket_id).where(
            TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None), TicketDeadline.due_at < now))
        current = _grouped(session, {name: open_tickets.c[name] for name in _TICKET_GROUPS}, [
            func.count().label("open"), func.count().filter(overdue_now).label("overdue")], [], groups,
            select_from=open_tickets)
        for group, rows in current.items():
            for key, r in rows.items():
                x = fig(group, key)
                x.open_now, x.overdue_now = _n(r.open), _n(r.overdue)
    if None not in out[None]:
        out[None][None] = CaseFigures()
    return out


def case_figures(session: Session, f: ReportFilter, now: datetime, group: str | None = None, *,
                 with_now: bool = False) -> dict[Any, CaseFigures]:
    """Case indicators of the period per value of ``group`` (or the total, keyed None)."""
    return case_groups(session, f, now, [group], with_now=with_now)[group]


# --- overdue now ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OverdueTicket:
    number: str
    category_code: str
    category_name: str
    district_code: str | None
    street_code: str | None
    department_code: str | None
    stage: str
    due_at: datetime
    overdue_s: float


def overdue_tickets(session: Session, f: ReportFilter, now: datetime, limit: int = 50) -> list[OverdueTicket]:
    """Open tickets with a running stage past its deadline, longest overdue first."""
    stmt = (select(Ticket.number, Ticket.category_code, Ticket.category_name, Ticket.district_code,
                   Ticket.street_code, Ticket.department_code, TicketDeadline.stage, TicketDeadline.due_at)
            .join(TicketDeadline, TicketDeadline.ticket_id == Ticket.id)
            .where(TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None),
                   TicketDeadline.due_at < now, _OPEN_TICKETS, *_ticket_conditions(f))
            .order_by(TicketDeadline.due_at, Ticket.id).limit(limit))
    return [OverdueTicket(*r, overdue_s=(now - r.due_at).total_seconds()) for r in session.execute(stmt)]


# --- names -------------------------------------------------------------------------------------------

def big_classes(session: Session) -> list[tuple[str, str]]:
    """Category big classes (code, shortest name) for the category filter."""
    names: dict[str, str] = {}
    for code, name in session.execute(select(Category.big_class_code, Category.big_class).distinct()):
        if code not in names or len(name) < len(names[code]):
            names[code] = name
    return sorted(names.items())


def category_names(session: Session, codes: Iterable[str]) -> Mapping[str, str]:
    """Category code → name (the matter's name when a component shares the code)."""
    wanted = [c for c in set(codes) if c]
    out: dict[str, str] = {}
    if not wanted:
        return out
    for code, kind, name in session.execute(select(Category.code, Category.kind, Category.name)
                                            .where(Category.code.in_(wanted)).order_by(Category.kind)):
        if code not in out or kind == "matter":
            out[code] = name
    return out
