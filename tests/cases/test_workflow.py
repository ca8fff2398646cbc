"""Tests of the ticket workflow state machine (hotline.cases.workflow).

The expected machine is written out again here, by hand, so the tests catch a wrong edit of the
module's own table rather than echo it.
"""

from __future__ import annotations

import pytest

from hotline.cases.workflow import (
    OFFICER_ACTIONS, OFFICER_VISIBLE_STATES, Action, Actor, IllegalTransition, IncompleteTicket, InvalidField,
    MissingField, PermissionDenied, Satisfaction, TicketState, TicketView, Transition, WorkflowError,
    available_actions, plan, responsible_unit,
)
from hotline.sla.deadlines import TimeUnit
from hotline.users.roles import Role

HONGSHAN, SONGSHAN = "150402", "150404"          # 红山区, 松山区
WATER, GAS = "CF-WATER", "CF-GAS"                  # two responsible departments

AG, DI, DO, DE, SU, AD = (Role.AGENT, Role.DISPATCHER, Role.DISTRICT_OFFICER,
                          Role.DEPARTMENT_OFFICER, Role.SUPERVISOR, Role.ADMIN)
OFFICERS = {DO, DE}
SUPERVISION = {SU, AD}

# (state, action) -> (target state, roles allowed, stage started, stage stopped).
# Every pair not listed must be refused with IllegalTransition whoever asks.
EXPECTED = {
    ("received", "complete"): ("received", {AG, DI, SU, AD}, None, None),
    ("received", "register"): ("registered", {AG, DI, SU, AD}, None, None),
    ("received", "reject"): ("rejected", {AG, SU, AD}, None, None),
    ("received", "answer_directly"): ("answered", {AG, SU, AD}, None, None),
    ("received", "merge"): ("merged", {AG, SU, AD}, None, None),
    ("received", "void"): ("voided", SUPERVISION, None, None),
    ("registered", "dispatch"): ("dispatched", {DI, SU, AD}, "签收", None),
    ("registered", "merge"): ("merged", {DI, SU, AD}, None, None),
    ("registered", "void"): ("voided", SUPERVISION, None, None),
    ("dispatched", "accept"): ("in_progress", OFFICERS, "处置", "签收"),
    ("dispatched", "return"): ("returned", OFFICERS, None, "签收"),
    ("dispatched", "void"): ("voided", SUPERVISION, None, "签收"),
    ("returned", "redispatch"): ("dispatched", {DI, SU, AD}, "签收", None),
    ("returned", "void"): ("voided", SUPERVISION, None, None),
    ("in_progress", "return"): ("returned", OFFICERS, None, "处置"),
    ("in_progress", "request_extension"): ("extension_requested", OFFICERS, None, None),
    ("in_progress", "feedback"): ("resolved", OFFICERS, "核查", "处置"),
    ("in_progress", "void"): ("voided", SUPERVISION, None, "处置"),
    ("extension_requested", "approve_extension"): ("in_progress", SUPERVISION, None, None),
    ("extension_requested", "deny_extension"): ("in_progress", SUPERVISION, None, None),
    ("extension_requested", "feedback"): ("resolved", OFFICERS, "核查", "处置"),
    ("extension_requested", "void"): ("voided", SUPERVISION, None, "处置"),
    ("resolved", "verify_pass"): ("closed", {DI, SU, AD}, "回访", "核查"),
    ("resolved", "verify_fail"): ("in_progress", {DI, SU, AD}, "处置", "核查"),
    ("resolved", "void"): ("voided", SUPERVISION, None, "核查"),
    ("closed", "callback"): ("callback_done", {AG, SU, AD}, None, "回访"),
    ("closed", "reopen"): ("dispatched", SUPERVISION, "签收", "回访"),
    ("callback_done", "reopen"): ("dispatched", SUPERVISION, "签收", None),
}
# Roles admitted in addition, only when the last callback was dissatisfied.
EXTRA_WHEN_DISSATISFIED = {("callback_done", "reopen"): {AG, DI}}

ALL_STATES = ["received", "registered", "rejected", "dispatched", "in_progress", "returned",
              "extension_requested", "resolved", "closed", "callback_done", "answered", "merged",
              "voided"]
ALL_ACTIONS = ["complete", "register", "reject", "answer_directly", "dispatch", "accept", "return",
               "request_extension", "approve_extension", "deny_extension", "feedback", "verify_pass",
               "verify_fail", "callback", "reopen", "merge", "void", "redispatch"]

