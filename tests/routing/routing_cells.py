"""Hand-made grid cells for routing tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cell:
    """A minimal unit for hand-made grids (same attributes as ``UnitRecord``)."""

    code: str
    name: str
    level: int
    parent_code: str | None
    kind: str
    geometry: dict[str, Any] | None


def square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
