"""Build a :class:`Router` from what the database holds (grid units, categories)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.categories.models import Category
from hotline.directory import work_calendar
from hotline.grid.lookup import GridIndex, load_units
from hotline.routing.service import Router
from hotline.rules.schema import Rules


def router_from_db(session: Session, rules: Rules) -> Router:
    """Router over the stored grid (``None`` when no grid is loaded) and active categories."""
    units = load_units(session)
    grid = GridIndex.from_units(units) if units else None
    categories = session.scalars(select(Category).where(Category.active.is_(True))).all()
    return Router(rules, grid, categories, calendar=work_calendar(rules))
