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
