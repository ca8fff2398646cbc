"""SLA sweep over a large open set on PostgreSQL (hotline.sla.sweep).

Builds a throw-away database with N tickets, each with a completed 签收 stage (history) and an
open 处置 stage of 5 working days started on one of the last five working days (so their
deadlines spread over the coming working days, like a steady state), inserted with COPY.
Rows already past the warning fraction are pre-marked ``warned_at`` (the steady state after
earlier sweeps). Then it measures:

1. the no-op sweep (nothing due) — with the migration's plain ``due_at`` index only, then
   with a partial index ``(due_at) WHERE completed_at IS NULL AND paused_at IS NULL``, then
   also ``(unit, amount, due_at)`` over the open rows not yet warned or overdue (the warning
   queries; rows leave that index once marked);
2. a sweep where 1 % of the open stages are overdue (each: mark, ``escalate`` event, outbox
   rows), and the no-op re-run right after it.

Usage::

    .venv/bin/python benchmarks/sla_sweep_bench.py \
        --pg postgresql://postgres@127.0.0.1:5432/postgres --tickets 1000000 \
        --out benchmarks/results/sla_sweep.md
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hotline.models  # noqa: E402,F401
from hotline.cases.models import TicketEvent  # noqa: E402
from hotline.database import make_engine, session_factory  # noqa: E402
from hotline.directory import work_calendar  # noqa: E402
from hotline.migrate import upgrade  # noqa: E402
from hotline.notify.models import Notification  # noqa: E402
from hotline.rules.loader import load_rules  # noqa: E402
from hotline.sla import Stage, compute_deadline  # noqa: E402
from hotline.sla.sweep import SweepPolicy, sweep  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=TZ)      # a Wednesday, working day
OPEN = "WHERE completed_at IS NULL AND paused_at IS NULL"
UNWARNED = "WHERE completed_at IS NULL AND paused_at IS NULL AND warned_at IS NULL AND overdue_at IS NULL"


def _ts(moment: datetime | None) -> str:
    return "\\N" if moment is None else moment.astimezone(timezone.utc).isoformat()


def build(engine, n: int, calendar, policy, rng: random.Random) -> dict:
    """COPY n tickets and 2n deadline rows; returns counts."""
    days = []
    day = NOW.date()
    while len(days) < 5:
        day -= timedelta(days=1)
        if calendar.is_workday(day):
            days.append(day)
    handle = Stage("处置", 5, "working_days")
    due_by_day = {d: compute_deadline(datetime.combine(d, dtime(9), TZ), handle, calendar) for d in days}
    accept_due = {d: compute_deadline(datetime.combine(d, dtime(8, 0), TZ) - timedelta(days=1),
                                      Stage("签收", 1, "working_days"), calendar) for d in days}
    horizon = calendar.add_working_hours(NOW, timedelta(hours=6.5 * 6) * (100 - policy.warning_percent) / 100)

    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY tickets (id, number, channel, state, caller_number, caller_name, category_ref, "
                          "category_kind, category_code, category_name, description, transcript, address, "
                          "priority, department_code, district_code, created_at, updated_at, version) "
                          "FROM STDIN") as copy:
                buf = io.StringIO()
                for i in range(1, n + 1):
                    d = days[i % 5]
                    created = _ts(datetime.combine(d, dtime(8, 0), TZ) - timedelta(days=1))
                    buf.write(f"{i}\t12319-B-{i:09d}\tphone\tin_progress\t138{i % 100000000:08d}\t\t\t\t\t"
                              f"供水井盖异常\t井盖缺失\t\t昭乌达路\tnormal\tutil-water\t150402\t{created}\t{created}\t1\n")
                    if i % 50000 == 0:
                        copy.write(buf.getvalue())
                        buf = io.StringIO()
                copy.write(buf.getvalue())
            with cur.copy("COPY ticket_deadlines (id, ticket_id, stage, amount, unit, started_at, due_at, "
                          "paused_at, completed_at, warned_at, overdue_at) FROM STDIN") as copy:
                buf = io.StringIO()
                for i in range(1, n + 1):
                    d = days[i % 5]
                    start = datetime.combine(d, dtime(8, 30), TZ) + timedelta(minutes=rng.randrange(0, 200))
                    accepted = datetime.combine(d, dtime(8, 0), TZ) - timedelta(days=1)
                    buf.write(f"{2 * i - 1}\t{i}\t签收\t1\tworking_days\t{_ts(accepted)}\t{_ts(accept_due[d])}\t"
                              f"\\N\t{_ts(start)}\t\\N\t\\N\n")
                    due = due_by_day[d]
                    warned = NOW if due <= horizon else None
                    buf.write(f"{2 * i}\t{i}\t处置\t5\tworking_days\t{_ts(start)}\t{_ts(due)}\t"
                              f"\\N\t\\N\t{_ts(warned)}\t\\N\n")
                    if i % 50000 == 0:
                        copy.write(buf.getvalue())
                        buf = io.StringIO()
                copy.write(buf.getvalue())
            cur.execute("SELECT setval('tickets_id_seq', %s)", (n,))
            cur.execute("SELECT setval('ticket_deadlines_id_seq', %s)", (2 * n,))
        conn.commit()
        load_s = time.perf_counter() - t0
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
        warned = c.execute(text("SELECT count(*) FROM ticket_deadlines WHERE warned_at IS NOT NULL")).scalar()
    return {"load_s": load_s, "pre_warned": warned}


def timed_sweep(sessions, rules, calendar, now, repeat: int = 1):
    times, report = [], None
    for _ in range(repeat):
        with sessions() as s:
            t0 = time.perf_counter()
            report = sweep(s, now=now, rules=rules, calendar=calendar, batch_size=500)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("HOTLINE_TEST_POSTGRES_URL",
                                                   "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--due-percent", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = ap.parse_args()

    rules = load_rules(ROOT / "routing_rules.yaml")
    calendar = work_calendar(rules)
    policy = SweepPolicy.from_rules(rules, calendar)
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
        pg_version = c.execute(text("SHOW server_version")).scalar()
    url = make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    lines = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        upgrade(engine)
        sessions = session_factory(engine)
        n = args.tickets
        built = build(engine, n, calendar, policy, random.Random(12319))
        out(f"- data: {n:,} tickets, {2 * n:,} deadline rows ({n:,} open 处置 stages, {n:,} completed 签收), "
            f"{built['pre_warned']:,} open rows already warned; COPY load {built['load_s']:.1f} s")

        t, r = timed_sweep(sessions, rules, calendar, NOW, args.repeat)
        out(f"- no-op sweep, plain `due_at` index: {t * 1000:.0f} ms (median of {args.repeat}), "
            f"{n / t:,.0f} open rows/s, {r.candidates:,} candidates examined, {r.events} events")

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f"CREATE INDEX ix_bench_deadlines_open_due ON ticket_deadlines (due_at) {OPEN}"))
            c.execute(text("ANALYZE ticket_deadlines"))
        t, r = timed_sweep(sessions, rules, calendar, NOW, args.repeat)
        out(f"- no-op sweep, + partial index `(due_at) {OPEN}`: {t * 1000:.0f} ms, {n / t:,.0f} open rows/s, "
            f"{r.candidates:,} candidates, {r.events} events")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f"CREATE INDEX ix_bench_deadlines_unwarned ON ticket_deadlines "
                           f"(unit, amount, due_at) {UNWARNED}"))
            c.execute(text("ANALYZE ticket_deadlines"))
        t, r = timed_sweep(sessions, rules, calendar, NOW, args.repeat)
        out(f"- no-op sweep, + partial index `(unit, amount, due_at) {UNWARNED}`: {t * 1000:.0f} ms, "
            f"{n / t:,.0f} open rows/s, {r.candidates:,} candidates, {r.events} events")
        due = int(n * args.due_percent / 100)
        overdue_at = NOW - timedelta(hours=1)
        with engine.begin() as c:
            c.execute(text("UPDATE ticket_deadlines SET due_at = :d, warned_at = NULL "
                           "WHERE id IN (SELECT id FROM ticket_deadlines WHERE stage = '处置' "
                           "ORDER BY id LIMIT :k)"), {"d": overdue_at, "k": due})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE ticket_deadlines"))
        t, r = timed_sweep(sessions, rules, calendar, NOW, 1)
        with sessions() as s:
            events = s.execute(select(func.count()).select_from(TicketEvent)).scalar()
            notes = s.execute(select(func.count()).select_from(Notification)).scalar()
        assert r.overdue == due and events == due and notes == 2 * due, (r, events, notes)
        out(f"- {args.due_percent:g} % due ({due:,} overdue stages → {events:,} `escalate` events, "
            f"{notes:,} outbox rows): {t:.2f} s, {due / t:,.0f} due rows/s "
            f"({n / t:,.0f} open rows/s over the whole set)")
        t, r = timed_sweep(sessions, rules, calendar, NOW, args.repeat)
        out(f"- re-run right after (nothing new): {t * 1000:.0f} ms, {r.events} events, "
            f"{r.notifications} notifications")
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    if args.out:
        cmd = ("HOTLINE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres "
               f".venv/bin/python benchmarks/sla_sweep_bench.py --tickets {args.tickets} "
               f"--due-percent {args.due_percent:g} --repeat {args.repeat} --out {args.out}")
        header = [
            "# SLA sweep benchmark (PostgreSQL)", "",
            f"Command (from the project root): `{cmd}`", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"PostgreSQL {pg_version} (local, default settings); sweep `now` = {NOW.isoformat()}, "
            f"rules = routing_rules.yaml (warning at {policy.warning_percent} %, "
            f"{len(policy.levels)} escalation levels), batch 500.", "",
            "Results:", "",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(header + lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
