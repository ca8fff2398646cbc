"""派遣待办 (``/dispatch``): the dispatch desk's tabs with counts — 待立案 (received), 待派遣
(registered), 被退回 (returned) and 待补录 (received without content: the IVR's voicemail and
failed-transfer tickets, completed on the ticket page with the recording at hand). Dispatchers,
supervisors and admins."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from hotline.cases.pages.common import calendar_of, page_number, parse_list_filters, pop_flash
from hotline.cases.queues import DISPATCH_TABS, InboxFilter, dispatch_desk, latest_events
from hotline.cases.workflow import Action
from hotline.users.roles import Role
from hotline.web.api import actor_of
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
PARAMS = ("tab", "category", "from", "to")


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_page(request: Request, user: CurrentUser = Depends(page_roles(Role.DISPATCHER, Role.SUPERVISOR))):
    state = request.app.state.hotline
    filters = parse_list_filters(request.query_params, PARAMS, calendar_of(state).tz, choices={"tab": DISPATCH_TABS})
    page = page_number(request.query_params.get("page"))
    result, returns = None, {}
    if not filters.errors:
        with state.read_sessions() as s:
            result = dispatch_desk(s, actor_of(user), tab=filters.get("tab") or "register", filters=InboxFilter(
                category=filters.get("category"), created_from=filters.created_from,
                created_before=filters.created_before), page=page, page_size=PAGE_SIZE, now=state.now())
            if result.tab == "returned":
                returns = latest_events(s, [t.id for t in result.items], Action.RETURN.value)
    return render(request, "cases/dispatch.html", {
        "result": result, "filters": filters, "returns": returns, "flash": pop_flash(request),
        "back": "/dispatch" + (f"?{request.url.query}" if request.url.query else ""),
    }, user=user, active="dispatch", crumbs=[Crumb("派遣待办")], status_code=422 if filters.errors else 200)
