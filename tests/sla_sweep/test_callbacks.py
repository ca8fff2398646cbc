"""回访 after closure: due the next working day (across a holiday), recorded through perform."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.cases.callbacks import (
    callback_stage_policy, due_callbacks, record_attempt, record_callback,
)
from hotline.cases.errors import PermissionDenied
from hotline.cases import service
from hotline.cases.models import Ticket, TicketDeadline
from hotline.cases.workflow import Actor
from hotline.sla.policy import stage_policy_from_rules
from hotline.users.roles import Role

from .conftest import events, local, make_ticket, outbox

AGENT = Actor(None, Role.AGENT)
DISPATCHER = Actor(None, Role.DISPATCHER)
OFFICER = Actor(None, Role.DEPARTMENT_OFFICER, department_code="util-water")


@pytest.fixture
def policy(rules):
    return callback_stage_policy(stage_policy_from_rules(rules), rules)


def close_ticket(session, policy, calendar, *, closed_at, hint=""):
    ticket = make_ticket(session, at=local(2026, 9, 28, 9, 0), number_hint=hint)
    session.commit()
    steps = [("register", DISPATCHER, {}), ("dispatch", DISPATCHER, {"department_code": "util-water"}),
             ("accept", OFFICER, {}), ("feedback", OFFICER, {"result": "已更换井盖"})]
    for i, (action, actor, payload) in enumerate(steps):
        service.perform(session, ticket.id, action, actor, payload, at=local(2026, 9, 28, 10, i),
                        expected_version=None, stage_policy=policy, calendar=calendar)
    service.perform(session, ticket.id, "verify_pass", DISPATCHER, {}, at=closed_at, expected_version=None,
                    stage_policy=policy, calendar=calendar)
    session.commit()
    return ticket


def test_callback_due_next_working_day_across_the_national_day_holiday(db_session, policy, calendar, rules):
    # closed on Wed 30 Sep 2026; 1-7 Oct are holidays, Thu 8 Oct is the next working day
    ticket = close_ticket(db_session, policy, calendar, closed_at=local(2026, 9, 30, 15, 0))
    row = db_session.execute(select(TicketDeadline).where(
        TicketDeadline.ticket_id == ticket.id, TicketDeadline.stage == "回访")).scalar_one()
    assert row.due_at == local(2026, 10, 8, 17, 30)

    for now in (local(2026, 9, 30, 16, 0), local(2026, 10, 1, 10, 0), local(2026, 10, 7, 23, 59)):
        assert due_callbacks(db_session, now, calendar=calendar) == []
    (upcoming,) = due_callbacks(db_session, local(2026, 10, 1, 10, 0), calendar=calendar, include_upcoming=True)
    assert upcoming.number == ticket.number and not upcoming.overdue

    (task,) = due_callbacks(db_session, local(2026, 10, 8, 8, 0), calendar=calendar)
    assert (task.ticket_id, task.caller_number, task.attempts, task.overdue) == (ticket.id, "13800001234", 0, False)
    assert task.closed_at == local(2026, 9, 30, 15, 0)
    (late,) = due_callbacks(db_session, local(2026, 10, 9, 9, 0), calendar=calendar)
    assert late.overdue


def test_rules_callback_due_is_the_fallback_limit(rules):
    policy = callback_stage_policy(lambda ticket, stage: None, rules)
    stage = policy(object(), "回访")
    assert (stage.amount, stage.unit.value) == (1, "working_days")
    assert policy(object(), "处置") is None


def test_oldest_first_and_attempts(db_session, policy, calendar, rules):
    later = close_ticket(db_session, policy, calendar, closed_at=local(2026, 9, 29, 16, 0), hint="b")
    earlier = close_ticket(db_session, policy, calendar, closed_at=local(2026, 9, 29, 11, 0), hint="a")
    now = local(2026, 9, 30, 9, 0)
    assert [t.ticket_id for t in due_callbacks(db_session, now, calendar=calendar)] == [earlier.id, later.id]
    for i in range(3):
        assert record_attempt(db_session, earlier.id, AGENT, at=now + timedelta(minutes=i), note="无人接听") == i + 1
    db_session.commit()
    first = due_callbacks(db_session, now, calendar=calendar, max_attempts=rules.callbacks.max_attempts)[0]
    assert first.attempts == 3 and first.exhausted
    with pytest.raises(ValueError, match="no callback pending"):
        record_attempt(db_session, make_ticket(db_session).id, AGENT, at=now)


def test_dissatisfied_callback_through_perform_then_reopen(db_session, policy, calendar):
    ticket = close_ticket(db_session, policy, calendar, closed_at=local(2026, 9, 29, 11, 0))
    now = local(2026, 9, 30, 9, 30)
    (task,) = due_callbacks(db_session, now, calendar=calendar)
    record_callback(db_session, ticket.id, AGENT, satisfaction="dissatisfied", note="井盖仍松动", at=now,
                    stage_policy=policy, calendar=calendar, expected_version=task.version)
    db_session.commit()
    db_session.expire_all()
    stored = db_session.get(Ticket, ticket.id)
    assert (stored.state, stored.satisfaction) == ("callback_done", "dissatisfied")
    callback_row = db_session.execute(select(TicketDeadline).where(
        TicketDeadline.ticket_id == ticket.id, TicketDeadline.stage == "回访")).scalar_one()
    assert callback_row.completed_at == now
    assert due_callbacks(db_session, now, calendar=calendar, include_upcoming=True) == []
    assert [n.to for n in outbox(db_session, "ticket.callback.")] == ["supervisor"]
    assert events(db_session, "callback")[0].note == "井盖仍松动"

    # a dissatisfied result lets the agent reopen (重办): back to the same unit, 签收 clock restarted
    service.perform(db_session, ticket.id, "reopen", AGENT, {"reason": "回访不满意"}, at=now + timedelta(minutes=5),
                    expected_version=None, stage_policy=policy, calendar=calendar)
    db_session.commit()
    assert db_session.get(Ticket, ticket.id).state == "dispatched"


def test_satisfied_callback_does_not_let_an_agent_reopen(db_session, policy, calendar):
    ticket = close_ticket(db_session, policy, calendar, closed_at=local(2026, 9, 29, 11, 0))
    record_callback(db_session, ticket.id, AGENT, satisfaction="satisfied", at=local(2026, 9, 30, 9, 0),
                    stage_policy=policy, calendar=calendar)
    db_session.commit()
    with pytest.raises(PermissionDenied):
        service.perform(db_session, ticket.id, "reopen", AGENT, {"reason": "x"}, at=local(2026, 9, 30, 10, 0),
                        expected_version=None, stage_policy=policy, calendar=calendar)