FULL_PAYLOAD = {
    "reason": "属地不符", "result": "已修复破损井盖", "parent": "12319-20261127-00001",
    "satisfaction": "satisfied", "duration": 3, "unit": "working_days",
    "category_code": "01001", "description": "井盖破损",
}


def actor(role: Role, district: str | None = HONGSHAN, department: str | None = WATER) -> Actor:
    """An actor of ``role``; officers by default are in the scope of ``ticket()``."""
    return Actor(user_id=7, role=role,
                 district_code=district if role is DO else None,
                 department_code=department if role is DE else None)


def ticket(state: str, district: str | None = HONGSHAN, department: str | None = WATER,
           satisfaction: str | None = None, has_content: bool = True) -> TicketView:
    """A ticket in 红山区; the 供水 department is responsible unless ``department=None``."""
    return TicketView(TicketState(state), district, department,
                      Satisfaction(satisfaction) if satisfaction else None, has_content)


def own(role: Role, state: str, **kw) -> TicketView:
    """A ticket whose responsible unit is ``actor(role)``'s (for other roles: the default ticket):
    a district officer's ticket has no department (decision 0009)."""
    if role is DO:
        kw.setdefault("department", None)
    return ticket(state, **kw)


def apply(view: TicketView, t: Transition) -> TicketView:
    """What the service layer does with a transition, reduced to the view."""
    satisfaction = view.satisfaction
    if t.action is Action.CALLBACK:
        satisfaction = t.data["satisfaction"]
    if t.action is Action.REOPEN:
        satisfaction = None
    return TicketView(t.to_state, t.data.get("district_code", view.district_code),
                      t.data.get("department_code", view.department_code), satisfaction, view.has_content)


# --- the whole table, every role ----------------------------------------------------------------

def test_expected_table_names_real_states_and_actions():
    assert sorted(ALL_STATES) == sorted(s.value for s in TicketState)
    assert sorted(ALL_ACTIONS) == sorted(a.value for a in Action)
    for (state, action), (target, *_rest) in EXPECTED.items():
        assert state in ALL_STATES and action in ALL_ACTIONS and target in ALL_STATES


@pytest.mark.parametrize("satisfaction", [None, "satisfied", "basically_satisfied", "dissatisfied"])
@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_action_role(state, satisfaction):
    for action in ALL_ACTIONS:
        expected = EXPECTED.get((state, action))
        extra = EXTRA_WHEN_DISSATISFIED.get((state, action), set()) if satisfaction == "dissatisfied" else set()
        for role in Role:
            who, view = actor(role), own(role, state, satisfaction=satisfaction)
            if expected is None:
                with pytest.raises(IllegalTransition) as err:
                    plan(action, who, view, FULL_PAYLOAD)
                assert err.value.state.value == state and err.value.action.value == action
                continue
            target, roles, starts, stops = expected
            if role in roles | extra:
                t = plan(action, who, view, FULL_PAYLOAD)
                assert (t.action.value, t.from_state.value, t.to_state.value) == (action, state, target)
                assert (t.starts_stage, t.stops_stage) == (starts, stops), (state, action)
            else:
                with pytest.raises(PermissionDenied) as err:
                    plan(action, who, view, FULL_PAYLOAD)
                assert err.value.role is role


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("role", list(Role))
def test_available_actions_match_table(state, role):
    for satisfaction in (None, "dissatisfied"):
        view = own(role, state, satisfaction=satisfaction)
        extra = EXTRA_WHEN_DISSATISFIED if satisfaction == "dissatisfied" else {}
        want = [a for a in ALL_ACTIONS
                if (state, a) in EXPECTED
                and role in EXPECTED[(state, a)][1] | extra.get((state, a), set())]
        got = available_actions(actor(role), view)
        assert sorted(a.value for a in got) == sorted(want)


def test_available_actions_respect_scope():
    view = ticket("dispatched", district=SONGSHAN, department=GAS)
    assert available_actions(actor(DO, district=HONGSHAN), view) == []
    assert available_actions(actor(DE, department=WATER), view) == []
    assert available_actions(actor(DE, department=GAS), view) == [Action.ACCEPT, Action.RETURN]
    # the district of the place does not act while a department is responsible ...
    assert available_actions(actor(DO, district=SONGSHAN), view) == []
    # ... and does once the ticket is handed to the district
    district_view = ticket("dispatched", district=SONGSHAN, department=None)
    assert available_actions(actor(DO, district=SONGSHAN), district_view) == [Action.ACCEPT, Action.RETURN]


