"""Migrations, schema, time handling and ticket numbering on both databases."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from hotline.cases.models import AppendOnlyViolation, Ticket, TicketEvent
from hotline.cases.numbering import format_number, next_ticket_number
from hotline.database import Base, DatabaseUnavailable, check_connection, make_engine, session_factory
from hotline.migrate import current_revision, head_revision

SH = ZoneInfo("Asia/Shanghai")


def test_migrations_produce_exactly_the_models_schema(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_every_model_table_exists(engine):
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_unreachable_database_gives_one_clear_line():
    eng = make_engine("postgresql://nobody:secret@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    with pytest.raises(DatabaseUnavailable) as err:
        check_connection(eng)
    msg = str(err.value)
    assert "\n" not in msg and "cannot reach database" in msg and "secret" not in msg


def test_times_round_trip_as_aware_utc(db_session):
    t = datetime(2026, 11, 27, 9, 30, tzinfo=SH)
    db_session.add(Ticket(number="12319-20261127-00001", state="received", created_at=t))
    db_session.commit()
    db_session.expire_all()
    got = db_session.scalars(select(Ticket)).one().created_at
    assert got.tzinfo is not None and got == t


def test_naive_datetimes_are_refused(db_session):
    db_session.add(Ticket(number="12319-20261127-00002", state="received", created_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        db_session.commit()


def test_ticket_numbers_are_per_day_in_hotline_time(db_session):
    # 2026-11-27 23:30 in Shanghai is 15:30 UTC; 00:30 next day in Shanghai is still 27th UTC
    a = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)
    b = a + timedelta(hours=1)
    assert next_ticket_number(db_session, a, SH) == "12319-20261127-00001"
    assert next_ticket_number(db_session, a, SH) == "12319-20261127-00002"
    assert next_ticket_number(db_session, b, SH) == "12319-20261128-00001"
    db_session.commit()
    assert format_number("20261127", 42) == "12319-20261127-00042"
    with pytest.raises(OverflowError):
        format_number("20261127", 100000)


def test_ticket_numbers_unique_under_concurrency(engine):
    factory = session_factory(engine)
    at = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
    barrier = threading.Barrier(8)

    def allocate(_):
        out = []
        barrier.wait()
        for _ in range(25):
            with factory() as s, s.begin():
                out.append(next_ticket_number(s, at, SH))
        return out

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for chunk in pool.map(allocate, range(8)) for n in chunk]
    assert len(numbers) == 200 and len(set(numbers)) == 200
    assert sorted(numbers)[-1] == "12319-20261127-00200"


def test_ticket_events_are_append_only(db_session):
    t = Ticket(number="12319-20261127-00009", state="received")
    t.events.append(TicketEvent(seq=1, action="create", to_state="received"))
    db_session.add(t)
    db_session.commit()
    ev = t.events[0]
    ev.note = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        db_session.commit()
    db_session.rollback()
    db_session.delete(ev)
    with pytest.raises(AppendOnlyViolation):
        db_session.commit()


def test_stale_concurrent_update_is_detected(db_factory):
    from sqlalchemy.orm.exc import StaleDataError

    with db_factory() as s, s.begin():
        s.add(Ticket(number="12319-20261127-00010", state="registered"))
    # two dispatchers open the same ticket (each page load is its own transaction) ...
    s1, s2 = db_factory(), db_factory()
    t1 = s1.scalars(select(Ticket)).one()
    s1.commit()
    t2 = s2.scalars(select(Ticket)).one()
    s2.commit()
    # ... the first one acts, then the second one acts on what it saw
    t1.state = "dispatched"
    s1.commit()
    t2.state = "rejected"
    with pytest.raises(StaleDataError):
        s2.commit()
    s1.close()
    s2.close()


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path, monkeypatch):
    import hotline.database
    from hotline.database import read_session_factory

    monkeypatch.setattr(hotline.database, "WRITER_QUEUE_TIMEOUT", 0.1)  # same thread: don't wait on itself
    from hotline.migrate import upgrade

    eng = make_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}", connect_args={"check_same_thread": False, "timeout": 1})
    upgrade(eng)
    writer = session_factory(eng)()
    writer.add(Ticket(number="12319-20261127-00001", state="received"))
    writer.flush()                                   # holds the write lock, not committed
    with read_session_factory(eng)() as reader:      # a deferred read is not blocked ...
        assert reader.scalars(select(Ticket)).all() == []   # ... and sees only committed data
    with pytest.raises(Exception, match="locked"):   # a second writer does wait (and times out here)
        with session_factory(eng)() as other:
            other.execute(select(Ticket)).all()
    writer.commit()
    writer.close()
    eng.dispose()


def test_sqlite_writers_of_one_process_queue_on_a_lock_held_until_commit_or_rollback(tmp_path):
    """Writers wait on an in-process lock (woken at once) instead of SQLite's sleeping busy handler."""
    from hotline.database import read_session_factory
    from hotline.migrate import upgrade

    eng = make_engine(f"sqlite:///{tmp_path / 'q.sqlite3'}")
    upgrade(eng)
    queue = eng.sqlite_writer_queue
    factory = session_factory(eng)
    with factory() as s, s.begin():
        s.add(Ticket(number="12319-20261127-00001", state="received"))
        s.flush()
        assert queue.locked()                              # held inside a write transaction
    assert not queue.locked()                              # released by the commit
    with pytest.raises(RuntimeError):
        with factory() as s, s.begin():
            s.execute(select(Ticket)).all()
            assert queue.locked()
            raise RuntimeError("handler failed")
    assert not queue.locked()                              # released by the rollback
    with read_session_factory(eng)() as r:                 # reads never take it
        r.execute(select(Ticket)).all()
        assert not queue.locked()

    def write(i: int) -> str:
        with factory() as s, s.begin():
            return next_ticket_number(s, datetime(2026, 11, 27, 3, tzinfo=timezone.utc), ZoneInfo("Asia/Shanghai"))

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(write, range(200)))
    assert sorted(numbers) == [format_number("20261127", n) for n in range(1, 201)]
    assert not queue.locked()
    eng.dispose()
