"""ASGI middleware: one audit entry for every state-changing request (POST, PUT, PATCH, DELETE),
queued after the response has been sent — the request never waits for the audit log. Handlers
that write a richer entry themselves (logins, user administration) set
``request.state.audited = True`` and are skipped here."""

from __future__ import annotations

from typing import Any, Callable

from hotline.audit.service import AuditRecord, kind_of_request, ticket_number_in
from hotline.audit.writer import AuditWriter

__all__ = ["AuditRequests", "UNSAFE_METHODS"]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SKIPPED = ("/live",)


class AuditRequests:
    def __init__(self, app: Any, writer: Callable[[], AuditWriter | None]):
        self.app = app
        self.writer = writer

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS or scope["path"].startswith(_SKIPPED):
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status[0] if status else 500)

    def _record(self, scope, status: int) -> None:
        writer = self.writer()
        state = scope.get("state") or {}
        if writer is None or state.get("audited"):
            return
        user = state.get("user")
        path = scope["path"]
        client = scope.get("client")
        writer.record(AuditRecord(
            kind=kind_of_request(scope["method"], path), action=f"{scope['method']} {path}"[:200],
            user_id=getattr(user, "id", None), username=getattr(user, "username", ""),
            role=getattr(getattr(user, "role", None), "value", ""), address=client[0] if client else "",
            target=ticket_number_in(path), status=status))
