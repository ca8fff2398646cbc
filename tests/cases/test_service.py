"""Ticket persistence (hotline.cases.service) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hotline.cases import service
from hotline.cases.errors import (
    IllegalTransition, InvalidField, InvalidTicket, MissingField, NotFound, PermissionDenied, StaleTicket,
)
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent, TicketNumberSequence, TicketSubscription
from hotline.cases.workflow import Actor
from hotline.categories.models import Category
from hotline.notify.models import Notification
from hotline.sla import Stage, WorkCalendar, compute_deadline
from hotline.users.models import User
from hotline.users.roles import Role

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar("Asia/Shanghai")
HONGSHAN, SONGSHAN = "150402", "150404"
WATER, GAS = "CF-WATER", "CF-GAS"

POLICY = {
    "签收": Stage("签收", 1, "working_days"),
    "处置": Stage("处置", 5, "working_days"),
    "核查": Stage("核查", 4, "working_hours"),
    "回访": Stage("回访", 24, "natural_hours"),
}


def policy(ticket, stage_name):
    return POLICY.get(stage_name)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture
def people(db_session):
    specs = {
        "agent": (Role.AGENT, None, None), "dispatcher": (Role.DISPATCHER, None, None),
        "hongshan": (Role.DISTRICT_OFFICER, HONGSHAN, None), "songshan": (Role.DISTRICT_OFFICER, SONGSHAN, None),
        "water": (Role.DEPARTMENT_OFFICER, None, WATER), "gas": (Role.DEPARTMENT_OFFICER, None, GAS),
        "supervisor": (Role.SUPERVISOR, None, None),
    }
    users = {}
    for name, (role, district, department) in specs.items():
        users[name] = User(username=name, display_name=name, password_hash="x", role=role.value,
                           district_code=district, department_code=department)
    db_session.add_all(users.values())
    db_session.commit()
    return {name: Actor(u.id, Role(u.role), u.district_code, u.department_code) for name, u in users.items()}


@pytest.fixture
def category(db_session):
    cat = Category(standard_ref="GB/T 47678.5-2026", kind="matter", code="01001", big_class_code="01",
                   big_class="市政公用设施类", name="供水井盖异常")
    db_session.add(cat)
    db_session.commit()
    return cat


_DEFAULT = object()


def default_category(session) -> Category:
    """A category for tickets whose category does not matter (立案/派遣 need one)."""
    found = session.execute(select(Category).where(Category.standard_ref == "TEST")).scalar_one_or_none()
    if found is None:
        found = Category(standard_ref="TEST", kind="component", code="01001", big_class_code="01",
                         big_class="市政公用设施类", name="井盖")
        session.add(found)
        session.flush()
    return found


def new_ticket(session, people, category=_DEFAULT, *, at=None, **kw):
    """A ticket in state 受理 (with a category unless ``category`` is given, e.g. ``None``)."""
    if category is _DEFAULT:
        category = default_category(session)
    values = dict(channel="phone", caller_number="13800001234", caller_name="张先生", category=category,
                  description="红山区昭乌达路井盖缺失", address="昭乌达路 12 号", district_code=HONGSHAN,
                  actor=people["agent"], at=at or local(2026, 9, 29, 9, 0), tz=TZ)
    values.update(kw)
    ticket = service.create_ticket(session, **values)
    session.commit()
    return ticket


def act(session, ticket, action, actor, payload=None, *, at, expected_version=None):
    result = service.perform(session, ticket.id, action, actor, payload or {}, at=at,
                             expected_version=expected_version, stage_policy=policy, calendar=CAL)
    session.commit()
    return result


def events(session, ticket):
    return list(session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                .order_by(TicketEvent.seq)).scalars())


def deadline(session, ticket, stage) -> TicketDeadline:
    return session.execute(select(TicketDeadline).where(
        TicketDeadline.ticket_id == ticket.id, TicketDeadline.stage == stage)).scalar_one()


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


# --- create -------------------------------------------------------------------------------

def test_create_numbers_snapshots_category_and_logs_first_event(db_session, people, category):
    first = new_ticket(db_session, people, category, at=local(2026, 11, 27, 23, 30))
    second = new_ticket(db_session, people, None, at=datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc))

    assert first.number == "12319-20261127-00001"
    assert second.number == "12319-20261128-00001"  # 16:00 UTC is already the 28th in Chifeng
    assert first.state == "received"
    assert (first.category_id, first.category_ref, first.category_kind, first.category_code,
            first.category_name) == (category.id, "GB/T 47678.5-2026", "matter", "01001", "供水井盖异常")
    assert second.category_code == "" and second.category_id is None

    category.name = "改名后的分类"
    db_session.commit()
    db_session.expire_all()
    assert db_session.get(Ticket, first.id).category_name == "供水井盖异常"  # a snapshot, not a join

    (event,) = events(db_session, first)
    assert (event.seq, event.action, event.from_state, event.to_state) == (1, "create", None, "received")
    assert event.actor_id == people["agent"].user_id
    assert event.at == local(2026, 11, 27, 23, 30)


def test_created_ticket_is_persistent_with_its_event_loaded(db_session, people, category):
    """create_ticket inserts with Core; the returned objects must behave as if the ORM had flushed them."""
    from sqlalchemy import inspect as sa_inspect

    ticket = service.create_ticket(
        db_session, channel="phone", caller_number="13800001234", category=category, description="井盖缺失",
        district_code=HONGSHAN, actor=people["agent"], at=local(2026, 9, 29, 9, 0), tz=TZ,
        routing={"说明": ("第一步", "第二步"), "amount": 1.5}, event_data={"k": "值"})
    state = sa_inspect(ticket)
    assert state.persistent and not db_session.new and not db_session.dirty
    assert "events" not in state.unloaded and len(ticket.events) == 1
    (event,) = ticket.events
    assert sa_inspect(event).persistent and event.ticket is ticket and event.ticket_id == ticket.id
    assert ticket.routing == {"说明": ["第一步", "第二步"], "amount": 1.5} and event.data == {"k": "值"}
    assert (ticket.version, ticket.transcript, ticket.parent_id, ticket.closed_at) == (1, "", None, None)
    db_session.commit()
    db_session.expire_all()
    stored = db_session.get(Ticket, ticket.id)
    assert stored.routing == {"说明": ["第一步", "第二步"], "amount": 1.5} and stored.version == 1
    assert events(db_session, stored)[0].data == {"k": "值"}
    # the optimistic lock works on it as on any loaded ticket
    assert act(db_session, stored, "register", people["agent"], at=local(2026, 9, 29, 9, 5)).version == 2


def test_create_ticket_works_in_a_fresh_process(tmp_path):
    """The Core insert builds loaded objects without a constructor: mappers must get configured."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from hotline.database import make_engine, session_factory
