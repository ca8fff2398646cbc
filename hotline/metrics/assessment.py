"""考核: 综合得分, 评价等级 and 排名 of districts, streets and departments (pure).

CJ/T 292 names a 综合指标值 with a 评价等级 and a 排名 for every evaluated object, but its weights
and grade limits were not retrievable (civic-research §1.7, §7): the ones below are this
project's local defaults, kept in one table so an operator can change them. The score is a
weighted mean of indicators on a 0–100 scale; an indicator a unit has no data for (nothing was
due, nobody was called back) is left out and the remaining weights count proportionally, so a
unit is never punished or rewarded for a figure that does not exist. "Lower is better"
indicators (返工率) count as ``1 − rate``. Units with the same score share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Hashable, Mapping, TypeVar

from hotline.metrics.definitions import DEFINITIONS

__all__ = ["WEIGHTS", "RATINGS", "Assessed", "score", "rating", "assess"]

#: indicator (definition key) → weight (points of 100)
WEIGHTS: Mapping[str, float] = {
    "on_time_handle_rate": 30,   # 按期处置率
    "on_time_close_rate": 30,    # 按期结案率
    "satisfaction_rate": 20,     # 满意率
    "close_rate": 10,            # 结案率
    "rework_rate": 10,           # 返工率 (counts as 1 − 返工率)
}
#: lowest score of each grade, best first
RATINGS: tuple[tuple[float, str], ...] = ((90.0, "优秀"), (80.0, "良好"), (60.0, "合格"), (0.0, "不合格"))

K = TypeVar("K", bound=Hashable)


def score(figures: Any, weights: Mapping[str, float] = WEIGHTS) -> float | None:
    """The weighted score (0–100) of an object with the indicator attributes, or None without data."""
    total = weight_sum = 0.0
    for key, weight in weights.items():
        value = getattr(figures, key)
        if value is None or weight <= 0:
            continue
        if DEFINITIONS[key].lower_is_better:
            value = 1.0 - value
        total += weight * value
        weight_sum += weight
    if not weight_sum:
        return None
    return round(100.0 * total / weight_sum, 2)


def rating(points: float | None) -> str:
    if points is None:
        return "—"
    for floor, name in RATINGS:
        if points >= floor:
            return name
    return RATINGS[-1][1]


@dataclass(frozen=True)
class Assessed(Generic[K]):
    key: K
    figures: Any
    score: float | None
    rank: int | None
    rating: str


def assess(groups: Mapping[K, Any], weights: Mapping[str, float] = WEIGHTS) -> list[Assessed[K]]:
    """Score and rank every group, best first; groups without a score come last, unranked."""
    scored = [(key, figures, score(figures, weights)) for key, figures in groups.items()]
    scored.sort(key=lambda item: (item[2] is None, -(item[2] or 0.0), str(item[0])))
    out: list[Assessed[K]] = []
    previous: float | None = None
    rank = 0
    for position, (key, figures, points) in enumerate(scored, start=1):
        if points is None:
            out.append(Assessed(key, figures, None, None, rating(None)))
            continue
        if points != previous:
            rank, previous = position, points
        out.append(Assessed(key, figures, points, rank, rating(points)))
    return out
