"""我的待办 (``/inbox``): the tickets a district or department officer's unit is responsible for,
in tabs 待签收 / 处理中 / 即将超时 / 已超时 / 待核查返工 with counts, filters and paging; every row
with its deadline light and the actions to take from the list (签收 at once; 退回, 延期申请 and
反馈 on the ticket page, which they need fields for)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from hotline.cases.pages.common import calendar_of, lights_for, page_number, parse_list_filters, pop_flash
from hotline.cases.queues import INBOX_TABS, InboxFilter, inbox
from hotline.cases.workflow import TicketState
from hotline.users.roles import Role
from hotline.web.api import actor_of
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
PARAMS = ("tab", "state", "category", "street", "from", "to", "deadline")
STATES = (TicketState.DISPATCHED, TicketState.IN_PROGRESS, TicketState.EXTENSION_REQUESTED)
DEADLINES = {"normal": "正常", "warning": "黄灯（即将超时）", "overdue": "红灯（已超时）"}


def _streets(names, user: CurrentUser) -> dict[str, str]:
    """The streets an officer filters by: their district's, or all (department officers)."""
    out = {}
    for code, name in sorted(names.units.items()):
        if names.unit_levels.get(code) == 2 and (not user.district_code or code.startswith(user.district_code)):
            out[code] = name
    return out


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, user: CurrentUser = Depends(page_roles(Role.DISTRICT_OFFICER,
                                                                         Role.DEPARTMENT_OFFICER))):
    state = request.app.state.hotline
    streets = _streets(state.names, user)
    filters = parse_list_filters(request.query_params, PARAMS, calendar_of(state).tz, choices={
        "tab": INBOX_TABS, "state": {s.value for s in STATES}, "street": streets, "deadline": DEADLINES})
    tab = filters.values.get("tab") if "tab" not in filters.errors else None
    page = page_number(request.query_params.get("page"))
    now = state.now()
    result, lights = None, {}
    if not filters.errors:
        with state.read_sessions() as s:
            result = inbox(s, actor_of(user), tab=tab or "accept", filters=InboxFilter(
                state=filters.get("state"), category=filters.get("category"), street=filters.get("street"),
                created_from=filters.created_from, created_before=filters.created_before,
                deadline=filters.get("deadline")), page=page, page_size=PAGE_SIZE, now=now)
        lights = lights_for(state, result.deadlines, now)
    unit = (state.names.department(user.department_code) if user.role is Role.DEPARTMENT_OFFICER
            else state.names.unit(user.district_code))
    return render(request, "cases/inbox.html", {
        "result": result, "filters": filters, "lights": lights, "states": STATES, "streets": streets,
        "deadlines": DEADLINES, "unit": unit, "flash": pop_flash(request),
        "back": "/inbox" + (f"?{request.url.query}" if request.url.query else ""),
    }, user=user, active="inbox", crumbs=[Crumb("我的待办")], status_code=422 if filters.errors else 200)

