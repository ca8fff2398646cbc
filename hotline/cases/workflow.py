"""The closed-loop ticket workflow as an explicit, table-driven state machine (design §4).

Pure: no SQL, no clock. ``plan()`` checks one requested action against the table and returns a
``Transition`` describing what the service layer must persist (new state, TicketEvent note and
data, SLA stage to stop/start, who to notify), or raises a ``WorkflowError``.

The machine (■ = terminal: nothing leaves it)::

  received 受理 ─register─▶ registered 立案 ─dispatch─▶ dispatched 已派遣(待签收) ◀─────────────┐
   ├─reject──────────▶ rejected 不予立案 ■                 │accept        │return              │
   ├─answer_directly─▶ answered 直接答复 ■                 ▼              ▼                    │
   └─merge───────────▶ merged 已并案 ■ ◀─merge─ registered in_progress ─return─▶ returned ─redispatch
                                                        处置中 ◀──────────────────────┐ 已退回
           request_extension │ ▲ approve_extension / deny_extension               │verify_fail 返工
                             ▼ │                                                  │
                    extension_requested ─feedback─▶ resolved 已反馈(待核查) ───────┘
     in_progress ─feedback─────────────────────────▶ resolved ─verify_pass─▶ closed 已结案
     closed ─callback─▶ callback_done 已回访        closed | callback_done ─reopen(重办)─▶ dispatched
     every open state ─void─▶ voided 已作废 ■
     received ─complete(补录)─▶ received   (content of a voicemail / failed-transfer ticket, re-routed)

Who may act (``Role``); officers only on tickets in their scope (see ``in_scope``):

  action                  from state(s)                      roles
  complete 补录           received                           agent, dispatcher, supervisor, admin
  register 立案           received                           agent, dispatcher, supervisor, admin
  reject 不予立案         received                           agent, supervisor, admin
  answer_directly         received                           agent, supervisor, admin
  merge 并案              received                           agent, supervisor, admin
  merge 并案              registered                         dispatcher, supervisor, admin
  dispatch 派遣           registered                         dispatcher, supervisor, admin
  redispatch 重新派遣     returned                           dispatcher, supervisor, admin
  accept 签收             dispatched                         district/department officer (scope)
  return 退回             dispatched, in_progress            district/department officer (scope)
  request_extension       in_progress                        district/department officer (scope)
  feedback 反馈           in_progress, extension_requested   district/department officer (scope)
  approve/deny_extension  extension_requested                supervisor, admin
  verify_pass/verify_fail resolved                           dispatcher, supervisor, admin
  callback 回访           closed                             agent, supervisor, admin
  reopen 重办             closed                             supervisor, admin
  reopen 重办             callback_done                      supervisor, admin; agent and dispatcher
                                                             only after a dissatisfied callback
  void 作废               every open state                   supervisor, admin

Decisions: supervisors and admins can do what agents and dispatchers do, but never act for a
department (签收/退回/延期申请/反馈 belong to the responsible unit). The responsible unit
(责任单位, decision 0009) is the ticket's department when it has one, else its district: only
that unit's officers act on the ticket, and officers see a ticket only once it was handed over
(``OFFICER_VISIBLE_STATES``). A ticket without content (category and description: the IVR's
voicemail and failed-transfer tickets) cannot be registered or dispatched until it is completed
(``complete``, which the service re-routes). A direct answer (咨询) ends the
ticket at intake. A pending extension request does not block feedback. ``closed`` is not open
(work is done) but not terminal: the callback and a reopen can still follow. Reopen returns the
ticket to the same responsible unit (重新交办); that unit may return it if it is not theirs.
An approved extension moves the 处置 deadline by the duration stored with the request event;
that is the SLA layer's job, so approve/deny start and stop no stage here.

Errors are checked in this order: state (``IllegalTransition``), role and scope
(``PermissionDenied``), content (``IncompleteTicket``), payload (``MissingField`` / ``InvalidField``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Mapping

from hotline.sla.deadlines import TimeUnit
from hotline.users.roles import Role

__all__ = [
    "TicketState", "Action", "Satisfaction", "Actor", "TicketView", "Transition",
    "WorkflowError", "IllegalTransition", "PermissionDenied", "IncompleteTicket", "MissingField", "InvalidField",
    "OPEN_STATES", "TERMINAL_STATES", "OFFICER_VISIBLE_STATES", "OFFICER_ACTIONS",
    "STAGE_ACCEPT", "STAGE_HANDLE", "STAGE_VERIFY", "STAGE_CALLBACK",
    "NOTIFY_CALLER", "NOTIFY_RESPONSIBLE", "NOTIFY_DISPATCHER", "NOTIFY_SUPERVISOR",
    "plan", "available_actions", "in_scope", "responsible_unit",
]


class TicketState(str, Enum):
    RECEIVED = "received"
    REGISTERED = "registered"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RETURNED = "returned"
    EXTENSION_REQUESTED = "extension_requested"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CALLBACK_DONE = "callback_done"
    ANSWERED = "answered"
    MERGED = "merged"
    VOIDED = "voided"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]

    @property
    def is_open(self) -> bool:
        """Open = the hotline or a responsible unit still owes work on the ticket."""
        return self in OPEN_STATES

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


STATE_LABELS = {
    TicketState.RECEIVED: "受理",
    TicketState.REGISTERED: "立案",
    TicketState.REJECTED: "不予立案",
    TicketState.DISPATCHED: "已派遣(待签收)",
    TicketState.IN_PROGRESS: "处置中",
    TicketState.RETURNED: "已退回(待重新派遣)",
    TicketState.EXTENSION_REQUESTED: "延期申请中",
    TicketState.RESOLVED: "已反馈(待核查)",
    TicketState.CLOSED: "已结案",
    TicketState.CALLBACK_DONE: "已回访",
    TicketState.ANSWERED: "直接答复",
    TicketState.MERGED: "已并案",
    TicketState.VOIDED: "已作废",
}

OPEN_STATES = frozenset({
    TicketState.RECEIVED, TicketState.REGISTERED, TicketState.DISPATCHED, TicketState.IN_PROGRESS,
    TicketState.RETURNED, TicketState.EXTENSION_REQUESTED, TicketState.RESOLVED,
})
TERMINAL_STATES = frozenset({
    TicketState.REJECTED, TicketState.ANSWERED, TicketState.MERGED, TicketState.VOIDED,
})
# What district and department officers may see: tickets handed over to a unit (dispatched) and
# what followed. Never the desk's intake states, nor tickets that ended there (decision 0009).
OFFICER_VISIBLE_STATES = frozenset({
    TicketState.DISPATCHED, TicketState.IN_PROGRESS, TicketState.RETURNED, TicketState.EXTENSION_REQUESTED,
    TicketState.RESOLVED, TicketState.CLOSED, TicketState.CALLBACK_DONE, TicketState.VOIDED,
})


class Action(str, Enum):
    COMPLETE = "complete"
    REGISTER = "register"
    REJECT = "reject"
    ANSWER_DIRECTLY = "answer_directly"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    FEEDBACK = "feedback"
    VERIFY_PASS = "verify_pass"
    VERIFY_FAIL = "verify_fail"
    CALLBACK = "callback"
    REOPEN = "reopen"
    MERGE = "merge"
    VOID = "void"
    REDISPATCH = "redispatch"

    @property
    def label(self) -> str:
        return ACTION_LABELS[self]


ACTION_LABELS = {
    Action.COMPLETE: "补录",
    Action.REGISTER: "立案",
    Action.REJECT: "不予立案",
    Action.ANSWER_DIRECTLY: "直接答复",
    Action.DISPATCH: "派遣",
    Action.ACCEPT: "签收",
    Action.RETURN: "退回",
    Action.REQUEST_EXTENSION: "延期申请",
    Action.APPROVE_EXTENSION: "批准延期",
    Action.DENY_EXTENSION: "驳回延期",
    Action.FEEDBACK: "反馈",
    Action.VERIFY_PASS: "核查通过",
    Action.VERIFY_FAIL: "返工",
    Action.CALLBACK: "回访",
    Action.REOPEN: "重办",
    Action.MERGE: "并案",
    Action.VOID: "作废",
    Action.REDISPATCH: "重新派遣",
}


class Satisfaction(str, Enum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"

    @property
    def label(self) -> str:
        return {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}[self.value]


# SLA stage names (design §6); the SLA layer maps them to configured limits.
STAGE_ACCEPT = "签收"
STAGE_HANDLE = "处置"
STAGE_VERIFY = "核查"
STAGE_CALLBACK = "回访"

# Notification targets: the citizen, the responsible district/department unit, the dispatch desk,
# the supervisor on duty. ``hotline.notify`` resolves them to people and channels.
NOTIFY_CALLER = "caller"
NOTIFY_RESPONSIBLE = "responsible"
NOTIFY_DISPATCHER = "dispatcher"
NOTIFY_SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: Role
    district_code: str | None = None
    department_code: str | None = None


@dataclass(frozen=True)
class TicketView:
    """What the workflow needs to know about a ticket.

    ``satisfaction`` is the result of the latest callback; the service stores
    ``Transition.data["satisfaction"]`` on a callback and clears it on a reopen.
    ``has_content``: the ticket has a category and a description (tickets the IVR opens from a
    voicemail or a failed transfer have neither until they are completed).
    """
    state: TicketState
    district_code: str | None = None
    department_code: str | None = None
    satisfaction: Satisfaction | None = None
    has_content: bool = True


@dataclass(frozen=True)
class Transition:
    """A planned state change; the service persists it and appends one TicketEvent.

    ``data`` holds the validated payload fields the service must store (reason, result,
    satisfaction, parent, duration/unit, district_code/department_code of a (re)dispatch).
    """
    action: Action
    from_state: TicketState
    to_state: TicketState
    note: str
    data: Mapping[str, Any] = field(default_factory=dict)
    starts_stage: str | None = None
    stops_stage: str | None = None
    notify: tuple[str, ...] = ()


class WorkflowError(Exception):
    """Base of every refusal; ``str(error)`` is a Chinese message with the English in parentheses."""


class IllegalTransition(WorkflowError):
    def __init__(self, state: TicketState, action: Action):
        self.state, self.action = state, action
        super().__init__(
            f"当前状态“{state.label}”不允许执行“{action.label}”"
            f"(state '{state.value}' does not allow '{action.value}')")


class PermissionDenied(WorkflowError):
    def __init__(self, message: str, role: Role, action: Action):
        self.role, self.action = role, action
        super().__init__(message)


class IncompleteTicket(WorkflowError):
    """Register/dispatch of a ticket that has no category or description yet (补录 first)."""

    def __init__(self, action: Action):
        self.action = action
        super().__init__(
            f"工单尚未补录分类和诉求内容，请先“补录”再“{action.label}”"
            f"(ticket has no category or description: complete it before '{action.value}')")


class MissingField(WorkflowError):
    def __init__(self, action: Action, field_name: str, message: str | None = None):
        self.action, self.field = action, field_name
        super().__init__(message or (
            f"执行“{action.label}”须填写{FIELD_LABELS.get(field_name, field_name)}"
            f"(action '{action.value}' requires '{field_name}')"))


class InvalidField(MissingField):
    """A required field is present but its value is not acceptable."""

    def __init__(self, action: Action, field_name: str, value: Any, expected: str):
        self.value = value
        super().__init__(action, field_name, (
            f"执行“{action.label}”时{FIELD_LABELS.get(field_name, field_name)}无效：{value!r}"
            f"(action '{action.value}': invalid '{field_name}', expected {expected})"))


FIELD_LABELS = {
    "reason": "理由",
    "result": "办理结果",
    "satisfaction": "满意度",
    "parent": "主工单编号",
    "duration": "延期时长",
    "unit": "时长单位",
    "responsible": "责任区县或责任部门",
    "district_code": "责任区县代码",
    "department_code": "责任部门代码",
    "category_code": "分类",
    "kind": "分类类型",
    "description": "诉求内容",
    "address": "地址",
    "lat": "纬度",
    "lon": "经度",
}


# --- the table ---------------------------------------------------------------------------------

_INTAKE = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
_REGISTER = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
_DISPATCH = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
_OFFICERS = frozenset({Role.DISTRICT_OFFICER, Role.DEPARTMENT_OFFICER})
_SUPERVISION = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class _Rule:
    to_state: TicketState
    roles: frozenset[Role]
    requires: tuple[str, ...] = ()
    starts: str | None = None
    stops: str | None = None
    notify: tuple[str, ...] = ()
    # Extra roles admitted only when ``condition(ticket)`` holds (e.g. reopen after a bad callback).
    conditional_roles: frozenset[Role] = frozenset()
    condition: Callable[[TicketView], bool] | None = None
    condition_text: str = ""
    # Refused (IncompleteTicket) while the ticket has no category or description.
    needs_content: bool = False


def _dissatisfied(ticket: TicketView) -> bool:
    return ticket.satisfaction is Satisfaction.DISSATISFIED


S, A = TicketState, Action
_RESP, _CALLER = (NOTIFY_RESPONSIBLE,), (NOTIFY_CALLER,)

# The stage each open state is running, stopped when the ticket is voided.
_RUNNING_STAGE = {
    S.DISPATCHED: STAGE_ACCEPT, S.IN_PROGRESS: STAGE_HANDLE,
    S.EXTENSION_REQUESTED: STAGE_HANDLE, S.RESOLVED: STAGE_VERIFY,
}

TRANSITIONS: dict[tuple[TicketState, Action], _Rule] = {
    (S.RECEIVED, A.COMPLETE): _Rule(S.RECEIVED, _REGISTER, ("category_code", "description")),
    (S.RECEIVED, A.REGISTER): _Rule(S.REGISTERED, _REGISTER, needs_content=True),
    (S.RECEIVED, A.REJECT): _Rule(S.REJECTED, _INTAKE, ("reason",), notify=_CALLER),
    (S.RECEIVED, A.ANSWER_DIRECTLY): _Rule(S.ANSWERED, _INTAKE, ("result",), notify=_CALLER),
    (S.RECEIVED, A.MERGE): _Rule(S.MERGED, _INTAKE, ("parent",), notify=_CALLER),
    (S.REGISTERED, A.MERGE): _Rule(S.MERGED, _DISPATCH, ("parent",), notify=_CALLER),
    (S.REGISTERED, A.DISPATCH): _Rule(S.DISPATCHED, _DISPATCH, ("responsible",),
                                      starts=STAGE_ACCEPT, notify=_RESP, needs_content=True),
    (S.RETURNED, A.REDISPATCH): _Rule(S.DISPATCHED, _DISPATCH, ("responsible",),
                                      starts=STAGE_ACCEPT, notify=_RESP, needs_content=True),
    (S.DISPATCHED, A.ACCEPT): _Rule(S.IN_PROGRESS, _OFFICERS, stops=STAGE_ACCEPT, starts=STAGE_HANDLE),
    (S.DISPATCHED, A.RETURN): _Rule(S.RETURNED, _OFFICERS, ("reason",), stops=STAGE_ACCEPT,
                                    notify=(NOTIFY_DISPATCHER,)),
    (S.IN_PROGRESS, A.RETURN): _Rule(S.RETURNED, _OFFICERS, ("reason",), stops=STAGE_HANDLE,
                                     notify=(NOTIFY_DISPATCHER,)),
    (S.IN_PROGRESS, A.REQUEST_EXTENSION): _Rule(S.EXTENSION_REQUESTED, _OFFICERS, ("reason", "duration"),
                                                notify=(NOTIFY_SUPERVISOR,)),
    (S.IN_PROGRESS, A.FEEDBACK): _Rule(S.RESOLVED, _OFFICERS, ("result",), stops=STAGE_HANDLE,
                                       starts=STAGE_VERIFY, notify=(NOTIFY_DISPATCHER,)),
    (S.EXTENSION_REQUESTED, A.FEEDBACK): _Rule(S.RESOLVED, _OFFICERS, ("result",), stops=STAGE_HANDLE,
                                               starts=STAGE_VERIFY, notify=(NOTIFY_DISPATCHER,)),
    (S.EXTENSION_REQUESTED, A.APPROVE_EXTENSION): _Rule(S.IN_PROGRESS, _SUPERVISION, notify=_RESP),
    (S.EXTENSION_REQUESTED, A.DENY_EXTENSION): _Rule(S.IN_PROGRESS, _SUPERVISION, notify=_RESP),
    (S.RESOLVED, A.VERIFY_PASS): _Rule(S.CLOSED, _DISPATCH, stops=STAGE_VERIFY, starts=STAGE_CALLBACK,
                                       notify=_CALLER),
    (S.RESOLVED, A.VERIFY_FAIL): _Rule(S.IN_PROGRESS, _DISPATCH, ("reason",), stops=STAGE_VERIFY,
                                       starts=STAGE_HANDLE, notify=_RESP),
    (S.CLOSED, A.CALLBACK): _Rule(S.CALLBACK_DONE, _INTAKE, ("satisfaction",), stops=STAGE_CALLBACK),
    (S.CLOSED, A.REOPEN): _Rule(S.DISPATCHED, _SUPERVISION, ("reason",), stops=STAGE_CALLBACK,
                                starts=STAGE_ACCEPT, notify=_RESP),
    (S.CALLBACK_DONE, A.REOPEN): _Rule(
        S.DISPATCHED, _SUPERVISION, ("reason",), starts=STAGE_ACCEPT, notify=_RESP,
        conditional_roles=frozenset({Role.AGENT, Role.DISPATCHER}), condition=_dissatisfied,
        condition_text="仅在回访不满意后可由坐席或派遣员重办(only after a dissatisfied callback)"),
    **{(state, A.VOID): _Rule(S.VOIDED, _SUPERVISION, ("reason",), stops=_RUNNING_STAGE.get(state),
                              notify=_RESP if state in _RUNNING_STAGE else ())
       for state in sorted(OPEN_STATES, key=list(TicketState).index)},
}
del S, A

#: The actions only the responsible unit's officers take (签收, 退回, 延期申请, 反馈).
OFFICER_ACTIONS = frozenset(action for (_state, action), rule in TRANSITIONS.items() if rule.roles == _OFFICERS)


# --- checks ------------------------------------------------------------------------------------

def responsible_unit(ticket: TicketView) -> tuple[str, str] | None:
    """The unit a ticket is with: ``("department", code)`` when it has a department, else
    ``("district", code)``; ``None`` when it names neither (decision 0009)."""
    if ticket.department_code:
        return ("department", ticket.department_code)
    if ticket.district_code:
        return ("district", ticket.district_code)
    return None


def in_scope(actor: Actor, ticket: TicketView) -> bool:
    """Officers act only for their own unit, and only when it is the ticket's responsible unit
    (a district officer never acts on a ticket a department is responsible for, even in their
    district); other roles everywhere."""
    unit = responsible_unit(ticket)
    if actor.role is Role.DISTRICT_OFFICER:
        return actor.district_code is not None and unit == ("district", actor.district_code)
    if actor.role is Role.DEPARTMENT_OFFICER:
        return actor.department_code is not None and unit == ("department", actor.department_code)
    return True


def _rule_for(actor: Actor, ticket: TicketView, action: Action) -> _Rule:
    """The rule that lets ``actor`` take ``action`` on ``ticket`` now, or the refusal."""
    rule = TRANSITIONS.get((ticket.state, action))
    if rule is None:
        raise IllegalTransition(ticket.state, action)
    role = actor.role
    if role not in rule.roles:
        if role in rule.conditional_roles and rule.condition is not None:
            if not rule.condition(ticket):
                raise PermissionDenied(
                    f"角色“{role.label}”不能对状态“{ticket.state.label}”的工单执行“{action.label}”："
                    f"{rule.condition_text}", role, action)
        else:
            raise PermissionDenied(
                f"角色“{role.label}”无权在状态“{ticket.state.label}”执行“{action.label}”"
                f"(role '{role.value}' may not '{action.value}' in state '{ticket.state.value}')",
                role, action)
    if not in_scope(actor, ticket):
        mine = actor.district_code if role is Role.DISTRICT_OFFICER else actor.department_code
        text = "区县" if role is Role.DISTRICT_OFFICER else "部门"
        kind, theirs = responsible_unit(ticket) or ("", None)
        raise PermissionDenied(
            f"工单的责任单位为{_UNIT_TEXT.get(kind, '')}“{theirs or '未指定'}”，不是本{text}“{mine or '未指定'}”，"
            f"无权执行“{action.label}”"
            f"(ticket's responsible unit {kind or 'none'} {theirs!r} is not the actor's {mine!r})", role, action)
    if rule.needs_content and not ticket.has_content:
        raise IncompleteTicket(action)
    return rule


_UNIT_TEXT = {"department": "部门", "district": "区县"}


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _validated(action: Action, rule: _Rule, ticket: TicketView, payload: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("reason", "result", "parent"):
        value = _text(payload, name)
        if value is not None:
            data[name] = value
        elif name in rule.requires:
            raise MissingField(action, name)

    if "satisfaction" in rule.requires:
        raw = payload.get("satisfaction")
        if _blank(raw):
            raise MissingField(action, "satisfaction")
        try:
            data["satisfaction"] = Satisfaction(raw)
        except ValueError:
            raise InvalidField(action, "satisfaction", raw,
                               "one of " + ", ".join(s.value for s in Satisfaction)) from None

    if "duration" in rule.requires:
        raw = payload.get("duration")
        if _blank(raw):
            raise MissingField(action, "duration")
        unit = payload.get("unit", TimeUnit.WORKING_DAYS)
        try:
            unit = TimeUnit(unit)
        except ValueError:
            raise InvalidField(action, "unit", unit, "one of " + ", ".join(u.value for u in TimeUnit)) from None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw <= 0:
            raise InvalidField(action, "duration", raw, "a positive number")
        if unit is TimeUnit.WORKING_DAYS and raw != int(raw):
            raise InvalidField(action, "duration", raw, "a whole number of working days")
        data["duration"], data["unit"] = raw, unit

    if "responsible" in rule.requires:
        data.update(_responsible(action, ticket, payload))
    if "category_code" in rule.requires:
        data.update(_content(action, payload))
    return data


def _responsible(action: Action, ticket: TicketView, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The units of a (re)dispatch. ``responsible`` = ``district`` hands the ticket to the district
    (no department), ``department`` to the department; without it the ticket's routing stands.
    ``district_code``/``department_code`` name other units than the routed ones."""
    choice = _text(payload, "responsible")
    district = _text(payload, "district_code") or ticket.district_code
    department = _text(payload, "department_code") or ticket.department_code
    if choice == "district":
        if district is None:
            raise MissingField(action, "district_code")
        department = None
    elif choice == "department":
        if department is None:
            raise MissingField(action, "department_code")
    elif choice is not None:
        raise InvalidField(action, "responsible", choice, "'district' or 'department'")
    if district is None and department is None:
        raise MissingField(action, "responsible")
    return {"district_code": district, "department_code": department}


