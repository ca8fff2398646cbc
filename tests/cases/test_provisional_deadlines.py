"""Deadlines in a year whose holiday schedule is only estimated (decision 0007): computed and
marked provisional, recomputed once the official schedule is known, never moved once passed.

The estimated calendar is the one of 2026-12-07: the State Council had not published 2027 yet.
The "official" 2027 schedule entered below is illustrative (the operator's entries in
``routing_rules.yaml``), chosen to differ from the estimate around 春节.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from hotline.cases.deadlines import recompute_provisional
from hotline.cases.timeline import LogEvent
from hotline.cases.models import TicketDeadline
from hotline.sla import WorkCalendar
from tests.cases.test_service import TZ, act, deadline, events, local, new_ticket, people  # noqa: F401
from tests.cases import test_service

pytestmark = pytest.mark.db

ESTIMATED = WorkCalendar("Asia/Shanghai", official_years=range(2001, 2027))
# An operator's 2027 entries: 春节 rest days 02-05 … 02-13 and a make-up Sunday 02-14.
SPRING_2027 = [date(2027, 2, 5) + timedelta(days=i) for i in range(9)]
OFFICIAL = WorkCalendar("Asia/Shanghai", official_years=range(2001, 2027), local_years={2027},
                        extra_holidays=SPRING_2027 + [date(2027, 1, 1)], extra_workdays=[date(2027, 2, 14)])


@pytest.fixture
def estimated(monkeypatch):
    """Workflow actions compute on the estimated calendar."""
    monkeypatch.setattr(test_service, "CAL", ESTIMATED)


def _dispatched_before_spring_festival(db_session, people):
    t = new_ticket(db_session, people, at=local(2027, 2, 1, 9, 0))
    t = act(db_session, t, "register", people["dispatcher"], at=local(2027, 2, 1, 10, 0))
    t = act(db_session, t, "dispatch", people["dispatcher"], {"district_code": "150402"}, at=local(2027, 2, 1, 11, 0))
    return act(db_session, t, "accept", people["hongshan"], at=local(2027, 2, 2, 9, 0))


def test_a_2027_deadline_across_spring_festival_is_computed_provisionally(db_session, people, estimated):
    t = _dispatched_before_spring_festival(db_session, people)
    handle = deadline(db_session, t, "处置")           # 5 working days from Tuesday 2027-02-02
    assert handle.provisional is True
    counted = [d for d in (date(2027, 2, 3) + timedelta(days=i) for i in range(20)) if ESTIMATED.is_workday(d)][:5]
    assert handle.due_at == local(*counted[-1].timetuple()[:3], 17, 30)
    assert not any(date(2027, 2, 6) <= d <= date(2027, 2, 8) for d in counted)   # 初一–初三 skipped
    assert events(db_session, t)[-1].data["deadlines"][-1]["provisional"] is True


def test_official_entries_recompute_it_and_log_the_change(db_session, people, estimated):
    t = _dispatched_before_spring_festival(db_session, people)
    before = deadline(db_session, t, "处置").due_at
    now = local(2027, 2, 3, 12, 0)
    results = recompute_provisional(db_session, OFFICIAL, now)
    db_session.commit()
    # official: 3, 4 February, then 15, 16, 17 (02-14 is a make-up Sunday: 3, 4, 14, 15, 16)
    expected = local(2027, 2, 16, 17, 30)
    assert [(r.ticket_number, r.stage, r.why) for r in results] == [(t.number, "处置", "moved")]
    row = deadline(db_session, t, "处置")
    assert row.due_at == expected != before and row.provisional is False
    log = events(db_session, t)[-1]
    assert log.action == LogEvent.DEADLINE_RECOMPUTED.value and log.actor == "system"
    assert log.from_state == log.to_state == "in_progress"
    assert "处置时限按正式日历重算" in log.note and "2027-02-16 17:30" in log.note
    change = log.data["deadlines"][0]
    assert change["stage"] == "处置" and change["provisional"] is False
    # a second run finds nothing to do and logs nothing
    seq = log.seq
    assert recompute_provisional(db_session, OFFICIAL, now) == []
    db_session.commit()
    assert events(db_session, t)[-1].seq == seq


def test_a_deadline_that_has_passed_never_moves(db_session, people, estimated):
    t = _dispatched_before_spring_festival(db_session, people)
    before = deadline(db_session, t, "处置").due_at
    results = recompute_provisional(db_session, OFFICIAL, before + timedelta(minutes=1))
    db_session.commit()
    assert [r.why for r in results] == ["passed"]
    row = deadline(db_session, t, "处置")
    assert row.due_at == before and row.provisional is False
    assert all(e.action != LogEvent.DEADLINE_RECOMPUTED.value for e in events(db_session, t))


def test_a_recomputed_deadline_never_lands_in_the_past(db_session, people, estimated):
    later_estimate = WorkCalendar("Asia/Shanghai", official_years=range(2001, 2027), extra_holidays=SPRING_2027)
    t = new_ticket(db_session, people, at=local(2027, 2, 1, 9, 0))
    t = act(db_session, t, "register", people["dispatcher"], at=local(2027, 2, 1, 10, 0))
    test_service.CAL = later_estimate             # the estimate had more rest days than the official schedule
    t = act(db_session, t, "dispatch", people["dispatcher"], {"district_code": "150402"}, at=local(2027, 2, 4, 16, 0))
    before = deadline(db_session, t, "签收").due_at          # 1 working day: 2027-02-15 on that estimate
    assert before == local(2027, 2, 15, 17, 30)
    now = local(2027, 2, 15, 9, 0)                           # officially 02-14 (Sunday) was a working day
    results = recompute_provisional(db_session, OFFICIAL, now)
    db_session.commit()
    assert [r.why for r in results] == ["would_be_past"]
    row = deadline(db_session, t, "签收")
    assert row.due_at == before and row.provisional is False


def test_an_approved_extension_is_replayed(db_session, people, estimated):
    t = _dispatched_before_spring_festival(db_session, people)
    t = act(db_session, t, "request_extension", people["hongshan"], {"reason": "春节停工", "duration": 2},
            at=local(2027, 2, 3, 9, 0))
    t = act(db_session, t, "approve_extension", people["supervisor"], at=local(2027, 2, 3, 10, 0))
    assert deadline(db_session, t, "处置").provisional is True
    recompute_provisional(db_session, OFFICIAL, local(2027, 2, 3, 12, 0))
    db_session.commit()
    # official: 3, 4, 14, 15, 16 → then 2 more working days: 17, 18
    assert deadline(db_session, t, "处置").due_at == local(2027, 2, 18, 17, 30)


def test_still_estimated_deadlines_stay_provisional_and_unlogged(db_session, people, estimated):
    t = _dispatched_before_spring_festival(db_session, people)
    before = deadline(db_session, t, "处置").due_at
    results = recompute_provisional(db_session, ESTIMATED, local(2027, 2, 3, 12, 0))
    db_session.commit()
    assert [(r.why, r.provisional) for r in results] == [("unchanged", True)]
    assert deadline(db_session, t, "处置").due_at == before
    assert all(e.action != LogEvent.DEADLINE_RECOMPUTED.value for e in events(db_session, t))


def test_the_scheduler_recomputes_on_its_first_tick_and_when_the_calendar_changes(db_session, db_factory, engine,
                                                                                  people, estimated):
    from hotline.config import PROJECT_ROOT
    from hotline.notify.gateways import LogGateway
    from hotline.rules.loader import load_rules
    from hotline.sla.scheduled import SchedulerService

    t = _dispatched_before_spring_festival(db_session, people)
    rules = load_rules(PROJECT_ROOT / "routing_rules.yaml")
    service = SchedulerService(db_factory, engine, rules, ESTIMATED, LogGateway(), role_numbers={})
    try:
        now = local(2027, 2, 3, 12, 0)
        first = service.run_once(now)
        assert first.leader and first.recomputed == {"looked_at": 1, "unchanged": 1, "still_provisional": 1}
        assert service.run_once(now).recomputed is None          # same calendar: not looked at again
        service.calendar = OFFICIAL                               # e.g. the rules gained 2027's schedule
        assert service.run_once(now).recomputed["moved"] == 1
    finally:
        service.lock.release()
    db_session.expire_all()
    assert deadline(db_session, t, "处置").due_at == local(2027, 2, 16, 17, 30)
    open_provisional = db_session.execute(select(TicketDeadline).where(
        TicketDeadline.provisional.is_(True), TicketDeadline.completed_at.is_(None))).scalars().all()
    assert open_provisional == []
