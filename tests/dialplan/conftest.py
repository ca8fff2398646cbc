from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hotline.rules import Rules, load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "routing_rules.yaml"


@pytest.fixture(scope="session")
def shipped_rules() -> Rules:
    return load_rules(RULES_FILE)


@pytest.fixture(scope="session")
def rules_data() -> dict:
    return yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def make_rules(rules_data):
    """Rules from the shipped file after ``edit(data)``; ``checked=False`` skips the reference checks."""

    def make(edit=None, *, checked: bool = True) -> Rules:
        data = copy.deepcopy(rules_data)
        if edit:
            edit(data)
        if not checked:
            return Rules.model_validate(data)
        rules, issues = parse_rules(yaml.safe_dump(data, allow_unicode=True))
        assert rules is not None, [str(i) for i in issues]
        return rules

    return make
