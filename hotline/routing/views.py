"""Routing preview: what the router would decide for a report, and why (nothing is stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from hotline.web.api import ApiRoute, error_responses, now_for
from hotline.cases.schemas import RoutingPreviewRequest
from hotline.routing.decision import RoutingError
from hotline.users.roles import Role
from hotline.web.security import CurrentUser, require_roles

router = APIRouter(prefix="/api/routing", tags=["路由"], route_class=ApiRoute)


@router.post("/preview", summary="路由预览（责任单位、时限及中文解释）", responses=error_responses(503))
def preview(body: RoutingPreviewRequest, request: Request,
            user: CurrentUser = Depends(require_roles(Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR))) -> dict[str, Any]:
    state = request.app.state.hotline
    if getattr(state, "ticket_router", None) is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="路由规则未加载，无法预览")
    override = body.override.model_dump(exclude_none=True) if body.override else None
    if override is not None:
        override.setdefault("agent", user.display_name or user.username)
    try:
        decision = state.ticket_router.route(
            body.category_code, kind=body.kind, lon=body.lon, lat=body.lat, address=body.address,
            district_code=body.district_code, street_code=body.street_code, description=body.description,
            at=now_for(state), override=override)
    except RoutingError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    return decision.to_dict()
