"""用户与座席 (``/admin/users``): the administrator's list of users, adding one, changing role,
scope and seat, disabling and enabling, resetting a password. The checks are the service's
(:func:`hotline.users.service.validate_user_fields`), the same the CLI runs; a refused form comes
back with what was typed and a message at each bad field. Disabling a user or resetting their
password ends their sessions, and their open pages are sent to the login page (``session`` live
event)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hotline.users.flows import audit
from hotline.users.roles import ROLE_LABELS, Role
from hotline.users.service import (
    MIN_PASSWORD_LENGTH, SEAT_ROLES, UserError, UserFieldErrors, create_user, get_user, list_users, set_active,
    set_password, update_user,
)
from hotline.web.live import Audience, LiveEvent
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser, client_address
from hotline.web.write_lane import in_write_lane

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
admin_only = page_roles()
_CRUMBS = [Crumb("系统管理", "/admin"), Crumb("用户与座席", "/admin/users")]


def _choices(state: Any) -> dict[str, Any]:
    rules = state.rules
    return {"roles": [(r.value, ROLE_LABELS[r]) for r in Role],
            "districts": [(d.code, d.name) for d in rules.districts] if rules is not None else [],
            "departments": [(d.code, d.name) for d in rules.departments] if rules is not None else [],
            "seat_roles": sorted(r.value for r in SEAT_ROLES), "min_length": MIN_PASSWORD_LENGTH}


def _list(request: Request, user: CurrentUser, *, form: dict | None = None, errors: dict | None = None,
          message: str = "", status_code: int = 200, filters: dict | None = None):
    state = request.app.state.hotline
    filters = filters or {}
    active = {"active": True, "disabled": False}.get(filters.get("state", ""))
    with state.read_sessions() as s:
        users = list_users(s, role=filters.get("role") or None, active=active, q=filters.get("q") or None,
                           unit=filters.get("unit") or None)
    return render(request, "admin/users.html",
                  {"users": users, "form": form or {}, "errors": errors or {}, "message": message,
                   "filters": filters, "open_form": bool(errors), **_choices(state)},
                  user=user, active="users", crumbs=_CRUMBS, status_code=status_code)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, role: str = "", unit: str = "", state: str = "", q: str = "", done: str = "",
               user: CurrentUser = Depends(admin_only)):
    messages = {"created": "用户已添加。", "saved": "修改已保存。", "disabled": "用户已停用，其登录已全部退出。",
                "enabled": "用户已启用。", "password": "密码已重置，该用户的登录已全部退出。"}
    return _list(request, user, filters={"role": role, "unit": unit, "state": state, "q": q[:64]},
                 message=messages.get(done, ""))


@router.post("/admin/users", response_class=HTMLResponse)
@in_write_lane
def add_user(request: Request, user: CurrentUser = Depends(admin_only),
             username: str = Form("", max_length=64), display_name: str = Form("", max_length=64),
             role: str = Form("", max_length=20), district_code: str = Form("", max_length=6),
             department_code: str = Form("", max_length=40), seat: str = Form("", max_length=80),
             password: str = Form("", max_length=256)):
    request.state.audited = True
    state = request.app.state.hotline
    form = {"username": username, "display_name": display_name, "role": role, "district_code": district_code,
            "department_code": department_code, "seat": seat}
    try:
        with state.sessions() as s, s.begin():
            created = create_user(s, username=username, password=password, role=role, display_name=display_name,
                                  district_code=district_code, department_code=department_code, seat=seat,
                                  rules=state.rules)
            created_name = created.username
    except UserFieldErrors as exc:
        return _list(request, user, form=form, errors=exc.errors, status_code=422)
    audit(state, "user_admin", user=user, address=client_address(request), action="添加用户", target=created_name,
          status=303, detail=f"role={role} district={district_code or '-'} department={department_code or '-'} "
                             f"seat={seat or '-'}")
    return RedirectResponse("/admin/users?done=created", status_code=status.HTTP_303_SEE_OTHER)


def _edit(request: Request, user: CurrentUser, target, *, form: dict | None = None, errors: dict | None = None,
          status_code: int = 200, message: str = ""):
    state = request.app.state.hotline
    form = form or {"display_name": target.display_name, "role": target.role, "district_code": target.district_code or "",
                    "department_code": target.department_code or "", "seat": target.seat or ""}
    return render(request, "admin/user_edit.html",
                  {"target": target, "form": form, "errors": errors or {}, "message": message, **_choices(state)},
                  user=user, active="users", crumbs=[*_CRUMBS, Crumb(target.display_name or target.username)],
                  status_code=status_code)


def _target(state: Any, user_id: int):
    try:
        with state.read_sessions() as s:
            return get_user(s, user_id)
    except UserError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="用户不存在") from None


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: int, user: CurrentUser = Depends(admin_only)):
    return _edit(request, user, _target(request.app.state.hotline, user_id))


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
@in_write_lane
def save_user(request: Request, user_id: int, user: CurrentUser = Depends(admin_only),
              display_name: str = Form("", max_length=64), role: str = Form("", max_length=20),
              district_code: str = Form("", max_length=6), department_code: str = Form("", max_length=40),
              seat: str = Form("", max_length=80)):
    request.state.audited = True
    state = request.app.state.hotline
    form = {"display_name": display_name, "role": role, "district_code": district_code,
            "department_code": department_code, "seat": seat}
    try:
        with state.sessions() as s, s.begin():
            changed = update_user(s, user_id, state.rules, role=role, display_name=display_name,
                                  district_code=district_code, department_code=department_code, seat=seat)
            name = changed.username
    except UserFieldErrors as exc:
        return _edit(request, user, _target(state, user_id), form=form, errors=exc.errors, status_code=422)
    except UserError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="用户不存在") from None
    audit(state, "user_admin", user=user, address=client_address(request), action="修改用户", target=name,
          status=303, detail=f"role={role} district={district_code or '-'} department={department_code or '-'} "
                             f"seat={seat or '-'}")
    return RedirectResponse("/admin/users?done=saved", status_code=status.HTTP_303_SEE_OTHER)


def _ended(state: Any, user_id: int) -> None:
    """The user's open pages go to the login page (their sessions have ended)."""
    state.live.publish(LiveEvent("session", {"ended": True}, Audience.users(user_id)))


