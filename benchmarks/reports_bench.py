"""Report pages over 1M calls and 1M tickets (with their event log and deadlines), SQLite and
PostgreSQL: how long the rollups take to build, and p50/p95 of every report page.

The generator writes two years of a city hotline with realistic shapes (seeded, reproducible):

* calls — a day/hour profile (peaks 9–11 h and 14–16 h, quieter weekends), 8 % self-served in the
  IVR, 6 % transferred to a district line (15 % of those fail to busy/no answer and fall back to
  the queue), 5 % after-hours messages, 2 % failed; queue waits exponential (mean 14 s), 11 % of
  queued callers abandon, talk log-normal (median ≈ 150 s); 5 % of queued calls go to the
  Mongolian-language queue;
* tickets — the same day profile; 78 % registered, 12 % answered directly, 3 % rejected,
  3 % merged, the rest still at intake when recent; registered cases are dispatched to one of the
  sample grid's streets and a department, accepted (2 % returned first), fed back (on time or
  late by a log-normal margin, 6 % reworked once), closed and called back (18 % unanswered first;
  85 % satisfied or basically satisfied); the last weeks' cases are still open. Every transition
  is a ticket event carrying the stage-stop records the workflow writes, every stage a deadline row.

Then, per database: the rollups are built from scratch (``rollups.rebuild``: the facts of every
ticket from its event log, the hourly call figures), a supervisor opens each report page through
the real application (``TestClient``, session + page handler + templates) ``--repeat`` times for
a month and for a whole year, and the page after 1,000 new ticket events (incremental refresh).

Run:  .venv/bin/python benchmarks/reports_bench.py --calls 1000000 --tickets 1000000 [--pg-url URL]
      (``--pg-url`` defaults to $HOTLINE_TEST_POSTGRES_URL; a fresh database is created and dropped)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from hotline.calls.models import Call  # noqa: E402
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent  # noqa: E402
from hotline.config import Settings  # noqa: E402
from hotline.database import make_engine  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 30, 18, 0, tzinfo=TZ)          # "now" of the generated world
DAYS = 730
PASSWORD = "bench-supervisor-1"
RESULTS = ROOT / "benchmarks" / "results" / "reports.md"
# hour-of-day weights (local), weekday factors
HOURS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 17, 14, 9, 10, 15, 16, 14, 11, 8, 6, 4, 3, 2, 1]
WEEKDAY = [1.1, 1.05, 1.0, 1.0, 1.0, 0.7, 0.6]


def _moments(rng: random.Random, n: int) -> list[datetime]:
    """``n`` local moments over the two years before END, following the day profile."""
    days = [END.date() - timedelta(days=d) for d in range(DAYS)]
    weights = [WEEKDAY[d.weekday()] for d in days]
    out = []
    for day in rng.choices(days, weights=weights, k=n):
        hour = rng.choices(range(24), weights=HOURS)[0]
        out.append(datetime(day.year, day.month, day.day, hour, tzinfo=TZ)
                   + timedelta(seconds=rng.randrange(3600)))
    out.sort()
    return [m for m in out if m < END]


def _iso(m: datetime) -> str:
    return m.astimezone(timezone.utc).isoformat()


# --- calls ---------------------------------------------------------------------------------------

def gen_calls(rng: random.Random, n: int):
    districts = ["150402", "150403", "150404", "150428"]
    for i, start in enumerate(_moments(rng, n)):
        r = rng.random()
        row = dict(call_id=f"bench-{i}", caller=f"138{rng.randrange(10**8):08d}", dialed="12319",
                   started_at=start, answered_at=start + timedelta(seconds=1), ivr_path=[], transfers=[],
                   queue="", queue_joined_at=None, queue_wait_s=None, agent="", agent_answered_at=None,
                   recordings=[], variables={}, digits="", channel="", caller_name="", hangup_cause_text="",
                   updated_at=start)
        steps = rng.choice((1, 2, 2, 3))
        row["ivr_path"] = [{"at": _iso(start + timedelta(seconds=2 * k)), "menu": "main", "kind": "choice",
                            "value": "1"} for k in range(steps)]
        end = start + timedelta(seconds=20 + rng.random() * 40)
        queued = False
        if r < 0.08:
            disposition = "self_served"
        elif r < 0.14:
            district = rng.choice(districts)
            if rng.random() < 0.85:
                row["transfers"] = [{"at": _iso(start + timedelta(seconds=15)), "target": f"district:{district}",
                                     "kind": "district_line", "result": "answered", "dial_status": "ANSWER",
                                     "district_code": district}]
                disposition = "transferred"
                end = start + timedelta(seconds=60 + rng.random() * 200)
            else:
                row["transfers"] = [{"at": _iso(start + timedelta(seconds=15)), "target": f"district:{district}",
                                     "kind": "district_line", "result": rng.choice(("busy", "no_answer")),
                                     "dial_status": "BUSY", "district_code": district}]
                queued, disposition = True, ""
        elif r < 0.19:
            disposition = "voicemail"
        elif r < 0.21:
            disposition, row["answered_at"], row["ivr_path"] = "failed", None, []
        elif r < 0.24:
            disposition = "abandoned"          # hung up in the IVR
        else:
            queued, disposition = True, ""
        if queued:
            row["queue"] = "mongolian" if rng.random() < 0.05 else "agents"
            joined = start + timedelta(seconds=8 + steps * 4)
            row["queue_joined_at"] = joined
            wait = rng.expovariate(1 / 14)
            row["queue_wait_s"] = round(wait, 1)
            if rng.random() < 0.11:
                disposition, end = "abandoned", joined + timedelta(seconds=wait)
            else:
                answered = joined + timedelta(seconds=wait)
                row["agent"], row["agent_answered_at"] = f"坐席{1001 + rng.randrange(12)}", answered
                disposition = "agent"
                end = answered + timedelta(seconds=rng.lognormvariate(math.log(150), 0.5))
        row["ended_at"], row["disposition"] = end, disposition
        yield row


# --- tickets -------------------------------------------------------------------------------------

def _grid(session) -> tuple[dict[str, list[str]], list[tuple[str, str, str, str]]]:
    from hotline.categories.models import Category
    from hotline.grid.models import GridUnit

    streets: dict[str, list[str]] = {}
    for code, level in session.execute(select(GridUnit.code, GridUnit.level)):
        if level == 2:
            streets.setdefault(code[:6], []).append(code)
    cats = [(c.code, c.kind, c.name, c.standard_ref) for c in session.execute(select(Category)).scalars()]
    return streets, cats


DEPARTMENTS = ["city-urban", "city-municipal", "util-water", "util-heat", "util-gas", "city-sanitation",
               "city-landscape", "city-drainage", "city-streetlight", "city-housing"]


def gen_tickets(rng: random.Random, n: int, streets: dict[str, list[str]], cats: list):
    """(ticket row, event rows, deadline rows) per ticket; ids are assigned by the caller."""
    district_weights = {"150402": 5, "150403": 2, "150404": 4, "150428": 1}
    codes = list(district_weights)
    cat_pool = rng.sample(cats, min(60, len(cats)))
    per_day: dict[str, int] = {}
    for created in _moments(rng, n):
        day = created.strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        district = rng.choices(codes, weights=[district_weights[c] for c in codes])[0]
        street = rng.choice(streets.get(district) or [None])
        code, kind, name, ref = rng.choice(cat_pool)
        department = rng.choice(DEPARTMENTS)
        age = (END - created).total_seconds()
        ticket = dict(number=f"12319-{day}-{per_day[day]:05d}", channel=rng.choices(
            ("phone", "web", "open311", "exchange"), weights=(80, 10, 5, 5))[0], caller_number="13800000000",
            category_ref=ref, category_kind=kind, category_code=code, category_name=name, description="诉求",
            district_code=district, street_code=street, department_code=department, priority="normal",
            created_at=created, updated_at=created, version=1)
        events = [("create", created, None, "received", {})]
        deadlines = []
        state = "received"
        r = rng.random()
        t = created + timedelta(minutes=rng.uniform(2, 30))

        def ev(action, at, frm, to, data=None):
            events.append((action, at, frm, to, data or {}))

        if r < 0.12:
            ev("answer_directly", t, "received", "answered")
            state = "answered"
        elif r < 0.15:
            ev("reject", t, "received", "rejected")
            state = "rejected"
        elif r < 0.18:
            ev("merge", t, "received", "merged")
            state = "merged"
        elif r < 0.20 and age < 3 * 86400:
            pass
        else:
            ev("register", t, "received", "registered")
            state = "registered"
            t += timedelta(minutes=rng.uniform(5, 120))
            steps_done = min(6, int(age / 86400 * 3) + 1)   # recent cases are further behind
            # cases older than ten days went round the loop; a few (0.2 %) are stuck
            settled = age > 10 * 86400 and rng.random() > 0.002
            accept_due = t + timedelta(hours=24)
            ev("dispatch", t, "registered", "dispatched", {"deadlines": [
                {"stage": "签收", "started_at": _iso(t), "due_at": _iso(accept_due)}]})
            state = "dispatched"
            deadline = {"签收": [t, accept_due, None]}
            if steps_done >= 2 and (settled or rng.random() < 0.98):
                if rng.random() < 0.02:
                    t2 = t + timedelta(hours=rng.uniform(0.5, 6))
                    ev("return", t2, "dispatched", "returned", {"deadlines": [
                        {"stage": "签收", "completed_at": _iso(t2), "due_at": _iso(accept_due), "overdue": False}]})
                    t = t2 + timedelta(hours=1)
                    accept_due = t + timedelta(hours=24)
                    ev("redispatch", t, "returned", "dispatched")
                    deadline["签收"] = [t, accept_due, None]
                ta = t + timedelta(hours=rng.lognormvariate(math.log(3), 0.9))
                handle_due = ta + timedelta(days=5)
                ev("accept", ta, "dispatched", "in_progress", {"deadlines": [
                    {"stage": "签收", "completed_at": _iso(ta), "due_at": _iso(accept_due), "overdue": ta > accept_due},
                    {"stage": "处置", "started_at": _iso(ta), "due_at": _iso(handle_due)}]})
                deadline["签收"][2] = ta
                deadline["处置"] = [ta, handle_due, None]
                state = "in_progress"
                if steps_done >= 3 and (settled or rng.random() < 0.95):
                    late = rng.random() < 0.12
                    tf = (handle_due + timedelta(hours=rng.lognormvariate(math.log(20), 1.0)) if late
                          else ta + (handle_due - ta) * rng.uniform(0.1, 0.95))
                    ev("feedback", tf, "in_progress", "resolved", {"deadlines": [
                        {"stage": "处置", "completed_at": _iso(tf), "due_at": _iso(handle_due), "overdue": tf > handle_due}]})
                    deadline["处置"][2] = tf
                    state = "resolved"
                    tv = tf + timedelta(hours=rng.lognormvariate(math.log(4), 0.8))
                    if steps_done >= 4 and rng.random() < 0.06:
                        ev("verify_fail", tv, "resolved", "in_progress")
                        handle_due = tv + timedelta(days=5)
                        tf = tv + timedelta(days=rng.uniform(0.5, 3))
                        ev("feedback", tf, "in_progress", "resolved", {"deadlines": [
                            {"stage": "处置", "completed_at": _iso(tf), "due_at": _iso(handle_due),
                             "overdue": tf > handle_due}]})
                        deadline["处置"] = [tv, handle_due, tf]
                        tv = tf + timedelta(hours=rng.uniform(1, 8))
                    if steps_done >= 4:
                        callback_due = tv + timedelta(days=1)
                        ev("verify_pass", tv, "resolved", "closed", {"deadlines": [
                            {"stage": "回访", "started_at": _iso(tv), "due_at": _iso(callback_due)}]})
                        deadline["回访"] = [tv, callback_due, None]
                        state = "closed"
                        tc = tv + timedelta(hours=rng.lognormvariate(math.log(18), 0.6))
                        if steps_done >= 5 and rng.random() < 0.18:
                            ev("callback_attempt", tc, "closed", "closed", {"stage": "回访"})
                            tc += timedelta(hours=rng.uniform(1, 24))
                        if steps_done >= 5 and (settled or rng.random() < 0.92):
                            satisfaction = rng.choices(("satisfied", "basically_satisfied", "dissatisfied"),
                                                       weights=(70, 15, 15))[0]
                            ev("callback", tc, "closed", "callback_done", {"satisfaction": satisfaction, "deadlines": [
                                {"stage": "回访", "completed_at": _iso(tc), "due_at": _iso(callback_due),
                                 "overdue": tc > callback_due}]})
                            deadline["回访"][2] = tc
                            state = "callback_done"
            deadlines = [(stage, s, d, c) for stage, (s, d, c) in deadline.items()]
        events = [e for e in events if e[1] < END]
        ticket["state"] = state
        ticket["closed_at"] = next((e[1] for e in events if e[0] == "verify_pass"), None)
        yield ticket, events, [d for d in deadlines if d[1] < END]


# --- writing ------------------------------------------------------------------------------------

class _Writer:
    """Batched inserts: Core ``executemany`` on SQLite, ``COPY`` on PostgreSQL (the generator's
    speed, not the benchmark's subject)."""

    def __init__(self, conn, table, columns: list[str]):
        self.conn, self.table, self.columns = conn, table, columns
        self.rows: list[dict] = []
        self.pg = conn.dialect.name == "postgresql"
        self.json = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}

    def add(self, row: dict) -> None:
        self.rows.append(row)

    @property
    def full(self) -> bool:
        return len(self.rows) >= 20_000

    def flush(self) -> None:
        if not self.rows:
            return
        if not self.pg:
            self.conn.execute(insert(self.table), self.rows)
        else:
            cursor = self.conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY {self.table.name} ({', '.join(self.columns)}) FROM STDIN") as copy:
                for row in self.rows:
                    copy.write_row([json.dumps(row.get(c), ensure_ascii=False) if c in self.json else row.get(c)
                                    for c in self.columns])
        self.rows = []


