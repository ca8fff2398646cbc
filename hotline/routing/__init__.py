"""Case routing: category + place → street office + department, with its explanation.

>>> router = Router(rules, GridIndex.from_units(load_sample_grid()), load_categories())
>>> router.route("06001", lon=118.9556, lat=42.2696).to_json()
"""

from .decision import NoTerritoryError, RoutingDecision, RoutingError, StageLimit, OrgUnit
from .service import CategoryInfo, Router

__all__ = ["CategoryInfo", "NoTerritoryError", "Router", "RoutingDecision", "RoutingError", "StageLimit", "OrgUnit"]
