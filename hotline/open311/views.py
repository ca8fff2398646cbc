"""Open311 GeoReport v2 endpoints (public GETs, POST with ``api_key``).

Mapping (see ``docs/api.md``):

* ``service_code``: the category code; a code that is both a component (部件) and a matter
  (事项) — e.g. ``01001`` 供水井盖 / 供水井盖异常 — is published as ``C01001`` and ``M01001``
  (a bare colliding code is unknown: 404), unique codes as they are.
* ``service_request_id`` = ticket number; ``status`` open/closed from the workflow state;
  ``status_notes`` = the Chinese state label; ``agency_responsible`` = the leading unit of the
  routing decision; ``expected_datetime`` = the 处置 deadline.
* Privacy: callers' numbers, names and e-mail are never published. Descriptions are published
  only for tickets citizens submitted publicly (channels ``open311`` and ``web``), and digit runs
  that look like phone numbers are masked even there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.intake import IntakeError, intake_ticket
from hotline.cases.models import Ticket, TicketDeadline
from hotline.cases.workflow import OPEN_STATES, STAGE_HANDLE, TicketState
from hotline.categories.models import Category
from hotline.open311 import formats, keys
from hotline.sla.calendar import CalendarNotCovered

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

JURISDICTIONS = ("chifeng.gov.cn", "150400")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-27T00:00:00+08:00"
MAX_REQUESTS = 1000
MAX_RANGE = timedelta(days=90)
#: Dates a query may name: anything else is an error, not an overflow (0001-01-01 gave a 500).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2101, 1, 1, tzinfo=timezone.utc)
MAX_DESCRIPTION = 4000
PUBLIC_DESCRIPTION_CHANNELS = frozenset({"open311", "web"})
KIND_LABEL = {"component": "部件", "matter": "事项"}
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_PHONE_LIKE = re.compile(r"(?<!\d)(\+?86[-\s]?)?(\d[\d\- ]{5,}\d)(?!\d)")
_OPEN_VALUES = sorted(s.value for s in OPEN_STATES)


class Open311Error(Exception):
    def __init__(self, status_code: int, description: str, code: int | None = None):
        self.status_code, self.description, self.code = status_code, description, code or status_code
        super().__init__(description)


# --- helpers -------------------------------------------------------------------------------

def _state(request: Request) -> Any:
    return request.app.state.hotline


def _tz(state: Any) -> ZoneInfo:
    name = getattr(getattr(getattr(state, "rules", None), "calendar", None), "timezone", None)
    return ZoneInfo(name) if name else state.settings.tz


def _now(state: Any) -> datetime:
    from hotline.web.api import now_for

    return now_for(state)


def _w3c(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment is not None else None


def _fmt(fmt: str) -> str:
    if fmt not in formats.FORMATS:
        raise Open311Error(404, f"不支持的格式 {fmt!r}，应为 xml 或 json (format not supported)")
    return fmt


def _jurisdiction(value: str | None) -> None:
    if value is not None and value.strip() and value.strip() not in JURISDICTIONS:
        raise Open311Error(404, f"jurisdiction_id {value!r} 不存在；本服务为 {' 或 '.join(JURISDICTIONS)}"
                                f" (jurisdiction_id not found)")


def _no_nul(request: Request, *values: str) -> None:
    """NUL characters cannot be stored (PostgreSQL refuses them): a clear 400, never a 500."""
    from urllib.parse import unquote

    texts = [unquote(request.url.path), *request.query_params.values(), *values]
    if any("\x00" in t for t in texts):
        raise Open311Error(400, "请求中含有非法字符 NUL (NUL character not allowed)")


def _handle(fmt: str, fn, request: Request | None = None, values: tuple[str, ...] = ()) -> Response:
    try:
        if request is not None:
            _no_nul(request, *values)
        return fn(_fmt(fmt))
    except Open311Error as exc:
        return formats.errors(fmt, exc.status_code, [(exc.code, exc.description)])


@dataclass(frozen=True)
class _Service:
    service_code: str
    category: Category


def _services(session: Session) -> dict[str, _Service]:
    """Active categories by published service code (GB/T before local for the same code and kind)."""
    rows = session.execute(select(Category).where(Category.active.is_(True))
                           .order_by(Category.code, Category.kind, Category.is_local_extension, Category.id)).scalars()
    by_code: dict[str, dict[str, Category]] = {}
    for c in rows:
        by_code.setdefault(c.code, {}).setdefault(c.kind, c)
    out: dict[str, _Service] = {}
    for code, kinds in by_code.items():
        for kind, c in kinds.items():
            sc = code if len(kinds) == 1 else ("C" if kind == "component" else "M") + code
            out[sc] = _Service(sc, c)
    return out


def _service_code_of(code: str, kind: str, collisions: set[str]) -> str:
    return (("C" if kind == "component" else "M") + code) if code in collisions else code


def _collisions(services: dict[str, _Service]) -> set[str]:
    return {s.category.code for sc, s in services.items() if sc != s.category.code}


def _service_out(s: _Service) -> dict[str, Any]:
    c = s.category
    kind = KIND_LABEL.get(c.kind, c.kind)
    return {"service_code": s.service_code, "service_name": c.name,
            "description": f"{c.big_class}｜{c.name}（{kind}，{c.standard_ref} {c.code}）",
            "metadata": False, "type": "realtime", "keywords": f"{kind},{c.big_class}", "group": c.big_class}


def _mask_digits(text: str) -> str:
    def repl(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return m.group(0) if len(digits) < 7 else "*" * (len(m.group(0)) - 4) + m.group(0)[-4:]
    return _PHONE_LIKE.sub(repl, text)


def _agency(ticket: Ticket, state: Any) -> str:
    routing = ticket.routing or {}
    lead = routing.get("lead_unit") or {}
    if lead.get("name"):
        return lead["name"]
    rules = getattr(state, "rules", None)
    if rules is not None and ticket.department_code:
        dept = rules.department(ticket.department_code)
        if dept is not None:
            return dept.name
    if rules is not None and ticket.district_code:
        district = rules.district(ticket.district_code)
        if district is not None:
            return district.name
    return ""


def _status_notes(ticket: Ticket, session: Session) -> str:
    try:
        label = TicketState(ticket.state).label
    except ValueError:
        return ticket.state
    if ticket.state == TicketState.MERGED.value and ticket.parent_id:
        parent = session.get(Ticket, ticket.parent_id)
        if parent is not None:
            return f"{label}（并入工单 {parent.number}）"
    return label


def _request_out(ticket: Ticket, session: Session, state: Any, collisions: set[str],
                 handle_due: dict[int, datetime]) -> dict[str, Any]:
    tz = _tz(state)
    is_open = ticket.state in _OPEN_VALUES
    description = ""
    if ticket.channel in PUBLIC_DESCRIPTION_CHANNELS:
        description = _mask_digits(ticket.description)
    return {
        "service_request_id": ticket.number,
        "status": "open" if is_open else "closed",
        "status_notes": _status_notes(ticket, session),
        "service_name": ticket.category_name,
        "service_code": _service_code_of(ticket.category_code, ticket.category_kind, collisions),
        "description": description,
        "agency_responsible": _agency(ticket, state),
        "service_notice": "",
        "requested_datetime": _w3c(ticket.created_at, tz),
        "updated_datetime": _w3c(ticket.updated_at if is_open else (ticket.closed_at or ticket.updated_at), tz),
        "expected_datetime": _w3c(handle_due.get(ticket.id), tz),
        "address": ticket.address,
        "address_id": None,
        "zipcode": None,
        "lat": ticket.lat,
        "long": ticket.lon,
        "media_url": None,
    }


def _handle_deadlines(session: Session, ids: list[int]) -> dict[int, datetime]:
    if not ids:
        return {}
    rows = session.execute(select(TicketDeadline.ticket_id, TicketDeadline.due_at).where(
        TicketDeadline.ticket_id.in_(ids), TicketDeadline.stage == STAGE_HANDLE))
    return {tid: due for tid, due in rows}


def _parse_w3c(name: str, value: str) -> datetime:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise Open311Error(400, f"{name} 不是 W3C 日期时间（例如 2026-11-27T08:00:00+08:00）：{value!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Open311Error(400, f"{name} 必须带时区（Z 或 ±HH:MM）：{value!r}")
    if not EARLIEST <= moment <= LATEST:   # also keeps the ±90 days of a one-sided range representable
        raise Open311Error(400, f"{name} 超出可查询的范围（{EARLIEST.year}–{LATEST.year - 1} 年）：{value!r}")
    return moment


def _float(name: str, value: str, bound: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} 不是数字：{value!r}") from None
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise Open311Error(400, f"{name} 超出范围（±{bound:g} 度，WGS-84）：{value!r}")
    return number


# --- discovery and services ----------------------------------------------------------------

@router.get("/discovery.{fmt}", summary="Open311 服务发现")
def discovery(request: Request, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        base = str(request.base_url).rstrip("/") + "/open311/v2/"
        return formats.render(fmt, "discovery", {
            "changeset": CHANGESET,
            "contact": "赤峰市12319城建服务热线（电话 12319）",
            "key_service": "向赤峰市12319城建服务热线中心申请 api_key",
            "endpoints": [{"specification": SPECIFICATION, "url": base, "changeset": CHANGESET,
                           "type": "production", "formats": ["text/xml", "application/json"]}],
        })
    return _handle(fmt, build, request)


@router.get("/services.{fmt}", summary="Open311 服务列表（每个启用的分类一项）")
def services(request: Request, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        with _state(request).read_sessions() as s:
            items = [_service_out(svc) for svc in _services(s).values()]
        return formats.render(fmt, "services", items)
    return _handle(fmt, build, request)


@router.get("/services/{service_code}.{fmt}", summary="Open311 服务定义")
def service_definition(request: Request, service_code: str, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        with _state(request).read_sessions() as s:
            if service_code not in _services(s):
                raise Open311Error(404, f"service_code {service_code!r} 不存在 (service_code not found)")
        return formats.render(fmt, "service_definition", {"service_code": service_code, "attributes": []})
    return _handle(fmt, build, request)


@router.get("/tokens/{token}.{fmt}", summary="Open311 token 查询（本服务直接返回工单编号，不发 token）")
def token(request: Request, token: str, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        raise Open311Error(404, f"token {token!r} 不存在：本服务提交后直接返回 service_request_id (token not found)")
    return _handle(fmt, build, request)


# --- requests ------------------------------------------------------------------------------

@router.post("/requests.{fmt}", summary="Open311 提交诉求（需 api_key）")
async def post_request(request: Request, fmt: str) -> Response:
    try:
        form = await request.form() if fmt in formats.FORMATS else {}
    except Exception as exc:  # malformed multipart / form body (Starlette raises HTTPException 400)
        detail = getattr(exc, "detail", None) or type(exc).__name__
        return formats.errors(fmt, 400, [(400, f"请求体无法解析，应为 application/x-www-form-urlencoded：{detail}")])
    # Form-encoded per the spec; keep the first value of each field.
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    key = fields.get("api_key")
    if "api_key" in request.query_params:    # URLs end up in logs and proxies: the spec puts it in the body
        return formats.errors(fmt, 400, [(400, "api_key 须放在请求体（表单字段）中，不能放在网址里 "
                                               "(send api_key as a form field, not in the URL)")])
    jurisdiction = fields.get("jurisdiction_id") or request.query_params.get("jurisdiction_id")
    state = _state(request)

    def build(fmt: str) -> Response:
        _jurisdiction(jurisdiction)
        key_id = keys.check_key(key)
        if key_id is None:
            raise Open311Error(403, "api_key 缺失或无效 (api_key missing or invalid)")
        service_code = (fields.get("service_code") or "").strip()
        if not service_code:
            raise Open311Error(400, "缺少 service_code (service_code required)")
        lat_raw, lon_raw = (fields.get("lat") or "").strip(), (fields.get("long") or "").strip()
        address = (fields.get("address_string") or "").strip()
        if bool(lat_raw) != bool(lon_raw):
            raise Open311Error(400, "lat 和 long 须同时提供 (lat and long go together)")
        if not lat_raw and not address:
            if (fields.get("address_id") or "").strip():
                raise Open311Error(400, "本服务不支持 address_id，请提供 lat/long 或 address_string")
            raise Open311Error(400, "缺少位置：须提供 lat 和 long，或 address_string (location required)")
        lat = _float("lat", lat_raw, 90) if lat_raw else None
        lon = _float("long", lon_raw, 180) if lon_raw else None
        if len(address) > 300:
            raise Open311Error(400, "address_string 过长（最多 300 字）")
        description = (fields.get("description") or "").strip()
        if len(description) > MAX_DESCRIPTION:
            raise Open311Error(400, f"description 过长（最多 {MAX_DESCRIPTION} 字）")
        if _TAG.search(description):
            raise Open311Error(400, "description 不能包含 HTML (no HTML allowed)")
        phone = (fields.get("phone") or "").strip()
        if len(phone) > 40:
            raise Open311Error(400, "phone 过长（最多 40 字）")
        name = ((fields.get("last_name") or "").strip() + (fields.get("first_name") or "").strip())[:80]
        account_id = (fields.get("account_id") or "").strip()[:80]

        with state.sessions() as s, s.begin():
            svc = _services(s).get(service_code)
            if svc is None:
                raise Open311Error(404, f"service_code {service_code!r} 不存在 (service_code not found)")
            try:
                result = intake_ticket(
                    s, state, channel="open311", caller_number=phone, caller_name=name,
                    category_code=svc.category.code, kind=svc.category.kind,
                    description=description or f"（Open311 提交，未填写描述）{svc.category.name}",
                    address=address or None, lat=lat, lon=lon, actor=None, at=_now(state),
                    actor_name=f"open311:{key_id}")
            except IntakeError as exc:
                raise Open311Error(400, str(exc)) from None
            except CalendarNotCovered as exc:
                raise Open311Error(400, f"工作日历未覆盖 {exc.year} 年，暂时无法受理") from None
            notice = f"已受理，工单编号 {result.ticket.number}"
            if result.duplicates:
                notice += f"；附近已有 {len(result.duplicates)} 件同类未办结工单，可能并案处理"
            return formats.render(fmt, "service_requests", [{
                "service_request_id": result.ticket.number, "service_notice": notice,
                "account_id": account_id or None}])
    # The intake writes: through the write lane, which never lets it wait on the event loop.
    return await state.write_lane.run(_handle, fmt, build, request, tuple(fields.values()))


@router.get("/requests.{fmt}", summary="Open311 诉求列表（公开，不含来电人信息）")
def get_requests(request: Request, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        q = request.query_params
        _jurisdiction(q.get("jurisdiction_id"))
        state = _state(request)
        with state.read_sessions() as s:
            services_map = _services(s)
            collisions = _collisions(services_map)
            stmt = select(Ticket)
            ids = [x.strip() for x in (q.get("service_request_id") or "").split(",") if x.strip()]
            if ids:
                if len(ids) > MAX_REQUESTS:
                    raise Open311Error(400, f"service_request_id 最多 {MAX_REQUESTS} 个")
                stmt = stmt.where(Ticket.number.in_(ids))
            else:
                codes = [x.strip() for x in (q.get("service_code") or "").split(",") if x.strip()]
                if codes:
                    unknown = [c for c in codes if c not in services_map]
                    if unknown:
                        raise Open311Error(404, f"service_code {', '.join(unknown)} 不存在 (service_code not found)")
                    from sqlalchemy import and_, or_

                    stmt = stmt.where(or_(*[and_(Ticket.category_code == services_map[c].category.code,
                                                 Ticket.category_kind == services_map[c].category.kind)
                                            for c in codes]))
                start = _parse_w3c("start_date", q["start_date"]) if q.get("start_date") else None
                end = _parse_w3c("end_date", q["end_date"]) if q.get("end_date") else None
                if start is None and end is None:
                    end = _now(state)
                    start = end - MAX_RANGE
                elif start is None:
                    start = end - MAX_RANGE
                elif end is None:
                    end = start + MAX_RANGE
                if end < start:
                    raise Open311Error(400, "end_date 早于 start_date")
                if end - start > MAX_RANGE:
                    raise Open311Error(400, "start_date 与 end_date 相隔不能超过 90 天")
                stmt = stmt.where(Ticket.created_at >= start, Ticket.created_at <= end)
                statuses = {x.strip() for x in (q.get("status") or "").split(",") if x.strip()}
                if statuses - {"open", "closed"}:
                    raise Open311Error(400, f"status 应为 open 或 closed：{q.get('status')!r}")
                if statuses == {"open"}:
                    stmt = stmt.where(Ticket.state.in_(_OPEN_VALUES))
                elif statuses == {"closed"}:
                    stmt = stmt.where(Ticket.state.not_in(_OPEN_VALUES))
            tickets = list(s.execute(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc())
                                     .limit(MAX_REQUESTS)).scalars())
            due = _handle_deadlines(s, [t.id for t in tickets])
            items = [_request_out(t, s, state, collisions, due) for t in tickets]
        return formats.render(fmt, "service_requests", items)
    return _handle(fmt, build, request)


@router.get("/requests/{service_request_id}.{fmt}", summary="Open311 单个诉求（公开，不含来电人信息）")
def get_request(request: Request, service_request_id: str, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        state = _state(request)
        with state.read_sessions() as s:
            ticket = s.execute(select(Ticket).where(Ticket.number == service_request_id)).scalar_one_or_none()
            if ticket is None:
                raise Open311Error(404, f"service_request_id {service_request_id!r} 不存在 (request not found)")
            collisions = _collisions(_services(s))
            item = _request_out(ticket, s, state, collisions, _handle_deadlines(s, [ticket.id]))
        return formats.render(fmt, "service_requests", [item])
    return _handle(fmt, build, request)