from hotline.migrate import upgrade
from hotline.cases.service import create_ticket
engine = make_engine("sqlite:///{tmp_path / 'fresh.sqlite3'}")
upgrade(engine)
with session_factory(engine)() as s, s.begin():
    t = create_ticket(s, channel="phone", caller_number="1", category=None, description="x", actor=None,
                      at=datetime.now(timezone.utc), tz=ZoneInfo("Asia/Shanghai"), district_code="150402")
    print(t.number, t.routing, t.events[0].action)
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1:] == ["None", "create"]


def test_source_key_is_idempotent_and_consumes_no_number(db_session, people):
    a = new_ticket(db_session, people, source_key="open311:abc")
    b = new_ticket(db_session, people, source_key="open311:abc", description="不同的内容")
    c = new_ticket(db_session, people)

    assert b.id == a.id and b.description == "红山区昭乌达路井盖缺失"
    assert c.number.endswith("-00002")
    assert count(db_session, Ticket) == 2
    assert count(db_session, TicketEvent) == 2
    assert db_session.get(TicketNumberSequence, "20260929").last == 2


def test_source_key_race_loses_to_the_unique_constraint(db_factory, people):
    """The ticket stored by another transaction after our check is returned; our number is given back."""
    with db_factory() as other:
        new_ticket(other, people, source_key="call:race")
    with db_factory() as session:
        calls = []
        original = service._by_source_key

        def blind_first(sess, key):  # simulate the check running before the other commit
            calls.append(key)
            return None if len(calls) == 1 else original(sess, key)

        service._by_source_key = blind_first
        try:
            ticket = new_ticket(session, people, source_key="call:race")
        finally:
            service._by_source_key = original
        assert ticket.number == "12319-20260929-00001"
        assert count(session, Ticket) == 1
        assert session.get(TicketNumberSequence, "20260929").last == 1


