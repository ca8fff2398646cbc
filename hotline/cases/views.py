"""Tickets REST API (``/api/tickets``, ``/api/callers``) and :func:`routers` for the server.

Errors: 401 not logged in, 403 role or workflow permission, 404 unknown or outside the
user's scope (existence is never revealed), 409 stale version / illegal transition /
calendar not covered, 422 bad input (Chinese ``detail``). Nothing is written on a refusal.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator
from urllib.parse import unquote

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases import schemas
from hotline.cases.duplicates import DuplicateCandidate, duplicates_of
from hotline.cases.errors import (
    IllegalTransition, InvalidTicket, MissingField, NotFound, PermissionDenied, StaleTicket, WorkflowError,
)
from hotline.cases.intake import (
    IntakeError, intake_ticket, propose_duplicates_before, route_report,
)
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.service import caller_history, get_ticket, list_tickets, perform, ticket_view
from hotline.cases.timeline import event_label
from hotline.cases.workflow import Action, Actor, TicketState, available_actions
from hotline.privacy import FULL_NUMBER_ROLES, caller_number_for, mask_phone
from hotline.sla.calendar import CalendarNotCovered
from hotline.users.roles import Role
from hotline.web.security import CurrentUser, current_user, require_roles
from hotline.web.write_lane import in_write_lane

__all__ = ["router", "routers", "actor_of", "api_errors", "now_for"]

_FIELD_LABELS = {"body": "请求体", "query": "查询参数", "path": "路径参数"}


def validation_detail(exc: RequestValidationError) -> dict[str, Any]:
    """A Chinese summary plus the field errors, without echoing the input (it may be NaN or huge)."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = _FIELD_LABELS.get(loc[0], loc[0]) + ("：" + ".".join(loc[1:]) if len(loc) > 1 else "") if loc else ""
        errors.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", "")), "where": where})
    summary = "；".join(f"{e['where']} {e['msg']}" for e in errors[:5])
    return {"detail": f"请求参数无效（invalid request）：{summary}", "errors": errors}


class ApiRoute(APIRoute):
    """Turns request validation errors into a 422 with a Chinese message (never a 500 on NaN input)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route_handler(request: Request):
            # the decoded path as the server passed it (``request.url`` would rebuild and re-parse it)
            if "\x00" in unquote(request.scope.get("path", "")) or (
                    request.scope.get("query_string") and any("\x00" in v for v in request.query_params.values())):
                return JSONResponse({"detail": "请求中含有非法字符 NUL（NUL character not allowed）"},
                                    status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return JSONResponse(validation_detail(exc), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

        return route_handler


router = APIRouter(prefix="/api", tags=["工单"], route_class=ApiRoute)

INTAKE_ROLES = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)
HISTORY_ROLES = (Role.AGENT, Role.SUPERVISOR)


# --- shared helpers (also used by the grid/categories/routing/open311 views) -----------------

def app_state(request: Request) -> Any:
    return request.app.state.hotline


def now_for(state: Any) -> datetime:
    """The current time in the hotline's zone (:meth:`hotline.web.app.AppState.now`)."""
    return state.now()


def actor_of(user: CurrentUser) -> Actor:
    return Actor(user.id, user.role, user.district_code, user.department_code)


def calendar_message(exc: CalendarNotCovered) -> str:
    return (f"{exc.year} 年超出工作日历可计算的范围（{exc.covered[0]}–{exc.covered[1]}），无法计算办理时限"
            f"（calendar cannot compute {exc.year}）")


