"""The ticket facts summed per local day, per month and per cell (decision 0017).

A report block (intake cohort, disposal, closure, callbacks — :mod:`hotline.metrics.service`)
counts facts whose moment (受理, the 处置 or 结案 reference moment, the 回访 record's time) falls
in the period. Summing a year of facts per request is seconds at a million tickets; these tables
hold the same counts already summed per *local day* and per *month* (grain ``d``/``m``), for a
few *shapes* — one dimension, or the district (the most common filter) and one more. A cell of all
five dimensions would hold about one fact (a day's tickets spread over streets × departments ×
categories × channels), so each grouping reads the smallest shape that has its dimension and
the filtered ones; a grouping no shape covers (e.g. categories of one department) is counted
from the facts as before.

Kept as deltas in the refresh that recomputes a ticket's facts: the cells of its old facts
(and old 回访 records) are subtracted, the new ones added, by the same statement that builds
the tables from scratch (``sign`` −1/+1), so a refresh and a rebuild cannot disagree. A cell
whose count falls to 0 stays (reads skip it, ``HAVING sum(n) > 0``). Durations are summed as
whole microseconds (integers: adding and subtracting never drifts).

Local days assume the zone's offset from UTC does not change (China); the offset the tables
were built with is kept in the rollup state, and a period whose offset differs reads the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import BigInteger, Date, String, and_, case, cast, delete, func, insert, literal_column, or_, select, \
    text, true, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.cases.models import TicketEvent
from hotline.cases.workflow import Satisfaction
from hotline.metrics.models import DAY_KEY, DAY_MEASURES, DAY_SUMS, DAY_TABLES, CallbackFact, RollupState, TicketFact

__all__ = ["SHAPES", "DIMS", "GROUP_DIMS", "NAME", "Plan", "offset_minutes", "settings", "current", "build",
           "apply", "changed", "replace_callbacks", "plan", "shape_for", "sums"]

#: Rollup state row of these tables (``settings``: the UTC offset their days were cut with).
NAME = "case_days"
#: Dimension sets kept, smallest first: a grouping reads the first that has its dimension and
#: the filtered ones (a change here rebuilds the tables: the list is part of their settings).
SHAPES: dict[str, tuple[str, ...]] = {
    "c": ("channel",),
    "d": ("district_code",),
    "p": ("department_code",),
    "dc": ("district_code", "channel"),
    "ds": ("district_code", "street_code"),
    "dd": ("district_code", "department_code"),
    "k": ("category_code",),
    "dk": ("district_code", "category_code"),
}
DIMS = ("district_code", "street_code", "department_code", "category_code", "channel")
GROUP_DIMS = {"district": "district_code", "street": "street_code", "department": "department_code",
              "category": "category_code", "channel": "channel"}
_NULLABLE = {"district_code", "street_code", "department_code"}     # '' in a cell = NULL in the facts
ANY = "*"
STAGES = ("intake", "accept", "handle", "verify", "callback", "total")
_CALLBACK_EVENTS = text("ticket_events.action IN ('callback', 'callback_attempt')")


def offset_minutes(moment: datetime) -> int:
    return int(moment.utcoffset().total_seconds() // 60)


def settings(offset: int) -> str:
    return f"utc_offset_minutes={offset};shapes={','.join(SHAPES)}"


def _stored_offset(session: Session) -> int | None:
    """The offset the tables were cut with, if they hold the shapes of :data:`SHAPES`."""
    state = session.get(RollupState, NAME, populate_existing=True)
    if state is None or not state.settings.startswith("utc_offset_minutes="):
        return None
    offset = int(state.settings.split(";", 1)[0].split("=", 1)[1])
    return offset if state.settings == settings(offset) else None


def current(session: Session, offset: int) -> bool:
    """Whether the tables exist for this offset (then a refresh keeps them by deltas)."""
    return _stored_offset(session) == offset


# --- writing ------------------------------------------------------------------------------------

def _local_day(session: Session, column: Any, offset: int) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column) + text(f"interval '{int(offset)} minutes'"), Date)
    return func.date(column, f"{int(offset):+d} minutes")


def _month(session: Session, day: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return func.strftime("%Y-%m-01", day)


def _fact_measures(block: str) -> tuple[Any, Any, dict[str, Any]]:
    """(moment column, FROM clause, name → aggregate) of a block, as the fact path counts it."""
    F, count = TicketFact, func.count
    if block == "intake":
        return F.created_at, F.__table__, {
            "n": count(), "answered": count().filter(F.intake == "answered"),
            "rejected": count().filter(F.intake == "rejected"), "merged": count().filter(F.intake == "merged"),
            "registered": count(F.registered_at),
            "closed": count().filter(F.registered_at.is_not(None), F.closed_at.is_not(None)),
            **{f"{s}_n": count(getattr(F, f"{s}_s")) for s in STAGES},
            **{f"{s}_us": func.coalesce(func.sum(cast(func.round(getattr(F, f"{s}_s") * 1_000_000), BigInteger)), 0)
               for s in STAGES}}
    if block == "disposal":
        handled = F.handled_at.is_not(None)
        return F.handle_ref_at, F.__table__, {
            "n": count(), "handled": count(F.handled_at),
            "on_time": count().filter(handled, or_(F.handle_due_at.is_(None), F.handled_at <= F.handle_due_at)),
            "late": count().filter(handled, F.handled_at > F.handle_due_at),
            "unhandled": count().filter(F.handled_at.is_(None)),
            "rework": count().filter(handled, F.rework_count > 0)}
    if block == "closure":
        closed = F.closed_at.is_not(None)
        return F.close_ref_at, F.__table__, {
            "n": count(), "closed": count(F.closed_at),
            "on_time": count().filter(closed, or_(F.close_due_at.is_(None), F.closed_at <= F.close_due_at))}
    C = CallbackFact
    return C.at, C.__table__.join(F.__table__, F.ticket_id == C.ticket_id), {
        "n": count(), **{k: func.sum(getattr(C, k)) for k in DAY_MEASURES["callback"] if k != "n"}}


def _contributions(session: Session, block: str, offset: int, sign: int,
                   ticket_ids: Sequence[int] | None) -> Any:
    """The cells of ``ticket_ids``' facts (all facts: None) for every shape and grain, times ``sign``."""
    moment, source, measures = _fact_measures(block)
    names = [*DAY_MEASURES[block], *DAY_SUMS.get(block, ())]
    day = _local_day(session, moment, offset)
    dims = {d: func.coalesce(getattr(TicketFact, d), "") for d in DIMS}
    base = (select(day.label("day"), *[e.label(d) for d, e in dims.items()],
                   *[(measures[n] if sign > 0 else measures[n] * sign).label(n) for n in names])
            .select_from(source).where(moment.is_not(None)))
    if ticket_ids is not None:
        key = CallbackFact.ticket_id if block == "callback" else TicketFact.ticket_id
        base = base.where(key.in_(list(ticket_ids)))
    base = base.group_by(day, *dims.values()).cte(f"{block}_cells").prefix_with("MATERIALIZED")
    parts = []
    for shape, kept in SHAPES.items():
        for grain in ("d", "m"):
            when = base.c.day if grain == "d" else _month(session, base.c.day)
            parts.append(select(
                literal_column(f"'{shape}'", String).label("shape"), literal_column(f"'{grain}'", String).label("grain"),
                when.label("day"),
                *[(base.c[d] if d in kept else literal_column(f"'{ANY}'", String)).label(d) for d in DIMS],
                *[func.sum(base.c[n]).label(n) for n in names],
            ).group_by(when, *[base.c[d] for d in kept]))
    return union_all(*parts).subquery("cells"), names


