"""回访任务 (``/callbacks``): closed tickets whose 回访 is due (:func:`hotline.cases.callbacks.due_callbacks`),
for agents and supervisors. The result — satisfied / basically satisfied / dissatisfied with a
note — is the workflow's ``callback`` action; a call that does not reach the citizen is recorded
as an attempt (未接通). Each row's 外呼 opens the agent workspace with the ticket in its 外呼 box."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hotline.cases.callbacks import due_callbacks, record_attempt
from hotline.cases.errors import IllegalTransition, MissingField, NotFound, PermissionDenied, StaleTicket
from hotline.cases.pages.common import (
    action_payload, calendar_of, error_for, flash, perform_action, plain_message, pop_flash, publish_ticket,
)
from hotline.cases.service import get_ticket
from hotline.cases.workflow import Action, Satisfaction
from hotline.users.roles import Role
from hotline.web.api import actor_of
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CALLBACK_ROLES = (Role.AGENT, Role.SUPERVISOR)


def _max_attempts(state: Any) -> int:
    callbacks = getattr(getattr(state, "rules", None), "callbacks", None)
    return int(getattr(callbacks, "max_attempts", 3))


def _render(request: Request, user: CurrentUser, *, status_code: int = 200, errors: dict[str, str] | None = None,
            values: dict[str, str] | None = None, row: str | None = None, message: str | None = None):
    state = request.app.state.hotline
    upcoming = request.query_params.get("all") == "1"
    with state.read_sessions() as s:
        tasks = due_callbacks(s, state.now(), calendar=calendar_of(state), max_attempts=_max_attempts(state),
                              include_upcoming=upcoming)
    return render(request, "cases/callbacks.html", {
        "tasks": tasks, "upcoming": upcoming, "satisfactions": list(Satisfaction), "errors": errors or {},
        "values": values or {}, "row": row, "message": message, "flash": pop_flash(request),
        "max_attempts": _max_attempts(state),
    }, user=user, active="callbacks", crumbs=[Crumb("回访任务")], status_code=status_code)


@router.get("/callbacks", response_class=HTMLResponse)
def callbacks_page(request: Request, user: CurrentUser = Depends(page_roles(*CALLBACK_ROLES))):
    return _render(request, user)


@router.post("/callbacks/{number}", response_class=HTMLResponse)
async def record_result(request: Request, number: str, user: CurrentUser = Depends(page_roles(*CALLBACK_ROLES))):
    state = request.app.state.hotline
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    payload, errors = action_payload(Action.CALLBACK, form, districts={}, departments={})
    try:
        version = int(str(form.get("expected_version") or ""))
    except ValueError:
        version = None
    if "satisfaction" not in payload and "satisfaction" not in errors:
        errors["satisfaction"] = "请选择满意度"
    if errors or version is None:
        return _render(request, user, status_code=422, errors=errors, values=values, row=number,
                       message=None if version else "页面已过期，请刷新后重试")
    try:
        done = await state.write_lane.run(perform_action, state, user, number, Action.CALLBACK, payload, [], version)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="工单不存在或无权查看") from None
    except PermissionDenied as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=plain_message(str(exc))) from None
    except (StaleTicket, IllegalTransition):
        return _render(request, user, status_code=409, row=number, message=(
            f"工单 {number} 的回访已由他人记录或工单已变化，本次记录未保存。请查看最新列表。"))
    except MissingField as exc:
        field_name, text = error_for(exc)
        return _render(request, user, status_code=422, errors={field_name or "form": text}, values=values, row=number)
    label = Satisfaction(payload["satisfaction"]).label
    flash(request, f"已记录回访：{done.number}（{label}）")
    publish_ticket(state, done, Action.CALLBACK)
    return RedirectResponse("/callbacks", status_code=status.HTTP_303_SEE_OTHER)


def _attempt(state: Any, user: CurrentUser, number: str, note: str) -> int:
    with state.sessions() as s, s.begin():
        ticket = get_ticket(s, actor_of(user), number)
        return record_attempt(s, ticket.id, actor_of(user), at=state.now(), note=note)


@router.post("/callbacks/{number}/attempt", response_class=HTMLResponse)
async def record_no_answer(request: Request, number: str, user: CurrentUser = Depends(page_roles(*CALLBACK_ROLES))):
    state = request.app.state.hotline
    form = await request.form()
    note = str(form.get("note") or "").strip()[:500]
    try:
        attempts = await state.write_lane.run(_attempt, state, user, number, note)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="工单不存在或无权查看") from None
    except ValueError as exc:
        return _render(request, user, status_code=409, row=number, message=plain_message(str(exc)))
    flash(request, f"已记录未接通：{number}（第 {attempts} 次）")
    return RedirectResponse("/callbacks", status_code=status.HTTP_303_SEE_OTHER)
