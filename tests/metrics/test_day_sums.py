"""The day sums (decision 0017) give exactly the figures the facts give, on a generated city
(the benchmark's generator, fixed seed, three months of tickets), for several periods and
filters; and a refresh after new events leaves them as a rebuild from scratch would."""

from __future__ import annotations

import importlib.util
import random
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.database import read_session_factory
from hotline.metrics import day_rollups, rollups, service
from hotline.metrics.call_tally import CallThresholds
from hotline.metrics.models import DAY_TABLES, CallbackFact
from hotline.metrics.service import GROUPS, CaseFigures, Period, ReportFilter

_spec = importlib.util.spec_from_file_location(
    "reports_bench", Path(__file__).resolve().parents[2] / "benchmarks" / "reports_bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

NOW = bench.END                     # 2026-11-30 18:00 Asia/Shanghai
TZ = bench.TZ
THRESHOLDS = CallThresholds(service_level_s={}, wrapup_s={})
STREETS = {"150402": ["150402001", "150402002", "150402003"], "150403": ["150403001"],
           "150404": ["150404001", "150404002"], "150428": []}
CATEGORIES = [("06001", "matter", "私搭乱建", "ref"), ("06002", "matter", "占道经营", "ref"),
              ("01001", "component", "供水井盖", "ref"), ("01002", "component", "雨水井盖", "ref")]
GROUPINGS = [*GROUPS, None]
PERIODS = [
    (date(2026, 11, 1), date(2026, 11, 30)),      # the month now is in: its last day from the facts
    (date(2026, 10, 15), date(2026, 11, 14)),     # days only, across a month's end
    (date(2026, 9, 10), date(2026, 11, 20)),      # a whole month with days either side
    (date(2026, 9, 1), date(2026, 12, 31)),       # whole months, then days past now
    (date(2026, 11, 3), date(2026, 11, 3)),       # one day
    (date(2025, 12, 1), date(2026, 11, 30)),      # a year
]
FILTERS = [{}, {"district_code": "150402"}, {"street_code": "150402001"}, {"department_code": "city-urban"},
           {"category": "06"}, {"category": "01001"}, {"district_code": "150402", "department_code": "util-water"},
           {"district_code": "150404", "category": "06"}]


def write_city(session, tickets: int = 1500, seed: int = 12319, days: int = 100) -> None:
    """The benchmark's tickets (events with stage-stop records, deadline rows), over ``days``."""
    bench_days, bench.DAYS = bench.DAYS, days
    try:
        rng = random.Random(seed)
        defaults = dict(source_key=None, caller_name="", call_id=None, category_id=None, transcript="", address="",
                        lat=None, lon=None, community_code=None, routing=None, satisfaction=None, parent_id=None)
        event_id = 0
        for ticket_id, (ticket, events, deadlines) in enumerate(
                bench.gen_tickets(rng, tickets, STREETS, CATEGORIES), start=1):
            session.execute(insert(Ticket), [{**defaults, **ticket, "id": ticket_id}])
            rows = []
            for seq, (action, at, frm, to, data) in enumerate(events, start=1):
                event_id += 1
                rows.append(dict(id=event_id, ticket_id=ticket_id, seq=seq, at=at, actor="bench", action=action,
                                 from_state=frm, to_state=to, note="", data=data))
            session.execute(insert(TicketEvent), rows)
            if deadlines:
                session.execute(insert(TicketDeadline), [
                    dict(ticket_id=ticket_id, stage=stage, amount=1.0, unit="natural_hours", started_at=s, due_at=due,
                         completed_at=done, provisional=False) for stage, s, due, done in deadlines])
        session.commit()
    finally:
        bench.DAYS = bench_days


@pytest.fixture
def city(db_factory, engine):
    with db_factory() as s:
        write_city(s)
    reads = read_session_factory(engine)

    def refresh():
        return rollups.refresh(db_factory, reads, NOW, THRESHOLDS)

    refresh()
    return refresh


def _same(a: CaseFigures, b: CaseFigures, where: str) -> None:
    for f in fields(CaseFigures):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "stage_sums":
            assert x.keys() == y.keys(), where
            for stage in x:
                assert x[stage] == pytest.approx(y[stage], rel=1e-12, abs=1e-6), (where, stage)
        else:
            assert x == y, (where, f.name)


def _compare(session, periods=PERIODS, filters=FILTERS) -> int:
    """Both paths for every period × filter; returns how many groupings the day sums answered."""
    answered = 0
    for first, last in periods:
        for conditions in filters:
            f = ReportFilter(Period(first, last, TZ), **conditions)
            sums = service.case_groups(session, f, NOW, GROUPINGS, day_sums=True)
            facts = service.case_groups(session, f, NOW, GROUPINGS, day_sums=False)
            p = day_rollups.plan(session, f, f.period.start, f.period.until(NOW), GROUPINGS)
            answered += len(p.shapes) if p else 0
            for group in GROUPINGS:
                where = f"{first}…{last} {conditions} by {group}"
                assert sums[group].keys() == facts[group].keys(), where
                for key in facts[group]:
                    _same(sums[group][key], facts[group][key], f"{where} = {key}")
    return answered


def test_day_sums_give_the_figures_the_facts_give(db_factory, city):
    with db_factory() as s:
        total = service.case_figures(s, ReportFilter(Period(date(2026, 9, 1), date(2026, 11, 30), TZ)), NOW)[None]
        assert total.received > 1000 and total.due_handle > 500 and total.callbacks > 300   # a real workload
        assert _compare(s) > 100


def _snapshot(session) -> dict:
    out = {}
    for block, table in DAY_TABLES.items():
        for row in session.execute(select(table)).mappings():
            values = dict(row)
            key = tuple(values.pop(k) for k in ("shape", "grain", "day", "district_code", "street_code",
                                                  "department_code", "category_code", "channel"))
            if values["n"] == 0:                       # a cell emptied by deltas: nothing left in it
                assert not any(values.values()), (block, key, values)
                continue
            out[(block, *key)] = values
    out["callbacks"] = sorted(tuple(r) for r in session.execute(select(CallbackFact.__table__)).all())
    return out


def test_a_refresh_after_new_events_equals_a_rebuild(db_factory, city):
    at = NOW - timedelta(hours=2)
    with db_factory() as s:
        def append(ticket_id: int, action: str, frm: str, to: str, data: dict) -> None:
            last = s.execute(select(TicketEvent.id).order_by(TicketEvent.id.desc()).limit(1)).scalar()
            seq = s.execute(select(TicketEvent.seq).where(TicketEvent.ticket_id == ticket_id)
                            .order_by(TicketEvent.seq.desc()).limit(1)).scalar()
            s.execute(insert(TicketEvent), [dict(id=last + 1, ticket_id=ticket_id, seq=seq + 1, at=at, actor="bench",
                                                 action=action, from_state=frm, to_state=to, note="", data=data)])

        closed = s.execute(select(Ticket.id).where(Ticket.state == "closed").limit(30)).scalars().all()
        for tid in closed:                                           # 回访 records, some today
            append(tid, "callback_attempt", "closed", "closed", {"stage": "回访"})
        working = s.execute(select(Ticket.id, TicketDeadline.due_at).join(TicketDeadline, TicketDeadline.ticket_id == Ticket.id)
                            .where(Ticket.state == "in_progress", TicketDeadline.stage == "处置").limit(20)).all()
        for tid, due in working:                                     # fed back: disposal and its due moment move
            append(tid, "feedback", "in_progress", "resolved", {"deadlines": [
                {"stage": "处置", "completed_at": at.isoformat(), "due_at": due.isoformat(), "overdue": at > due}]})
            s.execute(update(Ticket).where(Ticket.id == tid).values(state="resolved"))
            s.execute(update(TicketDeadline).where(TicketDeadline.ticket_id == tid, TicketDeadline.stage == "处置")
                      .values(completed_at=at))
        moved = s.execute(select(Ticket.id).where(Ticket.district_code == "150402").order_by(Ticket.id).limit(20)
                          ).scalars().all()
        for tid in moved:                                            # another district: every cell of it moves
            s.execute(update(Ticket).where(Ticket.id == tid).values(district_code="150404", street_code="150404002",
                                                                    department_code="util-gas", channel="web"))
            append(tid, "update", None, None, {"district_code": "150404"})
        s.commit()
    assert city()["tickets"] == len(set(closed) | {t for t, _ in working} | set(moved))
    with db_factory() as s:
        incremental = _snapshot(s)
        assert _compare(s, PERIODS[:3], FILTERS[:4]) > 0
    with db_factory() as s, s.begin():
        rollups.rebuild(s, NOW, THRESHOLDS)
    with db_factory() as s:
        assert _snapshot(s) == incremental


def test_a_period_in_another_utc_offset_reads_the_facts(db_factory, city):
    from zoneinfo import ZoneInfo

    f = ReportFilter(Period(date(2026, 11, 1), date(2026, 11, 20), ZoneInfo("UTC")))
    with db_factory() as s:
        assert day_rollups.plan(s, f, f.period.start, f.period.until(NOW), GROUPINGS) is None
        ok = ReportFilter(Period(date(2026, 11, 1), date(2026, 11, 20), TZ))
        assert day_rollups.plan(s, ok, ok.period.start, ok.period.until(NOW), GROUPINGS) is not None
