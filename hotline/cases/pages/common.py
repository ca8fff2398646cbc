"""What the case pages share: reading list filters and action forms into service arguments with
Chinese field errors, the deadline lights of a list, flash messages after a redirect, live
notices of a changed ticket, and the labels of codes the pages show."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from fastapi import Request

from hotline.cases.attachments import PhotoStore, feedback_with_photos
from hotline.cases.completion import complete_ticket
from hotline.cases.errors import InvalidField, MissingField
from hotline.cases.lights import DeadlineLight, running_light
from hotline.cases.service import get_ticket, perform
from hotline.cases.workflow import FIELD_LABELS, Action, Satisfaction, TicketState, TicketView, responsible_unit
from hotline.sla import WorkCalendar
from hotline.rules.schema import TimeUnit
from hotline.users.roles import Role
from hotline.web.api import actor_of
from hotline.web.live import Audience, LiveEvent
from hotline.web.security import CurrentUser

__all__ = [
    "PRIORITY_LABELS", "CHANNEL_LABELS", "UNIT_LABELS", "FormErrors", "ListFilters", "parse_list_filters",
    "action_payload", "error_for", "lights_for", "warning_percent", "calendar_of", "flash", "pop_flash",
    "safe_next", "photo_store", "publish_ticket", "plain_message", "page_number", "perform_action",
]

PRIORITY_LABELS = {"normal": "一般", "high": "较高", "urgent": "紧急"}
CHANNEL_LABELS = {"phone": "电话", "web": "网络", "open311": "开放接口", "exchange": "平台转办"}
UNIT_LABELS = {unit.value: unit.label for unit in TimeUnit}     # the duration picker of 延期申请
_TEXT_LIMITS = {"reason": 2000, "result": 4000, "note": 2000, "description": 4000, "address": 300,
                "parent": 24, "category_code": 20}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ENGLISH_TAIL = re.compile(r"\s*[（(][^（）()]*[A-Za-z][^（）()]*[)）]\s*$")

FormErrors = dict[str, str]


def plain_message(text: str) -> str:
    """A service message without its English explanation in parentheses (pages are Chinese)."""
    previous = None
    while previous != text:
        previous, text = text, _ENGLISH_TAIL.sub("", text)
    return text


# --- list filters ------------------------------------------------------------------------------

@dataclass
class ListFilters:
    """Query parameters of a ticket list, as typed (``values``) and as parsed."""

    values: dict[str, str] = field(default_factory=dict)
    errors: FormErrors = field(default_factory=dict)
    created_from: datetime | None = None
    created_before: datetime | None = None

    def get(self, name: str) -> str | None:
        return self.values.get(name) or None

    def query(self, **changes: Any) -> str:
        """The query string of these filters with ``changes`` (for tabs and paging links)."""
        from urllib.parse import urlencode

        merged = {k: v for k, v in {**self.values, **changes}.items() if v not in (None, "")}
        return urlencode(merged)


def _day(text: str, name: str, tz: ZoneInfo, errors: FormErrors) -> date | None:
    if not text:
        return None
    if not _DATE.fullmatch(text):
        errors[name] = "日期格式应为 YYYY-MM-DD，例如 2026-12-07"
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = "日期无效"
        return None


def parse_list_filters(params: Mapping[str, str], names: tuple[str, ...], tz: ZoneInfo,
                       choices: Mapping[str, Mapping[str, Any]] | None = None) -> ListFilters:
    """Read ``names`` from the query (``from``/``to`` dates ``YYYY-MM-DD`` in the hotline's zone,
    ``to`` inclusive); values outside ``choices`` get a field error and are not applied."""
    out = ListFilters()
    for name in names:
        value = (params.get(name) or "").strip()
        if value:
            out.values[name] = value[:100]
    for name, allowed in (choices or {}).items():
        value = out.values.get(name)
        if value and value not in allowed:
            out.errors[name] = "请从列表中选择"
    start = _day(out.values.get("from", ""), "from", tz, out.errors)
    end = _day(out.values.get("to", ""), "to", tz, out.errors)
    if start and end and end < start:
        out.errors["to"] = "结束日期不能早于开始日期"
        end = None
    out.created_from = datetime.combine(start, time(0), tz) if start else None
    out.created_before = datetime.combine(end + timedelta(days=1), time(0), tz) if end else None
    return out


# --- action forms --------------------------------------------------------------------------------

def _number(text: str, name: str, errors: FormErrors, label: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[name] = f"{label}必须是数字"
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors[name] = f"{label}必须是数字"
        return None
    return value


def action_payload(action: Action, form: Mapping[str, Any], *, districts: Mapping[str, str],
                   departments: Mapping[str, str]) -> tuple[dict[str, Any], FormErrors]:
    """The workflow payload of an action form and the field errors found before the workflow
    checks it (numbers, choices, lengths). Required fields are left to the workflow."""
    errors: FormErrors = {}
    payload: dict[str, Any] = {}

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    for name, limit in _TEXT_LIMITS.items():
        value = text(name)
        if value:
            if len(value) > limit:
                errors[name] = f"{FIELD_LABELS.get(name, '备注')}最多 {limit} 字（现有 {len(value)} 字）"
            elif "\x00" in value:
                errors[name] = "含有非法字符"
            else:
                payload[name] = value
    if action is Action.REQUEST_EXTENSION:
        duration = _number(text("duration"), "duration", errors, "延期时长")
        if duration is not None:
            if duration <= 0 or duration > 10000:
                errors["duration"] = "延期时长必须大于 0"
            payload["duration"] = int(duration) if duration == int(duration) else duration
        unit = text("unit") or TimeUnit.WORKING_DAYS.value
        if unit not in UNIT_LABELS:
            errors["unit"] = "请选择时长单位"
        payload["unit"] = unit
    if action is Action.CALLBACK:
        satisfaction = text("satisfaction")
        if satisfaction and satisfaction not in Satisfaction._value2member_map_:
            errors["satisfaction"] = "请选择满意度"
        elif satisfaction:
            payload["satisfaction"] = satisfaction
    if action in (Action.DISPATCH, Action.REDISPATCH):
        choice = text("responsible")
        kind, _, code = choice.partition(":")
        if not choice:
            errors["responsible"] = "请选择责任单位"
        elif kind == "district" and code in districts:
            payload.update(responsible="district", district_code=code)
        elif kind == "department" and code in departments:
            payload.update(responsible="department", department_code=code)
        else:
            errors["responsible"] = "请从列表中选择责任单位"
    if action is Action.COMPLETE:
        kind = text("kind")
        if kind and kind not in ("component", "matter"):
            errors["kind"] = "请选择部件或事项"
        elif kind:
            payload["kind"] = kind
        district = text("district_code")
        if district and district not in districts:
            errors["district_code"] = "请从列表中选择区县"
        elif district:
            payload["district_code"] = district
        for name, label in (("lat", "纬度"), ("lon", "经度")):
            value = _number(text(name), name, errors, label)
            if value is not None:
                payload[name] = value
    return payload, errors


def error_for(exc: Exception) -> tuple[str | None, str]:
    """(field, message) of a refusal: a workflow field error names its field."""
    if isinstance(exc, InvalidField):
        return exc.field, plain_message(str(exc))
    if isinstance(exc, MissingField):
        label = FIELD_LABELS.get(exc.field, exc.field)
        message = plain_message(str(exc))
        return exc.field, (f"请填写{label}" if message.startswith("执行") and "须填写" in message else message)
    field_name = getattr(exc, "field", None)
    return (field_name if isinstance(field_name, str) else None), plain_message(str(exc))


# --- lights ------------------------------------------------------------------------------------

def calendar_of(state: Any) -> WorkCalendar:
    return state.calendar or WorkCalendar()


def warning_percent(state: Any) -> float:
    sla = getattr(getattr(state, "rules", None), "sla", None)
    return float(getattr(sla, "warning_at_percent", 80))


def lights_for(state: Any, deadlines: Mapping[int, list[Any]], now: datetime) -> dict[int, DeadlineLight]:
    """ticket id → the light of its running stage."""
    calendar, percent = calendar_of(state), warning_percent(state)
    out = {}
    for ticket_id, rows in deadlines.items():
        light = running_light(rows, now, calendar, percent)
        if light is not None:
            out[ticket_id] = light
    return out


# --- request helpers -----------------------------------------------------------------------------

def page_number(text: str | None) -> int:
    """The ``page`` query parameter (1 when missing or not a number)."""
    try:
        return min(max(int(text or 1), 1), 100_000)
    except ValueError:
        return 1


def flash(request: Request, message: str) -> None:
    """A confirmation shown once on the next page (POST/redirect/GET)."""
    request.session["flash"] = message


def pop_flash(request: Request) -> str | None:
    return request.session.pop("flash", None)


def safe_next(target: str | None, default: str) -> str:
    """A local path to return to (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def photo_store(state: Any) -> PhotoStore:
    return PhotoStore(state.settings.effective_attachments_dir)


def publish_ticket(state: Any, ticket: Any, action: Action | str) -> None:
    """Tell open consoles of the desk and of the ticket's responsible unit that it changed."""
    action = Action(action) if not isinstance(action, Action) else action
    unit = responsible_unit(TicketView(TicketState(ticket.state), ticket.district_code, ticket.department_code))
    audience = Audience(
        roles=frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN}),
        district_code=unit[1] if unit and unit[0] == "district" else None,
        department_code=unit[1] if unit and unit[0] == "department" else None)
    state.live.publish(LiveEvent("ticket", {
        "number": ticket.number, "state": ticket.state, "state_label": TicketState(ticket.state).label,
        "version": ticket.version, "action": action.value, "action_label": action.label}, audience))