def _columns(table, sample: dict) -> list[str]:
    return [c.name for c in table.columns if c.name in sample]


def write_all(engine, calls: int, tickets: int, seed: int) -> dict[str, float]:
    from hotline.database import session_factory

    rng = random.Random(seed)
    times: dict[str, float] = {}
    started = time.perf_counter()
    with engine.begin() as conn:
        writer = None
        for row in gen_calls(rng, calls):
            if writer is None:
                writer = _Writer(conn, Call.__table__, _columns(Call.__table__, row))
            writer.add(row)
            if writer.full:
                writer.flush()
        if writer:
            writer.flush()
    times["write calls"] = time.perf_counter() - started
    with session_factory(engine)() as s:
        streets, cats = _grid(s)
    started = time.perf_counter()
    next_ticket = next_event = 1
    with engine.begin() as conn:
        first = conn.execute(select(Ticket.id).order_by(Ticket.id.desc()).limit(1)).scalar() or 0
        next_ticket = first + 1
        writers: dict[str, _Writer] = {}
        ticket_defaults = dict(source_key=None, caller_name="", call_id=None, category_id=None, transcript="",
                               address="", lat=None, lon=None, community_code=None, routing=None, satisfaction=None,
                               parent_id=None)

        def write(table, row):
            w = writers.get(table.name)
            if w is None:
                w = writers[table.name] = _Writer(conn, table, _columns(table, row))
            w.add(row)

        for ticket, events, deadlines in gen_tickets(rng, tickets, streets, cats):
            ticket["id"] = next_ticket
            write(Ticket.__table__, {**ticket_defaults, **ticket})
            for seq, (action, at, frm, to, data) in enumerate(events, start=1):
                write(TicketEvent.__table__, dict(id=next_event, ticket_id=next_ticket, seq=seq, at=at, actor_id=None,
                                                  actor="bench", action=action, from_state=frm, to_state=to, note="",
                                                  data=data))
                next_event += 1
            for stage, s_at, due, done in deadlines:
                write(TicketDeadline.__table__, dict(ticket_id=next_ticket, stage=stage, amount=1.0, unit="natural_hours",
                                                     started_at=s_at, due_at=due, paused_at=None, completed_at=done,
                                                     warned_at=None, overdue_at=None, provisional=False))
            next_ticket += 1
            if any(w.full for w in writers.values()):
                for name in ("tickets", "ticket_events", "ticket_deadlines"):     # parents first
                    if name in writers:
                        writers[name].flush()
        for name in ("tickets", "ticket_events", "ticket_deadlines"):
            if name in writers:
                writers[name].flush()
        if engine.dialect.name == "postgresql":
            for table, column in (("tickets", "id"), ("ticket_events", "id")):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                  f"(SELECT max({column}) FROM {table}))"))
    times["write tickets"] = time.perf_counter() - started
    times["events"] = next_event - 1
    return times


