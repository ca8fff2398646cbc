"""The result of routing one case: who handles it, where, how fast — and why."""

from __future__ import annotations

import json
import copy
from dataclasses import dataclass, field, fields
from typing import Any, Literal


class RoutingError(ValueError):
    """The case cannot be routed (unknown category, no territory, invalid input); message in Chinese."""


class NoTerritoryError(RoutingError):
    """Neither the location nor the caller's choice gives a served district (无法确定属地)."""


@dataclass(frozen=True)
class OrgUnit:
    """A grid unit, street office or department named in a decision."""

    code: str
    name: str


@dataclass(frozen=True)
class StageLimit:
    stage: str          # 签收, 处置, 回访, …
    amount: float
    unit: str           # natural_hours | working_hours | working_days


@dataclass(frozen=True)
class RoutingDecision:
    """Where a case goes and why.

    ``lead`` is ``owner`` (the department leads, 先属主后属地) or ``territory`` (the street office —
    or the district when no street is known — leads, 先属地后属主); ``lead_unit`` names that unit and
    ``co_unit`` the other party (territorial fallback, or the department that assists).
    ``place_source`` says how the place was found: ``override``, ``point``, ``address``,
    ``street``/``district`` (codes given by the caller or IVR). ``fallbacks`` are machine-readable
    tags of the fallbacks taken; ``explanation`` is the Chinese text shown to agents, step by step.
    """

    category_code: str
    category_name: str
    kind: Literal["component", "matter"]
    district: OrgUnit
    street: OrgUnit | None
    community: OrgUnit | None
    place_source: str
    responsible_street: OrgUnit | None
    department: OrgUnit
    lead: Literal["owner", "territory"]
    lead_unit: OrgUnit
    co_unit: OrgUnit | None
    priority: str                   # normal | high | urgent
    priority_label: str             # 一般 | 较高 | 紧急
    time_limit_set: str
    time_limit_label: str
    stages: tuple[StageLimit, ...]
    rule_id: str | None             # None: routing.fallback was used
    rule_index: int | None          # 0-based position in routing.rules
    rule_name: str | None
    override: dict[str, Any] | None
    fallbacks: tuple[str, ...] = ()
    explanation: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The same dict as ``dataclasses.asdict`` (field order, tuples kept), built without its
        generic recursion and deep copies: intake calls this for every ticket."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, OrgUnit):
                value = {"code": value.code, "name": value.name}
            elif name == "stages":
                value = tuple({"stage": s.stage, "amount": s.amount, "unit": s.unit} for s in value)
            elif isinstance(value, (dict, list)):
                value = copy.deepcopy(value)
            out[name] = value
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON with Chinese text kept readable (``ensure_ascii=False``)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


_FIELDS = tuple(f.name for f in fields(RoutingDecision))
