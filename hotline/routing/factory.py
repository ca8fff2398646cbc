"""Build a :class:`Router` from what the database holds (grid units, categories)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.categories.models import Category
from hotline.directory import work_calendar
from hotline.grid.lookup import GridIndex
from hotline.grid.models import GridUnit
from hotline.routing.service import Router
from hotline.rules.schema import Rules


@dataclass(frozen=True, slots=True)
class _Unit:
    code: str
    name: str
    level: int
    parent_code: str | None
    kind: str
    geometry: Mapping[str, Any] | None


def grid_index_from_db(session: Session) -> GridIndex | None:
    rows = session.execute(select(GridUnit.id, GridUnit.code, GridUnit.name, GridUnit.level,
                                  GridUnit.parent_id, GridUnit.kind, GridUnit.polygon)).all()
    if not rows:
        return None
    code_of = {r.id: r.code for r in rows}
    units = [_Unit(r.code, r.name, r.level, code_of.get(r.parent_id), r.kind, r.polygon) for r in rows]
    return GridIndex.from_units(units)


def router_from_db(session: Session, rules: Rules) -> Router:
    categories = session.scalars(select(Category).where(Category.active.is_(True))).all()
    return Router(rules, grid_index_from_db(session), categories, calendar=work_calendar(rules))
