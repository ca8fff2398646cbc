"""Reads of the grid units (district → street → community → unit grid) for pages and maps."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.grid.models import GridUnit

__all__ = ["units_geojson"]


def units_geojson(session: Session, levels: Iterable[int]) -> dict[str, Any]:
    """The units of ``levels`` that have a polygon, as a GeoJSON FeatureCollection (WGS-84)."""
    rows = session.execute(select(GridUnit.code, GridUnit.name, GridUnit.level, GridUnit.polygon, GridUnit.synthetic)
                           .where(GridUnit.level.in_(sorted(set(levels))), GridUnit.polygon.is_not(None))
                           .order_by(GridUnit.level, GridUnit.code)).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": polygon,
         "properties": {"code": code, "name": name, "level": level, "synthetic": synthetic}}
        for code, name, level, polygon, synthetic in rows]}