def test_open_and_terminal_states():
    open_ = {s.value for s in TicketState if s.is_open}
    assert open_ == {"received", "registered", "dispatched", "in_progress", "returned",
                     "extension_requested", "resolved"}
    terminal = {s.value for s in TicketState if s.is_terminal}
    assert terminal == {"rejected", "answered", "merged", "voided"}
    # Terminal means nothing leaves it, for anybody.
    for state in terminal:
        for role in Role:
            assert available_actions(actor(role), own(role, state, satisfaction="dissatisfied")) == []


def test_chinese_labels():
    assert TicketState.RECEIVED.label == "受理"
    assert TicketState.DISPATCHED.label == "已派遣(待签收)"
    assert TicketState.CLOSED.label == "已结案"
    assert Action.ACCEPT.label == "签收"
    assert Action.RETURN.value == "return" and Action.RETURN.label == "退回"
    assert Satisfaction.BASICALLY_SATISFIED.label == "基本满意"
    for item in [*TicketState, *Action, *Satisfaction]:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in item.label), item


# --- error messages -----------------------------------------------------------------------------

def test_illegal_transition_message():
    with pytest.raises(IllegalTransition) as err:
        plan(Action.ACCEPT, actor(DO), ticket("closed"), {})
    assert str(err.value) == "当前状态“已结案”不允许执行“签收”(state 'closed' does not allow 'accept')"
    assert isinstance(err.value, WorkflowError)


def test_permission_denied_message_names_role_and_action():
    with pytest.raises(PermissionDenied) as err:
        plan("accept", actor(AG), ticket("dispatched"), {})
    assert "坐席" in str(err.value) and "签收" in str(err.value)
    assert isinstance(err.value, WorkflowError)


def test_unknown_action_is_a_workflow_error():
    with pytest.raises(WorkflowError):
        plan("teleport", actor(SU), ticket("received"), {})


# --- scope --------------------------------------------------------------------------------------

def test_district_officer_only_in_own_district():
    songshan_ticket = ticket("dispatched", district=SONGSHAN, department=None)
    with pytest.raises(PermissionDenied) as err:
        plan("accept", actor(DO, district=HONGSHAN), songshan_ticket, {})
    assert SONGSHAN in str(err.value) and HONGSHAN in str(err.value)
    t = plan("accept", actor(DO, district=SONGSHAN), songshan_ticket, {})
    assert t.to_state is TicketState.IN_PROGRESS


OFFICER_PAIRS = sorted((state, action, role) for (state, action), (_t, roles, *_r) in EXPECTED.items()
                       for role in roles & OFFICERS)


def test_officers_act_on_something():
    assert {r for *_sa, r in OFFICER_PAIRS} == OFFICERS and len(OFFICER_PAIRS) >= 6


def _others(role: Role, state: str) -> list[tuple[TicketView, str]]:
    """Tickets whose responsible unit is not ``actor(role)``'s, each with that unit's code: the
    same kind of unit elsewhere, and — both ways — the other kind of unit at the same place."""
    if role is DO:   # 红山区 officer
        return [(ticket(state, district=SONGSHAN, department=None), SONGSHAN),   # another district
                (ticket(state, district=HONGSHAN, department=WATER), WATER),     # a department, in 红山区
                (ticket(state, district=HONGSHAN, department=GAS), GAS)]
    return [(ticket(state, district=HONGSHAN, department=GAS), GAS),             # another department
            (ticket(state, district=HONGSHAN, department=None), HONGSHAN),       # the district itself
            (ticket(state, district=SONGSHAN, department=None), SONGSHAN)]


