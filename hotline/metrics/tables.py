"""The tables report pages show and exports write: one :class:`Table` feeds both, so a
download holds exactly what the page showed.

A row is a dict of raw values (counts, fractions for rates, seconds for durations, text);
:func:`cell_text` formats a value the way staff read it (``95.2%``, ``2分05秒``, ``—`` for no
data). Links of a row (drill-down, ticket list) are kept apart in ``Row.links``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from hotline.metrics.definitions import DEFINITIONS, Unit
from hotline.web.pages import duration_text

__all__ = ["Column", "Row", "Table", "col", "text_col", "cell_text"]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: Unit = Unit.TEXT
    small: bool = False        # shown in small print (a code beside its name)
    mono: bool = False         # a ticket number: monospace, copyable
    hint: str = ""             # the definition, as a tooltip

    @property
    def numeric(self) -> bool:
        return self.unit is not Unit.TEXT


def col(key: str, label: str | None = None) -> Column:
    """A column of a defined figure (header and unit from :mod:`~hotline.metrics.definitions`)."""
    d = DEFINITIONS[key]
    return Column(key, label or d.label, d.unit, hint=d.formula)


def text_col(key: str, label: str, *, small: bool = False, mono: bool = False) -> Column:
    return Column(key, label, Unit.TEXT, small=small, mono=mono)


@dataclass
class Row:
    values: dict[str, Any]
    links: dict[str, str] = field(default_factory=dict)
    current: bool = False      # highlighted (e.g. the district a monthly report is about)

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key)


@dataclass
class Table:
    key: str                   # export name: /reports/export/<key>.csv
    title: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    total: Row | None = None   # 合计 row
    note: str = ""             # what the filters do to this table, where it matters

    def add(self, values: dict[str, Any], links: dict[str, str] | None = None, *, current: bool = False) -> Row:
        row = Row(values, dict(links or {}), current)
        self.rows.append(row)
        return row

    def all_rows(self) -> Iterable[Row]:
        yield from self.rows
        if self.total is not None:
            yield self.total


def cell_text(value: Any, unit: Unit) -> str:
    """A value as staff read it; ``—`` when there is no figure (nothing to divide by)."""
    if value is None or value == "":
        return "—" if unit is not Unit.TEXT else ""
    if unit is Unit.COUNT:
        return f"{int(value)}"
    if unit is Unit.RATE:
        return f"{value * 100:.1f}%"
    if unit is Unit.SECONDS:
        return duration_text(value)
    if unit is Unit.SCORE:
        return f"{value:.2f}"
    return str(value)
