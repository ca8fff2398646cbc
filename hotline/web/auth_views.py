"""Login and logout (pages and JSON)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from hotline.users.roles import Role
from hotline.users.service import authenticate
from hotline.web.security import CurrentUser, current_user

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter()


def _login(request: Request, username: str, password: str) -> CurrentUser | None:
    state = request.app.state.hotline
    with state.sessions() as s, s.begin():
        user = authenticate(s, username.strip(), password)
        if user is None:
            return None
        from hotline.database import utcnow

        user.last_login_at = utcnow()
        cu = CurrentUser.of(user)
    request.session.clear()
    request.session["uid"] = cu.id
    return cu


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/"):
    return templates.TemplateResponse(request, "login.html", {"next": next, "error": None})


@router.post("/login", include_in_schema=False)
def login_form(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    if _login(request, username, password) is None:
        return templates.TemplateResponse(request, "login.html",
                                          {"next": next, "error": "用户名或密码错误", "username": username},
                                          status_code=status.HTTP_401_UNAUTHORIZED)
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout", include_in_schema=False)
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


class Credentials(BaseModel):
    username: str
    password: str


@router.post("/api/session", tags=["auth"])
def api_login(request: Request, creds: Credentials) -> dict:
    """Log in; the session cookie authenticates later API calls."""
    from fastapi import HTTPException

    user = _login(request, creds.username, creds.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="用户名或密码错误 (bad credentials)")
    return {"username": user.username, "role": user.role.value, "display_name": user.display_name}


@router.delete("/api/session", tags=["auth"])
def api_logout(request: Request) -> dict:
    request.session.clear()
    return {"ok": True}


@router.get("/api/me", tags=["auth"])
async def me(user: CurrentUser = Depends(current_user)) -> dict:
    return {"username": user.username, "display_name": user.display_name, "role": user.role.value,
            "role_label": user.role.label, "district_code": user.district_code,
            "department_code": user.department_code}


#: Roles whose work needs deadlines past the holiday data (dispatch, extensions) or who maintain
#: the rules: they see the calendar coverage notice on the home page.
CALENDAR_NOTICE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, user: CurrentUser = Depends(current_user)):
    notice = request.app.state.hotline.calendar_warning() if user.role in CALENDAR_NOTICE_ROLES else None
    return templates.TemplateResponse(request, "home.html", {"user": user, "calendar_notice": notice})
