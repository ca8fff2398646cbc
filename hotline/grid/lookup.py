"""Grid lookup: WGS-84 point → smallest grid unit, and address text → grid unit by name.

>>> index = GridIndex.from_units(load_sample_grid())
>>> index.locate_point(118.9556, 42.2696).codes      # ('150402', '150402001', '150402001001')
>>> index.locate_address("红山区西屯街道和平社区").status   # 'matched'

The index is an immutable snapshot: one shapely ``STRtree`` per level over the units that have
a polygon (queried deepest level first) plus a name table. :meth:`GridIndex.rebuild` builds a
new snapshot and swaps it in atomically, so concurrent lookups always see one whole grid.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

LEVEL_NAMES = {1: "district", 2: "street", 3: "community", 4: "grid"}

# Suffixes stripped to get a unit's base name, longest first, and the variants a caller may
# say instead (e.g. 西屯街道 ↔ 西屯街道办事处 ↔ 西屯街道办; 和平社区 ↔ 和平社区居委会).
_SUFFIXES = ("街道筹备处", "街道办事处", "满族乡", "蒙古族乡", "街道", "社区", "嘎查", "苏木",
             "镇", "乡", "村", "区", "旗", "县")
_VARIANTS = {
    1: ("区", "旗", "县"),
    2: ("街道", "街道办事处", "街道办", "镇", "镇政府", "乡", "乡政府", "苏木"),
    3: ("社区", "社区居委会", "居委会", "村", "村委会", "嘎查"),
    4: (),
}
EXACT, VARIANT, BASE = 3, 2, 1   # quality of a name match
# A bare base name followed by one of these names a road or a place, not the unit (幸福路, 长青街).
_NOT_A_UNIT_AFTER = ("路", "街", "大街", "道", "巷", "胡同", "桥", "广场", "公园", "市场", "小区", "大厦")


class UnitLike(Protocol):
    """What the index needs from a unit (``UnitRecord`` has it)."""

    code: str
    name: str
    level: int
    parent_code: str | None
    kind: str
    geometry: Mapping[str, Any] | None


@dataclass(frozen=True)
class StoredUnit:
    """A ``grid_units`` row as the index needs it (see :func:`load_units`)."""

    code: str
    name: str
    level: int
    parent_code: str | None
    kind: str
    geometry: Mapping[str, Any] | None


def load_units(session: Any) -> list[StoredUnit]:
    """Every ``GridUnit`` row with its parent's code, for :meth:`GridIndex.from_loader`."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from hotline.grid.models import GridUnit

    parent = aliased(GridUnit)
    rows = session.execute(
        select(GridUnit.code, GridUnit.name, GridUnit.level, parent.code, GridUnit.kind, GridUnit.polygon)
        .outerjoin(parent, GridUnit.parent_id == parent.id).order_by(GridUnit.code)
    )
    return [StoredUnit(*row) for row in rows]


class GridLookupError(ValueError):
    """The units given to the index are inconsistent, or a lookup argument is invalid."""


@dataclass(frozen=True)
class UnitRef:
    code: str
    name: str
    level: int
    kind: str


@dataclass(frozen=True)
class Placement:
    """Where a place lies: ``chain`` runs from the district down to ``unit`` (the smallest)."""

    chain: tuple[UnitRef, ...]

    @property
    def unit(self) -> UnitRef:
        return self.chain[-1]

    def at_level(self, level: int) -> UnitRef | None:
        return next((u for u in self.chain if u.level == level), None)

    @property
    def district(self) -> UnitRef | None:
        return self.at_level(1)

    @property
    def street(self) -> UnitRef | None:
        return self.at_level(2)

    @property
    def community(self) -> UnitRef | None:
        return self.at_level(3)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(u.code for u in self.chain)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.chain)

    def label(self) -> str:
        """``红山区 › 西屯街道 › 和平社区（150402001001）``."""
        return " › ".join(self.names) + f"（{self.unit.code}）"

    def contains(self, other: Placement) -> bool:
        """Whether ``other`` lies in (or is) this placement's unit."""
        return self.unit.code in other.codes