@pytest.mark.parametrize("state,action,role", OFFICER_PAIRS)
def test_every_officer_transition_is_refused_outside_the_officers_scope(state, action, role):
    """Each transition an officer may make is allowed when their unit is responsible and refused,
    naming both units, when another unit is — another district/department, and both ways the
    other kind of unit of the same place (a district officer on a ticket a department holds in
    their district; a department officer on a ticket handed to the district)."""
    who = actor(role, district=HONGSHAN, department=WATER)
    mine = own(role, state)
    assert plan(action, who, mine, FULL_PAYLOAD).to_state.value == EXPECTED[(state, action)][0]
    assert action in {a.value for a in available_actions(who, mine)}
    mine_code = HONGSHAN if role is DO else WATER
    for theirs, their_code in _others(role, state):
        with pytest.raises(PermissionDenied) as err:
            plan(action, who, theirs, FULL_PAYLOAD)
        assert mine_code in str(err.value) and their_code in str(err.value), str(err.value)
        assert action not in {a.value for a in available_actions(who, theirs)}


def test_department_officer_only_in_own_department():
    gas_ticket = ticket("in_progress", district=HONGSHAN, department=GAS)
    with pytest.raises(PermissionDenied):
        plan("feedback", actor(DE, department=WATER), gas_ticket, {"result": "已处理"})
    # Sharing the district does not give a department officer the ticket.
    with pytest.raises(PermissionDenied):
        plan("request_extension", Actor(3, DE, HONGSHAN, WATER), gas_ticket,
             {"reason": "材料未到", "duration": 2})
    t = plan("feedback", actor(DE, department=GAS), gas_ticket, {"result": "已处理"})
    assert t.to_state is TicketState.RESOLVED


@pytest.mark.parametrize("who,view", [
    (Actor(1, DO, None, None), ticket("dispatched", district=None, department=WATER)),
    (Actor(1, DO, HONGSHAN, None), ticket("dispatched", district=None, department=WATER)),
    (Actor(1, DE, None, None), ticket("dispatched", district=HONGSHAN, department=None)),
    (Actor(1, DE, None, WATER), ticket("dispatched", district=HONGSHAN, department=None)),
    (Actor(1, DO, None, None), ticket("dispatched", district=HONGSHAN, department=WATER)),
])
def test_unscoped_officer_or_ticket_is_refused(who, view):
    with pytest.raises(PermissionDenied):
        plan("accept", who, view, {})


def test_only_the_responsible_unit_acts():
    """The outside finding: a district officer could accept a ticket dispatched to a department
    of their district. The department is responsible; the district may not act (decision 0009)."""
    view = ticket("dispatched", district=HONGSHAN, department=WATER)
    assert responsible_unit(view) == ("department", WATER)
    with pytest.raises(PermissionDenied) as err:
        plan("accept", actor(DO, district=HONGSHAN), view, {})
    assert "责任单位" in str(err.value) and WATER in str(err.value)
    assert plan("accept", actor(DE, department=WATER), view, {}).to_state is TicketState.IN_PROGRESS
    handed_to_district = ticket("dispatched", district=HONGSHAN, department=None)
    assert responsible_unit(handed_to_district) == ("district", HONGSHAN)
    assert plan("accept", actor(DO, district=HONGSHAN), handed_to_district, {}).to_state is TicketState.IN_PROGRESS
    with pytest.raises(PermissionDenied):
        plan("accept", actor(DE, department=WATER), handed_to_district, {})
    assert responsible_unit(ticket("received", district=None, department=None)) is None


def test_officer_actions_and_visible_states():
    assert OFFICER_ACTIONS == {Action.ACCEPT, Action.RETURN, Action.REQUEST_EXTENSION, Action.FEEDBACK}
    # officers see tickets from the hand-over on, never the desk's intake states
    assert {s.value for s in OFFICER_VISIBLE_STATES} == {
        "dispatched", "in_progress", "returned", "extension_requested", "resolved", "closed",
        "callback_done", "voided"}
    for (state, _action), (_to, roles, *_rest) in EXPECTED.items():
        if roles & OFFICERS:
            assert TicketState(state) in OFFICER_VISIBLE_STATES


# --- required fields ----------------------------------------------------------------------------

REQUIRED = [
    ("received", "reject", AG, "reason"),
    ("received", "answer_directly", AG, "result"),
    ("received", "merge", AG, "parent"),
    ("registered", "merge", DI, "parent"),
    ("dispatched", "return", DO, "reason"),
    ("in_progress", "return", DE, "reason"),
    ("in_progress", "request_extension", DO, "reason"),
    ("in_progress", "request_extension", DO, "duration"),
    ("in_progress", "feedback", DO, "result"),
    ("extension_requested", "feedback", DE, "result"),
    ("resolved", "verify_fail", DI, "reason"),
    ("closed", "callback", AG, "satisfaction"),
    ("closed", "reopen", SU, "reason"),
    ("callback_done", "reopen", AG, "reason"),
    ("received", "complete", DI, "category_code"),
    ("received", "complete", AG, "description"),
    ("received", "void", SU, "reason"),
    ("in_progress", "void", AD, "reason"),
]


