"""Request and response models of the tickets REST API (pydantic v2), and what a user sees of a
ticket: the shapes the API and the console pages both show."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotline.cases.service import ticket_view
from hotline.cases.timeline import event_label
from hotline.cases.workflow import Actor, TicketState, available_actions
from hotline.privacy import FULL_NUMBER_ROLES, caller_number_for, mask_phone
from hotline.times import ApiTime

Channel = Literal["phone", "web", "exchange"]
Priority = Literal["normal", "high", "urgent"]
Kind = Literal["component", "matter"]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store NUL characters: refuse them up front (422, not a 500).
        if _has_nul(data):
            raise ValueError("含有非法字符 NUL (NUL character not allowed)")
        return data


class Override(_In):
    """Agent's correction of the automatic routing (recorded in the explanation)."""
    district_code: str | None = Field(None, pattern=r"^\d{6}$")
    street_code: str | None = Field(None, pattern=r"^\d{9}$")
    community_code: str | None = Field(None, pattern=r"^\d{12}$")
    department: str | None = Field(None, max_length=40)
    priority: Priority | None = None
    reason: str | None = Field(None, max_length=300)


class TicketCreate(_In):
    channel: Channel = "phone"
    caller_number: str = Field("", max_length=40, description="来电号码")
    caller_name: str = Field("", max_length=80, description="诉求人姓名")
    category_code: str = Field(..., min_length=1, max_length=20, description="分类编码（GB/T 47678.5 或本地扩展）")
    kind: Kind | None = Field(None, description="component 部件 / matter 事项；编码两类都有时必填以免歧义")
    description: str = Field(..., min_length=1, max_length=4000, description="诉求内容")
    address: str | None = Field(None, max_length=300)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False, description="纬度（WGS-84）")
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False, description="经度（WGS-84）")
    district_code: str | None = Field(None, pattern=r"^\d{6}$")
    street_code: str | None = Field(None, pattern=r"^\d{9}$")
    priority: Priority | None = None
    override: Override | None = None
    call_id: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$",
                                description="通话编号：实时通话列表中的 call_id（Asterisk Linkedid）")
    source_key: str | None = Field(None, min_length=1, max_length=120, description="幂等键：同一键只建一张工单")


class ActionRequest(_In):
    expected_version: int = Field(..., ge=1, description="页面加载时的工单版本号（乐观锁）")
    reason: str | None = Field(None, max_length=2000)
    result: str | None = Field(None, max_length=4000)
    parent: str | None = Field(None, max_length=24, description="并案的主工单编号")
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"] | None = None
    duration: float | None = Field(None, gt=0, le=10000, allow_inf_nan=False)
    unit: Literal["natural_hours", "working_hours", "working_days"] | None = None
    district_code: str | None = Field(None, pattern=r"^\d{6}$")
    department_code: str | None = Field(None, max_length=40)
    responsible: Literal["district", "department"] | None = Field(
        None, description="派遣/重新派遣：district = 交属地区县（不设责任部门），department = 交责任部门")
    note: str | None = Field(None, max_length=2000)
    # 补录 (complete): the content of a ticket the IVR opened without one
    category_code: str | None = Field(None, max_length=20, description="补录：分类编码")
    kind: Kind | None = Field(None, description="补录：component 部件 / matter 事项")
    description: str | None = Field(None, max_length=4000, description="补录：诉求内容")
    address: str | None = Field(None, max_length=300, description="补录：地址")
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False, description="补录：纬度（WGS-84）")
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False, description="补录：经度（WGS-84）")


class RoutingPreviewRequest(_In):
    category_code: str = Field(..., min_length=1, max_length=20)
    kind: Kind | None = None
    description: str = Field("", max_length=4000)
    address: str | None = Field(None, max_length=300)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    district_code: str | None = Field(None, pattern=r"^\d{6}$")
    street_code: str | None = Field(None, pattern=r"^\d{9}$")
    override: Override | None = None


class Labelled(BaseModel):
    value: str
    label: str


class DeadlineOut(BaseModel):
    stage: str
    amount: float
    unit: str
    started_at: ApiTime
    due_at: ApiTime
    completed_at: ApiTime | None = None
    provisional: bool = Field(False, description="computed on an estimated holiday calendar (预计); "
                                                  "recomputed once the official schedule is known")
    overdue: bool


