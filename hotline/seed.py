"""Idempotent loading of the sample categories and grid into the database.

``seed_sample(session)`` inserts missing rows, updates rows whose data changed and leaves
identical rows alone, so running it twice changes nothing. Rows are matched by their
natural keys - ``(standard_ref, kind, code)`` for categories, ``code`` for grid units -
and rows that are not in the data are never deleted. Operator-owned columns
(``Category.default_department/time_limits/active``, ``GridUnit.local_line``) are not touched.

All data is loaded and validated before the first statement; the writes run in one
transaction (a SAVEPOINT if the session already has one open), so a failure writes nothing.
Concurrent seeders are serialised, so two processes starting at once do not collide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hotline.categories.models import Category
from hotline.grid.models import GridUnit
from hotline.grid.sample import (
    CategoryRecord,
    SampleDataError,
    UnitRecord,
    load_categories,
    load_sample_grid,
    validate_units,
)

log = logging.getLogger(__name__)

CATEGORY_FIELDS = ("standard_ref", "kind", "code", "big_class_code", "big_class", "name", "is_local_extension")
UNIT_FIELDS = ("name", "level", "kind", "parent_id", "polygon", "center_lon", "center_lat", "synthetic", "verified", "source")
SOURCE_MAX = GridUnit.__table__.c.source.type.length
# PostgreSQL advisory lock key that serialises concurrent seeders ("12319" + "seed").
ADVISORY_LOCK_KEY = 123190001


@dataclass(frozen=True)
class SeedReport:
    categories_created: int = 0
    categories_updated: int = 0
    categories_unchanged: int = 0
    units_created: int = 0
    units_updated: int = 0
    units_unchanged: int = 0

    @property
    def categories(self) -> int:
        return self.categories_created + self.categories_updated + self.categories_unchanged

    @property
    def units(self) -> int:
        return self.units_created + self.units_updated + self.units_unchanged

    @property
    def changes(self) -> int:
        return self.categories_created + self.categories_updated + self.units_created + self.units_updated

    def summary_zh(self) -> str:
        """One line for operators, e.g. ``已存在: 427 个分类, 276 个网格单元, 0 个变更``."""
        if not self.changes:
            return f"已存在: {self.categories} 个分类, {self.units} 个网格单元, 0 个变更"
        return (
            f"分类: 新增 {self.categories_created}, 更新 {self.categories_updated}, 未变 {self.categories_unchanged}; "
            f"网格单元: 新增 {self.units_created}, 更新 {self.units_updated}, 未变 {self.units_unchanged}; "
            f"共 {self.changes} 个变更"
        )

    def __str__(self) -> str:
        return self.summary_zh()

    def summary_en(self) -> str:
        return (
            f"categories: {self.categories_created} created, {self.categories_updated} updated, "
            f"{self.categories_unchanged} unchanged; grid units: {self.units_created} created, "
            f"{self.units_updated} updated, {self.units_unchanged} unchanged; {self.changes} change(s)"
        )


def unit_source_text(unit: UnitRecord) -> str:
    """The ``GridUnit.source`` text: tag, citation and the list of generated attributes."""
    text = unit.source
    if unit.source_ref:
        text += f": {unit.source_ref}"
    if unit.synthetic_fields:
        text += f" [generated: {', '.join(unit.synthetic_fields)}]"
    return text


def _check_categories(categories: Sequence[CategoryRecord]) -> None:
    seen: set[tuple[str, str, str]] = set()
    errors = []
    for c in categories:
        if c.key in seen:
            errors.append(f"duplicate category {' '.join(c.key)}")
        seen.add(c.key)
    if errors:
        raise SampleDataError("categories", errors)


def _check_units(units: Sequence[UnitRecord]) -> None:
    validate_units(units)
    errors = [
        f"unit {u.code} ({u.name}): source text longer than {SOURCE_MAX} characters"
        for u in units
        if SOURCE_MAX and len(unit_source_text(u)) > SOURCE_MAX
    ]
    if errors:
        raise SampleDataError("grid", errors)


def _apply(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for field, value in values.items():
        if getattr(obj, field) != value:
            setattr(obj, field, value)
            changed = True
    return changed


def _seed_categories(session: Session, categories: Sequence[CategoryRecord]) -> tuple[int, int, int]:
    existing = {(c.standard_ref, c.kind, c.code): c for c in session.scalars(select(Category))}
    created = updated = unchanged = 0
    for rec in categories:
        values = {f: getattr(rec, f) for f in CATEGORY_FIELDS}
        row = existing.get(rec.key)
        if row is None:
            session.add(Category(**values))
            created += 1
        elif _apply(row, values):
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return created, updated, unchanged


def _seed_units(session: Session, units: Sequence[UnitRecord]) -> tuple[int, int, int]:
    codes = [u.code for u in units]
    existing = {g.code: g for g in session.scalars(select(GridUnit).where(GridUnit.code.in_(codes)))}
    created = updated = unchanged = 0
    for level in sorted({u.level for u in units}):
        for rec in (u for u in units if u.level == level):
            parent_id = existing[rec.parent_code].id if rec.parent_code else None
            values = {
                "name": rec.name,
                "level": rec.level,
                "kind": rec.kind,
                "parent_id": parent_id,
                "polygon": dict(rec.geometry),
                "center_lon": rec.center_lon,
                "center_lat": rec.center_lat,
                "synthetic": rec.synthetic,
                "verified": rec.verified,
                "source": unit_source_text(rec),
            }
            row = existing.get(rec.code)
            if row is None:
                row = GridUnit(code=rec.code, **values)
                session.add(row)
                existing[rec.code] = row
                created += 1
            elif _apply(row, values):
                updated += 1
            else:
                unchanged += 1
        session.flush()  # parents get their ids before the next level
    return created, updated, unchanged


def _serialise(session: Session) -> None:
    """Make concurrent seeders run one after another, so the later one sees the earlier's rows.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: ``hotline.database`` opens
    every transaction with ``BEGIN IMMEDIATE``, which already takes the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


def seed_sample(
    session: Session,
    *,
    categories: Iterable[CategoryRecord] | None = None,
    units: Iterable[UnitRecord] | None = None,
) -> SeedReport:
    """Load categories and grid units idempotently; returns what was created/updated.

    Defaults to the packaged sample data. Opens and commits its own transaction on an
    idle session; inside an open transaction it uses a SAVEPOINT and leaves the commit
    to the caller. Any error rolls back everything this call wrote.
    """
    cats = list(load_categories() if categories is None else categories)
    grid = list(load_sample_grid() if units is None else units)
    _check_categories(cats)
    _check_units(grid)
    ctx = session.begin_nested() if session.in_transaction() else session.begin()
    with ctx:
        _serialise(session)
        c = _seed_categories(session, cats)
        u = _seed_units(session, grid)
    report = SeedReport(*c, *u)
    log.info("sample data seeded: %s", report.summary_en())
    return report
