"""Console pages of the users domain: login, logout, the home page (工作台)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hotline.users.roles import Role
from hotline.users.service import log_in
from hotline.users.views import start_session
from hotline.web.pages import Crumb, render
from hotline.web.security import CurrentUser, current_user

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
def login_form(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    user = log_in(request.app.state.hotline, username, password)
    if user is None:
        return render(request, "login.html", {"next": _safe_next(next), "error": "用户名或密码错误",
                                              "username": username}, status_code=status.HTTP_401_UNAUTHORIZED)
    start_session(request, user)
    return RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout")
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser = Depends(current_user)):
    notice = request.app.state.hotline.calendar_warning() if user.role in CALENDAR_NOTICE_ROLES else None
    return render(request, "home.html", {"calendar_notice": notice}, user=user, active="home",
                  crumbs=[Crumb("工作台")])