@pytest.mark.parametrize("field, value", [
    ("channel", "fax"), ("priority", "asap"), ("description", "  "), ("district_code", "1504"),
    ("street_code", "15040200A"), ("lat", 91.0), ("at", datetime(2026, 9, 29, 9, 0)),
])
def test_create_refuses_bad_input_and_writes_nothing(db_session, people, field, value):
    kw = {field: value}
    if field == "lat":
        kw["lon"] = 118.9
    with pytest.raises(InvalidTicket):
        service.create_ticket(db_session, **{**dict(
            channel="phone", caller_number="13800001234", category=None, description="井盖缺失",
            actor=people["agent"], at=local(2026, 9, 29, 9, 0), tz=TZ), **kw})
    db_session.rollback()
    assert count(db_session, Ticket) == 0
    assert count(db_session, TicketNumberSequence) == 0


# --- perform: the loop --------------------------------------------------------------------

def test_full_loop_persists_events_deadlines_and_notifications(db_session, people, category):
    p = people
    t = new_ticket(db_session, p, category)
    steps = [
        ("register", "dispatcher", {}, local(2026, 9, 29, 10, 0)),
        ("dispatch", "dispatcher", {"district_code": HONGSHAN, "department_code": WATER}, local(2026, 9, 30, 10, 0)),
        ("accept", "water", {}, local(2026, 10, 8, 9, 0)),
        ("request_extension", "water", {"reason": "需更换管道", "duration": 3}, local(2026, 10, 9, 9, 0)),
        ("approve_extension", "supervisor", {}, local(2026, 10, 9, 11, 0)),
        ("feedback", "water", {"result": "已更换井盖"}, local(2026, 10, 16, 10, 0)),
        ("verify_fail", "dispatcher", {"reason": "井盖松动"}, local(2026, 10, 16, 15, 0)),
        ("feedback", "water", {"result": "已加固"}, local(2026, 10, 19, 9, 0)),
        ("verify_pass", "dispatcher", {}, local(2026, 10, 19, 10, 0)),
        ("callback", "agent", {"satisfaction": "dissatisfied"}, local(2026, 10, 20, 9, 0)),
        ("reopen", "agent", {"reason": "来电人仍不满意"}, local(2026, 10, 20, 9, 30)),
    ]
    for action, who, payload, at in steps:
        before = t.version
        t = act(db_session, t, action, p[who], payload, at=at, expected_version=before)
        assert t.version == before + 1

    log = events(db_session, t)
    assert [e.seq for e in log] == list(range(1, len(steps) + 2))
    assert [e.action for e in log] == ["create"] + [s[0] for s in steps]
    states = ["received", "registered", "dispatched", "in_progress", "extension_requested", "in_progress",
              "resolved", "in_progress", "resolved", "closed", "callback_done", "dispatched"]
    assert [(e.from_state, e.to_state) for e in log[1:]] == list(zip(states[:-1], states[1:]))
    assert log[4].data == {"reason": "需更换管道", "duration": 3, "unit": "working_days"}
    assert log[4].note == "需更换管道"
    assert [e.actor_id for e in log[1:3]] == [p["dispatcher"].user_id] * 2

    # responsible units from the dispatch, satisfaction stored by the callback and cleared by the reopen
    assert (t.district_code, t.department_code) == (HONGSHAN, WATER)
    assert log[10].data["satisfaction"] == "dissatisfied"
    assert t.satisfaction is None and t.closed_at is None and t.state == "dispatched"

    # deadlines: 签收 restarted by the reopen; 处置 extended by 3 working days and completed
    sign = deadline(db_session, t, "签收")
    assert sign.started_at == local(2026, 10, 20, 9, 30) and sign.completed_at is None
    assert sign.due_at == compute_deadline(local(2026, 10, 20, 9, 30), POLICY["签收"], CAL)
    handle = deadline(db_session, t, "处置")
    assert handle.started_at == local(2026, 10, 16, 15, 0)  # restarted by 返工
    assert handle.due_at == compute_deadline(local(2026, 10, 16, 15, 0), POLICY["处置"], CAL)
    assert handle.completed_at == local(2026, 10, 19, 9, 0)
    verify = deadline(db_session, t, "核查")
    assert verify.completed_at == local(2026, 10, 19, 10, 0)
    assert verify.due_at == local(2026, 10, 19, 15, 30)  # 4 working hours: 09:00–12:00 + 14:30–15:30
    callback = deadline(db_session, t, "回访")
    assert callback.due_at == local(2026, 10, 20, 10, 0)  # 24 natural hours
    assert callback.completed_at == local(2026, 10, 20, 9, 0)

    notes = list(db_session.execute(select(Notification).order_by(Notification.id)).scalars())
    assert [(n.template, n.to) for n in notes] == [
        ("ticket.dispatch.responsible", "responsible"),
        ("ticket.request_extension.supervisor", "supervisor"),
        ("ticket.approve_extension.responsible", "responsible"),
        ("ticket.feedback.dispatcher", "dispatcher"),
        ("ticket.verify_fail.responsible", "responsible"),
        ("ticket.feedback.dispatcher", "dispatcher"),
        ("ticket_closed", "+8613800001234"),        # the caller's SMS, rendered, to the E.164 number
        ("ticket.callback.supervisor", "supervisor"),
        ("ticket.reopen.responsible", "responsible"),
    ]
    body = json.loads(notes[0].body)
    assert body["number"] == t.number and body["district_code"] == HONGSHAN and body["to_state"] == "dispatched"
    assert notes[6].channel == "sms" and all(n.status == "pending" for n in notes)


