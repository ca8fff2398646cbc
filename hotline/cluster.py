"""Several ``hotline serve`` on one PostgreSQL database (design §1): exactly one process owns the
telephony (the AMI connection, the FastAGI server, the call recorder), as exactly one runs the
scheduler; the others serve the console and the API and follow.

* **Leadership** — an advisory lock (``hotline.telephony``) held on its own connection, whose
  ``application_name`` carries the leader's address (``HOTLINE_NODE_URL``): a follower finds the
  leader in ``pg_stat_activity``, and a leader that dies frees the lock with its connection. A
  follower tries to take over every few seconds.
* **Live events** cross processes through :class:`hotline.web.live_bridge.PgLiveBridge`.
* **Telephony requests** (the agent workspace, the wallboard, ``/api/calls``) need the live state
  and the command facade, which only the leader has: a follower forwards them to the leader's
  address over HTTP, unchanged (cookies, CSRF header, body), and relays the answer. Every
  process must share ``HOTLINE_SESSION_SECRET`` (the session cookie is valid on any of them).

SQLite is single-process: there the one process is always the leader.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from hotline.sla.leader import LeaderLock, leader_lock_for

log = logging.getLogger(__name__)

__all__ = ["TELEPHONY_LOCK", "TelephonyLeadership", "ForwardToLeader", "FORWARDED_PREFIXES"]

TELEPHONY_LOCK = "hotline.telephony"
_APP_NAME = "hotline-telephony "
#: Paths that need the process that owns the telephony.
FORWARDED_PREFIXES = ("/agent", "/wallboard", "/api/calls/")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length", "host"}


class TelephonyLeadership:
    def __init__(self, engine: Engine, node_url: str):
        self.engine = engine
        self.node_url = node_url.rstrip("/")
        self.lock: LeaderLock = leader_lock_for(engine, TELEPHONY_LOCK, application_name=_APP_NAME + self.node_url)
        self._leader_url: tuple[float, str | None] = (0.0, None)

    @property
    def postgres(self) -> bool:
        return self.engine.url.get_backend_name() == "postgresql"

    @property
    def held(self) -> bool:
        return self.lock.held

    def try_take(self) -> bool:
        return self.lock.try_acquire()

    def still_held(self) -> bool:
        return self.lock.still_held()

    def release(self) -> None:
        self.lock.release()

    def leader_url(self, max_age: float = 2.0) -> str | None:
        """The address of the process that holds the telephony lock now (cached briefly)."""
        if self.held:
            return self.node_url
        if not self.postgres:
            return None
        at, url = self._leader_url
        if time.monotonic() - at < max_age:
            return url
        with self.engine.connect() as conn:
            name = conn.execute(text("SELECT application_name FROM pg_stat_activity "
                                     "WHERE application_name LIKE :p ORDER BY backend_start LIMIT 1"),
                                {"p": _APP_NAME + "%"}).scalar()
        url = name[len(_APP_NAME):] if name else None
        self._leader_url = (time.monotonic(), url)
        return url


class ForwardToLeader:
    """ASGI middleware of a follower: telephony requests go to the leader (see the module doc)."""

    def __init__(self, app: ASGIApp, state: Any):
        self.app = app
        self.state = state
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FORWARDED_PREFIXES):
            return await self.app(scope, receive, send)
        leadership = getattr(self.state, "leadership", None)
        if leadership is None or leadership.held:
            return await self.app(scope, receive, send)
        try:
            target = leadership.leader_url()
        except Exception:
            log.exception("finding the telephony leader failed")
            target = None
        if not target or target == leadership.node_url:
            return await self.app(scope, receive, send)      # no leader yet: the page says so
        await self._forward(target, scope, receive, send)

    async def _forward(self, target: str, scope: Scope, receive: Receive, send: Send) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in _HOP_BY_HOP or k.decode("latin-1").lower() == "host"]
        client = scope.get("client") or ("", 0)
        headers.append(("x-forwarded-for", client[0]))
        url = target + scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
        try:
            response = await self._client.request(scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            log.warning("forwarding %s to the telephony leader %s failed: %s", scope["path"], target, exc)
            await _plain(send, 502, "电话系统所在的服务节点暂时无法连接，请稍后重试".encode())
            return
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()
               if k.lower() not in _HOP_BY_HOP]
        out.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