def _content(action: Action, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What 补录 stores: category (code and optional kind), description, address, point."""
    data: dict[str, Any] = {}
    for name in ("category_code", "description"):
        value = _text(payload, name)
        if value is None:
            raise MissingField(action, name)
        data[name] = value
    kind = _text(payload, "kind")
    if kind is not None and kind not in ("component", "matter"):
        raise InvalidField(action, "kind", kind, "'component' or 'matter'")
    data["kind"] = kind
    data["address"] = _text(payload, "address") or ""
    lat, lon = payload.get("lat"), payload.get("lon")
    if _blank(lat) != _blank(lon):
        raise MissingField(action, "lon" if _blank(lon) else "lat",
                           "经纬度须同时填写(lat and lon go together)")
    for name, value, bound in (("lat", lat, 90), ("lon", lon, 180)):
        if _blank(value):
            data[name] = None
        elif (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
              or not -bound <= value <= bound):
            raise InvalidField(action, name, value, f"a number between -{bound} and {bound}")
        else:
            data[name] = float(value)
    return data


def plan(action: Action | str, actor: Actor, ticket: TicketView, payload: Mapping[str, Any] | None = None) -> Transition:
    """Check ``action`` by ``actor`` on ``ticket`` and describe the resulting transition.

    Payload keys: ``reason``, ``result``, ``parent`` (ticket number), ``satisfaction``,
    ``duration`` (+ ``unit``, a ``hotline.sla.TimeUnit``, default working days), ``district_code``/``department_code``
    (dispatch/redispatch), ``note`` (free text for the TicketEvent).
    """
    try:
        action = Action(action)
    except ValueError:
        raise WorkflowError(f"未知操作 {action!r}(unknown action {action!r})") from None
    payload = payload or {}
    rule = _rule_for(actor, ticket, action)
    data = _validated(action, rule, ticket, payload)
    note = _text(payload, "note") or data.get("reason") or data.get("result") or ""
    notify = rule.notify
    if action is Action.CALLBACK and data["satisfaction"] is Satisfaction.DISSATISFIED:
        notify = notify + (NOTIFY_SUPERVISOR,)
    return Transition(
        action=action, from_state=ticket.state, to_state=rule.to_state, note=note, data=data,
        starts_stage=rule.starts, stops_stage=rule.stops, notify=notify)


def available_actions(actor: Actor, ticket: TicketView) -> list[Action]:
    """Actions ``actor`` may take on ``ticket`` now (payload not considered), in ``Action`` order."""
    allowed = []
    for action in Action:
        if (ticket.state, action) not in TRANSITIONS:   # what _rule_for refuses first, without the error
            continue
        try:
            _rule_for(actor, ticket, action)
        except WorkflowError:
            continue
        allowed.append(action)
    return allowed
