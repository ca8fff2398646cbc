"""Ticket persistence over the pure workflow (design §3–4, §6).

Every function works inside the caller's transaction and writes nothing when it refuses:
checks run first, and the writes of one operation go through a SAVEPOINT, so a failure
at flush time (a concurrent edit, a constraint) leaves the caller's transaction usable
and unchanged.

SLA stage deadlines (``TicketDeadline`` rows, :mod:`hotline.cases.deadlines`): a transition's
``stops_stage`` completes that row; ``starts_stage`` (re)starts it with the ``Stage`` returned by ``stage_policy(ticket, stage_name)`` (``None`` = no limit
configured, no row). Extensions: a *pending* request does not pause the 处置 clock — the
unit keeps working and may still give feedback (workflow), and a request must not become a
way to stop the clock; an *approved* request moves the 处置 deadline by the requested
duration (in the requested unit, from the current deadline); a denied one changes nothing.

Notifications: one ``Notification`` outbox row per target of ``Transition.notify``. Staff
targets are ``internal`` rows whose body holds the JSON context :mod:`hotline.notify.flows`
delivers later (console notices, SMS); the caller's SMS is rendered now from its template
(:mod:`hotline.notify.citizen`), to the normalised mobile number (a landline is stored ``failed``
with the reason). The ``dedup_key`` names the ticket event, so the same event never enqueues a
message twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import Enum
from typing import Any, Mapping

from sqlalchemy import JSON, Text, bindparam, cast, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from hotline.calls.models import Call
from hotline.cases.errors import InvalidTicket, NotFound, StaleTicket
from hotline.cases.deadlines import StagePolicy, extend_handle_stage, start_stage, stop_stage
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent, TicketSubscription
from hotline.cases.numbering import next_ticket_number
from hotline.cases.timeline import next_seq
from hotline.cases.workflow import (
    NOTIFY_CALLER, OFFICER_VISIBLE_STATES, OPEN_STATES, TERMINAL_STATES, Action, Actor, InvalidField, Satisfaction,
    TicketState, TicketView, Transition, in_scope, plan,
)
from hotline.categories.models import Category
from hotline.notify.citizen import CITIZEN_TEMPLATES, citizen_text
from hotline.notify.delivery import deliver_after_commit
from hotline.notify.render import RenderError
from hotline.notify.service import add_outbox, internal_rows, notice_context, sms_row
from hotline.sla import WorkCalendar
from hotline.users.roles import Role
from hotline.times import iso

__all__ = [
    "CHANNELS", "PRIORITIES", "StagePolicy", "TicketRecord", "RoutedContent",
    "create_ticket", "perform", "list_tickets", "get_ticket", "ticket_record", "caller_history",
    "ticket_view", "visible_to", "scope_filter", "has_content", "ticket_conditions", "check_page",
]

CHANNELS = ("phone", "web", "open311", "exchange")
PRIORITIES = ("normal", "high", "urgent")
SYSTEM_ACTOR = "system"

_CODE_LENGTHS = {"district_code": 6, "street_code": 9, "community_code": 12}
_MAX_LENGTHS = {"caller_number": 40, "caller_name": 80, "address": 300, "department_code": 40,
                "source_key": 120}
# Reaching one of these states ends the ticket's work: 结案 or a terminal decision.
_CLOSING_STATES = frozenset({TicketState.CLOSED}) | TERMINAL_STATES


# --- helpers --------------------------------------------------------------------------------

def _aware(at: datetime, name: str = "at") -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidTicket(name, at, "时间必须带时区")
    return at


def _json_safe(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _check_json(name: str, value: Any) -> tuple[Any, str]:
    """``value`` as it will be stored (a JSON round trip: enums as values, times by :mod:`hotline.times`) and its
    JSON text, serialised as the JSON columns would (``json.dumps`` defaults), so the insert
    binds the text instead of serialising the value a second time."""
    try:
        try:
            text = json.dumps(value, allow_nan=False, default=_json_default)
        except TypeError:  # e.g. non-string keys or a non-dict mapping: normalise, then check
            value = _json_safe(value)
            text = json.dumps(value, allow_nan=False)
        return json.loads(text), text
    except (TypeError, ValueError) as exc:
        raise InvalidTicket(name, value, f"无法保存为 JSON({exc})") from None


def _actor_label(actor: Actor | None, actor_name: str | None) -> str:
    if actor_name:
        return actor_name[:80]
    if actor is None:
        return SYSTEM_ACTOR
    return f"{actor.role.value}:{actor.user_id}" if actor.user_id is not None else actor.role.value


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def has_content(ticket: Ticket) -> bool:
    """A category and a description: what 立案 and 派遣 need (the IVR's tickets have no category)."""
    return bool(ticket.category_code) and bool((ticket.description or "").strip())


def ticket_view(ticket: Ticket) -> TicketView:
    """What the workflow needs to know about a stored ticket."""
    return TicketView(
        state=TicketState(ticket.state),
        district_code=ticket.district_code,
        department_code=ticket.department_code,
        satisfaction=Satisfaction(ticket.satisfaction) if ticket.satisfaction else None,
        has_content=has_content(ticket),
    )


def visible_to(actor: Actor, ticket: Ticket) -> bool:
    """District and department officers see the tickets their unit is responsible for, from the
    hand-over on (decision 0009); other roles see all."""
    if actor.role.scoped and TicketState(ticket.state) not in OFFICER_VISIBLE_STATES:
        return False
    return in_scope(actor, TicketView(TicketState(ticket.state), ticket.district_code, ticket.department_code))


_OFFICER_VISIBLE = sorted(s.value for s in OFFICER_VISIBLE_STATES)


def scope_filter(actor: Actor):
    """SQL condition matching ``visible_to`` (None = no restriction): the officer's unit is the
    responsible unit (department if the ticket has one, else district) and the ticket was handed over."""
    if actor.role is Role.DISTRICT_OFFICER:
        if actor.district_code is None:
            return false()
        mine = (Ticket.district_code == actor.district_code) & Ticket.department_code.is_(None)
    elif actor.role is Role.DEPARTMENT_OFFICER:
        if actor.department_code is None:
            return false()
        mine = Ticket.department_code == actor.department_code
    else:
        return None
    return mine & Ticket.state.in_(_OFFICER_VISIBLE)




# --- create -------------------------------------------------------------------------------

def _validate_intake(*, channel, caller_number, caller_name, category, description, address, lat, lon,
                     codes: dict[str, str | None], department_code, priority, source_key) -> None:
    if channel not in CHANNELS:
        raise InvalidTicket("channel", channel, "受理渠道无效，应为 " + "/".join(CHANNELS))
    if priority not in PRIORITIES:
        raise InvalidTicket("priority", priority, "优先级无效，应为 " + "/".join(PRIORITIES))
    if not isinstance(description, str) or not description.strip():
        raise InvalidTicket("description", description, "诉求内容不能为空")
    for name, value in (("caller_number", caller_number), ("caller_name", caller_name),
                        ("address", address), ("department_code", department_code), ("source_key", source_key)):
        if value is not None and (not isinstance(value, str) or len(value) > _MAX_LENGTHS[name]):
            raise InvalidTicket(name, value, f"字段过长或类型错误(最多 {_MAX_LENGTHS[name]} 字)")
    for name, value in codes.items():
        if value is not None and not re.fullmatch(rf"\d{{{_CODE_LENGTHS[name]}}}", str(value)):
            raise InvalidTicket(name, value, f"区划代码应为 {_CODE_LENGTHS[name]} 位数字")
    if (lat is None) != (lon is None):
        raise InvalidTicket("lat/lon", (lat, lon), "经纬度须同时填写")
    if lat is not None:
        for name, value, bound in (("lat", lat, 90), ("lon", lon, 180)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -bound <= value <= bound:
                raise InvalidTicket(name, value, "坐标超出范围")
    if category is not None:
        if not isinstance(category, Category) or category.id is None:
            raise InvalidTicket("category", category, "分类必须是已保存的分类")
        if not category.active:
            raise InvalidTicket("category", category.code, "分类已停用")


def _by_source_key(session: Session, source_key: str) -> Ticket | None:
    return session.execute(select(Ticket).where(Ticket.source_key == source_key)).scalar_one_or_none()


def create_ticket(
    session: Session, *, channel: str, caller_number: str, caller_name: str = "",
    category: Category | None, description: str, address: str = "",
    lat: float | None = None, lon: float | None = None,
    district_code: str | None = None, street_code: str | None = None, community_code: str | None = None,
    department_code: str | None = None, priority: str = "normal", routing: dict | None = None,
    call: Call | None = None, source_key: str | None = None, actor: Actor | None,
    at: datetime, tz: tzinfo, actor_name: str | None = None, note: str = "",
    event_data: Mapping[str, Any] | None = None,
) -> Ticket:
    """Register a new ticket in state ``received`` with its first event (seq 1, ``create``).

    With ``source_key`` the call is idempotent: the ticket already stored under that key is
    returned unchanged and no number is consumed. ``event_data`` is stored with the first event.
    """
    _aware(at)
    _validate_intake(channel=channel, caller_number=caller_number, caller_name=caller_name,
                     category=category, description=description, address=address, lat=lat, lon=lon,
                     codes={"district_code": district_code, "street_code": street_code,
                            "community_code": community_code},
                     department_code=department_code, priority=priority, source_key=source_key)
    # JSON null for no routing, as the column type stores None
    routing, routing_json = _check_json("routing", routing) if routing is not None else (None, "null")
    extra, extra_json = _check_json("event_data", dict(event_data or {}))
    if call is not None and call.id is None:
        session.flush()

    if source_key is not None:
        existing = _by_source_key(session, source_key)
        if existing is not None:
            return existing
    ticket_fields = dict(
        channel=channel, state=TicketState.RECEIVED.value, source_key=source_key,
        caller_number=caller_number or "", caller_name=caller_name or "",
        call_id=call.id if call is not None else None,
        category_id=category.id if category is not None else None,
        category_ref=category.standard_ref if category is not None else "",
        category_kind=category.kind if category is not None else "",
        category_code=category.code if category is not None else "",
        category_name=category.name if category is not None else "",
        description=description.strip(), address=address or "", lat=lat, lon=lon,
        district_code=district_code, street_code=street_code, community_code=community_code,
        priority=priority, department_code=department_code, routing=routing,
        created_at=at, updated_at=at,
    )
    event_fields = dict(
        seq=1, at=at, actor_id=actor.user_id if actor else None, actor=_actor_label(actor, actor_name),
        action="create", from_state=None, to_state=TicketState.RECEIVED.value, note=note or "", data=extra,
    )
    json_texts = {"routing_json": routing_json, "data_json": extra_json}
    if source_key is None:
        # Nothing to recover from on a unique violation: no savepoint.
        return _insert_ticket(session, at, tz, ticket_fields, event_fields, json_texts)
    try:
        with session.begin_nested():
            return _insert_ticket(session, at, tz, ticket_fields, event_fields, json_texts)
    except IntegrityError:
        # Lost a race on source_key: the savepoint rollback also returned the number.
        existing = _by_source_key(session, source_key)
        if existing is not None:
            return existing
        raise


def _insert_ticket(session: Session, at: datetime, tz: tzinfo, ticket_fields: dict, event_fields: dict,
                   json_texts: dict[str, str]) -> Ticket:
    """Number the ticket and insert it with its first event.

    Two prebuilt Core ``INSERT``s on the session's connection (the rows the ORM would write; the
    JSON columns get the text :func:`_check_json` made); the returned ``Ticket`` (with ``events``
    loaded) is then attached to the session as persistent, without a unit-of-work flush.
    """
    session.flush()   # anything pending (e.g. the call) is written first, as the ORM flush did
    number = next_ticket_number(session, at, tz)
    conn = session.connection()
    ticket_insert, event_insert = _inserts(conn.dialect.name)
    values = {**_TICKET_DEFAULTS, **ticket_fields, "number": number}
    row = {k: v for k, v in values.items() if k != "routing"}
    row["routing_json"] = json_texts["routing_json"]
    values["id"] = conn.execute(ticket_insert, row).scalar_one()
    event_values = {**event_fields, "ticket_id": values["id"]}
    row = {k: v for k, v in event_values.items() if k != "data"}
    row["data_json"] = json_texts["data_json"]
    event_values["id"] = conn.execute(event_insert, row).scalar_one()
    ticket, event = _loaded(Ticket, values), _loaded(TicketEvent, event_values)
    make_transient_to_detached(ticket)
    make_transient_to_detached(event)
    session.add(ticket)
    session.add(event)
    set_committed_value(ticket, "events", [event])
    set_committed_value(event, "ticket", ticket)
    return ticket


def _loaded(cls: type, values: dict) -> Any:
    """An instance holding ``values`` as loaded (not pending) column values, the way the ORM builds
    objects from rows: no per-attribute change tracking, nothing for a flush to write."""
    mapper = cls.__mapper__
    if not mapper.configured:      # a constructor call would have configured the mappers first
        configure_mappers()
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def _column_defaults(table: Any) -> dict[str, Any]:
    """What an INSERT that does not name a column stores there, where it is known without running
    anything: the scalar default (``transcript`` "", the first ``version`` 1) or NULL. Columns with
    a callable or server default are left out: the insert computes them and the ORM loads them
    when read."""
    out: dict[str, Any] = {}
    for column in table.columns:
        if column.primary_key or column.server_default is not None:
            continue
        if column.default is None:
            out[column.key] = None
        elif column.default.is_scalar:
            out[column.key] = column.default.arg
    return out


# The in-memory ticket then holds exactly the row the ORM would have written (create_ticket's own
# fields override these).
_TICKET_DEFAULTS = _column_defaults(Ticket.__table__)
_INSERTS: dict[str, tuple[Any, Any]] = {}


def _inserts(dialect: str) -> tuple[Any, Any]:
    """The ticket and event ``INSERT … RETURNING id`` of ``dialect``, built once; the JSON columns
    take ready JSON text (PostgreSQL: cast to ``json``; SQLite stores JSON as text)."""
    stmts = _INSERTS.get(dialect)
    if stmts is None:
        def text_json(name: str):
            param = bindparam(name, type_=Text)
            return cast(param, JSON) if dialect == "postgresql" else param

        tickets, events = Ticket.__table__, TicketEvent.__table__
        stmts = _INSERTS[dialect] = (
            tickets.insert().values(routing=text_json("routing_json")).returning(tickets.c.id),
            events.insert().values(data=text_json("data_json")).returning(events.c.id),
        )
    return stmts


# --- perform ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutedContent:
    """What 补录 (``complete``) stores beside the workflow's validated fields: the category row and
    the router's decision for the new content (:mod:`hotline.cases.completion` builds it)."""

    category: Category
    routing: dict[str, Any]                # RoutingDecision.to_dict()
    district_code: str
    street_code: str | None
    community_code: str | None
    department_code: str | None            # None: the district leads (属地牵头, decision 0009)
    priority: str


def _apply_content(ticket: Ticket, data: Mapping[str, Any], content: RoutedContent) -> dict[str, Any]:
    """Store the completed content and its routing; returns what the ticket held before."""
    previous = {"category_code": ticket.category_code, "category_name": ticket.category_name,
                "description": ticket.description, "address": ticket.address, "lat": ticket.lat,
                "lon": ticket.lon, "district_code": ticket.district_code, "street_code": ticket.street_code,
                "department_code": ticket.department_code, "priority": ticket.priority}
    category = content.category
    ticket.category_id, ticket.category_ref, ticket.category_kind = category.id, category.standard_ref, category.kind
    ticket.category_code, ticket.category_name = category.code, category.name
    ticket.description, ticket.address = data["description"], data.get("address") or ""
    ticket.lat, ticket.lon = data.get("lat"), data.get("lon")
    ticket.district_code, ticket.street_code = content.district_code, content.street_code
    ticket.community_code, ticket.department_code = content.community_code, content.department_code
    ticket.priority = content.priority
    ticket.routing = _check_json("routing", content.routing)[0]
    return previous

def _load_for_update(session: Session, ticket_id: int) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def _resolve_parent(session: Session, child: Ticket, transition: Transition) -> Ticket:
    number = transition.data["parent"]
    parent = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
    if parent is None or parent.id == child.id or TicketState(parent.state) in TERMINAL_STATES:
        raise InvalidField(Action.MERGE, "parent", number, "the number of another ticket that is not terminal")
    return parent


def _subscribe_to_parent(session: Session, child: Ticket, parent: Ticket) -> list[str]:
    phones = [child.caller_number] + list(session.execute(
        select(TicketSubscription.phone).where(TicketSubscription.ticket_id == child.id)).scalars())
    existing = set(session.execute(
        select(TicketSubscription.phone).where(TicketSubscription.ticket_id == parent.id)).scalars())
    added = []
    for phone in phones:
        if phone and phone not in existing and phone != parent.caller_number:
            session.add(TicketSubscription(ticket_id=parent.id, phone=phone, via_ticket_id=child.id))
            existing.add(phone)
            added.append(phone)
    return added


def _enqueue(session: Session, ticket: Ticket, event: TicketEvent, transition: Transition) -> int:
    """The event's notices, built by the notify service: staff targets as internal rows, the
    caller (and subscribers) as SMS rows."""
    values = []
    staff = [target for target in transition.notify if target != NOTIFY_CALLER]
    if len(staff) != len(transition.notify):
        phones = [ticket.caller_number] + list(session.execute(
            select(TicketSubscription.phone).where(TicketSubscription.ticket_id == ticket.id)
            .order_by(TicketSubscription.id)).scalars())
        template, text, error = _citizen_sms(session, ticket, transition)
        values += [sms_row(ticket_id=ticket.id, event_seq=event.seq, target=NOTIFY_CALLER, phone=phone,
                           template=template, text=text, error=error, at=event.at)
                   for phone in dict.fromkeys(p for p in phones if p)]
    if staff:
        context = notice_context(
            number=ticket.number, action=transition.action.value, action_label=transition.action.label,
            from_state=transition.from_state.value, to_state=transition.to_state.value,
            state_label=transition.to_state.label, note=transition.note, category_name=ticket.category_name,
            address=ticket.address, district_code=ticket.district_code, department_code=ticket.department_code,
            at=event.at)
        values += internal_rows(ticket_id=ticket.id, event_seq=event.seq, action=transition.action.value,
                                targets=staff, context=context, at=event.at)
        deliver_after_commit(session, ticket.id)     # console notices within moments, not at the next tick
    return add_outbox(session, values)


def _citizen_sms(session: Session, ticket: Ticket, transition: Transition) -> tuple[str, str, str]:
    """(template, text, error) of the caller's SMS for this transition, rendered now from the
    notify templates (:mod:`hotline.notify.citizen`); a template fault is stored as the error."""
    action = transition.action.value
    context = {"number": ticket.number, "reason": transition.data.get("reason") or transition.note,
               "result": transition.data.get("result") or transition.note,
               "parent_number": transition.data.get("parent", "")}
    if transition.action is Action.VERIFY_PASS:      # the result the unit reported (its last feedback)
        feedback = session.execute(
            select(TicketEvent.data, TicketEvent.note).where(TicketEvent.ticket_id == ticket.id,
                                                             TicketEvent.action == Action.FEEDBACK.value)
            .order_by(TicketEvent.seq.desc()).limit(1)).first()
        if feedback is not None:
            context["result"] = (feedback.data or {}).get("result") or feedback.note or context["result"]
    try:
        template, text = citizen_text(action, context)
    except RenderError as exc:
        return CITIZEN_TEMPLATES.get(action, f"ticket.{action}.caller")[:60], "", f"render: {exc}"
    return template, text, ""


def perform(
    session: Session, ticket_id: int, action: Action | str, actor: Actor, payload: Mapping[str, Any] | None,
    *, at: datetime, expected_version: int | None, stage_policy: StagePolicy,
    calendar: WorkCalendar | None = None, actor_name: str | None = None,
    content: RoutedContent | None = None,
) -> Ticket:
    """Apply one workflow action to a stored ticket and record it (event, deadlines, outbox).

    Raises ``NotFound`` (no such ticket or outside the actor's scope), ``StaleTicket``
    (``expected_version`` is not the stored version, or a concurrent edit won), or a
    ``WorkflowError`` from ``workflow.plan`` — always before anything is written.
    ``complete`` (补录) needs ``content``, the routed result of the payload
    (:func:`hotline.cases.completion.complete_ticket` routes it and calls this).
    """
    _aware(at)
    calendar = calendar or WorkCalendar()
    ticket = _load_for_update(session, ticket_id)
    if ticket is None or not visible_to(actor, ticket):
        raise NotFound(ticket_id)
    if expected_version is not None and ticket.version != expected_version:
        raise StaleTicket(ticket.number, expected_version, ticket.version)
    transition = plan(action, actor, ticket_view(ticket), payload)
    if transition.action is Action.COMPLETE and content is None:
        raise TypeError("complete needs the routed content: use hotline.cases.completion.complete_ticket")
    parent = _resolve_parent(session, ticket, transition) if transition.action is Action.MERGE else None
    data: dict[str, Any] = _json_safe(dict(transition.data))
    note = transition.note
    version = ticket.version

    try:
        with session.begin_nested():
            ticket.state = transition.to_state.value
            ticket.updated_at = at
            if transition.action in (Action.DISPATCH, Action.REDISPATCH):
                ticket.district_code = transition.data.get("district_code")
                ticket.department_code = transition.data.get("department_code")
            elif transition.action is Action.CALLBACK:
                ticket.satisfaction = transition.data["satisfaction"].value
            elif transition.action is Action.REOPEN:
                ticket.satisfaction = None
                ticket.closed_at = None
            elif transition.action is Action.COMPLETE:
                data["previous"] = _json_safe(_apply_content(ticket, transition.data, content))
                data["routing_rule"] = content.routing.get("rule_id")
                note = note or f"补录诉求内容：{content.category.name}"
            if transition.to_state in _CLOSING_STATES:
                ticket.closed_at = at
            if parent is not None:
                ticket.parent_id = parent.id
                data["parent_id"] = parent.id
                data["subscribed"] = _subscribe_to_parent(session, ticket, parent)

            deadlines = []
            if transition.stops_stage:
                deadlines.append(stop_stage(session, ticket, transition.stops_stage, at))
            if transition.action is Action.APPROVE_EXTENSION:
                deadlines.append(extend_handle_stage(session, ticket, calendar))
            if transition.starts_stage:
                deadlines.append(start_stage(session, ticket, transition.starts_stage, at, stage_policy, calendar))
            deadlines = [d for d in deadlines if d]
            if deadlines:
                data["deadlines"] = deadlines

            event = TicketEvent(
                ticket_id=ticket.id, seq=next_seq(session, ticket.id), at=at, actor_id=actor.user_id,
                actor=_actor_label(actor, actor_name), action=transition.action.value,
                from_state=transition.from_state.value, to_state=transition.to_state.value,
                note=note, data=data)
            session.add(event)
            session.flush()
            _enqueue(session, ticket, event, transition)
    except StaleDataError:
        session.expire(ticket)
        raise StaleTicket(ticket.number, expected_version if expected_version is not None else version,
                          None) from None
    return ticket


# --- queries ------------------------------------------------------------------------------

_NUMBER = re.compile(r"12319-\d{8}-\d{5}")
_PHONE = re.compile(r"\+?\d{7,20}")


def _text_search(q: str, search_callers: bool):
    """``q`` as a condition: a whole ticket number or phone number matches exactly (index
    look-ups); other text is looked for in number, description, address (and caller number)."""
    if _NUMBER.fullmatch(q):
        return Ticket.number == q
    if search_callers and _PHONE.fullmatch(q):
        return or_(Ticket.caller_number == q, Ticket.number.contains(q, autoescape=True))
    fields = [Ticket.number, Ticket.description, Ticket.address]
    if search_callers:
        fields.append(Ticket.caller_number)
    return or_(*(f.contains(q, autoescape=True) for f in fields))


def ticket_conditions(
    actor: Actor, *, state: str | None = None, category_code: str | None = None,
    district_code: str | None = None, street_code: str | None = None, department_code: str | None = None,
    created_from: datetime | None = None, created_before: datetime | None = None,
    q: str | None = None, search_callers: bool = True,
) -> list[Any]:
    """The WHERE conditions of a ticket search by ``actor`` (scope first); see :func:`list_tickets`."""
    conditions = []
    scope = scope_filter(actor)
    if scope is not None:
        conditions.append(scope)
    if state:
        try:
            conditions.append(Ticket.state == TicketState(state).value)
        except ValueError:
            raise InvalidTicket("state", state, "工单状态无效") from None
    if category_code:
        conditions.append(Ticket.category_code.startswith(category_code, autoescape=True))
    if district_code:
        conditions.append(Ticket.district_code == district_code)
    if street_code:
        conditions.append(Ticket.street_code == street_code)
    if department_code:
        conditions.append(Ticket.department_code == department_code)
    if created_from is not None:
        conditions.append(Ticket.created_at >= _aware(created_from, "created_from"))
    if created_before is not None:
        conditions.append(Ticket.created_at < _aware(created_before, "created_before"))
    if q and q.strip():
        conditions.append(_text_search(q.strip(), search_callers))
    return conditions


def check_page(page: Any, page_size: Any) -> None:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidTicket("page", page, "页码必须是正整数")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 200:
        raise InvalidTicket("page_size", page_size, "每页条数应在 1 到 200 之间")


def list_tickets(
    session: Session, actor: Actor, *, state: str | None = None, category_code: str | None = None,
    district_code: str | None = None, street_code: str | None = None, department_code: str | None = None,
    created_from: datetime | None = None, created_before: datetime | None = None,
    q: str | None = None, page: int = 1, page_size: int = 20, search_callers: bool = True,
    count_limit: int | None = None,
) -> tuple[list[Ticket], int]:
    """One page of the tickets ``actor`` may see, newest first, and the total count.

    Filters: state, category code prefix, district, street, department (the responsible one),
    creation time ``created_from`` ≤ t < ``created_before``. ``q`` searches number, description,
    address and — with ``search_callers`` — the caller's number (roles that see masked numbers
    must not find tickets by a number they cannot see). With ``count_limit`` the count stops
    after that many rows (a total above it means "more than ``count_limit``"): counting a
    million rows for every page view is the list's main cost."""
    check_page(page, page_size)
    conditions = ticket_conditions(
        actor, state=state, category_code=category_code, district_code=district_code, street_code=street_code,
        department_code=department_code, created_from=created_from, created_before=created_before, q=q,
        search_callers=search_callers)
    if count_limit is None:
        total = session.execute(select(func.count()).select_from(Ticket).where(*conditions)).scalar_one()
    else:
        capped = select(Ticket.id).where(*conditions).limit(count_limit + 1).subquery()
        total = session.execute(select(func.count()).select_from(capped)).scalar_one()
    items = list(session.execute(
        select(Ticket).where(*conditions).order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .offset((page - 1) * page_size).limit(page_size)).scalars())
    return items, total


def get_ticket(session: Session, actor: Actor, key: int | str) -> Ticket:
    """A ticket by id (int) or number (str); ``NotFound`` when missing or outside the scope."""
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise NotFound(key)
    column = Ticket.id if isinstance(key, int) else Ticket.number
    ticket = session.execute(select(Ticket).where(column == key)).scalar_one_or_none()
    if ticket is None or not visible_to(actor, ticket):
        raise NotFound(key)
    return ticket


@dataclass(frozen=True)
class TicketRecord:
    """A ticket with its log, stage deadlines and merge links (the ticket page)."""

    ticket: Ticket
    events: list[TicketEvent]
    deadlines: list[TicketDeadline]
    parent_number: str | None
    children: list[str]


def ticket_record(session: Session, ticket: Ticket) -> TicketRecord:
    events = list(session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                  .order_by(TicketEvent.seq)).scalars())
    deadlines = list(session.execute(select(TicketDeadline).where(TicketDeadline.ticket_id == ticket.id)
                                     .order_by(TicketDeadline.started_at, TicketDeadline.id)).scalars())
    parent = session.get(Ticket, ticket.parent_id).number if ticket.parent_id else None
    children = list(session.execute(select(Ticket.number).where(Ticket.parent_id == ticket.id)
                                    .order_by(Ticket.id)).scalars())
    return TicketRecord(ticket, events, deadlines, parent, children)


def fresh_record(ticket: Ticket) -> TicketRecord:
    """The record of a ticket just created: its one event is in memory, nothing else exists yet."""
    return TicketRecord(ticket, sorted(ticket.events, key=lambda e: e.seq), [], None, [])


def tickets_created_by(session: Session, user_id: int, since: datetime, limit: int = 50) -> list[Ticket]:
    """Tickets a user registered since ``since`` (an agent's 今日受理), newest first."""
    created = select(TicketEvent.ticket_id).where(TicketEvent.actor_id == user_id, TicketEvent.seq == 1,
                                                  TicketEvent.at >= since)
    return list(session.execute(select(Ticket).where(Ticket.id.in_(created))
                                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)).scalars())


