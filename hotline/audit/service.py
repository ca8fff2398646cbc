"""Reading and writing the audit log: what a kind means, one entry's fields, the filtered list for
``/admin/audit``. Entries are written by :class:`hotline.audit.writer.AuditWriter` (batched, off
the request's path); only it inserts into ``audit_log``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.audit.models import AuditEntry
from hotline.database import utcnow

__all__ = ["KINDS", "AuditRecord", "AuditPage", "list_entries", "kind_of_request", "ticket_number_in"]

#: Kinds of audit entries and their Chinese labels (the filter of the audit page).
KINDS = {
    "login": "登录成功",
    "login_failed": "登录失败",
    "login_locked": "登录被锁定",
    "logout": "退出登录",
    "password": "修改密码",
    "user_admin": "用户管理",
    "ticket_create": "受理工单",
    "ticket_action": "工单操作",
    "upload": "上传附件",
    "call": "话务操作",
    "open311": "Open311 接口",
    "notice": "通知已读",
    "request": "其他操作",
}

_TICKET_NUMBER = re.compile(r"12319-\d{8}-\d{3,6}")


def ticket_number_in(path: str) -> str:
    match = _TICKET_NUMBER.search(path)
    return match.group(0) if match else ""


def kind_of_request(method: str, path: str) -> str:
    """The kind of a state-changing request, from its path."""
    if "/attachments" in path:
        return "upload"
    if "/actions/" in path or re.search(r"/tickets/[^/]+/(?!attachments)", path):
        return "ticket_action"
    if path.rstrip("/") in ("/api/tickets", "/tickets", "/tickets/new", "/agent/tickets"):
        return "ticket_create"
    if path.startswith(("/api/calls", "/calls", "/agent/")):
        return "call"
    if path.startswith("/open311/"):
        return "open311"
    if path.startswith(("/notices", "/api/notices")):
        return "notice"
    if path.startswith(("/admin/users", "/api/users")):
        return "user_admin"
    return "request"


@dataclass
class AuditRecord:
    """One entry as the writer queues it."""

    kind: str
    action: str = ""
    user_id: int | None = None
    username: str = ""
    role: str = ""
    address: str = ""
    target: str = ""
    status: int | None = None
    detail: str = ""
    at: datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        return {"at": self.at, "user_id": self.user_id, "username": self.username[:64], "role": self.role[:20],
                "address": self.address[:64], "kind": self.kind[:30], "action": self.action[:200],
                "target": self.target[:120], "status": self.status, "detail": self.detail[:4000]}


@dataclass
class AuditPage:
    items: list[AuditEntry]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_entries(session: Session, *, username: str | None = None, kind: str | None = None,
                 start: datetime | None = None, end: datetime | None = None, address: str | None = None,
                 page: int = 1, page_size: int = 50) -> AuditPage:
    """Newest first; ``end`` is exclusive."""
    conditions = []
    if username:
        conditions.append(AuditEntry.username == username.strip())
    if kind:
        conditions.append(AuditEntry.kind == kind)
    if start is not None:
        conditions.append(AuditEntry.at >= start)
    if end is not None:
        conditions.append(AuditEntry.at < end)
    if address:
        conditions.append(AuditEntry.address.startswith(address.strip(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    items = list(session.scalars(select(AuditEntry).where(*conditions)
                                 .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                 .offset((page - 1) * page_size).limit(page_size)))
    return AuditPage(items, total, page, page_size)
