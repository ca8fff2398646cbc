"""Cross-site request forgery protection for every state-changing request (decision 0008).

A logged-in session carries a random token (``session["csrf"]``). Every POST, PUT, PATCH and
DELETE made with that session must present it: forms in the hidden field ``csrf_token``,
scripts and htmx in the ``X-CSRF-Token`` header (``POST /api/session`` returns it to API
clients). A request whose ``Origin`` header names another site is refused as well. Requests
without a logged-in session (the login form, Open311 with its API key) have nothing to forge.
The session cookie is also ``SameSite=Strict``; the token is the defence that does not depend
on the browser.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "csrf_token", "csrf_protect"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_token(request: Request) -> str:
    """The session's token, created on first use ("" without a session)."""
    if "session" not in request.scope:
        return ""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin != "null"
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: refuses a state change of a logged-in session without its token."""
    if request.method not in _UNSAFE or "session" not in request.scope:
        return
    if request.session.get("uid") is None:
        return
    if not _same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="请求来源不是本系统，已拒绝（cross-site request refused）")
    expected = request.session.get("csrf") or ""
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        form = await request.form()          # cached on the request: the endpoint reads the same form
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else ""
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail="页面已过期或请求缺少安全令牌，请刷新页面后重试（CSRF token missing or invalid）")
