"""Scheduler leader election and the periodic tick (sweep → notifications → SMS), both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.cases.models import TicketDeadline
from hotline.notify.gateways import LogGateway
from hotline.sla.leader import FileLock, PostgresAdvisoryLock, leader_lock_for
from hotline.sla.scheduled import SchedulerService

from .conftest import add_deadline, local, make_ticket

START = local(2026, 11, 2, 9, 0)
ROLES = {"dispatcher": ["13800000011"]}


def overdue_row(db_factory, calendar, hint=""):
    with db_factory() as s:
        row = add_deadline(s, make_ticket(s, number_hint=hint), "处置", START, 1, "working_days", calendar)
        s.commit()
        return row.id, row.due_at


def overdue_at(db_factory, row_id):
    with db_factory() as s:
        return s.execute(select(TicketDeadline.overdue_at).where(TicketDeadline.id == row_id)).scalar_one()


def service(db_factory, engine, rules, calendar, gateway=None, **kw):
    return SchedulerService(db_factory, engine, rules, calendar, gateway or LogGateway(), interval=3600,
                            role_numbers=ROLES, **kw)


def test_lock_kind_per_database(engine):
    lock = leader_lock_for(engine)
    assert isinstance(lock, PostgresAdvisoryLock if engine.dialect.name == "postgresql" else FileLock)


async def test_only_the_leader_runs_jobs_and_a_follower_takes_over(db_factory, engine, rules, calendar):
    first, second = service(db_factory, engine, rules, calendar), service(db_factory, engine, rules, calendar)
    try:
        row1, due = overdue_row(db_factory, calendar, "1")
        now = due + timedelta(minutes=1)
        leading = first.run_once(now)
        assert leading.leader and leading.sweep.overdue == 1
        assert overdue_at(db_factory, row1) == now

        row2, _ = overdue_row(db_factory, calendar, "2")
        following = second.run_once(now)
        assert not following.leader and following.sweep is None and following.sent is None
        assert overdue_at(db_factory, row2) is None            # the follower did nothing

        await first.stop()                                     # the leader goes away …
        taken = second.run_once(now)
        assert taken.leader and taken.sweep.overdue == 1       # … and the follower takes over
        assert overdue_at(db_factory, row2) == now
        assert not first.run_once(now).leader                  # the old leader is now the follower
    finally:
        await first.stop()
        await second.stop()


async def test_tick_sweeps_resolves_and_sends_once(db_factory, engine, rules, calendar):
    gateway = LogGateway()
    svc = service(db_factory, engine, rules, calendar, gateway)
    try:
        row, due = overdue_row(db_factory, calendar)
        now = due + timedelta(seconds=1)
        report = svc.run_once(now)
        assert report.leader and report.errors == [] and report.sweep.escalations == {1: 1}
        # level 1 (催办) → responsible (赤峰市供水公司 13804760001) and dispatcher
        assert sorted(m.to for m in gateway.sent) == ["+8613800000011", "+8613804760001"]
        assert all("督办" in m.body and "处置" in m.body for m in gateway.sent)
        assert report.sent.sent == 2
        again = svc.run_once(now)
        assert again.sweep.events == 0 and again.sent.claimed == 0 and len(gateway.sent) == 2
    finally:
        await svc.stop()


async def test_started_scheduler_ticks_in_the_leader_only(db_factory, engine, rules, calendar):
    a, b = service(db_factory, engine, rules, calendar), service(db_factory, engine, rules, calendar)
    try:
        await a.start()
        first = await a.wait_for_ticks(1)
        assert first.leader and first.sweep is not None
        job = a.job()
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, True, 1)
        await b.start()
        report = await b.wait_for_ticks(1)
        assert not report.leader and report.sweep is None
    finally:
        await a.stop()
        await b.stop()
    assert a.job() is None and not a.is_leader


def test_file_lock_excludes_another_process_and_is_freed_when_it_dies(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "db.sqlite3.scheduler.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from hotline.sla.leader import FileLock; "
         f"l = FileLock({str(path)!r}); assert l.try_acquire(); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = FileLock(path)
        assert not mine.try_acquire()          # the other process leads
        holder.kill()                          # … and dies without releasing
        holder.wait()
        assert mine.try_acquire()              # the kernel freed its lock
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_postgres_leader_that_loses_its_connection_is_replaced(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL only")
    from sqlalchemy import text

    first, second = PostgresAdvisoryLock(engine, "test.failover"), PostgresAdvisoryLock(engine, "test.failover")
    try:
        assert first.try_acquire() and not second.try_acquire()
        pid = first._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        assert not first.still_held()          # noticed: no longer the leader
        assert second.try_acquire()            # the session ended, so did its lock
    finally:
        first.dispose()
        second.dispose()
