"""Session API for programs: log in and out, who am I (``/api/session``, ``/api/me``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from hotline.users.service import log_in
from hotline.web.api import ApiRoute
from hotline.web.csrf import csrf_token
from hotline.web.security import CurrentUser, current_user

__all__ = ["router"]

router = APIRouter(tags=["auth"], route_class=ApiRoute)


class Credentials(BaseModel):
    username: str
    password: str


def start_session(request: Request, user: CurrentUser) -> None:
    """A fresh session for ``user`` (a new session id and CSRF token: no fixation)."""
    request.session.clear()
    request.session["uid"] = user.id
    csrf_token(request)


@router.post("/api/session")
def api_login(request: Request, creds: Credentials) -> dict:
    """Log in; the session cookie authenticates later API calls, and state-changing calls send
    ``csrf_token`` back in the ``X-CSRF-Token`` header."""
    user = log_in(request.app.state.hotline, creds.username, creds.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="用户名或密码错误 (bad credentials)")
    start_session(request, user)
    return {"username": user.username, "role": user.role.value, "display_name": user.display_name,
            "csrf_token": request.session["csrf"]}


@router.delete("/api/session")
def api_logout(request: Request) -> dict:
    request.session.clear()
    return {"ok": True}


@router.get("/api/me")
async def me(request: Request, user: CurrentUser = Depends(current_user)) -> dict:
    return {"username": user.username, "display_name": user.display_name, "role": user.role.value,
            "role_label": user.role.label, "district_code": user.district_code,
            "department_code": user.department_code, "csrf_token": csrf_token(request)}