def perform_action(state: Any, user: CurrentUser, number: str, action: Action, payload: dict[str, Any],
                   photos: list[Any], version: int | None) -> SimpleNamespace:
    """One action in one write transaction (in the write lane); photo files are removed again
    when the transaction fails."""
    actor, at, name = actor_of(user), state.now(), user.display_name or None
    stage_policy = state.stage_policy or (lambda _t, _s: None)
    batch = photo_store(state).batch()
    try:
        with state.sessions() as s, s.begin():
            if action is Action.COMPLETE:
                ticket = complete_ticket(s, state, number, actor, payload, at=at, expected_version=version,
                                         actor_name=name)
            elif action is Action.FEEDBACK:
                ticket = feedback_with_photos(s, batch, actor, number, payload, photos, at=at,
                                              expected_version=version, stage_policy=stage_policy,
                                              calendar=state.calendar, actor_name=name)
            else:
                ticket = get_ticket(s, actor, number)
                ticket = perform(s, ticket.id, action, actor, payload, at=at, expected_version=version,
                                 stage_policy=stage_policy, calendar=state.calendar, actor_name=name)
            return SimpleNamespace(number=ticket.number, state=ticket.state, version=ticket.version,
                                   district_code=ticket.district_code, department_code=ticket.department_code)
    except BaseException:
        batch.discard()
        raise