@pytest.mark.parametrize("state,action,role,field", REQUIRED)
@pytest.mark.parametrize("blank", [False, True])
def test_required_field(state, action, role, field, blank):
    payload = dict(FULL_PAYLOAD)
    if blank:
        payload[field] = "   "
    else:
        del payload[field]
    view = own(role, state, satisfaction="dissatisfied")
    with pytest.raises(MissingField) as err:
        plan(action, actor(role), view, payload)
    assert err.value.field == field
    assert field in str(err.value)
    assert plan(action, actor(role), view, FULL_PAYLOAD).data[field]  # present -> accepted


@pytest.mark.parametrize("state,action,role", [
    ("received", "register", AG), ("dispatched", "accept", DO),
    ("extension_requested", "approve_extension", SU), ("extension_requested", "deny_extension", SU),
    ("resolved", "verify_pass", DI),
])
def test_actions_without_required_fields(state, action, role):
    assert plan(action, actor(role), own(role, state), {}).to_state.value == EXPECTED[(state, action)][0]


@pytest.mark.parametrize("value", ["very", "满意", 1])
def test_invalid_satisfaction(value):
    with pytest.raises(InvalidField) as err:
        plan("callback", actor(AG), ticket("closed"), {"satisfaction": value})
    assert err.value.field == "satisfaction"
    assert isinstance(err.value, MissingField)


@pytest.mark.parametrize("value", [0, -2, "3", True, float("nan"), float("inf"), 1.5])
def test_invalid_extension_duration(value):
    with pytest.raises(InvalidField) as err:
        plan("request_extension", actor(DE), ticket("in_progress"), {"reason": "雨天停工", "duration": value})
    assert err.value.field == "duration"


def test_extension_unit_defaults_and_is_checked():
    t = plan("request_extension", actor(DE), ticket("in_progress"), {"reason": "雨天停工", "duration": 2})
    assert t.data == {"reason": "雨天停工", "duration": 2, "unit": TimeUnit.WORKING_DAYS}
    t = plan("request_extension", actor(DE), ticket("in_progress"),
             {"reason": "雨天停工", "duration": 1.5, "unit": "working_hours"})
    assert t.data["unit"] is TimeUnit.WORKING_HOURS and t.data["duration"] == 1.5
    with pytest.raises(InvalidField) as err:
        plan("request_extension", actor(DE), ticket("in_progress"),
             {"reason": "雨天停工", "duration": 2, "unit": "fortnights"})
    assert err.value.field == "unit"


def test_dispatch_needs_a_responsible_unit():
    unrouted = ticket("registered", district=None, department=None)
    with pytest.raises(MissingField) as err:
        plan("dispatch", actor(DI), unrouted, {})
    assert err.value.field == "responsible"
    t = plan("dispatch", actor(DI), unrouted, {"department_code": GAS})
    assert t.data == {"district_code": None, "department_code": GAS}
    # The ticket's routed units are kept unless the dispatcher names others.
    t = plan("dispatch", actor(DI), ticket("registered"), {})
    assert t.data == {"district_code": HONGSHAN, "department_code": WATER}
    assert t.notify == ("responsible",)


def test_dispatch_chooses_the_responsible_unit():
    routed_to_water = ticket("registered")
    # to the district of the place: the department is dropped, the district becomes responsible
    t = plan("dispatch", actor(DI), routed_to_water, {"responsible": "district"})
    assert t.data == {"district_code": HONGSHAN, "department_code": None}
    t = plan("dispatch", actor(DI), routed_to_water, {"responsible": "district", "district_code": SONGSHAN})
    assert t.data == {"district_code": SONGSHAN, "department_code": None}
    # to another department: the place's district is kept
    t = plan("dispatch", actor(DI), routed_to_water, {"responsible": "department", "department_code": GAS})
    assert t.data == {"district_code": HONGSHAN, "department_code": GAS}
    # a territory-led ticket (no department) handed to a department must name it
    with pytest.raises(MissingField) as err:
        plan("redispatch", actor(DI), ticket("returned", department=None), {"responsible": "department"})
    assert err.value.field == "department_code"
    with pytest.raises(MissingField) as err:
        plan("dispatch", actor(DI), ticket("registered", district=None), {"responsible": "district"})
    assert err.value.field == "district_code"
    with pytest.raises(InvalidField) as err:
        plan("dispatch", actor(DI), routed_to_water, {"responsible": "street"})
    assert err.value.field == "responsible"


