"""Console case pages over a million tickets: 工单查询 (``/tickets``) and 我的待办 (``/inbox``) p95,
on SQLite and PostgreSQL, through the whole application (session, CSRF-free GETs, services,
templates) with Starlette's TestClient — no network, so the figures are the server's own time.

Data (a steady state of two years, seed 12319): N tickets created evenly over the 730 days
before ``NOW``; those of the last 10 days are open (受理 … 已反馈, with their running stage, some
warned, some overdue, some back from 返工), older ones closed or called back (a few voided,
answered or merged). 40 % are handed to a district (no department: 属地), 60 % to one of the
rules' departments; four districts, their sample-grid streets, the sample categories. Closed
tickets carry two completed deadline rows; open ones their events (create … accept, 返工).

Measured per backend, each page ``--requests`` times after 5 warm-ups, p50 / p95 / max in ms —
first with the indexes of migration 0005 dropped (what the pages cost on the 0004 schema), then
with them. PostgreSQL after ``VACUUM ANALYZE`` (what autovacuum keeps in production); SQLite
without ``ANALYZE`` statistics, as the application creates and runs the file.

Usage::

    .venv/bin/python benchmarks/console_pages_bench.py --tickets 1000000 \\
        --pg postgresql://postgres@127.0.0.1:5432/postgres --out benchmarks/results/console_pages.md
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hotline.models  # noqa: E402,F401
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent  # noqa: E402
from hotline.categories.models import Category  # noqa: E402
from hotline.config import Settings  # noqa: E402
from hotline.database import make_engine  # noqa: E402
from hotline.server import build_state  # noqa: E402
from hotline.users.service import create_user  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)      # a Friday, working day
PASSWORD = "bench-pass-1"
USERS = {
    "sup": dict(role="supervisor", display_name="值班长"),
    "hs": dict(role="district_officer", district_code="150402", display_name="红山区办"),
    "water": dict(role="department_officer", department_code="util-water", display_name="供水公司"),
}
# the indexes migration 0005 adds for these pages (dropped for the "before" figures, when the
# plain district and department indexes of migration 0001 they replace are put back)
INDEXES_0005 = ("ix_tickets_district_department_state", "ix_tickets_department_state", "ix_tickets_state_district",
                "ix_tickets_parent")
INDEXES_0001 = {"ix_tickets_district_code": "CREATE INDEX ix_tickets_district_code ON tickets (district_code)",
                "ix_tickets_department_code": "CREATE INDEX ix_tickets_department_code ON tickets (department_code)",
                "ix_tickets_state": "CREATE INDEX ix_tickets_state ON tickets (state)"}
OPEN_MIX = [("received", 4), ("registered", 4), ("dispatched", 18), ("in_progress", 50),
            ("extension_requested", 4), ("returned", 2), ("resolved", 18)]
CLOSED_MIX = [("callback_done", 80), ("closed", 14), ("voided", 2), ("answered", 2), ("merged", 1), ("rejected", 1)]
RUNNING_STAGE = {"dispatched": "签收", "in_progress": "处置", "extension_requested": "处置", "resolved": "核查"}


def _pick(rng: random.Random, mix):
    return rng.choices([m[0] for m in mix], weights=[m[1] for m in mix])[0]


def generate(n: int, state, categories: list, rng: random.Random):
    """Rows of tickets, deadlines and events (dicts of column values)."""
    names = state.names
    districts = ["150402", "150403", "150404", "150428"]
    streets = {d: [c for c, _ in names.streets_of(d)] or [None] for d in districts}
    departments = [d.code for d in state.rules.departments]
    span = timedelta(days=730).total_seconds()
    deadline_id = event_id = 0
    per_day: dict[str, int] = {}
    for i in range(1, n + 1):
        created = NOW - timedelta(seconds=span * (n - i) / n)      # evenly, oldest first
        age = NOW - created
        open_ = age < timedelta(days=10)
        st = _pick(rng, OPEN_MIX if open_ else CLOSED_MIX)
        district = rng.choice(districts)
        department = rng.choice(departments) if rng.random() < 0.6 else None
        code, kind, cname, ref = rng.choice(categories)
        empty = st == "received" and rng.random() < 0.25               # a voicemail to complete
        day = f"{created.astimezone(TZ):%Y%m%d}"
        per_day[day] = per_day.get(day, 0) + 1
        ticket = {
            "id": i, "number": f"12319-{day}-{per_day[day]:05d}",
            "channel": "phone", "state": st, "caller_number": f"138{rng.randrange(10**8):08d}", "caller_name": "",
            "category_ref": "" if empty else ref, "category_kind": "" if empty else kind,
            "category_code": "" if empty else code, "category_name": "" if empty else cname,
            "description": f"市民反映问题 {i}", "transcript": "", "address": f"示例路{i % 997}号",
            "district_code": district, "street_code": rng.choice(streets[district]), "priority": "normal",
            "department_code": department, "created_at": created, "updated_at": created, "version": 3,
            "closed_at": None if open_ else created + timedelta(days=3),
        }
        deadlines, events = [], []
        if not open_:
            for stage, days in (("签收", 1), ("处置", 3)):
                deadline_id += 1
                deadlines.append({"id": deadline_id, "ticket_id": i, "stage": stage, "amount": days,
                                  "unit": "working_days", "started_at": created,
                                  "due_at": created + timedelta(days=days),
                                  "completed_at": created + timedelta(days=days - 0.5), "provisional": False})
        else:
            steps = ["create"]
            if st != "received":
                steps.append("register")
            if st in RUNNING_STAGE or st == "returned":
                steps.append("dispatch")
            if st in ("in_progress", "extension_requested", "resolved"):
                steps.append("accept")
            rework = st == "in_progress" and rng.random() < 0.1
            if rework:
                steps += ["feedback", "verify_fail"]
            for seq, action in enumerate(steps, 1):
                event_id += 1
                events.append({"id": event_id, "ticket_id": i, "seq": seq, "at": created + timedelta(minutes=seq),
                               "actor": "bench", "action": action, "from_state": None, "to_state": st, "note": "",
                               "data": {}})
            stage = RUNNING_STAGE.get(st)
            if stage:
                started = created + timedelta(minutes=len(steps))
                due = started + timedelta(days=rng.choice([1, 2, 3, 5, 7]))
                deadline_id += 1
                deadlines.append({"id": deadline_id, "ticket_id": i, "stage": stage, "amount": 3,
                                  "unit": "working_days", "started_at": started, "due_at": due, "completed_at": None,
                                  "provisional": False,
                                  "warned_at": (NOW - timedelta(hours=1)
                                                if NOW < due < NOW + timedelta(days=1) else None),
                                  "overdue_at": due if due < NOW else None})
        yield ticket, deadlines, events


def load(state, n: int, rng: random.Random) -> float:
    t0 = time.perf_counter()
    with state.sessions() as s:
        categories = list(s.execute(select(Category.code, Category.kind, Category.name, Category.standard_ref)).all())
    rows = generate(n, state, categories, rng)
    if state.engine.dialect.name == "postgresql":
        _copy_pg(state.engine, rows)
    else:
        _insert_sqlite(state.engine, rows)
    return time.perf_counter() - t0


TICKET_COLS = ["id", "number", "channel", "state", "caller_number", "caller_name", "category_ref", "category_kind",
               "category_code", "category_name", "description", "transcript", "address", "district_code",
               "street_code", "priority", "department_code", "created_at", "updated_at", "version", "closed_at"]
DEADLINE_COLS = ["id", "ticket_id", "stage", "amount", "unit", "started_at", "due_at", "completed_at", "provisional",
                 "warned_at", "overdue_at"]
EVENT_COLS = ["id", "ticket_id", "seq", "at", "actor", "action", "from_state", "to_state", "note", "data"]


def _pg_value(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).isoformat()
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, dict):
        return "{}"
    return str(v)


def _copy_pg(engine, rows) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        buffers = {"tickets": io.StringIO(), "ticket_deadlines": io.StringIO(), "ticket_events": io.StringIO()}
        cols = {"tickets": TICKET_COLS, "ticket_deadlines": DEADLINE_COLS, "ticket_events": EVENT_COLS}

        def flush():
            with conn.cursor() as cur:
                for table, buf in buffers.items():
                    if buf.tell():
                        with cur.copy(f"COPY {table} ({', '.join(cols[table])}) FROM STDIN") as copy:
                            copy.write(buf.getvalue())
                        buffers[table] = io.StringIO()
            conn.commit()

        for count, (t, deadlines, events) in enumerate(rows, 1):
            buffers["tickets"].write("\t".join(_pg_value(t[c]) for c in TICKET_COLS) + "\n")
            for d in deadlines:
                buffers["ticket_deadlines"].write("\t".join(_pg_value(d.get(c)) for c in DEADLINE_COLS) + "\n")
            for e in events:
                buffers["ticket_events"].write("\t".join(_pg_value(e.get(c)) for c in EVENT_COLS) + "\n")
            if count % 50_000 == 0:
                flush()
        flush()
        with conn.cursor() as cur:
            for table in buffers:
                cur.execute(f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 1) FROM {table}))")
        conn.commit()
    finally:
        raw.close()


def _insert_sqlite(engine, rows) -> None:
    batch: dict[str, list] = {"t": [], "d": [], "e": []}

    def flush(conn):
        for key, table in (("t", Ticket.__table__), ("d", TicketDeadline.__table__), ("e", TicketEvent.__table__)):
            if batch[key]:
                conn.execute(insert(table), batch[key])
                batch[key] = []

    with engine.begin() as conn:
        for count, (t, deadlines, events) in enumerate(rows, 1):
            batch["t"].append(t)
            batch["d"].extend({**{"warned_at": None, "overdue_at": None, "paused_at": None}, **d} for d in deadlines)
            batch["e"].extend({**e, "actor_id": None} for e in events)
            if count % 20_000 == 0:
                flush(conn)
        flush(conn)


# --- measuring ------------------------------------------------------------------------------

def pages(numbers: dict[str, str]) -> list[tuple[str, str, str]]:
    """(label, user, URL) of the measured pages."""
    return [
        ("工单查询, 值班长, first page (1M in scope)", "sup", "/tickets"),
        ("工单查询, 值班长, page 40", "sup", "/tickets?page=40"),
        ("工单查询, 值班长, 红山区 + 处置中", "sup", "/tickets?district=150402&state=in_progress"),
        ("工单查询, 值班长, by ticket number", "sup", f"/tickets?q={numbers['recent']}"),
        ("工单查询, 值班长, created on one day", "sup", "/tickets?from=2026-06-01&to=2026-06-01"),
        ("工单查询, 红山区 officer (its own only)", "hs", "/tickets"),
        ("工单查询, 供水公司 officer", "water", "/tickets"),
        ("我的待办, 红山区: 待签收", "hs", "/inbox"),
        ("我的待办, 红山区: 已超时", "hs", "/inbox?tab=overdue"),
        ("我的待办, 供水公司: 处理中", "water", "/inbox?tab=handling"),
        ("我的待办, 供水公司: 待核查返工", "water", "/inbox?tab=rework"),
        ("工单页面 (ticket page)", "sup", f"/tickets/{numbers['recent']}"),
    ]


def measure(state, requests: int) -> list[tuple[str, float, float, float]]:
    from fastapi.testclient import TestClient

    from hotline.web.app import create_app

    app = create_app(state)
    clients = {}
    for user in USERS:
        c = TestClient(app, base_url="http://bench")
        r = c.post("/api/session", json={"username": user, "password": PASSWORD})
        r.raise_for_status()
        c.headers["Accept"] = "text/html"
        clients[user] = c
    with state.read_sessions() as s:
        recent = s.scalar(select(Ticket.number).where(Ticket.state == "in_progress")
                          .order_by(Ticket.id.desc()).limit(1))
    out = []
    for label, user, url in pages({"recent": recent}):
        client = clients[user]
        for _ in range(5):
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.text[-500:])
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        times.sort()
        p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
        out.append((label, statistics.median(times), p95, times[-1]))
    for c in clients.values():
        c.close()
    return out


def _analyze(engine) -> None:
    """PostgreSQL's statistics (autovacuum gathers them in production); a deployed SQLite file
    has none, so none are made for it."""
    if engine.dialect.name == "postgresql":    # the steady state autovacuum keeps (visibility map too)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))


def run_backend(kind: str, url: str, n: int, requests: int, out) -> None:
    var = Path(tempfile.mkdtemp(prefix="console-bench-"))
    state = build_state(Settings(var_dir=var, database_url=url, demo_call_rate=0, session_secret="b" * 48))
    state.services.clear()
    state.clock = lambda: NOW
    with state.sessions() as s, s.begin():
        for username, info in USERS.items():
            create_user(s, username=username, password=PASSWORD, **info)
    seconds = load(state, n, random.Random(12319))
    with state.sessions() as s:
        counts = {state_: c for state_, c in s.execute(select(Ticket.state, func.count()).group_by(Ticket.state))}
        deadlines = s.scalar(select(func.count()).select_from(TicketDeadline))
        events = s.scalar(select(func.count()).select_from(TicketEvent))
    open_ = sum(c for st, c in counts.items() if st not in dict(CLOSED_MIX))
    out(f"### {kind}")
    out("")
    out(f"- data: {n:,} tickets ({open_:,} open), {deadlines:,} deadline rows, {events:,} events; load {seconds:.0f} s")
    with state.engine.begin() as c:
        saved = _drop_indexes(c)
    _analyze(state.engine)
    before = measure(state, requests)
    with state.engine.begin() as c:
        for name in INDEXES_0001:
            c.execute(text(f"DROP INDEX {name}"))
        for ddl in saved:
            c.execute(text(ddl))
    _analyze(state.engine)
    after = measure(state, requests)
    out("")
    out("| page | without 0005 indexes p50 / p95 / max (ms) | with them p50 / p95 / max (ms) |")
    out("|---|---|---|")
    for (label, b50, b95, bmax), (_l, a50, a95, amax) in zip(before, after):
        out(f"| {label} | {b50:.0f} / {b95:.0f} / {bmax:.0f} | {a50:.0f} / **{a95:.0f}** / {amax:.0f} |")
    out("")
    state.engine.dispose()
    shutil.rmtree(var, ignore_errors=True)


def _drop_indexes(conn) -> list[str]:
    """Drop migration 0005's page indexes; returns the statements that recreate them."""
    saved = []
    for name in INDEXES_0005:
        if conn.dialect.name == "postgresql":
            ddl = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}).scalar()
        else:
            ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"),
                               {"n": name}).scalar()
        if ddl:
            saved.append(ddl)
            conn.execute(text(f"DROP INDEX {name}"))
    for ddl in INDEXES_0001.values():
        conn.execute(text(ddl))
    return saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("HOTLINE_TEST_POSTGRES_URL",
                                                   "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    backends = args.backends.split(",")
    pg_version = "-"
    if "sqlite" in backends:
        folder = Path(tempfile.mkdtemp(prefix="console-bench-sqlite-"))
        try:
            run_backend("SQLite", f"sqlite:///{folder / 'bench.sqlite3'}", args.tickets, args.requests, out)
        finally:
            shutil.rmtree(folder, ignore_errors=True)      # a million tickets: about 1 GB
    if "postgresql" in backends:
        name = f"hotline_pages_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
            pg_version = c.execute(text("SHOW server_version")).scalar()
        url = make_url(admin.url).set(database=name).render_as_string(hide_password=False)
        try:
            run_backend(f"PostgreSQL {pg_version}", url, args.tickets, args.requests, out)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    if args.out:
        cmd = (f".venv/bin/python benchmarks/console_pages_bench.py --tickets {args.tickets} "
               f"--requests {args.requests} --backends {args.backends} --out {args.out}")
        load_avg = os.getloadavg()
        header = [
            "# Console case pages over a million tickets", "",
            f"Command (from the project root): `{cmd}`", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {__import__('sqlite3').sqlite_version}, PostgreSQL {pg_version} (local, default settings); "
            f"load average after the run {load_avg[0]:.1f}. In-process requests (TestClient): the server's time "
            f"for session, services, queries and templates. Target: p95 < 150 ms.", "",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(header + lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