class EventOut(BaseModel):
    seq: int
    at: ApiTime
    actor: str
    action: str
    action_label: str
    from_state: str | None
    to_state: str | None
    note: str
    data: dict[str, Any]


class DuplicateOut(BaseModel):
    number: str
    state: str
    state_label: str
    category_name: str
    address: str
    created_at: ApiTime
    distance_m: float | None
    matched_by: str
    reason: str


class TicketSummary(BaseModel):
    number: str
    state: str
    state_label: str
    channel: str
    priority: str
    category_code: str
    category_kind: str
    category_name: str
    caller_number: str
    address: str
    district_code: str | None
    street_code: str | None
    department_code: str | None
    created_at: ApiTime
    updated_at: ApiTime
    version: int


class TicketDetail(TicketSummary):
    caller_name: str
    description: str
    lat: float | None
    lon: float | None
    community_code: str | None
    satisfaction: str | None
    closed_at: ApiTime | None
    parent: str | None
    children: list[str]
    routing: dict[str, Any] | None
    events: list[EventOut]
    deadlines: list[DeadlineOut]
    available_actions: list[Labelled]


class TicketCreated(BaseModel):
    ticket: TicketDetail
    duplicates: list[DuplicateOut]
    created: bool


class TicketPage(BaseModel):
    items: list[TicketSummary]
    total: int
    page: int
    page_size: int


class HistoryItem(BaseModel):
    number: str
    state: str
    state_label: str
    category_name: str
    address: str
    created_at: ApiTime


# --- what a user sees of a ticket (API and pages) ------------------------------------------

def _mask_name(name: str) -> str:
    return (name[0] + "*" * (len(name) - 1)) if name else ""


def state_label(value: str) -> str:
    try:
        return TicketState(value).label
    except ValueError:
        return value


def ticket_summary(t: Any, role: Any) -> dict[str, Any]:
    """A ticket in a list; the caller's number as ``role`` may see it."""
    return {
        "number": t.number, "state": t.state, "state_label": state_label(t.state), "channel": t.channel,
        "priority": t.priority, "category_code": t.category_code, "category_kind": t.category_kind,
        "category_name": t.category_name, "caller_number": caller_number_for(role, t.caller_number),
        "address": t.address, "district_code": t.district_code, "street_code": t.street_code,
        "department_code": t.department_code, "created_at": t.created_at, "updated_at": t.updated_at,
        "version": t.version,
    }


def _event_data(data: dict | None, full: bool) -> dict:
    data = dict(data or {})
    if not full and "subscribed" in data:
        data["subscribed"] = [mask_phone(p) for p in data["subscribed"]]
    return data


def ticket_detail(record: Any, user: Any, now: datetime) -> dict[str, Any]:
    """The ticket page's data (:class:`hotline.cases.service.TicketRecord`) as ``user`` may see
    it: masked caller and subscribers for roles that do not call citizens, the actions this
    user may take now."""
    t = record.ticket
    full = user.role in FULL_NUMBER_ROLES
    actor = Actor(user.id, user.role, user.district_code, user.department_code)
    out = ticket_summary(t, user.role)
    out.update({
        "caller_name": t.caller_name if full else _mask_name(t.caller_name),
        "description": t.description, "lat": t.lat, "lon": t.lon, "community_code": t.community_code,
        "satisfaction": t.satisfaction, "closed_at": t.closed_at, "parent": record.parent_number,
        "children": record.children, "routing": t.routing,
        "events": [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                    "action_label": event_label(e.action), "from_state": e.from_state, "to_state": e.to_state,
                    "note": e.note, "data": _event_data(e.data, full)} for e in record.events],
        "deadlines": [{"stage": d.stage, "amount": d.amount, "unit": d.unit, "started_at": d.started_at,
                       "due_at": d.due_at, "completed_at": d.completed_at, "provisional": d.provisional,
                       "overdue": (d.completed_at or now) > d.due_at} for d in record.deadlines],
        "available_actions": [{"value": a.value, "label": a.label}
                              for a in available_actions(actor, ticket_view(t))],
    })
    return out


def duplicate_out(c: Any) -> dict[str, Any]:
    t = c.ticket
    return {"number": t.number, "state": t.state, "state_label": state_label(t.state),
            "category_name": t.category_name, "address": t.address, "created_at": t.created_at,
            "distance_m": round(c.distance_m, 1) if c.distance_m is not None else None,
            "matched_by": c.matched_by, "reason": c.reason}