# --- content (补录) -------------------------------------------------------------------------------

@pytest.mark.parametrize("state,action", [("received", "register"), ("registered", "dispatch"),
                                          ("returned", "redispatch")])
def test_a_ticket_without_content_cannot_be_registered_or_dispatched(state, action):
    empty = ticket(state, has_content=False)
    with pytest.raises(IncompleteTicket) as err:
        plan(action, actor(DI), empty, FULL_PAYLOAD)
    assert "补录" in str(err.value) and isinstance(err.value, WorkflowError)
    assert action not in {a.value for a in available_actions(actor(DI), empty)}
    # role and scope are refused first, as for every action
    with pytest.raises(PermissionDenied):
        plan(action, actor(DO), empty, FULL_PAYLOAD)
    assert plan(action, actor(DI), ticket(state), FULL_PAYLOAD).to_state.value == EXPECTED[(state, action)][0]


def test_what_an_empty_ticket_still_allows():
    empty = ticket("received", district=HONGSHAN, department=None, has_content=False)
    assert [a.value for a in available_actions(actor(DI), empty)] == ["complete"]
    assert [a.value for a in available_actions(actor(AG), empty)] == [
        "complete", "reject", "answer_directly", "merge"]
    assert [a.value for a in available_actions(actor(SU), empty)] == [
        "complete", "reject", "answer_directly", "merge", "void"]


def test_complete_validates_the_content():
    payload = {"category_code": " 01001 ", "description": " 井盖缺失 ", "address": "昭乌达路12号",
               "kind": "component", "lat": 42.27, "lon": 118.95}
    t = plan("complete", actor(DI), ticket("received", has_content=False), payload)
    assert t.to_state is TicketState.RECEIVED and (t.starts_stage, t.stops_stage) == (None, None)
    assert t.data == {"category_code": "01001", "description": "井盖缺失", "kind": "component",
                      "address": "昭乌达路12号", "lat": 42.27, "lon": 118.95}
    t = plan("complete", actor(AG), ticket("received", has_content=False),
             {"category_code": "01001", "description": "井盖缺失"})
    assert t.data == {"category_code": "01001", "description": "井盖缺失", "kind": None, "address": "",
                      "lat": None, "lon": None}
    bad = [({"kind": "thing"}, "kind", InvalidField), ({"lat": 42.2}, "lon", MissingField),
           ({"lat": 91.0, "lon": 118.9}, "lat", InvalidField), ({"lat": 42.0, "lon": "x"}, "lon", InvalidField),
           ({"lat": 42.0, "lon": float("nan")}, "lon", InvalidField)]
    for extra, field, error in bad:
        with pytest.raises(error) as err:
            plan("complete", actor(DI), ticket("received"), {"category_code": "01001", "description": "x", **extra})
        assert err.value.field == field
    for state in ALL_STATES:
        if state != "received":
            with pytest.raises(IllegalTransition):
                plan("complete", actor(SU), ticket(state), payload)


# --- journeys -----------------------------------------------------------------------------------

def run(view: TicketView, steps):
    """Apply (action, role, payload) steps; return the final view and the transitions."""
    done = []
    for action, who, payload in steps:
        t = plan(action, who, view, payload)
        assert t.from_state is view.state
        view = apply(view, t)
        done.append(t)
    return view, done


