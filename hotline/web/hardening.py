"""Request limits and response headers every answer gets (decision 0010).

* **Body size** (:class:`BodyLimits`): one table of path patterns (``fnmatch``, first match wins)
  and the most bytes a request body may have there. A declared ``Content-Length`` over the limit
  is refused with 413 before a byte of the body is read; a body without one (chunked) is counted
  while the application reads it and refused the moment it passes the limit. Small by default
  (:data:`DEFAULT_BODY_LIMITS`); ``HOTLINE_BODY_LIMITS`` adds or overrides entries
  (``/tickets/*/attachments=32M;/api/import=2M``), checked before the defaults.
* **Security headers** (:class:`SecurityHeaders`): a Content-Security-Policy of ``'self'`` (no
  inline or foreign scripts; inline *style attributes* are allowed because Swagger UI, Leaflet and
  ECharts set them), ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``; HSTS over HTTPS.
* **Secure cookie**: the session cookie gets ``Secure`` when the request came over HTTPS
  (``HOTLINE_COOKIE_SECURE=auto``, the default), always (``always``) or never (``never``). Behind a
  reverse proxy, ``HOTLINE_TRUSTED_PROXIES`` (addresses, or ``*``) lets the proxy's
  ``X-Forwarded-For``/``X-Forwarded-Proto`` set the client address and the scheme; from anyone
  else those headers are ignored.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Iterable

from fastapi import HTTPException

__all__ = ["BodyLimit", "BodyLimits", "DEFAULT_BODY_LIMITS", "SecurityHeaders", "CONTENT_SECURITY_POLICY",
           "parse_body_limits", "parse_size"]

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class BodyLimit:
    pattern: str        # fnmatch pattern of the path, e.g. "/tickets/*/attachments"
    max_bytes: int


#: The defaults: logins are tiny, photo uploads (≤ 6 × 5 MB, multipart) large, everything else small.
DEFAULT_BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("/login", 16 * KIB),
    BodyLimit("/api/session", 16 * KIB),
    BodyLimit("/account/password", 16 * KIB),
    BodyLimit("/tickets/*/attachments", 32 * MIB),
    BodyLimit("/api/tickets/*/attachments", 32 * MIB),
    BodyLimit("/tickets/*/actions/*", 32 * MIB),          # 反馈 and 核查 forms carry photos
    BodyLimit("/tickets/*/photos", 32 * MIB),
    BodyLimit("/open311/*", 256 * KIB),
    BodyLimit("*", 1 * MIB),
)

_SIZE = re.compile(r"(\d+)\s*([KkMm]?)[Bb]?")


def parse_size(text: str) -> int:
    """``512``, ``64K``, ``32M`` → bytes."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 64K, 32M)")
    return int(match.group(1)) * {"": 1, "k": KIB, "m": MIB}[match.group(2).lower()]


def parse_body_limits(text: str) -> tuple[BodyLimit, ...]:
    """``/tickets/*/attachments=32M;/api/import=2M`` → limits (``ValueError`` naming a bad entry)."""
    out = []
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        pattern, sep, size = part.partition("=")
        if not sep or not pattern.strip().startswith(("/", "*")):
            raise ValueError(f"body limit {part!r} is not <path pattern>=<size>")
        out.append(BodyLimit(pattern.strip(), parse_size(size)))
    return tuple(out)


class _TooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, detail=f"请求内容过大：此处最多 {_human(limit)}（request body too large）")


def _human(size: int) -> str:
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MB"
    if size >= KIB:
        return f"{size // KIB} KB"
    return f"{size} 字节"


class BodyLimits:
    """ASGI middleware enforcing the body size table (see the module doc)."""

    def __init__(self, app, limits: Iterable[BodyLimit] = DEFAULT_BODY_LIMITS):
        self.app = app
        self.limits = tuple(limits)

    def limit_for(self, path: str) -> int | None:
        for limit in self.limits:
            if fnmatch.fnmatchcase(path, limit.pattern):
                return limit.max_bytes
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
        if declared is not None and (declared < 0 or declared > limit):
            await self._refuse(scope, send, limit)
            return
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope, send, limit: int) -> None:
        error = _TooLarge(limit)
        accept = dict(scope.get("headers", ())).get(b"accept", b"").decode("latin-1")
        path = scope["path"]
        if "text/html" in accept and not path.startswith(("/api/", "/open311/")):
            body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>内容过大</title>'
                    f'<p>{error.detail}</p><p><a href="/">返回工作台</a></p></html>').encode()
            content_type = b"text/html; charset=utf-8"
        else:
            body = json.dumps({"detail": error.detail}, ensure_ascii=False).encode()
            content_type = b"application/json"
        # "connection: close": the client's unread body is not drained into this connection
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


#: ``'self'`` only; see the module doc for the style-attribute allowance.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
                           "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")

_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_SESSION_COOKIE = b"hotline_session="


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer, ``Secure`` on the session cookie
    as ``cookie_secure`` says (``auto``: when the request's scheme is https)."""

    def __init__(self, app, *, cookie_secure: str = "auto"):
        if cookie_secure not in ("auto", "always", "never"):
            raise ValueError("cookie_secure must be auto, always or never")
        self.app = app
        self.cookie_secure = cookie_secure

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        secure = self.cookie_secure == "always" or (self.cookie_secure == "auto" and https)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _HEADERS if n not in present]
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                if secure:
                    headers = [(n, v + b"; secure" if n.lower() == b"set-cookie" and v.startswith(_SESSION_COOKIE)
                                and b"; secure" not in v.lower() else v) for n, v in headers]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