def _write(session: Session, block: str, offset: int, sign: int, ticket_ids: Sequence[int] | None,
           upsert: bool) -> None:
    table = DAY_TABLES[block]
    cells, names = _contributions(session, block, offset, sign, ticket_ids)
    source = select(*[cells.c[k] for k in DAY_KEY], *[cells.c[n] for n in names]).where(true())
    columns = [*DAY_KEY, *names]
    if not upsert:
        session.execute(insert(table).from_select(columns, source))
        return
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).from_select(columns, source)
    stmt = stmt.on_conflict_do_update(index_elements=list(DAY_KEY),
                                      set_={n: table.c[n] + stmt.excluded[n] for n in names})
    session.execute(stmt)


#: The fact columns each block's cells depend on (besides the dimensions): a ticket whose
#: columns did not change leaves that block as it was (its old and new cells cancel out).
INPUTS = {
    "intake": ("created_at", "intake", "registered_at", "closed_at", *[f"{s}_s" for s in STAGES]),
    "disposal": ("handle_ref_at", "handled_at", "handle_due_at", "rework_count"),
    "closure": ("close_ref_at", "closed_at", "close_due_at"),
}


def changed(old: Mapping[int, Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> dict[str, list[int]]:
    """Per block, the tickets whose cells may differ between their ``old`` and ``new`` facts rows
    (the 回访 block: every ticket — its records come from the log, not the facts row)."""
    out: dict[str, list[int]] = {block: [] for block in DAY_TABLES}
    for row in new:
        before = old.get(row["ticket_id"])
        out["callback"].append(row["ticket_id"])
        for block, columns in INPUTS.items():
            if before is None or any(before[c] != row[c] for c in (*DIMS, *columns)):
                out[block].append(row["ticket_id"])
    for ticket_id in old.keys() - {row["ticket_id"] for row in new}:     # facts without a ticket any more
        for ids in out.values():
            ids.append(ticket_id)
    return out


def apply(session: Session, ticket_ids: Mapping[str, Sequence[int]], offset: int, sign: int) -> None:
    """Add (``sign`` +1) or subtract (−1) the cells of these tickets' stored facts and 回访 records,
    per block (:func:`changed`)."""
    for block, ids in ticket_ids.items():
        if ids:
            _write(session, block, offset, sign, ids, upsert=True)


def replace_callbacks(session: Session, ticket_ids: Sequence[int] | None = None) -> None:
    """Copy the 回访 records of these tickets (all: None) from the ticket log, with the same tests
    the fact path applies to the log (satisfaction, the 回访 deadline's ``overdue``)."""
    E = TicketEvent
    clear = delete(CallbackFact)
    if ticket_ids is not None:
        clear = clear.where(CallbackFact.ticket_id.in_(list(ticket_ids)))
    session.execute(clear)
    satisfaction = E.data["satisfaction"].as_string()
    overdue = E.data[("deadlines", 0, "overdue")].as_boolean()
    callback = E.action == "callback"

    def one(*conditions: Any) -> Any:
        return case((and_(*conditions), 1), else_=0)

    rows = select(E.id, E.ticket_id, E.at, one(E.action == "callback_attempt"), one(callback),
                  one(callback, satisfaction == Satisfaction.SATISFIED.value),
                  one(callback, satisfaction == Satisfaction.BASICALLY_SATISFIED.value),
                  one(callback, satisfaction == Satisfaction.DISSATISFIED.value),
                  one(callback, or_(overdue.is_(None), overdue.is_(False)))).where(_CALLBACK_EVENTS)
    if ticket_ids is not None:
        rows = rows.where(E.ticket_id.in_(list(ticket_ids)))
    session.execute(insert(CallbackFact).from_select(
        ["event_id", "ticket_id", "at", "unreached", "callbacks", "satisfied", "basically", "dissatisfied", "on_time"],
        rows))


def build(session: Session, offset: int) -> None:
    """The tables from the facts as they are (in the caller's transaction, after the facts)."""
    for table in DAY_TABLES.values():
        session.execute(delete(table))
    replace_callbacks(session)
    for block in DAY_TABLES:
        _write(session, block, offset, +1, None, upsert=False)
    state = session.get(RollupState, NAME)
    if state is None:
        from hotline.database import utcnow

        session.add(RollupState(name=NAME, position=0, window_count=0, until=None, settings=settings(offset),
                                updated_at=utcnow()))
    else:
        state.settings = settings(offset)
    session.flush()


# --- reading ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What the day sums answer for a period: the local days ``first``…``end`` (exclusive), for
    the groupings in ``shapes`` (grouping → shape); ``split`` on (the day ``now`` falls in) comes
    from the facts."""

    first: date
    end: date
    split: datetime
    shapes: Mapping[str | None, str]


def _filter_dims(f: Any) -> set[str]:
    return {d for d, v in (("district_code", f.district_code), ("street_code", f.street_code),
                           ("department_code", f.department_code), ("category_code", f.category)) if v}


def shape_for(f: Any, group: str | None) -> str | None:
    need = _filter_dims(f) | ({GROUP_DIMS[group]} if group else set())
    return next((s for s, kept in SHAPES.items() if need <= set(kept)), None)


def plan(session: Session, f: Any, start: datetime, until: datetime, groups: Iterable[str | None]) -> Plan | None:
    """How much of ``[start, until)`` the day sums can answer (None: nothing)."""
    tz = f.period.tz
    split = datetime.combine(until.astimezone(tz).date(), time(0), tz)
    if split <= start:
        return None
    offset = _stored_offset(session)
    if offset is None or offset_minutes(start) != offset or offset_minutes(split) != offset:
        return None
    shapes = {g: s for g in groups if (s := shape_for(f, g)) is not None}
    if not shapes:
        return None
    return Plan(start.astimezone(tz).date(), split.date(), split, shapes)


def _ranges(first: date, end: date) -> list[tuple[str, date, date]]:
    """``[first, end)`` as whole months (grain ``m``) and the days around them (grain ``d``)."""
    m0 = first if first.day == 1 else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    m1 = end.replace(day=1)
    if m0 >= m1:
        return [("d", first, end)]
    out = [("m", m0, m1)]
    if first < m0:
        out.append(("d", first, m0))
    if m1 < end:
        out.append(("d", m1, end))
    return out


def sums(session: Session, block: str, f: Any, p: Plan) -> Iterable[tuple[str | None, Any, Any]]:
    """(grouping, key, row of summed measures) of ``block`` over the plan's days; a key may come
    once per range (whole months, days before, days after): the caller adds them up."""
    table = DAY_TABLES[block]
    names = [*DAY_MEASURES[block], *DAY_SUMS.get(block, ())]
    where = []
    if f.district_code:
        where.append(table.c.district_code == f.district_code)
    if f.street_code:
        where.append(table.c.street_code == f.street_code)
    if f.department_code:
        where.append(table.c.department_code == f.department_code)
    if f.category:
        where.append(table.c.category_code.startswith(f.category, autoescape=True))
    parts = []
    for group, shape in p.shapes.items():
        key = table.c[GROUP_DIMS[group]] if group else literal_column("''", String)
        for grain, lo, hi in _ranges(p.first, p.end):
            part = (select(literal_column(f"'{group or ''}'", String).label("grp"), key.label("key"),
                           *[func.sum(table.c[n]).label(n) for n in names])
                    .where(table.c.shape == shape, table.c.grain == grain, table.c.day >= lo, table.c.day < hi, *where)
                    .having(func.sum(table.c.n) > 0))
            parts.append(part.group_by(key) if group else part)
    if not parts:
        return
    for row in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        group = row.grp or None
        key = row.key
        if group is None or (key == "" and GROUP_DIMS[group] in _NULLABLE):
            key = None
        yield group, key, row
