"""Duplicate proposals at intake (research §2.3 practice, FixMyStreet-style nearby search).

A new report is probably a duplicate of an *open* ticket of the same category (when
``rules.duplicates.same_category``) created within ``window_days`` and

* with a point: lying within ``radius_metres`` (great-circle distance, haversine);
* without a point: in the same community (社区/村), or — when the community is unknown —
  the same street office (街道/乡镇).

Candidates are ranked by distance (point matches first), then newest first. Nothing is
merged here: the agent confirms with the workflow's ``merge`` action (``perform``), which
closes the child and subscribes its caller to the parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, literal_column, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hotline.cases.models import Ticket
from hotline.cases.workflow import OPEN_STATES

__all__ = ["DuplicateCandidate", "haversine_metres", "find_duplicates", "duplicates_of"]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
_OPEN = sorted(s.value for s in OPEN_STATES)


@dataclass(frozen=True)
class DuplicateCandidate:
    ticket: Any                # a row of ``Ticket`` columns: id, number, state, category_name, address,
    #                            lat, lon, created_at
    distance_m: float | None   # None when matched by community/street
    matched_by: str            # "point" | "community" | "street"

    @property
    def reason(self) -> str:
        if self.matched_by == "point":
            return f"同类问题，相距约 {self.distance_m:.0f} 米"
        return "同类问题，位于同一社区" if self.matched_by == "community" else "同类问题，位于同一街道"


def haversine_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# What a proposal shows (and ranks by): plain columns, no ORM objects. ``DuplicateCandidate.ticket``
# is such a row; it has the attributes of a ``Ticket`` that proposals use.
_T = Ticket.__table__.c
_COLUMNS = (_T.id, _T.number, _T.state, _T.category_name, _T.address, _T.lat, _T.lon, _T.created_at)


# The open states are constants (enum values): written into the SQL, not expanded per execution.
assert all(s.isidentifier() for s in _OPEN)
_IS_OPEN = _T.state.in_([literal_column(f"'{s}'") for s in _OPEN])


def _statement(by: str, same_category: bool, with_kind: bool, excluded: int):
    """The candidate query for one shape of search, built once (bind parameters carry the values).
    ``excluded``: how many ticket ids are left out (0, 1 or more)."""
    key = (by, same_category, with_kind, min(excluded, 2))
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        conditions = [_IS_OPEN, _T.created_at >= bindparam("since"), _T.created_at <= bindparam("until")]
        if excluded == 1:
            conditions.append(_T.id != bindparam("exclude_id"))
        elif excluded > 1:
            conditions.append(_T.id.not_in(bindparam("exclude", expanding=True)))
        if same_category:
            conditions.append(_T.category_code == bindparam("category_code"))
            if with_kind:
                conditions.append(_T.category_kind == bindparam("category_kind"))
        if by == "point":
            conditions += [_T.lat.between(bindparam("lat_min"), bindparam("lat_max")),
                           _T.lon.between(bindparam("lon_min"), bindparam("lon_max"))]
            # the newest candidates in the box; the exact distance is computed in Python
            stmt = (select(*_COLUMNS).where(*conditions)
                    .order_by(_T.created_at.desc()).limit(bindparam("box_limit")))
        else:
            column = _T.community_code if by == "community" else _T.street_code
            stmt = (select(*_COLUMNS).where(*conditions, column == bindparam("area"))
                    .order_by(_T.created_at.desc()).limit(bindparam("limit")))
        _STATEMENTS[key] = stmt
    return stmt


_STATEMENTS: dict[tuple, object] = {}
# At most this many candidates from the bounding box are measured (newest first).
BOX_LIMIT = 200


def find_duplicates(
    session: Session | Connection, *, category_code: str | None, category_kind: str | None,
    lat: float | None, lon: float | None, community_code: str | None, street_code: str | None,
    at: datetime, radius_metres: float = 250, window_days: int = 30, same_category: bool = True,
    exclude_ids: tuple[int, ...] = (), limit: int = 10, since: datetime | None = None,
) -> list[DuplicateCandidate]:
    """Open tickets created in ``[since or at - window_days, at]`` that may describe the same problem.

    One query (a session's or a plain connection's); the candidates' ``ticket`` are rows."""
    since = since if since is not None else at - timedelta(days=window_days)
    if same_category and not category_code:
        return []
    params = {"since": since, "until": at, "category_code": category_code, "category_kind": category_kind}
    if len(exclude_ids) == 1:
        params["exclude_id"] = exclude_ids[0]
    elif exclude_ids:
        params["exclude"] = list(exclude_ids)
    with_kind = bool(category_kind)
    excluded = len(exclude_ids)

    found: list[DuplicateCandidate] = []
    if lat is not None and lon is not None:
        # Bounding box in SQL (indexes stay simple), exact distance in Python.
        dlat = math.degrees(radius_metres / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        params.update(lat_min=lat - dlat, lat_max=lat + dlat, lon_min=lon - dlon, lon_max=lon + dlon,
                      box_limit=BOX_LIMIT)
        for row in session.execute(_statement("point", same_category, with_kind, excluded), params):
            d = haversine_metres(lat, lon, row.lat, row.lon)
            if d <= radius_metres:
                found.append(DuplicateCandidate(row, d, "point"))
    else:
        by, code = (("community", community_code) if community_code
                    else ("street", street_code) if street_code else (None, None))
        if by is not None:
            params.update(area=code, limit=limit)
            found = [DuplicateCandidate(row, None, by)
                     for row in session.execute(_statement(by, same_category, with_kind, excluded), params)]
    found.sort(key=lambda c: (c.distance_m if c.distance_m is not None else math.inf,
                              -c.ticket.created_at.timestamp(), -c.ticket.id))
    return found[:limit]


def duplicates_of(session: Session, ticket: Ticket, *, rules=None, at: datetime | None = None,
                  limit: int = 10) -> list[DuplicateCandidate]:
    """Candidates for a stored ticket: open tickets created from ``window_days`` before it until ``at``."""
    cfg = getattr(rules, "duplicates", None)
    window = getattr(cfg, "window_days", 30)
    at = max(at, ticket.created_at) if at is not None else ticket.created_at
    return find_duplicates(
        session, category_code=ticket.category_code, category_kind=ticket.category_kind,
        lat=ticket.lat, lon=ticket.lon, community_code=ticket.community_code, street_code=ticket.street_code,
        at=at, since=ticket.created_at - timedelta(days=window),
        radius_metres=getattr(cfg, "radius_metres", 250), window_days=window,
        same_category=getattr(cfg, "same_category", True), exclude_ids=(ticket.id,), limit=limit)
