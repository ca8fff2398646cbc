"""People who log in, with a role, a scope (officers), a seat (agents, supervisors), and their
login sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.database import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('agent','dispatcher','district_officer','department_officer','supervisor','admin')",
            name="role_values",
        ),
        CheckConstraint("role <> 'district_officer' OR district_code IS NOT NULL", name="district_scope"),
        CheckConstraint("role <> 'department_officer' OR department_code IS NOT NULL", name="department_scope"),
        CheckConstraint("seat IS NULL OR role IN ('agent','supervisor')", name="seat_roles"),
        # one active user per phone: the queue member interface is where calls ring
        Index("uq_users_active_seat", "seat", unique=True, sqlite_where=text("active AND seat IS NOT NULL"),
              postgresql_where=text("active AND seat IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    district_code: Mapped[str | None] = mapped_column(String(6))
    department_code: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Asterisk queue member interface of the user's phone, e.g. ``PJSIP/agent-1101`` (agents and
    #: supervisors only; unique among active users).
    seat: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """One login: the cookie names it (``sid``); logging out, disabling the user or changing the
    password ends it (``ended_at``), and a cookie of an ended session no longer authenticates."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)        # random, in the signed cookie
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str] = mapped_column(String(20), default="")       # logout, disabled, password
