"""Open311 GeoReport v2 endpoints (public GETs, POST with ``api_key``): parse the
parameters, call :mod:`hotline.open311.service`, shape with :mod:`hotline.open311.schemas`.

Mapping (see ``docs/api.md``): ``service_code`` = the published category code;
``service_request_id`` = ticket number; ``status`` open/closed from the workflow state;
``status_notes`` = the Chinese state label; ``agency_responsible`` = the leading unit of the
routing decision; ``expected_datetime`` = the 处置 deadline.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hotline.cases.intake import IntakeError
from hotline.open311 import formats, keys, service
from hotline.open311.schemas import request_out, service_out
from hotline.sla.calendar import CalendarNotCovered
from hotline.web.api import now_for

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

# What each endpoint answers, as the GeoReport v2 spec has it: the document in the requested format
# (.json or .xml), and errors as a list of {code, description} in that format.
_DOCUMENT = {"application/json": {}, "text/xml": {"schema": {"type": "string"}}}
_ERROR_LIST = {"application/json": {"schema": {"type": "array", "items": {
    "type": "object", "required": ["code", "description"],
    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}},
    "text/xml": {"schema": {"type": "string"}}}
_MEANINGS = {400: "请求有误（参数格式、范围）", 403: "api_key 无效或缺失", 404: "不存在（格式、服务、诉求或辖区）",
             413: "请求体过大"}


def _responses(*codes: int) -> dict[int | str, dict]:
    return {200: {"description": "成功（按所请求的格式）", "content": _DOCUMENT},
            **{code: {"description": _MEANINGS[code], "content": _ERROR_LIST} for code in codes}}

JURISDICTIONS = ("chifeng.gov.cn", "150400")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-27T00:00:00+08:00"
MAX_REQUESTS = 1000
MAX_RANGE = timedelta(days=90)
#: Dates a query may name: anything else is an error, not an overflow (0001-01-01 gave a 500).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2101, 1, 1, tzinfo=timezone.utc)
MAX_DESCRIPTION = 4000
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


class Open311Error(Exception):
    def __init__(self, status_code: int, description: str, code: int | None = None):
        self.status_code, self.description, self.code = status_code, description, code or status_code
        super().__init__(description)


# --- helpers -------------------------------------------------------------------------------

def _state(request: Request) -> Any:
    return request.app.state.hotline


def _now(state: Any) -> datetime:
    return now_for(state)


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

@router.get("/discovery.{fmt}", summary="Open311 服务发现", responses=_responses(400, 404))
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


@router.get("/services.{fmt}", summary="Open311 服务列表（每个启用的分类一项）", responses=_responses(400, 404))
def services(request: Request, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        with _state(request).read_sessions() as s:
            items = [service_out(svc) for svc in service.published_services(s).values()]
        return formats.render(fmt, "services", items)
    return _handle(fmt, build, request)


@router.get("/services/{service_code}.{fmt}", summary="Open311 服务定义", responses=_responses(400, 404))
def service_definition(request: Request, service_code: str, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        with _state(request).read_sessions() as s:
            if service_code not in service.published_services(s):
                raise Open311Error(404, f"service_code {service_code!r} 不存在 (service_code not found)")
        return formats.render(fmt, "service_definition", {"service_code": service_code, "attributes": []})
    return _handle(fmt, build, request)


@router.get("/tokens/{token}.{fmt}", summary="Open311 token 查询（本服务直接返回工单编号，不发 token）",
            responses=_responses(400, 404))
def token(request: Request, token: str, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        raise Open311Error(404, f"token {token!r} 不存在：本服务提交后直接返回 service_request_id (token not found)")
    return _handle(fmt, build, request)


# --- requests ------------------------------------------------------------------------------

@router.post("/requests.{fmt}", summary="Open311 提交诉求（需 api_key）", responses=_responses(400, 403, 404, 413))
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
            svc = service.published_services(s).get(service_code)
            if svc is None:
                raise Open311Error(404, f"service_code {service_code!r} 不存在 (service_code not found)")
            try:
                result = service.submit(s, state, svc, phone=phone, name=name, description=description,
                                        address=address or None, lat=lat, lon=lon, key_id=key_id, at=_now(state))
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


@router.get("/requests.{fmt}", summary="Open311 诉求列表（公开，不含来电人信息）", responses=_responses(400, 404))
def get_requests(request: Request, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        q = request.query_params
        _jurisdiction(q.get("jurisdiction_id"))
        state = _state(request)
        query = _request_query(q)
        with state.read_sessions() as s:
            services_map = service.published_services(s)
            codes = [x.strip() for x in (q.get("service_code") or "").split(",") if x.strip()]
            unknown = [c for c in codes if c not in services_map]
            if unknown and not query.numbers:
                raise Open311Error(404, f"service_code {', '.join(unknown)} 不存在 (service_code not found)")
            query = service.RequestQuery(query.numbers, tuple(services_map[c] for c in codes if c in services_map),
                                         query.start, query.end, query.statuses, query.limit)
            if not query.numbers and query.start is None:
                end = _now(state)
                query = service.RequestQuery((), query.services, end - MAX_RANGE, end, query.statuses, query.limit)
            tickets = service.find_requests(s, query)
            items = _requests_out(s, state, tickets, services_map)
        return formats.render(fmt, "service_requests", items)
    return _handle(fmt, build, request)


def _request_query(q) -> service.RequestQuery:
    ids = tuple(x.strip() for x in (q.get("service_request_id") or "").split(",") if x.strip())
    if ids:
        if len(ids) > MAX_REQUESTS:
            raise Open311Error(400, f"service_request_id 最多 {MAX_REQUESTS} 个")
        return service.RequestQuery(numbers=ids, limit=MAX_REQUESTS)
    start = _parse_w3c("start_date", q["start_date"]) if q.get("start_date") else None
    end = _parse_w3c("end_date", q["end_date"]) if q.get("end_date") else None
    if start is None and end is not None:
        start = end - MAX_RANGE
    elif end is None and start is not None:
        end = start + MAX_RANGE
    if start is not None and end < start:
        raise Open311Error(400, "end_date 早于 start_date")
    if start is not None and end - start > MAX_RANGE:
        raise Open311Error(400, "start_date 与 end_date 相隔不能超过 90 天")
    statuses = frozenset(x.strip() for x in (q.get("status") or "").split(",") if x.strip())
    if statuses - {"open", "closed"}:
        raise Open311Error(400, f"status 应为 open 或 closed：{q.get('status')!r}")
    return service.RequestQuery(start=start, end=end, statuses=statuses, limit=MAX_REQUESTS)


def _requests_out(session, state: Any, tickets: list, services_map: dict) -> list[dict[str, Any]]:
    collided = service.collisions(services_map)
    due = service.handle_deadlines(session, [t.id for t in tickets])
    parents = service.parent_numbers(session, tickets)
    rules = getattr(state, "rules", None)
    return [request_out(t, rules=rules, collided=collided, handle_due=due, parents=parents)
            for t in tickets]


@router.get("/requests/{service_request_id}.{fmt}", summary="Open311 单个诉求（公开，不含来电人信息）", responses=_responses(400, 404))
def get_request(request: Request, service_request_id: str, fmt: str) -> Response:
    def build(fmt: str) -> Response:
        _jurisdiction(request.query_params.get("jurisdiction_id"))
        state = _state(request)
        with state.read_sessions() as s:
            ticket = service.request_by_number(s, service_request_id)
            if ticket is None:
                raise Open311Error(404, f"service_request_id {service_request_id!r} 不存在 (request not found)")
            items = _requests_out(s, state, [ticket], service.published_services(s))
        return formats.render(fmt, "service_requests", items)
    return _handle(fmt, build, request)