def test_deadlines_follow_the_chinese_calendar(db_session, people):
    """Dispatched the day before National Day: 签收 is due when work resumes; 处置 counts the 调休 Saturday."""
    t = new_ticket(db_session, people)
    t = act(db_session, t, "register", people["dispatcher"], at=local(2026, 9, 29, 10, 0))
    t = act(db_session, t, "dispatch", people["dispatcher"], {"department_code": WATER}, at=local(2026, 9, 30, 10, 0))
    sign = deadline(db_session, t, "签收")
    assert (sign.started_at, sign.due_at, sign.amount, sign.unit) == (
        local(2026, 9, 30, 10, 0), local(2026, 10, 8, 17, 30), 1.0, "working_days")
    assert sign.due_at == compute_deadline(local(2026, 9, 30, 10, 0), POLICY["签收"], CAL)

    t = act(db_session, t, "accept", people["water"], at=local(2026, 10, 8, 9, 0))
    assert deadline(db_session, t, "签收").completed_at == local(2026, 10, 8, 9, 0)
    handle = deadline(db_session, t, "处置")
    assert handle.due_at == local(2026, 10, 14, 17, 30)  # 9, 10 (调休 Sat), 12, 13, 14 October

    # a pending extension does not pause the clock; the approval moves the deadline by 3 working days
    t = act(db_session, t, "request_extension", people["water"], {"reason": "材料未到", "duration": 3},
            at=local(2026, 10, 12, 9, 0))
    handle = deadline(db_session, t, "处置")
    assert handle.due_at == local(2026, 10, 14, 17, 30) and handle.paused_at is None
    t = act(db_session, t, "approve_extension", people["supervisor"], at=local(2026, 10, 12, 10, 0))
    assert deadline(db_session, t, "处置").due_at == local(2026, 10, 19, 17, 30)  # 15, 16, 19 October
    approve = events(db_session, t)[-1]
    assert datetime.fromisoformat(approve.data["deadlines"][0]["previous_due_at"]) == local(2026, 10, 14, 17, 30)


def test_denied_extension_keeps_the_deadline(db_session, people):
    t = new_ticket(db_session, people)
    for action, who, payload, at in [
        ("register", "dispatcher", {}, local(2026, 11, 2, 9, 0)),
        ("dispatch", "dispatcher", {}, local(2026, 11, 2, 9, 10)),  # routing district stands
        ("accept", "hongshan", {}, local(2026, 11, 2, 9, 20)),
        ("request_extension", "hongshan", {"reason": "x", "duration": 8, "unit": "working_hours"},
         local(2026, 11, 3, 9, 0)),
        ("deny_extension", "supervisor", {}, local(2026, 11, 3, 10, 0)),
    ]:
        t = act(db_session, t, action, people[who], payload, at=at)
    assert deadline(db_session, t, "处置").due_at == compute_deadline(
        local(2026, 11, 2, 9, 20), POLICY["处置"], CAL)
    assert t.district_code == HONGSHAN


