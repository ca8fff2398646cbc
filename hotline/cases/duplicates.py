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

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, defer

from hotline.cases.models import Ticket
from hotline.cases.workflow import OPEN_STATES

__all__ = ["DuplicateCandidate", "haversine_metres", "find_duplicates", "duplicates_of"]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
_OPEN = sorted(s.value for s in OPEN_STATES)


@dataclass(frozen=True)
class DuplicateCandidate:
    ticket: Ticket
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


def _statement(by: str, same_category: bool, with_kind: bool):
    """The candidate query for one shape of search, built once (bind parameters carry the values)."""
    key = (by, same_category, with_kind)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        conditions = [Ticket.state.in_(bindparam("open_states", expanding=True)),
                      Ticket.created_at >= bindparam("since"), Ticket.created_at <= bindparam("until"),
                      Ticket.id.not_in(bindparam("exclude", expanding=True))]
        if same_category:
            conditions.append(Ticket.category_code == bindparam("category_code"))
            if with_kind:
                conditions.append(Ticket.category_kind == bindparam("category_kind"))
        if by == "point":
            conditions += [Ticket.lat.between(bindparam("lat_min"), bindparam("lat_max")),
                           Ticket.lon.between(bindparam("lon_min"), bindparam("lon_max"))]
            # positions of the newest candidates in the box (no ORM objects); the exact
            # distance is computed in Python and only the nearest ``limit`` are loaded
            stmt = (select(Ticket.id, Ticket.lat, Ticket.lon, Ticket.created_at).where(*conditions)
                    .order_by(Ticket.created_at.desc()).limit(bindparam("box_limit")))
        else:
            column = Ticket.community_code if by == "community" else Ticket.street_code
            stmt = (select(Ticket).where(*conditions, column == bindparam("area")).options(*_LIGHT)
                    .order_by(Ticket.created_at.desc()).limit(bindparam("limit")))
        _STATEMENTS[key] = stmt
    return stmt


_STATEMENTS: dict[tuple, object] = {}
# Proposals never need the routing explanation (JSON) or the transcript: not loaded.
_LIGHT = (defer(Ticket.routing), defer(Ticket.transcript))
# At most this many candidates from the bounding box are measured (newest first).
BOX_LIMIT = 200


def find_duplicates(
    session: Session, *, category_code: str | None, category_kind: str | None,
    lat: float | None, lon: float | None, community_code: str | None, street_code: str | None,
    at: datetime, radius_metres: float = 250, window_days: int = 30, same_category: bool = True,
    exclude_ids: tuple[int, ...] = (), limit: int = 10, since: datetime | None = None,
) -> list[DuplicateCandidate]:
    """Open tickets created in ``[since or at - window_days, at]`` that may describe the same problem."""
    since = since if since is not None else at - timedelta(days=window_days)
    if same_category and not category_code:
        return []
    params = {"open_states": _OPEN, "since": since, "until": at, "exclude": list(exclude_ids) or [-1],
              "category_code": category_code, "category_kind": category_kind}
    with_kind = bool(category_kind)

    found: list[DuplicateCandidate] = []
    if lat is not None and lon is not None:
        # Bounding box in SQL (indexes stay simple), exact distance in Python.
        dlat = math.degrees(radius_metres / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        params.update(lat_min=lat - dlat, lat_max=lat + dlat, lon_min=lon - dlon, lon_max=lon + dlon,
                      box_limit=BOX_LIMIT)
        near = []
        for tid, tlat, tlon, created in session.execute(_statement("point", same_category, with_kind), params):
            d = haversine_metres(lat, lon, tlat, tlon)
            if d <= radius_metres:
                near.append((d, -created.timestamp(), -tid, tid))
        near.sort()
        ids = [tid for *_, tid in near[:limit]]
        if ids:
            rows = {t.id: t for t in session.execute(
                select(Ticket).where(Ticket.id.in_(ids)).options(*_LIGHT)).scalars()}
            found = [DuplicateCandidate(rows[tid], d, "point") for d, _, _, tid in near[:limit] if tid in rows]
    else:
        by, code = (("community", community_code) if community_code
                    else ("street", street_code) if street_code else (None, None))
        if by is not None:
            params.update(area=code, limit=limit)
            rows = session.execute(_statement(by, same_category, with_kind), params).scalars()
            found = [DuplicateCandidate(t, None, by) for t in rows]
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