@router.post("/admin/users/{user_id}/active")
@in_write_lane
def toggle_user(request: Request, user_id: int, active: int = Form(...), user: CurrentUser = Depends(admin_only)):
    request.state.audited = True
    state = request.app.state.hotline
    if user_id == user.id and not active:
        return _edit(request, user, _target(state, user_id), status_code=409,
                     errors={"active": "不能停用自己正在使用的账号"})
    try:
        with state.sessions() as s, s.begin():
            name = set_active(s, user_id, bool(active), at=state.now()).username
    except UserFieldErrors as exc:
        return _edit(request, user, _target(state, user_id), errors=exc.errors, status_code=409)
    except UserError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="用户不存在") from None
    if not active:
        _ended(state, user_id)
    else:
        state.login_guard.clear(name)
    audit(state, "user_admin", user=user, address=client_address(request),
          action="启用用户" if active else "停用用户", target=name, status=303)
    return RedirectResponse(f"/admin/users?done={'enabled' if active else 'disabled'}",
                            status_code=status.HTTP_303_SEE_OTHER)


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
@in_write_lane
def reset_password(request: Request, user_id: int, password: str = Form("", max_length=256),
                   repeat: str = Form("", max_length=256), user: CurrentUser = Depends(admin_only)):
    request.state.audited = True
    state = request.app.state.hotline
    if password != repeat:
        return _edit(request, user, _target(state, user_id), errors={"password": "两次输入的密码不一致"},
                     status_code=422)
    try:
        with state.sessions() as s, s.begin():
            name = set_password(s, user_id, password, at=state.now()).username
    except UserFieldErrors as exc:
        return _edit(request, user, _target(state, user_id), errors=exc.errors, status_code=422)
    except UserError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="用户不存在") from None
    _ended(state, user_id)
    state.login_guard.clear(name)
    audit(state, "user_admin", user=user, address=client_address(request), action="重置密码", target=name,
          status=303)
    return RedirectResponse("/admin/users?done=password", status_code=status.HTTP_303_SEE_OTHER)
