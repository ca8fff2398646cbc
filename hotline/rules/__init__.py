"""Operator routing rules (``routing_rules.yaml``): schema, loader and checks.

>>> rules = load_rules("routing_rules.yaml", categories=..., units=...)   # raises RulesError
>>> issues = check_rules_file("routing_rules.yaml")                       # list[RuleIssue]
"""

from .issues import RuleIssue, RulesError
from .loader import check_rules_file, load_rules, parse_rules, read_category_codes, read_unit_codes
from .schema import SCHEMA_VERSION, Rules

__all__ = [
    "SCHEMA_VERSION", "RuleIssue", "Rules", "RulesError", "check_rules_file", "load_rules",
    "parse_rules", "read_category_codes", "read_unit_codes",
]