@dataclass(frozen=True)
class AddressMatch:
    """Result of :meth:`GridIndex.locate_address`.

    ``status`` is ``matched`` (``placement`` set), ``ambiguous`` (``candidates`` lists the
    equally good units) or ``none``. ``terms`` are the names found in the text.
    """

    status: Literal["matched", "ambiguous", "none"]
    placement: Placement | None = None
    candidates: tuple[Placement, ...] = ()
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Alias:
    text: str
    quality: int
    code: str


@dataclass(frozen=True)
class _Level:
    """One STRtree per level: most points are answered by one query on the deepest level."""

    tree: STRtree
    placements: list[Placement]      # by tree index
    rank: list[int]                  # by tree index: position in code order (boundary tie-break)


@dataclass(frozen=True)
class _Snapshot:
    levels: tuple[_Level, ...]       # deepest level first
    by_code: dict[str, Placement]
    aliases: dict[str, tuple[_Alias, ...]]   # by their text
    alias_lengths: tuple[int, ...]
    unit_count: int
    version: int = field(default=0)


def _base_name(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _aliases(unit: UnitRef) -> list[_Alias]:
    found: dict[str, int] = {unit.name: EXACT}
    base = _base_name(unit.name)
    if base != unit.name:
        for suffix in _VARIANTS.get(unit.level, ()):
            found.setdefault(base + suffix, VARIANT)
        if unit.level <= 2 or len(base) >= 3:   # 和平, 幸福 alone are too common to mean a community
            found.setdefault(base, BASE)
    return [_Alias(text, quality, unit.code) for text, quality in found.items()]


def _normalise(text: str) -> str:
    return "".join(text.split())


def _build(units: Iterable[UnitLike], version: int) -> _Snapshot:
    units = list(units)
    refs: dict[str, UnitRef] = {}
    parents: dict[str, str | None] = {}
    problems: list[str] = []
    for u in units:
        code = str(u.code)
        if code in refs:
            problems.append(f"duplicate unit code {code}")
            continue
        if not isinstance(u.level, int) or u.level not in LEVEL_NAMES:
            problems.append(f"unit {code}: level {u.level!r} is not 1-4")
            continue
        if not str(u.name).strip():
            problems.append(f"unit {code}: empty name")
            continue
        refs[code] = UnitRef(code, str(u.name).strip(), u.level, str(u.kind))
        parents[code] = None if u.parent_code is None else str(u.parent_code)
    by_code: dict[str, Placement] = {}
    for code, ref in refs.items():
        chain = [ref]
        seen = {code}
        parent = parents[code]
        while parent is not None:
            if parent not in refs:
                problems.append(f"unit {code}: unknown parent {parent}")
                break
            if parent in seen:
                problems.append(f"unit {code}: parent chain loops")
                break
            if refs[parent].level >= chain[-1].level:
                problems.append(f"unit {chain[-1].code}: parent {parent} is not a higher level")
                break
            seen.add(parent)
            chain.append(refs[parent])
            parent = parents[parent]
        by_code[code] = Placement(tuple(reversed(chain)))
    per_level: dict[int, list[tuple[str, Any]]] = {}
    with_shape = [(u.level, str(u.code), u.geometry) for u in units
                  if u.geometry is not None and str(u.code) in by_code]
    for (level, code, _), geom in zip(with_shape, _shapes([g for _, _, g in with_shape], problems,
                                                           [c for _, c, _ in with_shape])):
        if geom is not None:
            per_level.setdefault(level, []).append((code, geom))
    if problems:
        shown = "; ".join(problems[:20]) + (f"; … {len(problems) - 20} more" if len(problems) > 20 else "")
        raise GridLookupError(f"invalid grid: {shown}")
    levels = []
    for level in sorted(per_level, reverse=True):
        items = per_level[level]
        geoms = [g for _, g in items]
        order = sorted(range(len(items)), key=lambda i: items[i][0])
        rank = [0] * len(items)
        for position, i in enumerate(order):
            rank[i] = position
        shapely.prepare(geoms)   # prepare up front: lazy preparation from several threads would race
        levels.append(_Level(STRtree(geoms), [by_code[c] for c, _ in items], rank))
    aliases: dict[str, list[_Alias]] = {}
    for p in by_code.values():
        for a in _aliases(p.unit):
            aliases.setdefault(a.text, []).append(a)
    return _Snapshot(tuple(levels), by_code, {k: tuple(v) for k, v in aliases.items()},
                     tuple(sorted({len(k) for k in aliases})), len(refs), version)


_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def _shapes(geometries: list[Any], problems: list[str], codes: list[str]) -> list[Any]:
    """Shapely geometries for GeoJSON mappings (or shapely geometries), checked in bulk.

    Bad entries are reported in ``problems`` and come back as ``None``.
    """
    out: list[Any] = [None] * len(geometries)
    done: set[int] = set()
    # Fast path: simple GeoJSON polygons (one ring) built in two vectorised GEOS calls.
    simple = [i for i, g in enumerate(geometries) if isinstance(g, Mapping) and g.get("type") == "Polygon"
              and isinstance(g.get("coordinates"), list) and len(g["coordinates"]) == 1]
    try:
        coords: list[Any] = []
        index: list[int] = []
        for k, i in enumerate(simple):
            ring = geometries[i]["coordinates"][0]
            coords.extend(ring)
            index.extend([k] * len(ring))
        if simple:
            rings = shapely.linearrings(np.asarray(coords, dtype=float), indices=np.asarray(index))
            for i, g in zip(simple, shapely.polygons(rings).tolist()):
                out[i] = g
            done = set(simple)
    except Exception:   # malformed coordinates somewhere: the slow path names the unit
        out = [None] * len(geometries)
        done = set()
    for i, g in enumerate(geometries):
        if i in done:
            continue
        if isinstance(g, BaseGeometry):
            out[i] = g
            continue
        try:
            out[i] = shapely.from_geojson(json.dumps(g)) if isinstance(g, Mapping) else shape(g)
        except Exception as exc:  # GEOS and shapely raise several types for bad GeoJSON
            problems.append(f"unit {codes[i]}: bad geometry: {exc}")
    present = [i for i, g in enumerate(out) if g is not None]
    arr = np.array([out[i] for i in present], dtype=object)
    if len(arr):
        ok = (np.isin(shapely.get_type_id(arr), [int(t) for t in _POLYGONAL])
              & ~shapely.is_empty(arr) & shapely.is_valid(arr))
        for i, good in zip(present, ok.tolist()):
            if not good:
                problems.append(f"unit {codes[i]}: geometry must be a valid, non-empty (Multi)Polygon")
                out[i] = None
    return out


class GridIndex:
    """Point and address lookup over a grid; see the module docstring."""

    def __init__(self, units: Iterable[UnitLike], *, loader: Callable[[], Iterable[UnitLike]] | None = None):
        self._lock = threading.Lock()
        self._loader = loader
        self._snap = _build(units, 1)

    @classmethod
    def from_units(cls, units: Iterable[UnitLike]) -> GridIndex:
        return cls(units)

    @classmethod
    def from_loader(cls, loader: Callable[[], Iterable[UnitLike]]) -> GridIndex:
        """An index whose :meth:`rebuild` (without arguments) calls ``loader`` again."""
        return cls(loader(), loader=loader)

    @classmethod
    def from_database(cls, session_factory: Callable[[], Any]) -> GridIndex:
        """An index over the ``grid_units`` table; :meth:`rebuild` re-reads it."""

        def loader() -> list[StoredUnit]:
            with session_factory() as session:
                return load_units(session)

        return cls.from_loader(loader)

    def rebuild(self, units: Iterable[UnitLike] | None = None) -> None:
        """Replace the grid; lookups running meanwhile finish on the old one.

        Without ``units`` the index's loader is called again. An invalid grid raises
        :class:`GridLookupError` and the current grid stays in use.
        """
        if units is None:
            if self._loader is None:
                raise GridLookupError("rebuild() needs units: this index was built without a loader")
            units = self._loader()
        with self._lock:
            self._snap = _build(units, self._snap.version + 1)

    @property
    def version(self) -> int:
        """Incremented by every successful :meth:`rebuild`."""
        return self._snap.version

    def __len__(self) -> int:
        return self._snap.unit_count

    def unit(self, code: str) -> Placement | None:
        """The placement of a unit by code (``None`` if unknown)."""
        return self._snap.by_code.get(code)

    # --- points -------------------------------------------------------------------------------

    def locate_point(self, lon: float, lat: float) -> Placement | None:
        """The smallest unit whose polygon covers the point (boundary included), or ``None``.

        A point on a boundary shared by units of the same level goes to the smaller code.
        """
        if not (isinstance(lon, (int, float)) and isinstance(lat, (int, float))
                and math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise GridLookupError(f"not a WGS-84 point: lon={lon!r}, lat={lat!r}")
        point = shapely.Point(lon, lat)
        for level in self._snap.levels:
            hits = level.tree.query(point, predicate="intersects")
            if len(hits) == 1:
                return level.placements[hits[0]]
            if len(hits):
                return level.placements[min(hits.tolist(), key=level.rank.__getitem__)]
        return None

    # --- addresses ------------------------------------------------------------------------------

    def locate_address(self, text: str) -> AddressMatch:
        """Find grid units named in free address text.

        Names are matched in full, with common suffix variants (西屯街道办事处, 和平社区居委会)
        or without the suffix (西屯, 红山). A name inside a longer matched name does not count.
        Each named unit scores the names found along its own district → unit chain; the unit
        with the best score wins (units only named as the parent of a better match drop out).
        Equal best scores → ``ambiguous``.
        """
        if not isinstance(text, str):
            raise GridLookupError(f"address must be text, got {type(text).__name__}")
        norm = _normalise(text)
        snap = self._snap
        if not norm:
            return AddressMatch("none")
        hits: list[tuple[int, int, _Alias]] = []
        table = snap.aliases
        for start in range(len(norm)):   # dictionary probes: cost depends on the text, not the grid
            for length in snap.alias_lengths:
                end = start + length
                if end > len(norm):
                    break
                for alias in table.get(norm[start:end], ()):
                    if not (alias.quality == BASE and norm.startswith(_NOT_A_UNIT_AFTER, end)):
                        hits.append((start, end, alias))
        # Drop matches strictly inside a longer match (平庄 inside 平庄西城街道).
        spans = {(s, e) for s, e, _ in hits}
        kept = [(s, e, a) for s, e, a in hits
                if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2 in spans)]
        quality: dict[str, int] = {}
        spans_of: dict[str, set[tuple[int, int]]] = {}
        terms: dict[str, None] = {}
        for s, e, alias in sorted(kept, key=lambda h: h[0]):
            quality[alias.code] = max(quality.get(alias.code, 0), alias.quality)
            spans_of.setdefault(alias.code, set()).add((s, e))
            terms[norm[s:e]] = None
        if not quality:
            return AddressMatch("none")

        def context(ancestor: str, code: str) -> bool:
            """``ancestor`` is named by words of its own, not only by ``code``'s words (元宝山)."""
            return ancestor in quality and bool(spans_of[ancestor] - spans_of[code])

        named = set(quality)
        # A named unit that is an ancestor of another named unit is only context for it.
        ancestors = {c for code in named for c in snap.by_code[code].codes[:-1] if context(c, code)}
        scored = []
        for code in named - ancestors:
            chain = snap.by_code[code].codes
            parts = [c for c in chain[:-1] if context(c, code)] + [code]
            score = (len(parts), sum(quality[c] for c in parts))
            scored.append((score, code))
        best = max(score for score, _ in scored)
        winners = sorted(code for score, code in scored if score == best)
        if len(winners) == 1:
            return AddressMatch("matched", snap.by_code[winners[0]], (), tuple(terms))
        return AddressMatch("ambiguous", None, tuple(snap.by_code[c] for c in winners), tuple(terms))