# --- measuring -------------------------------------------------------------------------------------

def measure(db_url: str, var_dir: Path, calls: int, tickets: int, repeat: int, seed: int, reuse: bool = False,
            year_repeat: int = 3, setup_only: bool = False, compare: bool = False) -> dict:
    from hotline.metrics import rollups
    from hotline.metrics.call_tally import CallThresholds
    from hotline.server import build_state
    from hotline.users.service import create_user

    state = build_state(Settings(var_dir=var_dir, database_url=db_url, demo_call_rate=0, session_secret="b" * 40))
    state.services.clear()
    state.clock = lambda: END
    out: dict = {"database": state.engine.dialect.name}
    if reuse:       # a database an earlier run wrote (and whose rollups it built): pages only
        return _pages(state, out, repeat, year_repeat, compare)
    with state.sessions() as s, s.begin():
        create_user(s, username="benchsup", password=PASSWORD, role="supervisor", display_name="值班长")
    out.update(write_all(state.engine, calls, tickets, seed))
    if state.engine.dialect.name == "postgresql":
        with state.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with state.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    thresholds = CallThresholds.from_rules(state.rules)
    started = time.perf_counter()
    with state.sessions() as s, s.begin():
        done = rollups.rebuild(s, END, thresholds)
    out["rebuild"] = time.perf_counter() - started
    out["rebuilt"] = done
    if state.engine.dialect.name == "sqlite":
        with state.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with state.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    if setup_only:
        state.engine.dispose()
        return out
    return _pages(state, out, repeat, year_repeat, compare)


