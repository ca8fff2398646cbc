"""Case categories: components (部件) and matters (事项) of GB/T 47678.5-2026 plus local extensions."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.database import Base


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (
        UniqueConstraint("standard_ref", "kind", "code", name="uq_categories_ref_kind_code"),
        CheckConstraint("kind IN ('component', 'matter')", name="kind_values"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_ref: Mapped[str] = mapped_column(String(40))  # e.g. "GB/T 47678.5-2026", "LOCAL:CF12319"
    kind: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(20), index=True)
    big_class_code: Mapped[str] = mapped_column(String(10))
    big_class: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    default_department: Mapped[str | None] = mapped_column(String(40))  # department code rule (from routing rules)
    time_limits: Mapped[list | None] = mapped_column(JSON)  # [{"stage": "处置", "amount": 5, "unit": "working_days"}]
    is_local_extension: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
