"""Console pages of the users domain: login, logout, the home page (工作台), 修改密码."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hotline.users.flows import LoginRefused, attempt_login, change_own_password, log_out
from hotline.users.roles import Role
from hotline.users.service import MIN_PASSWORD_LENGTH, UserFieldErrors
from hotline.users.views import start_session
from hotline.web.pages import Crumb, render
from hotline.web.security import CurrentUser, client_address, current_user, optional_user, session_id

__all__ = ["router", "CALENDAR_NOTICE_ROLES"]

router = APIRouter(include_in_schema=False)

#: Roles whose work needs deadlines past the holiday data (dispatch, extensions) or who maintain
#: the rules: they see the calendar coverage notice on the home page.
CALENDAR_NOTICE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login_form(request: Request, username: str = Form("", max_length=200), password: str = Form("", max_length=1000),
               next: str = Form("/", max_length=2000)):
    request.state.audited = True
    try:
        outcome = attempt_login(request.app.state.hotline, username, password, address=client_address(request),
                                user_agent=request.headers.get("user-agent", ""))
    except LoginRefused as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return render(request, "login.html", {"next": _safe_next(next), "error": exc.message, "username": username},
                      status_code=exc.status, headers=headers)
    start_session(request, outcome)
    return RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout")
async def logout(request: Request, user: CurrentUser | None = Depends(optional_user)):
    request.state.audited = True
    state = request.app.state.hotline
    await state.write_lane.run(log_out, state, user, session_id(request), client_address(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser = Depends(current_user)):
    notice = request.app.state.hotline.calendar_warning() if user.role in CALENDAR_NOTICE_ROLES else None
    return render(request, "home.html", {"calendar_notice": notice}, user=user, active="home",
                  crumbs=[Crumb("工作台")])


_PASSWORD_CRUMBS = [Crumb("修改密码")]


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: CurrentUser = Depends(current_user)):
    return render(request, "users/password.html", {"errors": {}, "done": False, "min_length": MIN_PASSWORD_LENGTH},
                  user=user, active="password", crumbs=_PASSWORD_CRUMBS)


@router.post("/account/password", response_class=HTMLResponse)
def password_change(request: Request, user: CurrentUser = Depends(current_user),
                    current: str = Form("", max_length=1000), new: str = Form("", max_length=1000),
                    repeat: str = Form("", max_length=1000)):
    request.state.audited = True
    try:
        change_own_password(request.app.state.hotline, user, session_id(request), current=current, new=new,
                            repeat=repeat, address=client_address(request))
    except UserFieldErrors as exc:
        return render(request, "users/password.html", {"errors": exc.errors, "done": False,
                                                       "min_length": MIN_PASSWORD_LENGTH},
                      user=user, active="password", crumbs=_PASSWORD_CRUMBS, status_code=422)
    return render(request, "users/password.html", {"errors": {}, "done": True, "min_length": MIN_PASSWORD_LENGTH},
                  user=user, active="password", crumbs=_PASSWORD_CRUMBS)
