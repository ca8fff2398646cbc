"""Tickets REST API (``/api/tickets``, ``/api/callers``).

Errors as :mod:`hotline.web.api` maps them: 401, 403, 404 (unknown or outside the user's
scope), 409 stale version / illegal transition, 422 bad input (Chinese ``detail``).
Nothing is written on a refusal.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import Response

from hotline.cases import schemas
from hotline.cases.duplicates import DuplicateCandidate, duplicates_of
from hotline.cases.intake import intake_ticket, propose_duplicates_before, route_report
from hotline.cases.completion import complete_ticket
from hotline.cases.schemas import duplicate_out, state_label, ticket_detail, ticket_summary
from hotline.cases.service import (
    caller_history, fresh_record, get_ticket, list_tickets, perform, ticket_record,
)
from hotline.cases.workflow import Action, TicketState
from hotline.privacy import FULL_NUMBER_ROLES
from hotline.users.roles import Role
from hotline.web.api import ApiRoute, actor_of, api_errors, app_state, error_responses, now_for
from hotline.web.security import CurrentUser, current_user, require_roles
from hotline.web.write_lane import in_write_lane
from hotline.times import json_default

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["工单"], route_class=ApiRoute)

INTAKE_ROLES = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)
HISTORY_ROLES = (Role.AGENT, Role.SUPERVISOR)


# --- endpoints -----------------------------------------------------------------------------

@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=schemas.TicketCreated,
             summary="受理登记工单（自动路由并提示疑似重复件）", responses=error_responses(409))
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
        detail = ticket_detail(fresh_record(result.ticket), user, at)
    out = {"ticket": detail, "duplicates": [duplicate_out(c) for c in duplicates], "created": result.created}
    # Serialised here (the hot path of intake); the response_model documents the same shape.
    return Response(json.dumps(out, ensure_ascii=False, allow_nan=False, default=json_default),
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
            return result, [], ticket_detail(ticket_record(s, result.ticket), user, at)
    return result, duplicates, None


@router.get("/tickets", response_model=schemas.TicketPage, summary="工单列表（按权限范围过滤）")
def list_tickets_api(
    request: Request, user: CurrentUser = Depends(current_user),
    state_: TicketState | None = Query(None, alias="state", description="工单状态，如 received、dispatched"),
    category: str | None = Query(None, max_length=20, description="分类编码（前缀匹配）"),
    district: str | None = Query(None, max_length=6, description="区县代码"),
    street: str | None = Query(None, max_length=9, description="街道（乡镇）代码"),
    department: str | None = Query(None, max_length=40, description="责任部门代码"),
    created_from: date | None = Query(None, alias="from", description="受理日期起（含），YYYY-MM-DD，北京时间"),
    created_to: date | None = Query(None, alias="to", description="受理日期止（含），YYYY-MM-DD，北京时间"),
    q: str | None = Query(None, max_length=100, description="搜索编号、内容、地址、来电号码"),
    page: int = Query(1, ge=1, le=100000), page_size: int = Query(20, ge=1, le=200),
) -> dict:
    """District and department officers see only the tickets their unit is responsible for."""
    state = app_state(request)
    tz = now_for(state).tzinfo
    start = datetime.combine(created_from, time(0), tz) if created_from else None
    end = datetime.combine(created_to + timedelta(days=1), time(0), tz) if created_to else None
    with api_errors(), state.read_sessions() as s:
        # Masked roles search number, content and address — never callers' numbers.
        items, total = list_tickets(s, actor_of(user), state=state_.value if state_ else None, category_code=category, district_code=district,
                                    street_code=street, department_code=department, created_from=start,
                                    created_before=end, q=q, page=page, page_size=page_size,
                                    search_callers=user.role in FULL_NUMBER_ROLES)
        return {"items": [ticket_summary(t, user.role) for t in items], "total": total,
                "page": page, "page_size": page_size}


NumberPath = Path(..., min_length=1, max_length=24, description="工单编号，如 12319-20261127-00042")


@router.get("/tickets/{number}", response_model=schemas.TicketDetail, summary="工单详情（含流转记录、时限、可执行操作）")
def get_ticket_api(request: Request, number: str = NumberPath, user: CurrentUser = Depends(current_user)) -> dict:
    state = app_state(request)
    with api_errors(), state.read_sessions() as s:
        return ticket_detail(ticket_record(s, get_ticket(s, actor_of(user), number)), user, now_for(state))


@router.post("/tickets/{number}/actions/{action}", response_model=schemas.TicketDetail,
             summary="执行工单操作（补录、立案、派遣、签收、反馈、核查、回访、并案等）", responses=error_responses(409))
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
        if action == Action.COMPLETE.value:     # 补录: the content is routed again
            ticket = complete_ticket(s, state, number, actor_of(user), payload, at=now_for(state),
                                     expected_version=body.expected_version,
                                     actor_name=user.display_name or None)
        else:
            ticket = get_ticket(s, actor_of(user), number)
            ticket = perform(s, ticket.id, action, actor_of(user), payload, at=now_for(state),
                             expected_version=body.expected_version, stage_policy=stage_policy,
                             calendar=state.calendar, actor_name=user.display_name or None)
        return ticket_detail(ticket_record(s, ticket), user, now_for(state))


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
        return [{"number": t.number, "state": t.state, "state_label": state_label(t.state),
                 "category_name": t.category_name, "address": t.address, "created_at": t.created_at}
                for t in caller_history(s, phone.strip(), limit=limit)]
