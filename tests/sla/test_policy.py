"""Stage time limits chosen from routing_rules.yaml by the ticket's routing and priority."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hotline.config import PROJECT_ROOT
from hotline.rules import load_rules
from hotline.sla.deadlines import Stage, TimeUnit
from hotline.sla.policy import stage_policy_from_rules


@pytest.fixture(scope="module")
def policy():
    return stage_policy_from_rules(load_rules(PROJECT_ROOT / "routing_rules.yaml"))


def t(set_name=None, priority="normal"):
    return SimpleNamespace(routing={"time_limit_set": set_name} if set_name else None, priority=priority)


def test_set_and_priority_choose_the_limit(policy):
    assert policy(t("standard"), "签收") == Stage("签收", 1, TimeUnit.WORKING_DAYS)
    assert policy(t("standard", "urgent"), "处置") == Stage("处置", 4, TimeUnit.WORKING_HOURS)
    assert policy(t("emergency"), "处置") == Stage("处置", 24, TimeUnit.NATURAL_HOURS)


def test_priority_without_its_own_list_uses_normal(policy):
    assert policy(t("consultation", "urgent"), "处置") == Stage("处置", 2, TimeUnit.WORKING_DAYS)


def test_multi_stage_disposal_runs_to_the_last_sub_stage(policy):
    assert policy(t("illegal-building"), "处置") == Stage("处置", 20, TimeUnit.WORKING_DAYS)


def test_unknown_or_missing_set_uses_the_fallback_and_unlisted_stage_has_none(policy):
    rules = load_rules(PROJECT_ROOT / "routing_rules.yaml")
    fb = rules.time_limits[rules.routing.fallback.time_limits].normal
    expected = next(s for s in fb if s.stage == "签收")
    assert policy(t(None), "签收") == Stage("签收", float(expected.amount), TimeUnit(expected.unit.value))
    assert policy(t("no-such-set"), "签收") == policy(t(None), "签收")
    assert policy(t("standard"), "核查") is None
