"""Departments and utility owners that receive dispatched cases."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.database import Base


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (CheckConstraint("level IN ('city', 'district')", name="level_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    contact_line: Mapped[str | None] = mapped_column(String(40))
    sms_number: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
