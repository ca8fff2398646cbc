"""JSON API of the metrics domain and the Prometheus endpoint.

``GET /api/metrics/today`` (supervisors and admins): today's call figures per queue and the
tickets open and overdue now — what a live wallboard polls (:mod:`hotline.metrics.today`).
``GET /metrics``: Prometheus text format (:mod:`hotline.metrics.prometheus`, its own access rule).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hotline.metrics.call_tally import CallThresholds
from hotline.metrics.prometheus import metrics_response
from hotline.metrics.today import today_so_far
from hotline.users.roles import Role
from hotline.web.api import ApiRoute, app_state, now_for
from hotline.web.security import CurrentUser, require_roles

__all__ = ["router", "prometheus_router"]

router = APIRouter(prefix="/api/metrics", tags=["metrics"], route_class=ApiRoute)
prometheus_router = APIRouter(include_in_schema=False)
Supervisors = require_roles(Role.SUPERVISOR)


@router.get("/today", summary="今日话务与在办、超时工单（实时监控）")
def today(request: Request, _user: CurrentUser = Depends(Supervisors)) -> dict:
    state = app_state(request)
    now = now_for(state)
    tz = getattr(state.calendar, "tz", None) or state.settings.tz
    with state.read_sessions() as session:
        figures = today_so_far(session, now, CallThresholds.from_rules(state.rules), tz)
    return figures.as_dict()


@prometheus_router.get("/metrics")
def prometheus(request: Request) -> Response:
    return metrics_response(request)