def _analyze(engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def _pages(state, out: dict, repeat: int, year_repeat: int = 3, compare: bool = False) -> dict:
    from fastapi.testclient import TestClient

    from hotline.database import read_session_factory
    from hotline.metrics import rollups
    from hotline.web.app import create_app

    app = create_app(state)
    month = "from=2026-11-01&to=2026-11-30"
    year = "from=2025-12-01&to=2026-11-30"
    pages = [("概览 /reports", "/reports?{q}"), ("话务 /reports/calls", "/reports/calls?{q}"),
             ("案件 /reports/cases", "/reports/cases?{q}"), ("红山区 /reports/district/150402", "/reports/district/150402?{q}"),
             ("考核排名 /reports/assessment", "/reports/assessment?{q}"),
             ("月度考核报告 /reports/monthly/150402", "/reports/monthly/150402?month=2026-11"),
             ("Excel 区县 /reports/export/districts.xlsx", "/reports/export/districts.xlsx?{q}")]
    from hotline.metrics import service
    from hotline.metrics.call_tally import CallThresholds

    # the day sums of a database written before they existed (or cut with another offset): the
    # first refresh builds them from the facts
    reads = read_session_factory(state.engine)
    t0 = time.perf_counter()
    done = rollups.refresh(state.sessions, reads, END, CallThresholds.from_rules(state.rules))
    out["refresh before the pages"] = time.perf_counter() - t0
    out["refreshed"] = done
    _analyze(state.engine)
    modes = [("facts", False), ("day sums", True)] if compare else [("day sums", True)]
    timings: dict[str, dict[str, dict[str, list[float]]]] = {}
    with TestClient(app, base_url="http://testserver") as client:
        r = client.post("/api/session", json={"username": "benchsup", "password": PASSWORD})
        assert r.status_code == 200, r.text
        for label, q in (("一个月", month), ("一年", year)):
            for name, url in pages:
                if "monthly" in url and label == "一年":
                    continue
                target = url.format(q=q)
                samples: dict[str, list[float]] = {m: [] for m, _ in modes}
                for mode, flag in modes:          # warm each path once
                    service.USE_DAY_SUMS = flag
                    assert client.get(target, headers={"Accept": "text/html"}).status_code == 200, target
                for _ in range(repeat if label == "一个月" else year_repeat):
                    for mode, flag in modes:      # interleaved: both paths see the same machine load
                        service.USE_DAY_SUMS = flag
                        t0 = time.perf_counter()
                        r = client.get(target, headers={"Accept": "text/html"})
                        samples[mode].append(time.perf_counter() - t0)
                        assert r.status_code == 200
                service.USE_DAY_SUMS = True
                timings.setdefault(name, {})[label] = samples
        # activity since the last refresh: 1,000 new events (callback attempts on closed tickets)
        with state.sessions() as s, s.begin():
            ids = list(s.execute(select(Ticket.id).where(Ticket.state == "closed").limit(1000)).scalars())
            base = s.execute(select(TicketEvent.id).order_by(TicketEvent.id.desc()).limit(1)).scalar()
            rows = []
            for i, tid in enumerate(ids):
                seq = s.execute(select(TicketEvent.seq).where(TicketEvent.ticket_id == tid)
                                .order_by(TicketEvent.seq.desc()).limit(1)).scalar()
                rows.append(dict(id=base + 1 + i, ticket_id=tid, seq=seq + 1, at=END - timedelta(minutes=5), actor="bench",
                                 action="callback_attempt", from_state="closed", to_state="closed", note="", data={}))
            s.execute(insert(TicketEvent), rows)
        t0 = time.perf_counter()
        assert client.get(f"/reports?{month}", headers={"Accept": "text/html"}).status_code == 200
        out["after 1000 events"] = time.perf_counter() - t0
    with read_session_factory(state.engine)() as s:
        out["fresh"] = not rollups.facts_stale(s)
    out["pages"] = timings
    state.engine.dispose()
    return out


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def report(results: list[dict], args) -> str:
    lines = [f"# Report pages over {args.calls:,} calls and {args.tickets:,} tickets", "",
             f"Command: `.venv/bin/python benchmarks/reports_bench.py --calls {args.calls} --tickets {args.tickets} "
             f"--repeat {args.repeat} --year-repeat {args.year_repeat}"
             f"{' --compare' if args.compare else ''}{f' --reuse-sqlite {args.reuse_sqlite}' if args.reuse_sqlite else ''}"
             f"{f' --reuse-pg {args.reuse_pg}' if args.reuse_pg else ''}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"load average before the run {args.load}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.", ""]
    for r in results:
        lines += [f"## {r['database']}", ""]
        if "rebuild" in r:
            lines += [f"- written: {args.calls:,} calls in {r['write calls']:.0f} s; {args.tickets:,} tickets with "
                      f"{r['events']:,} events and their deadlines in {r['write tickets']:.0f} s",
                      f"- rollups built from scratch (`rollups.rebuild`): {r['rebuild']:.0f} s "
                      f"({r['rebuilt']['tickets']:,} ticket facts, {r['rebuilt']['hours']:,} call hours)"]
        else:
            source = args.reuse_sqlite if r["database"] == "sqlite" else args.reuse_pg
            lines.append(f"- pages timed on the database an earlier run wrote ({source})")
        if "pages" not in r:
            lines.append("")
            continue
        lines += [f"- refresh before the pages (builds the day sums when the database has none): "
                  f"{r['refresh before the pages']:.1f} s {r['refreshed']}",
                  f"- first page after 1,000 new ticket events (incremental refresh included): "
                  f"{r['after 1000 events'] * 1000:.0f} ms; rollups fresh afterwards: {r['fresh']}", "",
                  "| page | path | month p50 | month p95 | year p50 | year p95 |", "|---|---|---|---|---|---|"]
        for name, by in r["pages"].items():
            for mode in by["一个月"] if "一个月" in by else by["一年"]:
                m, y = by.get("一个月", {}).get(mode), by.get("一年", {}).get(mode)
                cells = [f"{p(m, .5) * 1000:.0f} ms", f"{p(m, .95) * 1000:.0f} ms"] if m else ["—", "—"]
                cells += [f"{p(y, .5) * 1000:.0f} ms", f"{p(y, .95) * 1000:.0f} ms"] if y else ["—", "—"]
                lines.append(f"| {name} | {mode} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20, help="requests per page for a month")
    ap.add_argument("--year-repeat", type=int, default=3, help="requests per page for a whole year")
    ap.add_argument("--seed", type=int, default=12319)
    ap.add_argument("--pg-url", default=os.environ.get("HOTLINE_TEST_POSTGRES_URL", ""))
    ap.add_argument("--only", choices=("sqlite", "postgresql"))
    ap.add_argument("--reuse-sqlite", type=Path, help="time the pages on a SQLite file an earlier run wrote")
    ap.add_argument("--reuse-pg", metavar="DATABASE", help="time the pages on a PostgreSQL database an earlier "
                    "run kept (--keep), on the server of --pg-url")
    ap.add_argument("--sqlite-file", type=Path, help="write the SQLite database there (kept, for --reuse-sqlite)")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL database (its name is printed)")
    ap.add_argument("--setup-only", action="store_true", help="write the data and build the rollups, time nothing")
    ap.add_argument("--compare", action="store_true", help="time every page on the facts path too (the state "
                    "before the day sums), requests interleaved")
    ap.add_argument("--write", action="store_true", help=f"write the report to {RESULTS.relative_to(ROOT)}")
    args = ap.parse_args()
    args.load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.reuse_sqlite:
            results.append(measure(f"sqlite:///{args.reuse_sqlite.resolve()}", Path(tmp) / "sqlite", args.calls,
                                   args.tickets, args.repeat, args.seed, reuse=True,
                                   year_repeat=args.year_repeat, compare=args.compare))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "pages"}, default=str), flush=True)
        elif args.only in (None, "sqlite") and not args.reuse_pg:
            db_file = args.sqlite_file.resolve() if args.sqlite_file else Path(tmp) / "bench.sqlite3"
            results.append(measure(f"sqlite:///{db_file}", Path(tmp) / "sqlite", args.calls, args.tickets,
                                   args.repeat, args.seed, year_repeat=args.year_repeat, compare=args.compare,
                                   setup_only=args.setup_only))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "pages"}, default=str), flush=True)
        if args.pg_url and args.reuse_pg:
            url = make_url(args.pg_url).set(database=args.reuse_pg).render_as_string(hide_password=False)
            results.append(measure(url, Path(tmp) / "pg", args.calls, args.tickets, args.repeat, args.seed,
                                   reuse=True, year_repeat=args.year_repeat, compare=args.compare))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "pages"}, default=str), flush=True)
        elif args.pg_url and args.only in (None, "postgresql"):
            name = f"hotline_reports_bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            print(f"PostgreSQL database: {name}", flush=True)
            try:
                url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
                results.append(measure(url, Path(tmp) / "pg", args.calls, args.tickets, args.repeat, args.seed,
                                       year_repeat=args.year_repeat, setup_only=args.setup_only,
                                       compare=args.compare))
                print(json.dumps({k: v for k, v in results[-1].items() if k != "pages"}, default=str), flush=True)
            finally:
                if not args.keep:
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    text_out = report(results, args)
    print(text_out)
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text_out + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
