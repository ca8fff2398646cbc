"""Who is asking: session login, the current user, and role/scope requirements.

Browsers log in with a form and get a signed session cookie (``SameSite=Strict``,
``HttpOnly``); API clients post JSON to ``/api/session``. Every page and API depends
on :func:`current_user`; pages redirect to the login page, APIs answer 401/403.
"""

from __future__ import annotations

from typing import Callable

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select

from hotline.users.identity import CurrentUser
from hotline.users.models import User
from hotline.users.roles import Role
from hotline.web.user_cache import UserCache, user_cache


class LoginRequired(Exception):
    """Raised for pages; turned into a redirect to the login page."""


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/open311/")) and "text/html" in request.headers.get("accept", "")


# Every request pays this look-up: plain columns (no ORM object), one cached statement, and a
# per-process cache in front of it (:mod:`hotline.web.user_cache`).
_USER_BY_ID = (select(User.id, User.username, User.display_name, User.role, User.district_code,
                      User.department_code)
               .where(User.id == bindparam("uid"), User.active.is_(True)))


def _load_user(state, cache: UserCache, uid) -> CurrentUser | None:
    generation = cache.generation
    with state.read_sessions() as s:
        row = s.execute(_USER_BY_ID, {"uid": uid}).first()
    if row is None:
        return None
    user = CurrentUser(row.id, row.username, row.display_name, Role(row.role), row.district_code,
                       row.department_code)
    cache.put(uid, user, generation)
    return user


async def optional_user(request: Request) -> CurrentUser | None:
    """The logged-in user, or None (no session, or the user was disabled)."""
    uid = request.session.get("uid") if "session" in request.scope else None
    user = None
    if uid is not None and isinstance(uid, int):
        state = request.app.state.hotline
        cache = user_cache(state.engine)
        user = cache.get(uid)
        if user is None:
            user = await run_in_threadpool(_load_user, state, cache, uid)
    return user


# async: a cache hit needs no I/O and no threadpool hop; a miss reads the database in the threadpool
async def current_user(request: Request) -> CurrentUser:
    user = await optional_user(request)
    if user is None:
        if _wants_html(request):
            raise LoginRequired()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="请先登录 (login required)")
    request.state.user = user      # the error pages show the menu of who is logged in
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
