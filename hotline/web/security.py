"""Who is asking: session login, the current user, and role/scope requirements.

Browsers log in with a form and get a signed session cookie (``SameSite=Strict``, ``HttpOnly``,
``Secure`` over HTTPS — :mod:`hotline.web.protection`); API clients post JSON to
``/api/session``. The cookie names a server-side login session (``user_sessions``): logging out,
disabling the user or changing the password ends it, and an old copy of the cookie no longer
authenticates (decision 0010). Every page and API depends on :func:`current_user`; pages
redirect to the login page, APIs answer 401/403.
"""

from __future__ import annotations

from typing import Callable

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select

from hotline.users.identity import CurrentUser
from hotline.users.models import User, UserSession
from hotline.users.roles import Role
from hotline.web.user_cache import UserCache, user_cache

__all__ = ["CurrentUser", "LoginRequired", "client_address", "current_user", "optional_user", "require_roles",
           "session_id"]


class LoginRequired(Exception):
    """Raised for pages; turned into a redirect to the login page."""


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/open311/")) and "text/html" in request.headers.get("accept", "")


def client_address(request: Request) -> str:
    """The client's address (the proxy's client when the proxy is trusted: see
    :func:`hotline.web.protection.install`)."""
    return request.client.host if request.client else ""


# Every request pays this look-up: plain columns (no ORM object), one cached statement, and a
# per-process cache in front of it (:mod:`hotline.web.user_cache`).
_USER_BY_SESSION = (
    select(User.id, User.username, User.display_name, User.role, User.district_code, User.department_code)
    .join(UserSession, UserSession.user_id == User.id)
    .where(UserSession.id == bindparam("sid"), UserSession.ended_at.is_(None), User.id == bindparam("uid"),
           User.active.is_(True)))


def _load_user(state, cache: UserCache, key: tuple[int, str]) -> CurrentUser | None:
    generation = cache.generation
    with state.read_sessions() as s:
        row = s.execute(_USER_BY_SESSION, {"uid": key[0], "sid": key[1]}).first()
    if row is None:
        return None
    user = CurrentUser(row.id, row.username, row.display_name, Role(row.role), row.district_code,
                       row.department_code)
    cache.put(key, user, generation)
    return user


def session_id(request: Request) -> str | None:
    if "session" not in request.scope:
        return None
    sid = request.session.get("sid")
    return sid if isinstance(sid, str) else None


async def optional_user(request: Request) -> CurrentUser | None:
    """The logged-in user, or None (no session, an ended session, or the user was disabled)."""
    if "session" not in request.scope:
        return None
    uid, sid = request.session.get("uid"), request.session.get("sid")
    user = None
    if isinstance(uid, int) and isinstance(sid, str):
        state = request.app.state.hotline
        cache = user_cache(state.engine)
        user = cache.get((uid, sid))
        if user is None:
            user = await run_in_threadpool(_load_user, state, cache, (uid, sid))
    return user


# async: a cache hit needs no I/O and no threadpool hop; a miss reads the database in the threadpool
async def current_user(request: Request) -> CurrentUser:
    user = await optional_user(request)
    if user is None:
        if _wants_html(request):
            raise LoginRequired()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="请先登录 (login required)")
    request.state.user = user      # the error pages show the menu of who is logged in; the audit log
    return user


def require_roles(*roles: Role) -> Callable[..., CurrentUser]:
    allowed = frozenset(roles)

    # async: no I/O here, so FastAPI runs it on the loop instead of another threadpool hop
    async def dependency(user: CurrentUser = Depends(current_user)) -> CurrentUser:
        if user.role not in allowed and user.role is not Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"角色“{user.role.label}”无权访问此功能 (role not allowed)")
        return user

    return dependency
