"""Grid units: district (1) → street office/town (2) → community/village (3) → unit grid (4)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.database import Base


class GridUnit(Base):
    __tablename__ = "grid_units"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(15), unique=True)  # 6/9/12-digit NBS code or 15-char grid id
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # district, street, town, township, community, village, special, grid
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grid_units.id"), index=True)
    polygon: Mapped[dict | None] = mapped_column(JSON)  # GeoJSON geometry, WGS-84
    center_lon: Mapped[float | None] = mapped_column(Float)
    center_lat: Mapped[float | None] = mapped_column(Float)
    local_line: Mapped[str | None] = mapped_column(String(40))  # districts: local receiving line
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(300), default="")

    parent: Mapped["GridUnit | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["GridUnit"]] = relationship(back_populates="parent")
