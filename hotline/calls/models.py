"""Calls: one row per citizen conversation, keyed by the Asterisk Linkedid (design §3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.database import Base, UTCDateTime, utcnow


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(80), unique=True)  # Linkedid
    caller: Mapped[str] = mapped_column(String(40), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(80), default="")
    dialed: Mapped[str] = mapped_column(String(40), default="")
    channel: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ivr_path: Mapped[list] = mapped_column(JSON, default=list)
    digits: Mapped[str] = mapped_column(String(80), default="")
    queue: Mapped[str] = mapped_column(String(40), default="")
    queue_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_wait_s: Mapped[float | None] = mapped_column(Float)
    agent: Mapped[str] = mapped_column(String(80), default="")
    agent_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transfers: Mapped[list] = mapped_column(JSON, default=list)
    recordings: Mapped[list] = mapped_column(JSON, default=list)
    variables: Mapped[dict] = mapped_column(JSON, default=dict)
    disposition: Mapped[str | None] = mapped_column(String(30), index=True)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
