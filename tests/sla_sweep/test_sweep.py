"""The SLA sweep on SQLite and PostgreSQL: warnings, overdue, escalation levels, exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hotline.cases.models import TicketDeadline
from hotline.sla import StageClock, Stage, SlaStatus
from hotline.sla import sweep as sweep_mod
from hotline.sla.sweep import ACTION_ESCALATE, ACTION_WARNING, sweep

from .conftest import add_deadline, events, local, make_ticket, outbox

START = local(2026, 11, 2, 9, 0)          # Monday 09:00, a working day


def _row(session, row_id) -> TicketDeadline:
    return session.execute(select(TicketDeadline).where(TicketDeadline.id == row_id)
                           .execution_options(populate_existing=True)).scalar_one()


def test_warning_fires_exactly_at_the_configured_fraction(db_session, rules, calendar):
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "处置", START, 5, "working_days", calendar)
    db_session.commit()
    # expected moment computed independently: 80 % of the stage's working time after the start
    allowed = calendar.working_time_between(START, row.due_at)
    expected = calendar.add_working_hours(START, allowed * 4 / 5)
    clock = StageClock(Stage("处置", 5, "working_days"), START, calendar)
    assert clock.deadline == row.due_at
    assert clock.sla_status(expected) is SlaStatus.WARNING
    assert clock.sla_status(expected - timedelta(seconds=1)) is SlaStatus.OK

    report = sweep(db_session, now=expected - timedelta(seconds=1), rules=rules, calendar=calendar)
    assert report.warned == 0 and _row(db_session, row.id).warned_at is None
    assert events(db_session, ACTION_WARNING) == []

    report = sweep(db_session, now=expected, rules=rules, calendar=calendar)
    assert report.warned == 1
    assert _row(db_session, row.id).warned_at == expected
    (event,) = events(db_session, ACTION_WARNING)
    assert event.data["stage"] == "处置" and event.data["percent"] == 80
    assert event.actor == "system" and "预警" in event.note
    sent = outbox(db_session, "ticket.sla_warning.")
    assert sorted(n.to for n in sent) == ["dispatcher", "responsible"]
    assert all(n.channel == "internal" and n.status == "pending" for n in sent)

    # re-running (same moment and later, before the deadline) sends nothing new
    for now in (expected, expected + timedelta(hours=1)):
        again = sweep(db_session, now=now, rules=rules, calendar=calendar)
        assert again.warned == 0 and again.notifications == 0
    assert len(events(db_session, ACTION_WARNING)) == 1
    assert len(outbox(db_session)) == 2


def test_natural_hours_warning_fraction(db_session, rules, calendar):
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "签收", START, 10, "natural_hours", calendar)
    db_session.commit()
    expected = START + timedelta(hours=8)
    assert sweep(db_session, now=expected - timedelta(microseconds=1), rules=rules, calendar=calendar).warned == 0
    assert sweep(db_session, now=expected, rules=rules, calendar=calendar).warned == 1
    assert _row(db_session, row.id).warned_at == expected


def test_overdue_and_each_escalation_level_fire_once(db_session, rules, calendar):
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "处置", START, 1, "working_days", calendar)
    db_session.commit()
    due = row.due_at
    level2 = calendar.add_working_days(due, 1)
    level3 = calendar.add_working_days(due, 5)

    at_deadline = sweep(db_session, now=due, rules=rules, calendar=calendar)
    assert at_deadline.overdue == 0 and at_deadline.warned == 1     # at the deadline: 100 % used, not past it
    report = sweep(db_session, now=due + timedelta(seconds=1), rules=rules, calendar=calendar)
    assert report.overdue == 1 and report.escalations == {1: 1}
    assert _row(db_session, row.id).overdue_at == due + timedelta(seconds=1)

    assert sweep(db_session, now=level2 - timedelta(seconds=1), rules=rules, calendar=calendar).events == 0
    assert sweep(db_session, now=level2, rules=rules, calendar=calendar).escalations == {2: 1}
    assert sweep(db_session, now=level3 - timedelta(seconds=1), rules=rules, calendar=calendar).events == 0
    assert sweep(db_session, now=level3, rules=rules, calendar=calendar).escalations == {3: 1}
    for later in (level3, level3 + timedelta(days=3)):
        again = sweep(db_session, now=later, rules=rules, calendar=calendar)
        assert again.events == 0 and again.notifications == 0

    escalations = events(db_session, ACTION_ESCALATE)
    assert [(e.data["level"], e.data["name"]) for e in escalations] == [(1, "催办"), (2, "督办"), (3, "通报")]
    assert escalations[2].data["notified"] == ["supervisor", "admin", "department:city-housing"]
    templates = Counter(n.template for n in outbox(db_session, "ticket.escalate."))
    assert templates == Counter({
        "ticket.escalate.responsible": 1, "ticket.escalate.dispatcher": 1,
        "ticket.escalate.supervisor": 2, "ticket.escalate.district": 1,
        "ticket.escalate.department:hotline-center": 1, "ticket.escalate.admin": 1,
        "ticket.escalate.department:city-housing": 1,
    })


def test_a_stage_first_seen_long_overdue_gets_every_reached_level_at_once(db_session, rules, calendar):
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "签收", START, 1, "working_days", calendar)
    db_session.commit()
    now = calendar.add_working_days(row.due_at, 5)
    report = sweep(db_session, now=now, rules=rules, calendar=calendar)
    assert report.overdue == 1 and report.escalations == {1: 1, 2: 1, 3: 1}
    assert sweep(db_session, now=now + timedelta(hours=1), rules=rules, calendar=calendar).events == 0
    assert events(db_session, ACTION_WARNING) == []      # no warning for a stage first seen overdue


def test_paused_and_completed_stages_are_skipped(db_session, rules, calendar):
    t1, t2 = make_ticket(db_session), make_ticket(db_session)
    add_deadline(db_session, t1, "处置", START, 1, "working_days", calendar, paused_at=START + timedelta(hours=1))
    add_deadline(db_session, t2, "处置", START, 1, "working_days", calendar, completed_at=START + timedelta(hours=1))
    db_session.commit()
    report = sweep(db_session, now=START + timedelta(days=30), rules=rules, calendar=calendar)
    assert report.events == 0 and report.candidates == 0
    assert events(db_session, ACTION_ESCALATE) == [] and outbox(db_session) == []


def test_restarted_stage_is_a_new_episode(db_session, rules, calendar):
    """A stage restarted by the workflow (marks cleared) escalates again for its new deadline."""
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "处置", START, 1, "working_days", calendar)
    db_session.commit()
    first = row.due_at + timedelta(minutes=1)
    assert sweep(db_session, now=first, rules=rules, calendar=calendar).escalations == {1: 1}
    restart = first + timedelta(hours=1)
    row = _row(db_session, row.id)
    row.started_at, row.due_at = restart, calendar.add_working_days(restart, 1)
    row.warned_at = row.overdue_at = None
    db_session.commit()
    second = row.due_at + timedelta(minutes=1)
    assert sweep(db_session, now=second, rules=rules, calendar=calendar).escalations == {1: 1}
    assert len(events(db_session, ACTION_ESCALATE)) == 2


def test_crash_in_the_middle_of_a_sweep_loses_and_repeats_nothing(db_session, db_factory, rules, calendar, monkeypatch):
    tickets = [make_ticket(db_session, number_hint=str(i)) for i in range(10)]
    rows = [add_deadline(db_session, t, "处置", START, 1, "working_days", calendar) for t in tickets]
    db_session.commit()
    now = rows[0].due_at + timedelta(minutes=5)

    original = sweep_mod._Sweeper._event
    calls = {"n": 0}

    def dying(self, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 5:          # the 5th row: in the middle of the second batch of 3
            raise RuntimeError("process killed")
        return original(self, *args, **kw)

    monkeypatch.setattr(sweep_mod._Sweeper, "_event", dying)
    with db_factory() as crashing, pytest.raises(RuntimeError, match="process killed"):
        sweep(crashing, now=now, rules=rules, calendar=calendar, batch_size=3)
    monkeypatch.setattr(sweep_mod._Sweeper, "_event", original)

    db_session.expire_all()
    marked = [r.id for r in db_session.execute(select(TicketDeadline).where(
        TicketDeadline.overdue_at.is_not(None))).scalars()]
    assert sorted(marked) == sorted(r.id for r in rows[:3])        # the committed batch stayed
    assert len(events(db_session, ACTION_ESCALATE)) == 3
    assert len(outbox(db_session)) == 3 * 2
    db_session.rollback()   # SQLite: release the read transaction's write lock (BEGIN IMMEDIATE)

    with db_factory() as restarted:
        report = sweep(restarted, now=now, rules=rules, calendar=calendar, batch_size=3)
    assert report.overdue == 7
    db_session.expire_all()
    escalations = events(db_session, ACTION_ESCALATE)
    assert sorted(e.ticket_id for e in escalations) == sorted(t.id for t in tickets)
    keys = [n.dedup_key for n in outbox(db_session)]
    assert len(keys) == len(set(keys)) == 10 * 2


def test_two_concurrent_sweepers_never_double_fire(db_factory, rules, calendar):
    with db_factory() as s:
        tickets = [make_ticket(s, number_hint=str(i)) for i in range(60)]
        for i, t in enumerate(tickets):
            start = START if i % 2 else START + timedelta(days=2)
            add_deadline(s, t, "处置", start, 1, "working_days", calendar)
        s.commit()
    # half the stages overdue past level 2 (due Tue 17:30), half at 80 % (started Wed 09:00, due Thu 17:30)
    now = local(2026, 11, 5, 15, 0)
    barrier = threading.Barrier(2)
    reports, failures = [], []

    def run():
        try:
            with db_factory() as session:
                barrier.wait()
                reports.append(sweep(session, now=now, rules=rules, calendar=calendar, batch_size=7))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    # anything skipped because the other sweeper held it is picked up by the next run
    with db_factory() as session:
        sweep(session, now=now, rules=rules, calendar=calendar)
        fired = Counter((e.ticket_id, e.action, e.data.get("level")) for e in events(session))
        keys = [n.dedup_key for n in outbox(session)]
    assert fired[max(fired, key=fired.get)] == 1, "an event fired twice"
    sla = Counter((action, level) for (_, action, level) in fired if action != "create")
    assert sla == Counter({(ACTION_ESCALATE, 1): 30, (ACTION_ESCALATE, 2): 30, (ACTION_WARNING, None): 30})
    assert len(keys) == len(set(keys))


def test_extension_moves_the_deadline_so_no_early_warning(db_session, rules, calendar):
    from hotline.cases import service
    from hotline.cases.workflow import Actor
    from hotline.sla.policy import stage_policy_from_rules
    from hotline.users.roles import Role

    policy = stage_policy_from_rules(rules)
    dispatcher = Actor(None, Role.DISPATCHER)
    officer = Actor(None, Role.DEPARTMENT_OFFICER, department_code="util-water")
    supervisor = Actor(None, Role.SUPERVISOR)
    ticket = make_ticket(db_session)
    db_session.commit()

    def act(action, actor, at, **payload):
        service.perform(db_session, ticket.id, action, actor, payload, at=at, expected_version=None,
                        stage_policy=policy, calendar=calendar)
        db_session.commit()

    act("register", dispatcher, START)
    act("dispatch", dispatcher, START, department_code="util-water")
    act("accept", officer, START)
    row = db_session.execute(select(TicketDeadline).where(TicketDeadline.ticket_id == ticket.id,
                                                          TicketDeadline.stage == "处置")).scalar_one()
    original_due = row.due_at
    original_warning = calendar.add_working_hours(START, calendar.working_time_between(START, original_due) * 4 / 5)
    act("request_extension", officer, START + timedelta(hours=2), reason="材料采购", duration=3, unit="working_days")
    act("approve_extension", supervisor, START + timedelta(hours=3))
    row = _row(db_session, row.id)
    assert row.due_at == calendar.add_working_days(original_due, 3)

    assert sweep(db_session, now=original_warning, rules=rules, calendar=calendar).warned == 0
    new_warning = calendar.add_working_hours(START, calendar.working_time_between(START, row.due_at) * 4 / 5)
    assert new_warning > original_warning
    assert sweep(db_session, now=new_warning - timedelta(seconds=1), rules=rules, calendar=calendar).warned == 0
    assert sweep(db_session, now=new_warning, rules=rules, calendar=calendar).warned == 1
    (warning,) = events(db_session, ACTION_WARNING)
    assert datetime.fromisoformat(warning.data["due_at"]) == row.due_at


def test_rows_outside_the_calendar_are_reported_not_fatal(db_session, rules, calendar):
    t1, t2 = make_ticket(db_session), make_ticket(db_session)
    ok = add_deadline(db_session, t1, "处置", START, 1, "working_days", calendar)
    # a natural-hours stage whose escalation levels need working days of a year the calendar
    # cannot compute at all (2101: beyond the holidays package's lunar tables)
    bad = add_deadline(db_session, t2, "处置", local(2100, 12, 30, 9, 0), 1, "natural_hours", calendar)
    db_session.commit()
    now = local(2100, 12, 31, 9, 0)
    report = sweep(db_session, now=now, rules=rules, calendar=calendar)
    assert _row(db_session, ok.id).overdue_at == now
    assert any(f"deadline {bad.id}" in e and "2101" in e for e in report.errors)
    assert _row(db_session, bad.id).overdue_at is None      # rolled back: retried on the next run


@pytest.mark.parametrize("amount, unit", [(4, "working_days"), (30, "working_days"), (3, "working_hours"),
                                          (50, "natural_hours")])
def test_unconfigured_amounts_warn_exactly_too(db_session, rules, calendar, amount, unit):
    """Stages whose amount the rules do not list (older rules, other sets) are not missed or late."""
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "处置", START, amount, unit, calendar)
    db_session.commit()
    clock = StageClock(Stage("处置", amount, unit), START, calendar)
    if unit == "natural_hours":
        expected = START + (row.due_at - START) * 4 / 5
    else:
        expected = calendar.add_working_hours(START, calendar.working_time_between(START, row.due_at) * 4 / 5)
    assert clock.sla_status(expected) is SlaStatus.WARNING
    assert sweep(db_session, now=expected - timedelta(seconds=1), rules=rules, calendar=calendar).warned == 0
    assert sweep(db_session, now=expected, rules=rules, calendar=calendar).warned == 1