def test_stage_without_policy_gets_no_deadline(db_session, people):
    t = new_ticket(db_session, people)
    t = act(db_session, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0))
    t = service.perform(db_session, t.id, "dispatch", people["dispatcher"], {}, at=local(2026, 11, 2, 9, 5),
                        expected_version=None, stage_policy=lambda ticket, stage: None, calendar=CAL)
    db_session.commit()
    assert count(db_session, TicketDeadline) == 0
    assert "deadlines" not in events(db_session, t)[-1].data


# --- refusals write nothing ----------------------------------------------------------------

def _snapshot(session, ticket):
    session.expire_all()
    row = session.get(Ticket, ticket.id)
    return (row.state, row.version, count(session, TicketEvent), count(session, TicketDeadline),
            count(session, Notification))


def test_stale_version_is_refused_and_nothing_written(db_session, people):
    t = new_ticket(db_session, people)
    t = act(db_session, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0))
    before = _snapshot(db_session, t)
    with pytest.raises(StaleTicket) as err:
        service.perform(db_session, t.id, "dispatch", people["dispatcher"], {}, at=local(2026, 11, 2, 9, 5),
                        expected_version=1, stage_policy=policy, calendar=CAL)
    assert "已被他人修改，请刷新后重试" in str(err.value)
    db_session.commit()
    assert _snapshot(db_session, t) == before == ("registered", 2, 2, 0, 0)


def test_concurrent_edit_from_another_session_is_stale(db_factory, people):
    with db_factory() as a:
        t = new_ticket(a, people)
        loaded_version = a.get(Ticket, t.id).version
    with db_factory() as b:
        act(b, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0), expected_version=loaded_version)
    with db_factory() as a:
        with pytest.raises(StaleTicket):
            service.perform(a, t.id, "reject", people["agent"], {"reason": "重复"}, at=local(2026, 11, 2, 9, 1),
                            expected_version=loaded_version, stage_policy=policy, calendar=CAL)
        a.rollback()
        assert a.get(Ticket, t.id).state == "registered"
        assert count(a, TicketEvent) == 2


@pytest.mark.parametrize("action, who, payload, error", [
    ("accept", "supervisor", {}, IllegalTransition),          # still received
    ("void", "agent", {"reason": "重复"}, PermissionDenied),  # supervision only
    ("register", "hongshan", {}, NotFound),                   # officers never see the desk's tickets
    ("reject", "agent", {}, MissingField),                    # reason required
    ("merge", "agent", {"parent": "12319-20990101-00001"}, InvalidField),  # unknown parent
    ("bogus", "agent", {}, Exception),
])
def test_refused_action_writes_nothing(db_session, people, action, who, payload, error):
    t = new_ticket(db_session, people)
    before = _snapshot(db_session, t)
    with pytest.raises(error):
        service.perform(db_session, t.id, action, people[who], payload, at=local(2026, 11, 2, 9, 0),
                        expected_version=None, stage_policy=policy, calendar=CAL)
    db_session.commit()
    assert _snapshot(db_session, t) == before


def test_officer_outside_scope_gets_not_found(db_session, people):
    t = new_ticket(db_session, people)
    t = act(db_session, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0))
    t = act(db_session, t, "dispatch", people["dispatcher"], {"department_code": WATER}, at=local(2026, 11, 2, 9, 1))
    with pytest.raises(NotFound):
        service.perform(db_session, t.id, "accept", people["songshan"], {}, at=local(2026, 11, 2, 9, 2),
                        expected_version=None, stage_policy=policy, calendar=CAL)
    with pytest.raises(NotFound):
        service.perform(db_session, 999_999, "accept", people["hongshan"], {}, at=local(2026, 11, 2, 9, 2),
                        expected_version=None, stage_policy=policy, calendar=CAL)


# --- merge --------------------------------------------------------------------------------

