"""Request and response models of the tickets REST API (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    call_id: int | None = Field(None, ge=1)
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
    note: str | None = Field(None, max_length=2000)


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
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None = None
    provisional: bool = Field(False, description="computed on an estimated holiday calendar (预计); "
                                                  "recomputed once the official schedule is known")
    overdue: bool


class EventOut(BaseModel):
    seq: int
    at: datetime
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
    created_at: datetime
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
    created_at: datetime
    updated_at: datetime
    version: int


class TicketDetail(TicketSummary):
    caller_name: str
    description: str
    lat: float | None
    lon: float | None
    community_code: str | None
    satisfaction: str | None
    closed_at: datetime | None
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
    created_at: datetime
