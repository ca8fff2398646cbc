"""The call model on other PBXs: six AMI streams recorded on real Asterisk 12–16 servers.

The captures (tests/fixtures/cacofonisk, a copy of ../shared/fixtures/cacofonisk; MIT, from the
cacofonisk project) come from PBXs that are not ours: phones call each other through Local
channels, transfer attended, blonde and blind, pick up a ringing call, and the dialplan changes the
caller ID. The streams were filtered by that project: no ``Newexten`` (as for an AMI user without
the ``dialplan`` read class), no queue events, no CEL. Whatever the PBX does, one conversation is
one citizen call; a staff leg that only served it (a consult call, a pickup) is kept as a row with
disposition ``internal``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivr.replay import replay_bytes

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "cacofonisk"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cacofonisk"
CAPTURES = [
    "simple__ab_success_a_hangup",
    "xfer_attended__xfer_abbcac",
    "xfer_blonde__xfer_blonde_abbcac",
    "queue__queue_attn_xfer",
    "xfer_misc__sip_pickup",
    "xfer_blind__xfer_blind_reject",
]


def replay(name: str):
    # the streams carry no time stamp at all: every event happens "now" (a fixed day)
    return replay_bytes((HERE / f"{name}.ami").read_bytes(),
                        default_time=datetime(2018, 6, 25, 12, 0, tzinfo=timezone.utc))


def only_call(name: str):
    [call] = replay(name)
    return call


def test_the_copy_holds_the_six_captures():
    assert sorted(p.stem for p in HERE.glob("*.ami")) == sorted(CAPTURES)
    for name in CAPTURES:
        assert (HERE / f"{name}.ami").read_bytes().startswith(b"Asterisk Call Manager/2.10.3\r\n")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ not beside the checkout")
def test_the_copy_matches_the_shared_folder():
    ours = {p.name: p.read_bytes() for p in HERE.iterdir() if p.is_file()}
    theirs = {p.name: p.read_bytes() for p in SHARED.iterdir() if p.is_file()}
    assert ours == theirs


def test_the_caller_is_the_number_after_the_dialplan_changed_it():
    c = only_call("simple__ab_success_a_hangup")
    # Newchannel says 150010001 "Local Alice"; the dialplan's NewCallerid makes it 201 "Andrew Garza"
    assert (c.caller, c.caller_name) == ("201", "Andrew Garza")
    assert c.caller_presentation == "allowed"