def test_merge_links_parent_and_subscribes_the_child_caller(db_session, people):
    parent = new_ticket(db_session, people, caller_number="13900000001")
    child = new_ticket(db_session, people, caller_number="0476-8888123")
    child = act(db_session, child, "merge", people["agent"], {"parent": parent.number}, at=local(2026, 9, 29, 9, 30))

    assert child.state == "merged" and child.parent_id == parent.id
    assert child.closed_at == local(2026, 9, 29, 9, 30)
    subs = list(db_session.execute(select(TicketSubscription)).scalars())
    assert [(s.ticket_id, s.phone, s.via_ticket_id) for s in subs] == [(parent.id, "0476-8888123", child.id)]
    assert events(db_session, child)[-1].data["parent_id"] == parent.id
    # the merged child's caller is told, and will hear of the parent's outcome
    assert [n.to for n in db_session.execute(select(Notification)).scalars()] == ["0476-8888123"]
    assert [x.id for x in service.caller_history(db_session, "0476-8888123", 10)] == [child.id, parent.id]

    # when the parent is answered, both callers get the message
    act(db_session, parent, "answer_directly", people["agent"], {"result": "已告知维修电话"},
        at=local(2026, 9, 29, 10, 0))
    tos = [n.to for n in db_session.execute(select(Notification).where(Notification.ticket_id == parent.id)
                                            .order_by(Notification.id)).scalars()]
    assert tos == ["+8613900000001", "0476-8888123"]     # the landline is stored failed, with the reason


def test_merge_into_itself_or_a_terminal_ticket_is_refused(db_session, people):
    a = new_ticket(db_session, people)
    b = new_ticket(db_session, people)
    act(db_session, b, "reject", people["agent"], {"reason": "非本热线职责"}, at=local(2026, 9, 29, 9, 10))
    for target in (a.number, b.number):
        with pytest.raises(InvalidField):
            service.perform(db_session, a.id, "merge", people["agent"], {"parent": target},
                            at=local(2026, 9, 29, 9, 20), expected_version=None, stage_policy=policy)
        db_session.rollback()
    assert count(db_session, TicketSubscription) == 0


# --- queries ------------------------------------------------------------------------------

def _dispatched(session, people, district, department, description):
    """A ticket of ``district`` dispatched to ``department``, or to the district when it is None."""
    t = new_ticket(session, people, district_code=district, description=description)
    t = act(session, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0))
    payload = {"department_code": department} if department else {"responsible": "district"}
    return act(session, t, "dispatch", people["dispatcher"], payload, at=local(2026, 11, 2, 9, 1))


def test_scope_filtering_in_list_and_get(db_session, people):
    """Officers see the tickets their unit is responsible for (the department when the ticket has
    one, else the district), from the hand-over on (decision 0009)."""
    hs_water = _dispatched(db_session, people, HONGSHAN, WATER, "红山 供水")
    hs_gas = _dispatched(db_session, people, HONGSHAN, GAS, "红山 燃气")
    ss_water = _dispatched(db_session, people, SONGSHAN, WATER, "松山 供水")
    hs_district = _dispatched(db_session, people, HONGSHAN, None, "红山 属地")
    hs_received = new_ticket(db_session, people, district_code=HONGSHAN, description="红山 未派遣")
    water_registered = act(db_session, new_ticket(db_session, people, department_code=WATER), "register",
                           people["dispatcher"], at=local(2026, 11, 2, 9, 5))

    def ids(actor, **kw):
        items, total = service.list_tickets(db_session, actor, **kw)
        assert total == len(items)
        return {t.id for t in items}

    assert ids(people["supervisor"]) == {hs_water.id, hs_gas.id, ss_water.id, hs_district.id, hs_received.id,
                                         water_registered.id}
    assert ids(people["hongshan"]) == {hs_district.id}
    assert ids(people["songshan"]) == set()
    assert ids(people["water"]) == {hs_water.id, ss_water.id}
    assert ids(people["gas"], district_code=SONGSHAN) == set()
    assert ids(people["water"], q="松山") == {ss_water.id}
    assert ids(people["agent"], state="dispatched", district_code=HONGSHAN) == {hs_water.id, hs_gas.id,
                                                                                 hs_district.id}
    assert ids(people["agent"], department_code=WATER) == {hs_water.id, ss_water.id, water_registered.id}
    unscoped = Actor(None, Role.DISTRICT_OFFICER, None, None)
    assert ids(unscoped) == set()

    assert service.get_ticket(db_session, people["gas"], hs_gas.number).id == hs_gas.id
    assert service.get_ticket(db_session, people["hongshan"], hs_district.id).id == hs_district.id
    for actor, key in [(people["gas"], ss_water.number), (people["songshan"], hs_water.id),
                       (people["hongshan"], hs_gas.id), (people["hongshan"], hs_water.number),
                       (people["hongshan"], hs_received.number), (people["water"], water_registered.number),
                       (people["water"], hs_district.number), (people["agent"], "12319-20990101-00001")]:
        with pytest.raises(NotFound) as err:
            service.get_ticket(db_session, actor, key)
        assert "不存在或无权查看" in str(err.value)
    # and what they cannot see they cannot act on
    with pytest.raises(NotFound):
        service.perform(db_session, hs_water.id, "accept", people["hongshan"], {}, at=local(2026, 11, 2, 10, 0),
                        expected_version=None, stage_policy=policy, calendar=CAL)