def test_happy_path():
    officer = actor(DO, district=HONGSHAN)
    view, done = run(ticket("received", district=HONGSHAN, department=None), [
        ("register", actor(AG), {}),
        ("dispatch", actor(DI), {}),
        ("accept", officer, {}),
        ("feedback", officer, {"result": "井盖已更换"}),
        ("verify_pass", actor(DI), {"note": "现场照片核实"}),
        ("callback", actor(AG), {"satisfaction": "satisfied"}),
    ])
    assert [t.to_state.value for t in done] == [
        "registered", "dispatched", "in_progress", "resolved", "closed", "callback_done"]
    assert [(t.stops_stage, t.starts_stage) for t in done] == [
        (None, None), (None, "签收"), ("签收", "处置"), ("处置", "核查"), ("核查", "回访"), ("回访", None)]
    assert done[3].note == "井盖已更换" and done[3].data == {"result": "井盖已更换"}
    assert done[4].note == "现场照片核实" and "caller" in done[4].notify
    assert view.state is TicketState.CALLBACK_DONE and view.satisfaction is Satisfaction.SATISFIED
    assert not view.state.is_open
    # A satisfied citizen's ticket can be reopened only by supervision.
    assert Action.REOPEN not in available_actions(actor(AG), view)
    assert Action.REOPEN in available_actions(actor(SU), view)


def test_rework_loop():
    officer = actor(DE, department=WATER)
    view, done = run(ticket("resolved"), [
        ("verify_fail", actor(DI), {"reason": "现场仍有积水"}),
        ("feedback", officer, {"result": "已疏通排水口"}),
        ("verify_fail", actor(SU), {"reason": "照片不清"}),
        ("feedback", officer, {"result": "补充照片"}),
        ("verify_pass", actor(DI), {}),
    ])
    assert [t.to_state.value for t in done] == ["in_progress", "resolved", "in_progress", "resolved", "closed"]
    assert done[0].starts_stage == "处置" and done[0].note == "现场仍有积水"
    assert "responsible" in done[0].notify
    assert view.state is TicketState.CLOSED


def test_extension_approved_and_denied():
    officer = actor(DE)
    view, done = run(ticket("in_progress"), [
        ("request_extension", officer, {"reason": "需协调供热公司", "duration": 5}),
        ("approve_extension", actor(SU), {"note": "同意延期5个工作日"}),
        ("request_extension", officer, {"reason": "再延", "duration": 10}),
        ("deny_extension", actor(AD), {"reason": "已延期一次"}),
    ])
    assert [t.to_state.value for t in done] == [
        "extension_requested", "in_progress", "extension_requested", "in_progress"]
    assert done[0].data["duration"] == 5 and "supervisor" in done[0].notify
    assert done[3].note == "已延期一次"
    # The officer cannot approve his own request, nor a dispatcher.
    pending = ticket("extension_requested")
    for role in (DO, DI, AG):
        with pytest.raises(PermissionDenied):
            plan("approve_extension", actor(role), pending, {})
    # Feedback while a request is pending ends the handling stage.
    t = plan("feedback", officer, pending, {"result": "提前完成"})
    assert (t.to_state, t.stops_stage) == (TicketState.RESOLVED, "处置")


def test_return_and_redispatch_to_another_district():
    hongshan_officer, songshan_officer = actor(DO, district=HONGSHAN), actor(DO, district=SONGSHAN)
    view, done = run(ticket("dispatched", district=HONGSHAN, department=None), [
        ("return", hongshan_officer, {"reason": "属地不符，应属松山区"}),
        ("redispatch", actor(DI), {"district_code": SONGSHAN}),
    ])
    assert [t.to_state.value for t in done] == ["returned", "dispatched"]
    assert done[0].data == {"reason": "属地不符，应属松山区"} and done[0].notify == ("dispatcher",)
    assert done[1].starts_stage == "签收" and view.district_code == SONGSHAN
    with pytest.raises(PermissionDenied):
        plan("accept", hongshan_officer, view, {})
    assert plan("accept", songshan_officer, view, {}).to_state is TicketState.IN_PROGRESS
    # Returning after acceptance stops the handling stage instead.
    t = plan("return", songshan_officer, apply(view, plan("accept", songshan_officer, view, {})),
             {"reason": "权属不清"})
    assert (t.to_state, t.stops_stage) == (TicketState.RETURNED, "处置")


def test_dissatisfied_callback_then_reopen():
    view, done = run(ticket("closed"), [
        ("callback", actor(AG), {"satisfaction": "dissatisfied", "note": "路灯仍不亮"}),
    ])
    assert view.satisfaction is Satisfaction.DISSATISFIED
    assert "supervisor" in done[0].notify and done[0].note == "路灯仍不亮"
    assert Action.REOPEN in available_actions(actor(AG), view)
    assert Action.REOPEN in available_actions(actor(DI), view)
    assert available_actions(actor(DO), view) == []
    view, done = run(view, [("reopen", actor(AG), {"reason": "回访不满意，重新交办"})])
    assert view.state is TicketState.DISPATCHED and view.satisfaction is None
    assert done[0].starts_stage == "签收" and done[0].notify == ("responsible",)
    # The same unit gets it back and the loop runs again.
    view, _ = run(view, [("accept", actor(DE), {}), ("feedback", actor(DE), {"result": "更换灯具"})])
    assert view.state is TicketState.RESOLVED