@contextmanager
def api_errors() -> Iterator[None]:
    """Map service refusals to HTTP errors with the Chinese message as ``detail``."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except StaleTicket as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except PermissionDenied as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from None
    except MissingField as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except WorkflowError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except (IntakeError, InvalidTicket) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except CalendarNotCovered as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=calendar_message(exc)) from None


def _mask_name(name: str) -> str:
    return (name[0] + "*" * (len(name) - 1)) if name else ""


def _state_label(value: str) -> str:
    try:
        return TicketState(value).label
    except ValueError:
        return value


def _summary(t: Ticket, role: Role) -> dict[str, Any]:
    return {
        "number": t.number, "state": t.state, "state_label": _state_label(t.state), "channel": t.channel,
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


def ticket_detail(session: Session | None, t: Ticket, user: CurrentUser, *, fresh: bool = False) -> dict[str, Any]:
    """The detail view; ``fresh`` = just created (no deadlines, parent or children yet; its one
    event in memory), which reads nothing and needs no session."""
    full = user.role in FULL_NUMBER_ROLES
    if fresh:  # its one event is in memory since the insert
        events, deadlines, parent, children = sorted(t.events, key=lambda e: e.seq), [], None, []
    else:
        events = session.execute(select(TicketEvent).where(TicketEvent.ticket_id == t.id)
                                 .order_by(TicketEvent.seq)).scalars()
        deadlines = session.execute(select(TicketDeadline).where(TicketDeadline.ticket_id == t.id)
                                    .order_by(TicketDeadline.started_at, TicketDeadline.id)).scalars()
        parent = session.get(Ticket, t.parent_id).number if t.parent_id else None
        children = list(session.execute(select(Ticket.number).where(Ticket.parent_id == t.id)
                                        .order_by(Ticket.id)).scalars())
    actions = available_actions(actor_of(user), ticket_view(t))
    out = _summary(t, user.role)
    out.update({
        "caller_name": t.caller_name if full else _mask_name(t.caller_name),
        "description": t.description, "lat": t.lat, "lon": t.lon, "community_code": t.community_code,
        "satisfaction": t.satisfaction, "closed_at": t.closed_at, "parent": parent, "children": children,
        "routing": t.routing,
        "events": [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                    "action_label": event_label(e.action),
                    "from_state": e.from_state, "to_state": e.to_state, "note": e.note,
                    "data": _event_data(e.data, full)} for e in events],
        "deadlines": [{"stage": d.stage, "amount": d.amount, "unit": d.unit, "started_at": d.started_at,
                       "due_at": d.due_at, "completed_at": d.completed_at, "provisional": d.provisional,
                       "overdue": (d.completed_at or now_utc()) > d.due_at} for d in deadlines],
        "available_actions": [{"value": a.value, "label": a.label} for a in actions],
    })
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 strings, recursively (the rest is already JSON)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def now_utc() -> datetime:
    from hotline.database import utcnow

    return utcnow()


def duplicate_out(c: DuplicateCandidate) -> dict[str, Any]:
    t = c.ticket
    return {"number": t.number, "state": t.state, "state_label": _state_label(t.state),
            "category_name": t.category_name, "address": t.address, "created_at": t.created_at,
            "distance_m": round(c.distance_m, 1) if c.distance_m is not None else None,
            "matched_by": c.matched_by, "reason": c.reason}


# --- endpoints -----------------------------------------------------------------------------

@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=schemas.TicketCreated,
             summary="受理登记工单（自动路由并提示疑似重复件）")
async def create_ticket_api(body: schemas.TicketCreate, request: Request,
                            user: CurrentUser = Depends(require_roles(*INTAKE_ROLES))) -> Response:
    """Route the report, register it in state 受理, and list open tickets that may be the same problem."""
    state = app_state(request)
    override = body.override.model_dump(exclude_none=True) if body.override else None
    if override is not None:
        override.setdefault("agent", user.display_name or user.username)
    at = now_for(state)
    report = dict(category_code=body.category_code, kind=body.kind, description=body.description,
                  address=body.address, lat=body.lat, lon=body.lon, district_code=body.district_code,
                  street_code=body.street_code, priority=body.priority, override=override)
    with api_errors():
        # Routing is in-memory work (grid index, rules): done here, so the write lane holds
        # only the transaction.
        decision = route_report(state, at=at, **report) if body.description.strip() else None
        result, duplicates, detail = await state.write_lane.run(
            _register, state, body, user, report, decision, at)
    if detail is None:  # created: the ticket and its first event are in memory, nothing to read
        detail = ticket_detail(None, result.ticket, user, fresh=True)
    out = {"ticket": detail, "duplicates": [duplicate_out(c) for c in duplicates], "created": result.created}
    # Serialised here (the hot path of intake); the response_model documents the same shape.
    return Response(json.dumps(out, ensure_ascii=False, allow_nan=False, default=_json_default),
                    status_code=status.HTTP_201_CREATED, media_type="application/json")


def _register(state: Any, body: schemas.TicketCreate, user: CurrentUser, report: dict,
              decision: Any, at: datetime) -> tuple[Any, list[DuplicateCandidate], dict | None]:
    """The intake transaction (in the write lane): duplicate proposals on the transaction's
    connection before the day's number is drawn (on PostgreSQL not under that row lock; SQLite
    holds its one writer lock from the first statement), then the ticket and its first event.
    Returns the result, the proposals and, for an existing ticket (``source_key``), its detail."""
    duplicates: list[DuplicateCandidate] = []
    with state.sessions() as s, s.begin():
        if decision is not None:     # None: a blank description, which intake_ticket refuses
            duplicates = propose_duplicates_before(s.connection(), state, decision, body.lat, body.lon, at)
        result = intake_ticket(
            s, state, channel=body.channel, caller_number=body.caller_number, caller_name=body.caller_name,
            call_id=body.call_id, source_key=body.source_key, actor=actor_of(user), at=at,
            actor_name=user.display_name or None, decision=decision, with_duplicates=False, **report)
        if not result.created:       # an existing ticket (source_key): nothing is proposed
            return result, [], ticket_detail(s, result.ticket, user)
    return result, duplicates, None


@router.get("/tickets", response_model=schemas.TicketPage, summary="工单列表（按权限范围过滤）")
def list_tickets_api(
    request: Request, user: CurrentUser = Depends(current_user),
    state_: str | None = Query(None, alias="state", description="工单状态，如 received、dispatched"),
    category: str | None = Query(None, max_length=20, description="分类编码（前缀匹配）"),
    district: str | None = Query(None, max_length=6, description="区县代码"),
    q: str | None = Query(None, max_length=100, description="搜索编号、内容、地址、来电号码"),
    page: int = Query(1, ge=1, le=100000), page_size: int = Query(20, ge=1, le=200),
) -> dict:
    """District and department officers see only their own tickets."""
    state = app_state(request)
    with api_errors(), state.read_sessions() as s:
        if q and q.strip() and user.role not in FULL_NUMBER_ROLES:
            # Masked roles search number, content and address — never callers' numbers.
            items, total = _list_masked(s, actor_of(user), state=state_, category_code=category,
                                        district_code=district, q=q, page=page, page_size=page_size)
        else:
            items, total = list_tickets(s, actor_of(user), state=state_, category_code=category,
                                        district_code=district, q=q, page=page, page_size=page_size)
        return {"items": [_summary(t, user.role) for t in items], "total": total,
                "page": page, "page_size": page_size}


def _list_masked(session: Session, actor: Actor, *, q: str, page: int, page_size: int,
                 **filters: Any) -> tuple[list[Ticket], int]:
    from sqlalchemy import func, or_

    # The filters and scope are the service's; only the text search differs.
    base, _ = list_tickets(session, actor, page=1, page_size=1, **filters)  # validates the filters
    del base
    from hotline.cases import service

    conditions = []
    scope = service._scope_filter(actor)
    if scope is not None:
        conditions.append(scope)
    if filters.get("state"):
        conditions.append(Ticket.state == filters["state"])
    if filters.get("category_code"):
        conditions.append(Ticket.category_code.startswith(filters["category_code"], autoescape=True))
    if filters.get("district_code"):
        conditions.append(Ticket.district_code == filters["district_code"])
    pattern = q.strip()
    conditions.append(or_(Ticket.number.contains(pattern, autoescape=True),
                          Ticket.description.contains(pattern, autoescape=True),
                          Ticket.address.contains(pattern, autoescape=True)))
    total = session.execute(select(func.count()).select_from(Ticket).where(*conditions)).scalar_one()
    items = list(session.execute(select(Ticket).where(*conditions)
                                 .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                                 .offset((page - 1) * page_size).limit(page_size)).scalars())
    return items, total


NumberPath = Path(..., min_length=1, max_length=24, description="工单编号，如 12319-20261127-00042")


@router.get("/tickets/{number}", response_model=schemas.TicketDetail, summary="工单详情（含流转记录、时限、可执行操作）")
def get_ticket_api(request: Request, number: str = NumberPath, user: CurrentUser = Depends(current_user)) -> dict:
    state = app_state(request)
    with api_errors(), state.read_sessions() as s:
        return ticket_detail(s, get_ticket(s, actor_of(user), number), user)


@router.post("/tickets/{number}/actions/{action}", response_model=schemas.TicketDetail,
             summary="执行工单操作（立案、派遣、签收、反馈、核查、回访、并案等）")
@in_write_lane
def perform_action_api(body: schemas.ActionRequest, request: Request, number: str = NumberPath,
                       action: str = Path(..., max_length=40, description="操作，如 register、dispatch、merge"),
                       user: CurrentUser = Depends(current_user)) -> dict:
    """``expected_version`` must be the version the user saw; a stale version gives 409."""
    state = app_state(request)
    if action not in Action._value2member_map_:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail=f"未知操作“{action}”；可用操作：" + "、".join(a.value for a in Action))
    payload = body.model_dump(exclude_none=True, exclude={"expected_version"})
    if "unit" in payload and "duration" not in payload:
        payload.pop("unit")
    stage_policy = state.stage_policy or (lambda _t, _s: None)
    with api_errors(), state.sessions() as s, s.begin():
        ticket = get_ticket(s, actor_of(user), number)
        ticket = perform(s, ticket.id, action, actor_of(user), payload, at=now_for(state),
                         expected_version=body.expected_version, stage_policy=stage_policy,
                         calendar=state.calendar, actor_name=user.display_name or None)
        return ticket_detail(s, ticket, user)


@router.get("/tickets/{number}/duplicates", response_model=list[schemas.DuplicateOut],
            summary="疑似重复工单（同类、附近、时间窗口内的未办结工单）")
def duplicates_api(request: Request, number: str = NumberPath,
                   user: CurrentUser = Depends(require_roles(*INTAKE_ROLES))) -> list:
    state = app_state(request)
    with api_errors(), state.read_sessions() as s:
        ticket = get_ticket(s, actor_of(user), number)
        return [duplicate_out(c) for c in duplicates_of(s, ticket, rules=state.rules, at=now_for(state))]


@router.get("/callers/{phone}/history", response_model=list[schemas.HistoryItem], summary="来电人历史工单（弹屏）")
def caller_history_api(request: Request, phone: str = Path(..., min_length=3, max_length=40),
                       limit: int = Query(10, ge=1, le=100),
                       user: CurrentUser = Depends(require_roles(*HISTORY_ROLES))) -> list:
    state = app_state(request)
    with state.read_sessions() as s:
        return [{"number": t.number, "state": t.state, "state_label": _state_label(t.state),
                 "category_name": t.category_name, "address": t.address, "created_at": t.created_at}
                for t in caller_history(s, phone.strip(), limit=limit)]


def routers() -> list[APIRouter]:
    """Every API router of the tickets/grid/categories/routing/Open311 part, for ``AppState.routers``."""
    from hotline.categories.views import router as categories_router
    from hotline.grid.views import router as grid_router
    from hotline.open311.views import router as open311_router
    from hotline.routing.views import router as routing_router

    return [router, grid_router, categories_router, routing_router, open311_router]
