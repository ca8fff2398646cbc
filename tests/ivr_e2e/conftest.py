"""Fixtures of the IVR end-to-end tests (helpers in ivr_e2e_support.py)."""

from __future__ import annotations

import pytest
from ivr_e2e_support import ROOT, make_running

from hotline.rules import load_rules


@pytest.fixture(scope="session")
def shipped_rules():
    return load_rules(ROOT / "routing_rules.yaml")


@pytest.fixture
def running(db_factory, tmp_path, shipped_rules):
    """``async with running(open_now=True, agents=AGENTS) as pbx``: a started telephony service."""
    return make_running(db_factory, tmp_path, shipped_rules)


@pytest.fixture(scope="session")
def rules_data() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "routing_rules.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def make_rules(rules_data):
    """Rules from the shipped file after ``edit(data)``."""
    import copy

    import yaml

    from hotline.rules import parse_rules

    def make(edit=None):
        data = copy.deepcopy(rules_data)
        if edit:
            edit(data)
        rules, issues = parse_rules(yaml.safe_dump(data, allow_unicode=True))
        assert rules is not None, [str(i) for i in issues]
        return rules

    return make