def test_list_pages_newest_first_and_validates(db_session, people):
    made = [new_ticket(db_session, people, at=local(2026, 11, 2, 9, i)) for i in range(5)]
    page2, total = service.list_tickets(db_session, people["agent"], page=2, page_size=2)
    assert total == 5 and [t.id for t in page2] == [made[2].id, made[1].id]
    with pytest.raises(InvalidTicket):
        service.list_tickets(db_session, people["agent"], state="lost")
    with pytest.raises(InvalidTicket):
        service.list_tickets(db_session, people["agent"], page=0)


def test_caller_history_newest_first_with_limit(db_session, people):
    made = [new_ticket(db_session, people, at=local(2026, 11, 2, 9, i)) for i in range(3)]
    new_ticket(db_session, people, caller_number="13911112222")
    assert [t.id for t in service.caller_history(db_session, "13800001234", 2)] == [made[2].id, made[1].id]
    assert service.caller_history(db_session, "", 5) == []


def test_two_dispatchers_race_one_wins_one_is_stale(db_factory, people):
    """Two sessions act on the same version at once; whatever the interleaving, exactly one wins."""
    import threading

    with db_factory() as s:
        t = new_ticket(s, people)
        act(s, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0))
        version = s.get(Ticket, t.id).version
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def dispatch(department):
        start.wait()
        with db_factory() as session:
            try:
                service.perform(session, t.id, "dispatch", people["dispatcher"], {"department_code": department},
                                at=local(2026, 11, 2, 9, 5), expected_version=version,
                                stage_policy=policy, calendar=CAL)
                session.commit()
                outcomes.append("ok")
            except StaleTicket:
                session.rollback()
                outcomes.append("stale")

    threads = [threading.Thread(target=dispatch, args=(d,)) for d in (WATER, GAS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["ok", "stale"]
    with db_factory() as s:
        assert [e.action for e in events(s, t)] == ["create", "register", "dispatch"]
        assert count(s, TicketDeadline) == 1 and count(s, Notification) == 1


def test_void_stops_the_running_stage_and_closes(db_session, people):
    t = new_ticket(db_session, people)
    t = act(db_session, t, "register", people["dispatcher"], at=local(2026, 11, 2, 9, 0))
    t = act(db_session, t, "dispatch", people["dispatcher"], {}, at=local(2026, 11, 2, 9, 5))
    t = act(db_session, t, "void", people["supervisor"], {"reason": "测试工单"}, at=local(2026, 11, 2, 9, 10))
    assert t.state == "voided" and t.closed_at == local(2026, 11, 2, 9, 10)
    assert deadline(db_session, t, "签收").completed_at == local(2026, 11, 2, 9, 10)
    assert events(db_session, t)[-1].data["deadlines"][0]["overdue"] is False


def test_the_same_event_never_enqueues_twice(db_session, people):
    t = new_ticket(db_session, people)
    t = act(db_session, t, "reject", people["agent"], {"reason": "不属于城建服务范围"}, at=local(2026, 11, 2, 9, 0))
    assert count(db_session, Notification) == 1
    event = events(db_session, t)[-1]
    from hotline.cases.workflow import Action, TicketState, Transition
    replay = Transition(Action.REJECT, TicketState.RECEIVED, TicketState.REJECTED, event.note, {},
                        notify=("caller",))
    service._enqueue(db_session, t, event, replay)
    db_session.commit()
    assert count(db_session, Notification) == 1
