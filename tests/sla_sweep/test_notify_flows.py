"""Internal notification targets resolved to SMS recipients and texts (hotline.notify.flows)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.cases import service
from hotline.cases.workflow import Actor
from hotline.departments.models import Department
from hotline.notify.flows import NotificationFlows, SmsOutboxSender, role_numbers_from_env
from hotline.notify.gateways import LogGateway
from hotline.notify.models import Notification
from hotline.sla.policy import stage_policy_from_rules
from hotline.sla.sweep import sweep
from hotline.users.roles import Role

from .conftest import add_deadline, local, make_ticket, outbox

START = local(2026, 11, 2, 9, 0)
ROLES = {"dispatcher": ("13800000011",), "admin": ("13800000021", "+86 138 0000 0022")}


def _by_template(session):
    return {n.dedup_key: n for n in outbox(session)}


def test_escalation_targets_become_sms_or_clear_failures(db_session, db_factory, rules, calendar):
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "处置", START, 1, "working_days", calendar)
    db_session.commit()
    sweep(db_session, now=calendar.add_working_days(row.due_at, 5), rules=rules, calendar=calendar)
    assert {n.channel for n in outbox(db_session)} == {"internal"}

    flows = NotificationFlows(rules, role_numbers=ROLES)
    db_session.commit()  # SQLite: end the read transaction (BEGIN IMMEDIATE)
    report = flows.resolve_pending(db_factory, now=START)
    db_session.expire_all()
    rows = outbox(db_session)
    assert all(n.channel == "sms" for n in rows if n.status == "pending")   # nothing internal left to send
    sent_to = sorted(n.to for n in rows if n.status == "pending")
    # responsible = 赤峰市供水公司 (sms in the rules) ×1 (level 1); dispatcher ×1; admin ×2 numbers
    assert sent_to == sorted(["+8613804760001", "+8613800000011", "+8613800000021", "+8613800000022"])
    water = next(n for n in rows if n.to == "+8613804760001")
    assert water.template == "sla_overdue"
    assert "赤峰市供水公司" in water.body and ticket.number in water.body and "处置" in water.body

    # district (landline), hotline-center and city-housing (no sms number), supervisor ×2 (not configured)
    errors = [n.last_error for n in rows if n.status == "failed"]
    assert len(errors) == 5
    assert any("landline" in e and "0476-8312319" in e for e in errors)
    assert any("赤峰市12319城建服务热线中心" in e and "未配置短信号码" in e for e in errors)
    assert sum("值班长" in e and "HOTLINE_NOTIFY_ROLE_NUMBERS" in e for e in errors) == 2
    assert report.resolved == 4 and report.failed == 5 and report.messages == 4   # 8 internal rows

    db_session.commit()  # SQLite: end the read transaction (BEGIN IMMEDIATE)

    again = flows.resolve_pending(db_factory, now=START)
    assert again.resolved == 0 and again.messages == 0


def test_district_office_sms_number_is_used_instead_of_its_line(db_session, db_factory, rules, calendar):
    """A district's ``sms`` (its office's mobile) receives the notices meant for the district;
    without one they go to its line, which is a landline and fails visibly (test above)."""
    districts = [d.model_copy(update={"sms": "13904760402"}) if d.code == "150402" else d for d in rules.districts]
    with_sms = rules.model_copy(update={"districts": districts})
    ticket = make_ticket(db_session)
    row = add_deadline(db_session, ticket, "处置", START, 1, "working_days", calendar)
    db_session.commit()
    sweep(db_session, now=calendar.add_working_days(row.due_at, 5), rules=with_sms, calendar=calendar)
    db_session.commit()
    NotificationFlows(with_sms, role_numbers=ROLES).resolve_pending(db_factory, now=START)
    db_session.expire_all()
    rows = outbox(db_session)
    office = [n for n in rows if n.to == "+8613904760402"]
    assert len(office) == 1 and office[0].status == "pending" and ticket.number in office[0].body
    assert not any("0476-8312319" in (n.last_error or "") for n in rows)


def test_warning_and_dispatch_texts_from_the_templates(db_session, db_factory, rules, calendar):
    policy = stage_policy_from_rules(rules)
    ticket = make_ticket(db_session)
    db_session.commit()
    dispatcher = Actor(None, Role.DISPATCHER)
    service.perform(db_session, ticket.id, "register", dispatcher, {}, at=START, expected_version=None,
                    stage_policy=policy, calendar=calendar)
    service.perform(db_session, ticket.id, "dispatch", dispatcher, {"department_code": "util-water"},
                    at=START, expected_version=None, stage_policy=policy, calendar=calendar)
    db_session.commit()
    (internal,) = outbox(db_session, "ticket.dispatch.")
    assert internal.channel == "internal" and internal.to == "responsible"

    db_session.commit()  # SQLite: end the read transaction (BEGIN IMMEDIATE)

    NotificationFlows(rules).resolve_pending(db_factory, now=START)
    db_session.expire_all()
    sms = db_session.get(Notification, internal.id)
    assert sms.channel == "sms" and sms.status == "pending" and sms.to == "+8613804760001"
    assert sms.template == "ticket_dispatched"
    assert "新派工单" + ticket.number in sms.body and "11月3日17:30" in sms.body   # 签收: 1 working day


def test_database_department_number_wins_and_missing_one_fails(db_session, db_factory, rules, calendar):
    db_session.add(Department(code="util-water", name="供水公司(库)", level="city", sms_number="13900000001"))
    db_session.add(Department(code="util-power", name="国网赤峰供电公司", level="city", sms_number=None))
    t1 = make_ticket(db_session)
    t2 = make_ticket(db_session, department_code="util-power", district_code=None)
    for t in (t1, t2):
        add_deadline(db_session, t, "签收", START, 1, "working_hours", calendar)
    db_session.commit()
    sweep(db_session, now=START + timedelta(minutes=55), rules=rules, calendar=calendar)   # 80 %: warning
    db_session.commit()  # SQLite: end the read transaction (BEGIN IMMEDIATE)
    NotificationFlows(rules, role_numbers={"dispatcher": ["13800000011"]}).resolve_pending(db_factory, now=START)
    db_session.expire_all()
    mine = {(n.ticket_id, n.status): n for n in outbox(db_session) if n.dedup_key.endswith(":responsible")}
    assert mine[(t1.id, "pending")].to == "+8613900000001"
    assert "供水公司(库)" in mine[(t1.id, "pending")].body
    assert "国网赤峰供电公司" in mine[(t2.id, "failed")].last_error


def test_unknown_target_and_bad_body_fail_cleanly(db_session, db_factory, rules):
    db_session.add_all([
        Notification(channel="internal", to="mayor", template="ticket.x.mayor", body="{}", status="pending",
                     next_attempt_at=START, dedup_key="a"),
        Notification(channel="internal", to="responsible", template="ticket.x.responsible", body="not json",
                     status="pending", next_attempt_at=START, dedup_key="b"),
    ])
    db_session.commit()
    db_session.commit()  # SQLite: end the read transaction (BEGIN IMMEDIATE)
    report = NotificationFlows(rules).resolve_pending(db_factory, now=START)
    assert report.failed == 2
    db_session.expire_all()
    errors = {n.dedup_key: n.last_error for n in outbox(db_session)}
    assert "unknown notification target 'mayor'" in errors["a"]
    assert "not JSON" in errors["b"]


def test_sms_sender_never_sends_unresolved_internal_rows(db_session, db_factory, rules):
    db_session.add_all([
        Notification(channel="internal", to="supervisor", template="ticket.x.supervisor",
                     body=json.dumps({"number": "1"}), status="pending", next_attempt_at=START, dedup_key="i"),
        Notification(channel="sms", to="+8613800000001", template="t", body="你好", status="pending",
                     next_attempt_at=START, dedup_key="s"),
    ])
    db_session.commit()
    gateway = LogGateway()
    db_session.commit()  # SQLite: end the read transaction (BEGIN IMMEDIATE)
    counts = SmsOutboxSender(db_factory, gateway).send_due(START + timedelta(seconds=1))
    assert counts.sent == 1 and [m.to for m in gateway.sent] == ["+8613800000001"]
    db_session.expire_all()
    internal = db_session.execute(select(Notification).where(Notification.dedup_key == "i")).scalar_one()
    assert internal.status == "pending" and internal.attempts == 0


def test_role_numbers_from_env():
    assert role_numbers_from_env("supervisor=13800000001, 13800000002; dispatcher=13800000003") == {
        "supervisor": ("13800000001", "13800000002"), "dispatcher": ("13800000003",)}
    assert role_numbers_from_env("") == {}
    with pytest.raises(ValueError, match="mayor"):
        role_numbers_from_env("mayor=13800000001")
    with pytest.raises(ValueError, match="no number"):
        role_numbers_from_env("supervisor=")
    with pytest.raises(ValueError, match="unknown role"):
        NotificationFlows(None, role_numbers={"boss": ["1"]})
