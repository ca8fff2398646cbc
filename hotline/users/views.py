"""Session API for programs: log in and out, who am I (``/api/session``, ``/api/me``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from hotline.users.flows import LoginRefused, attempt_login, log_out
from hotline.users.service import LoginOutcome
from hotline.web.api import ApiRoute, error_responses
from hotline.web.csrf import csrf_token
from hotline.web.security import CurrentUser, client_address, current_user, optional_user, session_id

__all__ = ["router", "start_session"]

router = APIRouter(tags=["auth"], route_class=ApiRoute)


class Credentials(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


def start_session(request: Request, outcome: LoginOutcome) -> None:
    """A fresh cookie for the new login session (a new session id and CSRF token: no fixation)."""
    request.session.clear()
    request.session["uid"] = outcome.user.id
    request.session["sid"] = outcome.sid
    csrf_token(request)


@router.post("/api/session", responses=error_responses(429))
def api_login(request: Request, creds: Credentials) -> dict:
    """Log in; the session cookie authenticates later API calls, and state-changing calls send
    ``csrf_token`` back in the ``X-CSRF-Token`` header. Repeated failures lock the account or the
    address for a while (429 with ``Retry-After``)."""
    request.state.audited = True
    try:
        outcome = attempt_login(request.app.state.hotline, creds.username, creds.password,
                                address=client_address(request), user_agent=request.headers.get("user-agent", ""))
    except LoginRefused as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        raise HTTPException(exc.status, detail=f"{exc.message} (login refused)", headers=headers) from None
    start_session(request, outcome)
    user = outcome.user
    return {"username": user.username, "role": user.role.value, "display_name": user.display_name,
            "csrf_token": request.session["csrf"]}


@router.delete("/api/session")
async def api_logout(request: Request, user: CurrentUser | None = Depends(optional_user)) -> dict:
    """End this login session: the cookie (and any copy of it) no longer authenticates."""
    request.state.audited = True
    sid = session_id(request)
    state = request.app.state.hotline
    await state.write_lane.run(log_out, state, user, sid, client_address(request))
    request.session.clear()
    return {"ok": True}


@router.get("/api/me")
async def me(request: Request, user: CurrentUser = Depends(current_user)) -> dict:
    return {"username": user.username, "display_name": user.display_name, "role": user.role.value,
            "role_label": user.role.label, "district_code": user.district_code,
            "department_code": user.department_code, "csrf_token": csrf_token(request)}

