"""Keeping the pre-aggregations up to date (decision 0011).

*Ticket facts* (``metrics_ticket_facts``) follow the ticket log: every event id above the
watermark names a ticket whose facts are recomputed from its whole log
(:func:`~hotline.metrics.ticket_facts.ticket_facts`). Event ids are handed out in order but, on
PostgreSQL, transactions may commit out of that order; the state therefore keeps the number of
events in the last :data:`OVERLAP` ids below the watermark, taken in the same snapshot as the
watermark itself: when a late commit changes that count, the window is read again. Every change
to a ticket is an event (the log is the ticket's whole history), so nothing else needs watching.

*Call hours* (``metrics_call_hours``, ``metrics_transfer_hours``) hold complete hours only: an
hour is stored once every call that started in it has ended (a call without an end for more than
:data:`STUCK_CALL_HOURS` no longer holds it back). Hours after ``until`` are counted live from the
calls table (:mod:`hotline.metrics.service`). The counts depend on the queues' service-level
seconds and the short-abandon threshold; when they change, the call hours are rebuilt.

*Day sums* (:mod:`hotline.metrics.day_rollups`, decision 0017) follow the facts in the same
transaction: the recomputed tickets' old cells are subtracted and their new ones added; they are
built from the facts when missing or cut with another UTC offset.

Both refreshes are idempotent and serialised (PostgreSQL advisory lock; SQLite's single writer).
:func:`refresh` first checks in a read-only session and writes nothing when all is current, so
report pages can call it on every request.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from hotline.calls.models import Call
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.database import utcnow
from hotline.metrics import day_rollups
from hotline.metrics.call_tally import CallRecord, CallThresholds, CallTally, hour_of
from hotline.metrics.models import DAY_TABLES, CallbackFact, CallHour, RollupState, TicketFact, TransferHour
from hotline.metrics.ticket_facts import DeadlineRow, EventRow, TicketRow, ticket_facts

log = logging.getLogger(__name__)

__all__ = ["FACTS", "CALL_HOURS", "OVERLAP", "STUCK_CALL_HOURS", "refresh", "refresh_ticket_facts",
           "refresh_call_hours", "facts_stale", "calls_stale", "rebuild", "call_rows", "stored_until",
           "CALL_COLUMNS", "days_stale"]

FACTS = "ticket_facts"
CALL_HOURS = "call_hours"
#: Event ids below the watermark whose late commit is still noticed (PostgreSQL).
OVERLAP = 10_000
#: A call still without an end after this many hours no longer keeps its hour open.
STUCK_CALL_HOURS = 24
#: Tickets recomputed per round trip.
BATCH = 500
#: pg_advisory_xact_lock key of the refresh ("12319" + "0011").
ADVISORY_LOCK_KEY = 123190011

_local_lock = threading.Lock()   # one refresh at a time in this process (others then find it done)


# --- state --------------------------------------------------------------------------------------

def _state(session: Session, name: str) -> RollupState | None:
    return session.get(RollupState, name, populate_existing=True)


def _state_for_update(session: Session, name: str) -> RollupState:
    row = _state(session, name)
    if row is None:
        row = RollupState(name=name, position=0, window_count=0, until=None, settings="", updated_at=utcnow())
        session.add(row)
        session.flush()
    return row


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def _upsert(session: Session, table: Any, rows: list[dict], keys: Sequence[str]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={c: stmt.excluded[c] for c in rows[0] if c not in keys})
    session.execute(stmt, rows)


# --- ticket facts --------------------------------------------------------------------------------

def _log_position(session: Session) -> tuple[int, int]:
    """The last event id and the number of events in the window below it — one snapshot."""
    last = select(func.max(TicketEvent.id)).scalar_subquery()
    window = (select(func.count()).select_from(TicketEvent)
              .where(TicketEvent.id > last - OVERLAP, TicketEvent.id <= last).scalar_subquery())
    row = session.execute(select(last.label("last"), window.label("window"))).one()
    return int(row.last or 0), int(row.window or 0)


def _window_count(session: Session, position: int) -> int:
    return session.execute(select(func.count()).select_from(TicketEvent).where(
        TicketEvent.id > position - OVERLAP, TicketEvent.id <= position)).scalar_one()


def facts_stale(session: Session) -> bool:
    state = _state(session, FACTS)
    position = state.position if state else 0
    last, _ = _log_position(session)
    if last > position:
        return True
    return state is not None and _window_count(session, position) != state.window_count


def _tickets_with_events(session: Session, low: int, high: int) -> list[int]:
    return list(session.execute(select(TicketEvent.ticket_id).where(TicketEvent.id > low, TicketEvent.id <= high)
                                .group_by(TicketEvent.ticket_id).order_by(TicketEvent.ticket_id)).scalars())


def compute_facts(session: Session, ticket_ids: Sequence[int]) -> list[dict]:
    """The fact rows of ``ticket_ids`` from their tickets, events and deadlines (three queries)."""
    tickets = session.execute(select(
        Ticket.id, Ticket.created_at, Ticket.channel, Ticket.category_code, Ticket.category_name,
        Ticket.district_code, Ticket.street_code, Ticket.department_code, Ticket.state,
    ).where(Ticket.id.in_(ticket_ids))).all()
    events: dict[int, list[EventRow]] = {}
    for r in session.execute(select(TicketEvent.ticket_id, TicketEvent.id, TicketEvent.seq, TicketEvent.at,
                                    TicketEvent.action, TicketEvent.from_state, TicketEvent.data)
                             .where(TicketEvent.ticket_id.in_(ticket_ids))):
        events.setdefault(r.ticket_id, []).append(EventRow(r.id, r.seq, r.at, r.action, r.from_state, r.data))
    deadlines: dict[int, list[DeadlineRow]] = {}
    for r in session.execute(select(TicketDeadline.ticket_id, TicketDeadline.stage, TicketDeadline.due_at,
                                    TicketDeadline.completed_at).where(TicketDeadline.ticket_id.in_(ticket_ids))):
        deadlines.setdefault(r.ticket_id, []).append(DeadlineRow(r.stage, r.due_at, r.completed_at))
    return [ticket_facts(TicketRow(*t), events.get(t.id, ()), deadlines.get(t.id, ())).as_row() for t in tickets]


def _refresh_tickets(session: Session, ticket_ids: Iterable[int], offset: int | None) -> int:
    """Recompute these tickets' facts and 回访 records; with ``offset`` (the day sums exist) their
    old cells leave the day sums and the new ones enter."""
    ids = list(ticket_ids)
    for i in range(0, len(ids), BATCH):
        batch = ids[i:i + BATCH]
        rows = compute_facts(session, batch)
        if offset is None:            # day_rollups.build follows and copies every 回访 record
            _upsert(session, TicketFact.__table__, rows, ["ticket_id"])
            continue
        old = {r["ticket_id"]: r for r in session.execute(
            select(TicketFact.__table__).where(TicketFact.ticket_id.in_(batch))).mappings()}
        moved = day_rollups.changed(old, rows)
        day_rollups.apply(session, moved, offset, -1)
        _upsert(session, TicketFact.__table__, rows, ["ticket_id"])
        day_rollups.replace_callbacks(session, batch)
        day_rollups.apply(session, moved, offset, +1)
    return len(ids)


def _offset() -> int:
    from hotline.times import zone

    return day_rollups.offset_minutes(utcnow().astimezone(zone()))


def days_stale(session: Session) -> bool:
    return not day_rollups.current(session, _offset())


def refresh_ticket_facts(session: Session) -> int:
    """Bring the facts and their day sums up to the ticket log (in the caller's transaction);
    returns the number of tickets recomputed."""
    _lock(session)
    offset = _offset()
    days = day_rollups.current(session, offset)
    state = _state_for_update(session, FACTS)
    last, window = _log_position(session)
    ids: set[int] = set()
    if state.position and _window_count(session, state.position) != state.window_count:
        ids.update(_tickets_with_events(session, max(0, state.position - OVERLAP), state.position))
    if last > state.position:
        ids.update(_tickets_with_events(session, state.position, last))
    done = _refresh_tickets(session, sorted(ids), offset if days else None)
    state.position, state.window_count, state.updated_at = max(last, state.position), window, utcnow()
    if last < state.position:   # the log shrank (a restored backup): count the window as it is
        state.window_count = _window_count(session, state.position)
    session.flush()
    if not days:
        day_rollups.build(session, offset)
    return done


# --- call hours -----------------------------------------------------------------------------------

CALL_COLUMNS = (Call.started_at, Call.ended_at, func.coalesce(func.json_array_length(Call.ivr_path), 0),
                Call.queue, Call.queue_joined_at, Call.queue_wait_s, Call.agent_answered_at, Call.transfers,
                Call.disposition)


def call_rows(session: Session, start: datetime, end: datetime, queue: str | None = None) -> Iterable[CallRecord]:
    """The calls that started in ``[start, end)`` as :class:`CallRecord` (streamed)."""
    stmt = select(*CALL_COLUMNS).where(Call.started_at >= start, Call.started_at < end)
    if queue is not None:
        stmt = stmt.where(Call.queue == queue, Call.queue_joined_at.is_not(None))
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        yield CallRecord(*row)


def _complete_until(session: Session, now: datetime) -> datetime:
    """The first hour that may still change: the current one, or that of the earliest call
    (started in the last day) that has not ended."""
    current = hour_of(now)
    oldest_live = session.execute(select(func.min(Call.started_at)).where(
        Call.ended_at.is_(None), Call.started_at >= now - timedelta(hours=STUCK_CALL_HOURS),
        Call.started_at < current)).scalar()
    return min(current, hour_of(oldest_live)) if oldest_live is not None else current


def stored_until(session: Session) -> datetime | None:
    """Hours before this are in ``metrics_call_hours``; later ones are counted live."""
    state = _state(session, CALL_HOURS)
    return state.until if state is not None else None


def _last_call_id(session: Session) -> int:
    return int(session.execute(select(func.max(Call.id))).scalar() or 0)


def calls_stale(session: Session, now: datetime, thresholds: CallThresholds) -> bool:
    state = _state(session, CALL_HOURS)
    if state is None or state.settings != thresholds.fingerprint() or state.until is None:
        return True
    if _last_call_id(session) > state.position:
        return True
    return hour_of(now) > state.until and _complete_until(session, now) > state.until


def refresh_call_hours(session: Session, now: datetime, thresholds: CallThresholds) -> int:
    """Store every complete hour not stored yet (in the caller's transaction); returns the number
    of hours written. A call row inserted late (its start before the stored hours' end, e.g. an
    import) makes its hour and the ones after it count again; a change of thresholds rebuilds
    them all."""
    _lock(session)
    state = _state_for_update(session, CALL_HOURS)
    fingerprint = thresholds.fingerprint()
    if state.settings != fingerprint:
        session.execute(delete(CallHour))
        session.execute(delete(TransferHour))
        state.until, state.position, state.settings = None, 0, fingerprint
    last_id = _last_call_id(session)
    complete = _complete_until(session, now)
    if state.until is None:
        first = session.execute(select(func.min(Call.started_at))).scalar()
        start = hour_of(first) if first is not None else complete
        end = complete
    else:
        start = end = state.until
        if last_id > state.position:
            late = session.execute(select(func.min(Call.started_at)).where(
                Call.id > state.position, Call.started_at < state.until)).scalar()
            if late is not None:
                start = hour_of(late)
        start, end = min(start, end), max(end, complete)
    written = 0
    if end > start:
        written = _store_hours(session, start, end, thresholds)
    state.until, state.position, state.updated_at = end, last_id, utcnow()
    session.flush()
    return written


def _store_hours(session: Session, start: datetime, end: datetime, thresholds: CallThresholds) -> int:
    tally = CallTally(thresholds, bucket=hour_of).add_all(call_rows(session, start, end))
    session.execute(delete(CallHour).where(CallHour.hour >= start, CallHour.hour < end))
    session.execute(delete(TransferHour).where(TransferHour.hour >= start, TransferHour.hour < end))
    rows = [{"hour": hour, "queue": queue, **counts.as_row()} for (hour, queue), counts in tally.counts.items()]
    for i in range(0, len(rows), 5000):
        session.execute(insert(CallHour), rows[i:i + 5000])
    rows = [{"hour": hour, "district_code": district, "attempts": c.attempts, "answered": c.answered,
             "cancelled": c.cancelled} for (hour, district), c in tally.transfers.items()]
    for i in range(0, len(rows), 5000):
        session.execute(insert(TransferHour), rows[i:i + 5000])
    return len({key for key, _ in tally.counts} | {key for key, _ in tally.transfers})


# --- entry points -------------------------------------------------------------------------------

def refresh(sessions: sessionmaker[Session], read_sessions: sessionmaker[Session], now: datetime,
            thresholds: CallThresholds) -> dict[str, int]:
    """Bring every rollup up to date; writes only when something changed. Blocking (database
    work): pages run it in a worker thread."""
    with read_sessions() as s:
        stale_facts = facts_stale(s) or days_stale(s)
        stale_calls = calls_stale(s, now, thresholds)
    done = {"tickets": 0, "hours": 0}
    if not (stale_facts or stale_calls):
        return done
    with _local_lock:
        with sessions() as s, s.begin():
            if stale_facts:
                done["tickets"] = refresh_ticket_facts(s)
            if stale_calls:
                done["hours"] = refresh_call_hours(s, now, thresholds)
    if done["tickets"] > 1000 or done["hours"] > 48:
        log.info("metrics rollups caught up: %(tickets)d tickets, %(hours)d hours", done)
    return done


def rebuild(session: Session, now: datetime, thresholds: CallThresholds) -> dict[str, int]:
    """Recompute everything from the calls table and the ticket log (after a restore or an
    import of old calls); in the caller's transaction."""
    _lock(session)
    for table in DAY_TABLES.values():
        session.execute(delete(table))
    session.execute(delete(CallbackFact))
    session.execute(delete(TicketFact))
    session.execute(delete(RollupState))
    session.execute(delete(CallHour))
    session.execute(delete(TransferHour))
    session.flush()
    return {"tickets": refresh_ticket_facts(session), "hours": refresh_call_hours(session, now, thresholds)}
