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

import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from call_helpers import FakeClock, chan, ev
from ivr.calls import CallTracker
from ivr.events import Disposition, TransferResult
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


def split(name: str):
    calls = replay(name)
    assert all(c.disposition is not None for c in calls), "every call of a capture ends"
    citizen = [c for c in calls if c.disposition is not Disposition.INTERNAL]
    internal = [c for c in calls if c.disposition is Disposition.INTERNAL]
    return citizen, internal


def tail(call_id: str) -> str:
    return call_id.rsplit("-", 1)[-1]


def test_the_copy_holds_the_six_captures():
    assert sorted(p.stem for p in HERE.glob("*.ami")) == sorted(CAPTURES)
    for name in CAPTURES:
        assert (HERE / f"{name}.ami").read_bytes().startswith(b"Asterisk Call Manager/2.10.3\r\n")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ not beside the checkout")
def test_the_copy_matches_the_shared_folder():
    ours = {p.name: p.read_bytes() for p in HERE.iterdir() if p.is_file()}
    theirs = {p.name: p.read_bytes() for p in SHARED.iterdir() if p.is_file()}
    assert ours == theirs


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_is_one_citizen_call(name):
    citizen, _ = split(name)
    assert len(citizen) == 1, [(tail(c.call_id), c.caller, c.disposition) for c in citizen]


def test_the_caller_is_the_number_after_the_dialplan_changed_it():
    c = only_call("simple__ab_success_a_hangup")
    # Newchannel says 150010001 "Local Alice"; the dialplan's NewCallerid makes it 201 "Andrew Garza"
    assert (c.caller, c.caller_name) == ("201", "Andrew Garza")
    assert c.caller_presentation == "allowed"


def test_a_call_answered_through_dial_without_newexten_is_not_abandoned():
    c = only_call("simple__ab_success_a_hangup")
    assert c.answered_at is not None
    [t] = c.transfers
    assert (t.kind, t.result, t.dial_status) == ("dial", TransferResult.ANSWERED, "ANSWER")
    assert c.disposition is Disposition.TRANSFERRED


def test_attended_transfer_is_one_conversation_transferred_to_the_real_target():
    [c], [consult] = split("xfer_attended__xfer_abbcac")
    assert tail(c.call_id) == "1529941338.663"
    assert c.caller == "201"
    attended = [t for t in c.transfers if t.kind == "attended"]
    assert [(t.target, t.result) for t in attended] == [("203", TransferResult.ANSWERED)]
    assert c.disposition is Disposition.TRANSFERRED
    # B's consult call to C is kept, but as a staff leg
    assert tail(consult.call_id) == "1529941342.690"
    assert consult.caller == "202"


def test_blonde_transfer_is_one_conversation_transferred_to_c():
    [c], [consult] = split("xfer_blonde__xfer_blonde_abbcac")
    assert tail(c.call_id) == "1530024929.2709"
    assert c.caller == "+31260010001"
    attended = [t for t in c.transfers if t.kind == "attended"]
    assert [t.target for t in attended] == ["202"]
    # C was still ringing when B let go: A's own dial to C is what answered
    assert c.transfers[-1].result is TransferResult.ANSWERED
    assert c.disposition is Disposition.TRANSFERRED
    assert tail(consult.call_id) == "1530024939.2753"


def test_attended_transfer_after_the_queue_is_one_conversation():
    [c], [consult] = split("queue__queue_attn_xfer")
    assert tail(c.call_id) == "1530022819.2433"
    assert c.caller == "+31260010001"
    assert c.answered_at is not None
    attended = [t for t in c.transfers if t.kind == "attended"]
    assert [(t.target, t.result) for t in attended] == [("SIP/150010002-0000008a", TransferResult.ANSWERED)]
    assert c.disposition is Disposition.TRANSFERRED
    assert tail(consult.call_id) == "1530022836.2474"
    assert consult.caller == "201"


def test_a_pickup_is_one_answered_conversation():
    [c], [pickup] = split("xfer_misc__sip_pickup")
    assert tail(c.call_id) == "1538124863.373"
    assert c.caller == "201"
    assert c.answered_at is not None
    assert c.transfers[-1].result is TransferResult.ANSWERED
    assert c.disposition is Disposition.TRANSFERRED
    # C picked the ringing call up: its own channel was the pickup, not a call of its own
    assert (tail(pickup.call_id), pickup.caller) == ("1538124865.383", "150010003")


def test_a_blind_transfer_rejected_by_the_target_failed(caplog):
    with caplog.at_level(logging.WARNING, logger="ivr.calls"):
        c = only_call("xfer_blind__xfer_blind_reject")
    kinds = [(t.kind, t.result) for t in c.transfers]
    assert kinds == [("dial", TransferResult.ANSWERED), ("blind", TransferResult.ANSWERED),
                     ("dial", TransferResult.NO_ANSWER)]
    assert c.transfers[1].target == "203@osvpi_account_transfer"
    assert c.disposition is Disposition.FAILED
    # the stream has no Newexten: said once, with what to change
    warnings = [r.getMessage() for r in caplog.records if "Newexten" in r.getMessage()]
    assert len(warnings) == 1 and "'dialplan' read class" in warnings[0]


def dial(tracker: CallTracker, c: dict, n: int) -> None:
    line = dict(DestChannel=f"PJSIP/trunk-0000000{n}", DestUniqueid=f"pbx-1.{n}", DestLinkedid="pbx-1.1")
    tracker.feed(ev("DialBegin", **c, **line, DialString="04768220000@trunk"))


def test_newexten_missing_is_told_once_per_connection_and_not_when_the_dialplan_is_seen():
    clock = FakeClock()
    tracker = CallTracker(clock=clock)
    c = chan("PJSIP/trunk-00000001", "pbx-1.1", "pbx-1.1", cid="13912345678")
    tracker.feed(ev("Newchannel", **c))
    tracker.feed(ev("UserEvent", **c, UserEvent="HotlineDistrict", District="150402"))
    dial(tracker, c, 2)                      # a marked dial (as the Twilio source sends): no doubt
    assert not tracker.newexten_missing
    dial(tracker, c, 3)
    assert tracker.newexten_missing
    assert [t.kind for t in tracker.snapshot("pbx-1.1").transfers] == ["district_line", "dial"]
    tracker.begin_resync()                   # a new login: read classes may have changed
    tracker.end_resync()
    assert not tracker.newexten_missing
    tracker.feed(ev("Newchannel", **chan("PJSIP/trunk-00000009", "pbx-9.1", "pbx-9.1")))
    tracker.feed(ev("Newexten", **chan("PJSIP/trunk-00000009", "pbx-9.1", "pbx-9.1"), Application="Answer"))
    c2 = chan("PJSIP/trunk-00000005", "pbx-5.1", "pbx-5.1")
    tracker.feed(ev("Newchannel", **c2))
    tracker.feed(ev("DialBegin", **c2, DestChannel="PJSIP/x-1", DestUniqueid="pbx-5.2", DialString="x"))
    assert not tracker.newexten_missing      # this connection shows the dialplan
