"""The audit log table: append-only rows, written in batches by :mod:`hotline.audit.writer`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.database import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_user_at", "username", "at"),
        Index("ix_audit_log_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)        # no foreign key: the log outlives users
    username: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(30))                # see hotline.audit.service.KINDS
    action: Mapped[str] = mapped_column(String(200), default="")  # e.g. "POST /api/tickets/…/actions/dispatch"
    target: Mapped[str] = mapped_column(String(120), default="")  # a ticket number, a username …
    status: Mapped[int | None] = mapped_column(Integer)          # HTTP status of the request
    detail: Mapped[str] = mapped_column(Text, default="")
