"""The supervisor's case side: 核查结案 (``/review``: resolved tickets to verify — 核查通过 or
返工 with a reason — and extension requests to approve or deny) and 督办 (``/supervise``: running
stages warned or overdue, the most overdue first, with the escalation level the SLA sweep has
reached). Dispatchers verify too (the workflow lets them), so they may open 核查结案; extension
decisions stay with supervisors (the forms follow ``available_actions``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from hotline.cases.attachments import LABELS
from hotline.cases.lights import deadline_light
from hotline.cases.pages.common import (
    UNIT_LABELS, calendar_of, lights_for, page_number, parse_list_filters, pop_flash, warning_percent,
)
from hotline.cases.queues import REVIEW_TABS, SUPERVISE_TABS, InboxFilter, latest_events, review, supervise
from hotline.cases.workflow import Action
from hotline.users.roles import Role
from hotline.web.api import actor_of
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, user: CurrentUser = Depends(page_roles(Role.SUPERVISOR, Role.DISPATCHER))):
    state = request.app.state.hotline
    filters = parse_list_filters(request.query_params, ("tab", "category", "from", "to"), calendar_of(state).tz,
                                 choices={"tab": REVIEW_TABS})
    page = page_number(request.query_params.get("page"))
    now = state.now()
    result, events, lights = None, {}, {}
    if not filters.errors:
        with state.read_sessions() as s:
            result = review(s, actor_of(user), tab=filters.get("tab") or "verify", filters=InboxFilter(
                category=filters.get("category"), created_from=filters.created_from,
                created_before=filters.created_before), page=page, page_size=PAGE_SIZE, now=now)
            action = Action.FEEDBACK if result.tab == "verify" else Action.REQUEST_EXTENSION
            events = latest_events(s, [t.id for t in result.items], action.value)
        lights = lights_for(state, result.deadlines, now)
    return render(request, "cases/review.html", {
        "result": result, "filters": filters, "events": events, "lights": lights, "unit_labels": UNIT_LABELS,
        "may_decide_extensions": user.role in (Role.SUPERVISOR, Role.ADMIN), "flash": pop_flash(request),
        "back": "/review" + (f"?{request.url.query}" if request.url.query else ""), "photo_labels": LABELS,
    }, user=user, active="review", crumbs=[Crumb("核查结案")], status_code=422 if filters.errors else 200)


@router.get("/supervise", response_class=HTMLResponse)
def supervise_page(request: Request, user: CurrentUser = Depends(page_roles(Role.SUPERVISOR))):
    state = request.app.state.hotline
    filters = parse_list_filters(request.query_params, ("tab",), calendar_of(state).tz,
                                 choices={"tab": SUPERVISE_TABS})
    page = page_number(request.query_params.get("page"))
    now = state.now()
    with state.read_sessions() as s:
        tabs, tab, items, total = supervise(s, actor_of(user), tab=filters.get("tab") or "all", page=page,
                                            page_size=50, now=now)
    calendar, percent = calendar_of(state), warning_percent(state)
    rows = [(item, deadline_light(item.deadline, now, calendar, percent)) for item in items]
    return render(request, "cases/supervise.html", {
        "tab_list": tabs, "tab": tab, "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // 50)),
        "filters": filters, "flash": pop_flash(request),
    }, user=user, active="supervise", crumbs=[Crumb("督办")], status_code=422 if filters.errors else 200)