def caller_history(session: Session, phone: str, limit: int = 10) -> list[Ticket]:
    """The latest tickets of a caller (screen pop), newest first; merged-in subscriptions included."""
    if not phone:
        return []
    subscribed = select(TicketSubscription.ticket_id).where(TicketSubscription.phone == phone)
    return list(session.execute(
        select(Ticket).where(or_(Ticket.caller_number == phone, Ticket.id.in_(subscribed)))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)).scalars())


def open_tickets_on_map(session: Session, now: datetime, limit: int = 2000) -> list[dict[str, Any]]:
    """Open tickets with a location (一张图): overdue ones first, then the newest; each with
    whether a running stage is past its deadline."""
    overdue = (select(TicketDeadline.ticket_id)
               .where(TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None),
                      TicketDeadline.due_at < now).scalar_subquery())
    open_values = [s.value for s in OPEN_STATES]
    late = Ticket.id.in_(overdue)
    rows = session.execute(
        select(Ticket.number, Ticket.lat, Ticket.lon, Ticket.state, Ticket.category_name, Ticket.district_code,
               late.label("overdue"))
        .where(Ticket.state.in_(open_values), Ticket.lat.is_not(None), Ticket.lon.is_not(None))
        .order_by(late.desc(), Ticket.created_at.desc()).limit(limit)).all()
    return [{"number": r.number, "lat": r.lat, "lon": r.lon, "state": r.state, "category": r.category_name,
             "district": r.district_code, "overdue": bool(r.overdue)} for r in rows]
