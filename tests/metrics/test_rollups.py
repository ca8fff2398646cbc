"""The pre-aggregations follow the calls table and the ticket log, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

import metrics_fixture as mf
from hotline.cases.models import TicketEvent
from hotline.database import read_session_factory
from hotline.metrics import rollups, service
from hotline.metrics.call_tally import CallFigures, CallThresholds
from hotline.metrics.models import CallHour, RollupState, TicketFact
from hotline.metrics.service import Period, ReportFilter
from ivr.events import Disposition

WEEK = ReportFilter(Period(date(2026, 11, 2), date(2026, 11, 8), mf.TZ))


@pytest.fixture
def refresh(db_factory, engine):
    reads = read_session_factory(engine)

    def run(now=mf.NOW, thresholds=mf.THRESHOLDS):
        return rollups.refresh(db_factory, reads, now, thresholds)

    return run


def week_figures(session, thresholds=mf.THRESHOLDS):
    report = service.call_report(session, WEEK, mf.NOW, thresholds)
    return CallFigures.of(report.per_queue, thresholds), report


def test_stored_hours_give_the_figures_counted_live(db_factory, refresh):
    with db_factory() as s:
        mf.write_calls(s)
        live, live_report = week_figures(s)
        assert rollups.stored_until(s) is None
    done = refresh()
    # hours with calls: 11-01 23h, 11-02 9h 10h, 11-03 14h 15h, 11-04 20h, 11-05 9h 11h, 11-08 23h, 11-09 0h
    assert done["hours"] == 10
    with db_factory() as s:
        assert rollups.stored_until(s) == mf.NOW.replace(minute=0)
        stored, stored_report = week_figures(s)
        assert s.execute(select(func.count()).select_from(CallHour)).scalar_one() == 11   # 11-05 9h: two queues
    assert stored.counts == live.counts
    assert stored_report.transfers == live_report.transfers
    assert [c.calls for c in stored_report.by_hour] == [c.calls for c in live_report.by_hour]


def test_a_refresh_with_nothing_new_writes_nothing(db_factory, refresh):
    with db_factory() as s:
        mf.write_calls(s)
        mf.write_tickets(s)
    assert refresh() == {"tickets": 13, "hours": 10}
    with db_factory() as s:
        before = {r.name: r.updated_at for r in s.execute(select(RollupState)).scalars()}
    assert refresh() == {"tickets": 0, "hours": 0}
    with db_factory() as s:
        assert {r.name: r.updated_at for r in s.execute(select(RollupState)).scalars()} == before


def test_a_call_still_going_keeps_its_hour_open(db_factory, refresh):
    going = replace(mf.CALLS[0], call_id="going", started_at=mf.at(11, 10, 10, 50), ended_at=None,
                    queue_joined_at=None, agent_answered_at=None, queue="", queue_wait_s=None, disposition=None)
    with db_factory() as s:
        mf.write_calls(s, [*mf.CALLS, going])
    refresh()
    with db_factory() as s:
        assert rollups.stored_until(s) == mf.at(11, 10, 10)
    with db_factory() as s:
        mf.write_calls(s, [replace(going, ended_at=mf.at(11, 10, 11, 30), disposition=Disposition.SELF_SERVED)])
    refresh()
    with db_factory() as s:
        assert rollups.stored_until(s) == mf.at(11, 10, 12)
        day = ReportFilter(Period(date(2026, 11, 10), date(2026, 11, 10), mf.TZ))
        report = service.call_report(s, day, mf.NOW, mf.THRESHOLDS)
        assert report.per_queue[""].self_served == 1


def test_a_call_written_late_is_counted_after_the_next_refresh(db_factory, refresh):
    with db_factory() as s:
        mf.write_calls(s, mf.CALLS[:5])
    refresh()
    with db_factory() as s:
        mf.write_calls(s, mf.CALLS[5:])          # e.g. an import of the rest of the week
        assert week_figures(s)[0].calls == 5     # the stored hours do not know them yet
    refresh()
    with db_factory() as s:
        assert week_figures(s)[0].calls == 16


def test_new_thresholds_rebuild_the_call_hours(db_factory, refresh):
    with db_factory() as s:
        mf.write_calls(s)
    refresh()
    stricter = CallThresholds(service_level_s={"agents": 10, "mongolian": 20}, wrapup_s=mf.THRESHOLDS.wrapup_s)
    refresh(thresholds=stricter)
    with db_factory() as s:
        fig, _ = week_figures(s, stricter)
    # agents within 10 s: 1 (8 s), 9 (10 s); mongolian 13 (18 s)
    assert fig.answered_in_sl == 3


def test_facts_follow_new_events(db_factory, refresh):
    with db_factory() as s:
        tickets = mf.write_tickets(s)
    refresh()
    with db_factory() as s:
        desk = mf.Desk(s, mf.People(*[None] * 7), {})
        water = s.execute(select(mf.User).where(mf.User.username == "m-water")).scalar_one()
        officer = mf.Actor(water.id, mf.Role.DEPARTMENT_OFFICER, None, mf.WATER)     # T3 is 供水's
        desk.act(tickets["T3"], "feedback", officer, mf.at(11, 10, 10), result="已处理")
        assert rollups.facts_stale(s)
    assert refresh()["tickets"] == 1
    with db_factory() as s:
        total = service.case_figures(s, WEEK, mf.NOW)[None]
        fact = s.get(TicketFact, tickets["T3"].id)
    # T3 still counts where it was due (11-04 09:00), now as handled late
    assert (total.due_handle, total.handled, total.handled_late, total.overdue_unhandled) == (7, 7, 2, 0)
    assert fact.handled_at == mf.at(11, 10, 10) and fact.handle_ref_at == mf.at(11, 4, 9)


def test_an_event_committed_late_below_the_watermark_is_noticed(db_factory, refresh):
    with db_factory() as s:
        tickets = mf.write_tickets(s)
        last = s.execute(select(func.max(TicketEvent.id))).scalar_one()
        # an event that took a higher id committed first (PostgreSQL hands out ids before commit)
        s.execute(insert(TicketEvent).values(id=last + 10, ticket_id=tickets["T11"].id, seq=2, at=mf.at(11, 9, 9),
                                             actor="system", action="escalate", from_state="received",
                                             to_state="received", note="", data={}))
        s.commit()
    refresh()
    with db_factory() as s:
        assert not rollups.facts_stale(s)
        # … and the one with the lower id commits afterwards: T11 registered
        s.execute(insert(TicketEvent).values(id=last + 5, ticket_id=tickets["T11"].id, seq=3, at=mf.at(11, 9, 10),
                                             actor="agent", action="register", from_state="received",
                                             to_state="registered", note="", data={}))
        s.commit()
        assert rollups.facts_stale(s)
    assert refresh()["tickets"] == 13          # the window below the watermark is read again
    with db_factory() as s:
        assert not rollups.facts_stale(s)
        assert s.get(TicketFact, tickets["T11"].id).registered_at == mf.at(11, 9, 10)


def test_rebuild_recomputes_everything(db_factory, refresh):
    with db_factory() as s:
        mf.write_calls(s)
        mf.write_tickets(s)
    refresh()
    with db_factory() as s, s.begin():
        s.execute(TicketFact.__table__.update().values(rework_count=9))
        assert rollups.rebuild(s, mf.NOW, mf.THRESHOLDS) == {"tickets": 13, "hours": 10}
    with db_factory() as s:
        assert s.execute(select(func.sum(TicketFact.rework_count))).scalar_one() == 1


def test_a_period_still_running_is_counted_up_to_now(db_factory, refresh):
    with db_factory() as s:
        mf.write_calls(s)
    refresh()
    # "now" is 11-03 14:10 for this report: calls 1–9 started before it
    now = mf.at(11, 3, 14, 10)
    with db_factory() as s:
        report = service.call_report(s, WEEK, now, mf.THRESHOLDS)
        assert sum(c.calls for c in report.per_queue.values()) == 9
        assert WEEK.period.until(now) == now
    assert WEEK.period.until(mf.NOW) == WEEK.period.end
    assert WEEK.period.until(mf.at(10, 1, 0)) == WEEK.period.start
    assert WEEK.period.end - WEEK.period.start == timedelta(days=7)
