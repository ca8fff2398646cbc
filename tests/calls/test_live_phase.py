"""The phase /api/calls/live shows for a call in progress (hotline.calls.schemas.phase_of)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hotline.calls.schemas import phase_of as _phase
from ivr.events import CallSnapshot, Transfer, TransferResult

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def district(s: float, result: TransferResult) -> Transfer:
    return Transfer(at(s), "district:150403", "district_line", result, "", "150403")


@pytest.mark.parametrize("snap, phase", [
    (CallSnapshot(call_id="a", started_at=at(0)), "ivr"),
    (CallSnapshot(call_id="b", queue="agents", queue_joined_at=at(5)), "queue"),
    (CallSnapshot(call_id="c", queue="agents", queue_joined_at=at(5), agent_answered_at=at(9)), "agent"),
    (CallSnapshot(call_id="d", transfers=[district(6, TransferResult.PENDING)]), "transferring"),
    # issue 14: a caller bridged to a district line showed "ivr"
    (CallSnapshot(call_id="e", transfers=[district(6, TransferResult.ANSWERED)]), "district"),
    # the agent transferred the caller to the district (console transfer)
    (CallSnapshot(call_id="f", queue_joined_at=at(5), agent_answered_at=at(9),
                  transfers=[district(30, TransferResult.ANSWERED)]), "district"),
    # the line was busy, the caller fell back to the queue and an agent answered
    (CallSnapshot(call_id="g", queue_joined_at=at(8), agent_answered_at=at(12),
                  transfers=[district(6, TransferResult.BUSY)]), "agent"),
    (CallSnapshot(call_id="h", queue_joined_at=at(8), transfers=[district(6, TransferResult.NO_ANSWER)]), "queue"),
    (CallSnapshot(call_id="i", transfers=[Transfer(at(6), "s@elsewhere", "blind", TransferResult.ANSWERED)]),
     "transferred"),
])
def test_phase(snap, phase):
    assert _phase(snap) == phase
