"""Fixtures of the AMI tests."""

from __future__ import annotations

import logging

import pytest

from ivr.log_limit import RepeatLimit


@pytest.fixture(autouse=True)
def _fresh_log_limits():
    """Every test starts with the AMI protocol's log budget unspent: the malformed input of one
    test (test_fast_paths feeds plenty) must not silence the warnings another test expects."""
    for f in logging.getLogger("ivr.ami.protocol").filters:
        if isinstance(f, RepeatLimit):
            f._sites.clear()
    yield
