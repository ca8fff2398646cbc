"""joinempty / leavewhenempty parse and decide as app_queue does."""

from __future__ import annotations

import pytest

from ivr.simulator.queues import empty_conditions


@pytest.mark.parametrize(("value", "join", "expected"), [
    ("yes", True, set()),                                   # legacy: callers may join an empty queue
    ("no", True, {"penalty", "invalid", "paused"}),
    ("yes", False, {"penalty", "invalid", "paused"}),       # leavewhenempty = yes
    ("no", False, set()),
    (None, True, set()),
    ("paused,unavailable,invalid", True, {"paused", "unavailable", "invalid"}),
    ("loose", False, {"penalty", "invalid"}),
    ("strict", True, {"penalty", "invalid", "paused", "unavailable"}),
    ("inuse, ringing ,wrapup", True, {"inuse", "ringing", "wrapup"}),
    ("bogus", True, set()),
])
def test_empty_conditions(value, join, expected):
    assert empty_conditions(value, joinempty=join) == expected