@pytest.mark.parametrize("satisfaction", ["satisfied", "basically_satisfied"])
def test_content_callback_does_not_alert_supervisor(satisfaction):
    t = plan("callback", actor(AG), ticket("closed"), {"satisfaction": satisfaction})
    assert t.data["satisfaction"].value == satisfaction and t.notify == ()


def test_supervisor_reopens_closed_ticket_before_callback():
    t = plan("reopen", actor(SU), ticket("closed"), {"reason": "领导批示重办"})
    assert (t.to_state, t.stops_stage, t.starts_stage) == (TicketState.DISPATCHED, "回访", "签收")
    for role in (AG, DI):
        with pytest.raises(PermissionDenied):
            plan("reopen", actor(role), ticket("closed", satisfaction="dissatisfied"), {"reason": "x"})


def test_direct_answer_ends_the_ticket():
    view, done = run(ticket("received", district=None, department=None), [
        ("answer_directly", actor(AG), {"result": "供暖期为每年10月15日至次年4月15日"}),
    ])
    assert view.state is TicketState.ANSWERED and view.state.is_terminal
    assert done[0].notify == ("caller",) and done[0].data["result"].startswith("供暖期")
    with pytest.raises(IllegalTransition):
        plan("register", actor(SU), view, {})


def test_merge_records_parent():
    t = plan("merge", actor(AG), ticket("received"), {"parent": " 12319-20261127-00042 "})
    assert t.to_state is TicketState.MERGED and t.data == {"parent": "12319-20261127-00042"}
    t = plan("merge", actor(DI), ticket("registered"), {"parent": "12319-20261127-00042"})
    assert t.to_state is TicketState.MERGED
    with pytest.raises(PermissionDenied):
        plan("merge", actor(DI), ticket("received"), {"parent": "12319-20261127-00042"})
    with pytest.raises(IllegalTransition):
        plan("merge", actor(SU), ticket("dispatched"), {"parent": "12319-20261127-00042"})


def test_void_only_by_supervision_and_only_open_tickets():
    t = plan("void", actor(SU), ticket("dispatched"), {"reason": "重复录入"})
    assert (t.to_state, t.stops_stage, t.note) == (TicketState.VOIDED, "签收", "重复录入")
    assert t.notify == ("responsible",)
    assert plan("void", actor(AD), ticket("received"), {"reason": "测试工单"}).notify == ()
    for role in (AG, DI, DO, DE):
        with pytest.raises(PermissionDenied):
            plan("void", actor(role), ticket("received"), {"reason": "x"})
    for state in ("closed", "callback_done", "voided", "answered"):
        with pytest.raises(IllegalTransition):
            plan("void", actor(SU), ticket(state), {"reason": "x"})


def test_plan_is_pure():
    view = ticket("in_progress")
    payload = {"result": "已处理", "note": "附照片"}
    first = plan("feedback", actor(DE), view, payload)
    second = plan("feedback", actor(DE), view, payload)
    assert first == second and view.state is TicketState.IN_PROGRESS
    assert payload == {"result": "已处理", "note": "附照片"}


# The stage running in each state (written out by hand); the work lists join "the" running stage.
RUNNING_IN = {"dispatched": "签收", "in_progress": "处置", "extension_requested": "处置", "resolved": "核查",
              "closed": "回访"}


def test_one_running_stage_at_a_time():
    """A transition that starts a stage stops the one running in its state, and every state runs
    at most the stage listed above: a ticket never has two running deadlines."""
    for (state, _action), (target, _roles, starts, stops) in EXPECTED.items():
        running = RUNNING_IN.get(state)
        if starts:
            assert stops == running, (state, _action)
            assert RUNNING_IN.get(target) == starts, (state, _action)
        elif target != state and running:
            # leaving a state without starting a stage: the running one stops unless the target runs it on
            assert stops == running or RUNNING_IN.get(target) == running, (state, _action)
