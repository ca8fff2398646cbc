"""Call records derived from every real Asterisk 20 AMI capture, field by field.

Expected values were read off the captures (see tests/fixtures/asterisk-20):
the calls are AMI Originates into ``Local/...`` channels, so the citizen channel is
the ``;2`` half that runs the dialplan, and ``call_id`` is the Linkedid of the pair
(the Uniqueid of ``;1``). Times are the PBX's own CEL stamps (second resolution);
IVR steps between two stamps are checked against the stamps around them.
"""

from __future__ import annotations

import pytest

from call_helpers import fixture_bytes, utc
from ivr.events import Disposition, TransferResult
from ivr.replay import replay_bytes

NO_CALLS = [
    "00_login_ping_logoff",
    "07_command_core_show_channels",
    "08_error_responses",
    "08a_login_failure",
]


def only_call(name: str):
    calls = replay_bytes(fixture_bytes(name))
    assert len(calls) == 1, [c.call_id for c in calls]
    return calls[0]


def path(call) -> list[tuple[str, str, str]]:
    return [(s.kind, s.menu, s.value) for s in call.ivr_path]


def assert_ordered_within(call, lo, hi) -> None:
    times = [s.at for s in call.ivr_path]
    assert times == sorted(times)
    assert all(lo <= t <= hi for t in times), times


@pytest.mark.parametrize("name", NO_CALLS)
def test_captures_without_calls_give_no_records(name):
    assert replay_bytes(fixture_bytes(name)) == []


def test_01_district_line_dial_answered_then_hung_up():
    c = only_call("01_ivr_call_dtmf_playdtmf")
    assert c.call_id == "hotline-test-1795799243.0"
    assert (c.caller, c.caller_name, c.dialed) == ("0987654321", "Test Caller", "s")
    assert c.channel == "Local/s@ivr-12319-00000000;2"
    assert c.started_at == utc("17:07:23")
    assert c.answered_at == utc("17:07:23")
    assert c.ended_at == utc("17:07:31")
    assert c.digits == "1"
    assert path(c) == [
        ("enter", "ivr-12319", ""),
        ("agi", "ivr-12319", "agi://127.0.0.1:4573/ivr"),
        ("choice", "ivr-12319", "1"),
        ("enter", "ivr-branch-district", ""),
    ]
    assert_ordered_within(c, utc("17:07:23"), utc("17:07:28"))
    assert len(c.transfers) == 1
    t = c.transfers[0]
    assert (t.target, t.kind, t.result, t.dial_status) == (
        "100@district-lines", "district_line", TransferResult.ANSWERED, "ANSWER")
    assert t.at == utc("17:07:28")
    # the simulated district line answers, waits 3 s and hangs up
    assert (c.ended_at - t.at).total_seconds() == 3
    assert (c.queue, c.queue_wait_s, c.agent) == ("", None, "")
    assert c.recordings == []
    assert c.disposition is Disposition.TRANSFERRED
    assert (c.hangup_cause, c.hangup_cause_text) == (16, "Normal Clearing")


def test_01b_info_branch_without_a_self_service_mark_is_abandoned():
    c = only_call("01b_ivr_call_dtmf_receive")
    assert c.call_id == "hotline-test-1795799253.4"
    assert c.channel == "Local/s@ivr-12319-00000002;2"
    assert (c.caller, c.caller_name) == ("0987654321", "Test Caller")
    assert (c.started_at, c.answered_at, c.ended_at) == (
        utc("17:07:33"), utc("17:07:33"), utc("17:07:38"))
    assert c.digits == "3"
    assert path(c) == [
        ("enter", "ivr-12319", ""),
        ("agi", "ivr-12319", "agi://127.0.0.1:4573/ivr"),
        ("choice", "ivr-12319", "3"),
        ("enter", "ivr-branch-info", ""),
    ]
    assert_ordered_within(c, utc("17:07:33"), utc("17:07:38"))
    assert c.transfers == []
    # the fixture dialplan marks no self-service (no HotlineSelfServed UserEvent), so a choice
    # followed by the end of the call is not counted as served by the IVR
    assert c.disposition is Disposition.ABANDONED
    assert c.hangup_cause == 16


def test_01c_operator_branch_recorded_and_dialled():
    c = only_call("01c_ivr_call_dtmf_senddtmf_dialplan")
    assert c.call_id == "hotline-test-1795799261.6"
    assert c.channel == "Local/s@ivr-12319-00000003;2"
    assert (c.caller, c.caller_name) == ("0911222333", "Auto Caller")
    assert (c.started_at, c.answered_at, c.ended_at) == (
        utc("17:07:41"), utc("17:07:41"), utc("17:07:47"))
    # SendDTMF(4) on ;1 arrives as Direction: Received on ;2 only
    assert c.digits == "4"
    assert path(c)[-2:] == [("choice", "ivr-12319", "4"), ("enter", "ivr-branch-operator", "")]
    assert c.recordings == ["/var/spool/asterisk/monitor/ivr-hotline-test-1795799261.7.wav"]
    [t] = c.transfers
    assert (t.target, t.result, t.dial_status) == (
        "operator@district-lines", TransferResult.ANSWERED, "ANSWER")
    assert t.at == utc("17:07:44")
    assert c.disposition is Disposition.TRANSFERRED
    assert (c.hangup_cause, c.hangup_cause_text) == (16, "Normal Clearing")


def test_01e_no_input_times_out_and_hangs_up():
    c = only_call("01e_ivr_no_input_timeout")
    assert c.call_id == "hotline-test-1795799281.14"
    assert (c.caller, c.caller_name) == ("0987000000", "Silent Caller")
    assert (c.started_at, c.answered_at, c.ended_at) == (
        utc("17:08:01"), utc("17:08:01"), utc("17:08:08"))
    assert c.digits == ""
    assert path(c) == [
        ("enter", "ivr-12319", ""),
        ("agi", "ivr-12319", "agi://127.0.0.1:4573/ivr"),
        ("timeout", "ivr-12319", ""),
    ]
    assert_ordered_within(c, utc("17:08:01"), utc("17:08:08"))
    assert c.transfers == [] and c.queue == ""
    assert c.disposition is Disposition.ABANDONED
    assert (c.hangup_cause, c.hangup_cause_text) == (16, "Normal Clearing")


def test_02_redirect_moves_the_call_to_the_new_context():
    c = only_call("02_redirect")
    assert c.call_id == "hotline-test-1795799290.16"
    assert c.channel == "Local/s@hold-00000008;2"
    assert (c.caller, c.caller_name) == ("100", "Redirect Test")
    assert path(c) == [("enter", "hold", ""), ("enter", "redirect-target", "")]
    assert (c.started_at, c.answered_at, c.ended_at) == (
        utc("17:08:10"), utc("17:08:10"), utc("17:08:12"))
    assert c.disposition is Disposition.ABANDONED
    assert c.hangup_cause == 16


def test_03_two_originates_answered():
    first, second = replay_bytes(fixture_bytes("03_originate_response"))
    assert first.call_id == "hotline-test-1795799295.18"
    assert first.channel == "Local/100@district-lines-00000009;2"
    assert (first.caller, first.caller_name, first.dialed) == ("12319", "Hotline", "100")
    assert (first.started_at, first.answered_at, first.ended_at) == (
        utc("17:08:15"), utc("17:08:15"), utc("17:08:18"))
    assert (first.hangup_cause, first.hangup_cause_text) == (16, "Normal Clearing")
    assert second.call_id == "hotline-test-1795799300.20"
    assert second.channel == "Local/101@district-lines-0000000a;2"
    assert (second.caller, second.dialed) == ("", "101")
    assert (second.started_at, second.answered_at, second.ended_at) == (
        utc("17:08:20"), utc("17:08:20"), utc("17:08:21"))
    assert (second.hangup_cause, second.hangup_cause_text) == (0, "Unknown")
    for c in (first, second):
        assert path(c) == [("enter", "district-lines", "")]
        assert c.disposition is Disposition.ABANDONED


def test_04_failed_originates():
    busy, noexten, noanswer = replay_bytes(fixture_bytes("04_originate_failure"))
    assert busy.call_id == "hotline-test-1795799303.22"
    assert busy.channel == "Local/busy@district-lines-0000000b;2"
    assert (busy.hangup_cause, busy.hangup_cause_text) == (17, "User busy")
    assert noexten.call_id == "hotline-test-1795799304.24"
    assert noexten.channel == "Local/nosuchexten@nosuchcontext-0000000c;2"
    assert noexten.ivr_path == []  # the extension does not exist: no dialplan ran
    assert (noexten.hangup_cause, noexten.hangup_cause_text) == (0, "Unknown")
    assert noanswer.call_id == "hotline-test-1795799304.26"
    assert (noanswer.hangup_cause, noanswer.hangup_cause_text) == (19, "User alerting, no answer")
    assert (noanswer.started_at, noanswer.ended_at) == (utc("17:08:24"), utc("17:08:27"))
    for c in (busy, noexten, noanswer):
        assert c.answered_at is None
        assert c.caller == ""
        assert c.disposition is Disposition.FAILED
    # Busy(5) refuses at once: start and end within the same second
    assert busy.started_at == utc("17:08:23")
    assert utc("17:08:23") <= busy.ended_at < utc("17:08:24")


def test_05_two_parked_calls_hung_up_by_regex():
    a, b = replay_bytes(fixture_bytes("05_coreshowchannels_status"))
    assert (a.call_id, a.channel, a.caller, a.caller_name, a.dialed) == (
        "hotline-test-1795799310.28", "Local/s@hold-0000000e;2", "0901000001", "Caller A", "s")
    assert (b.call_id, b.channel, b.caller, b.caller_name, b.dialed) == (
        "hotline-test-1795799310.30", "Local/wait@hold-0000000f;2", "0901000002", "Caller B",
        "wait")
    for c in (a, b):
        assert (c.started_at, c.answered_at, c.ended_at) == (
            utc("17:08:30"), utc("17:08:30"), utc("17:08:31"))
        assert path(c) == [("enter", "hold", "")]
        assert (c.hangup_cause, c.hangup_cause_text) == (0, "Unknown")
        assert c.disposition is Disposition.ABANDONED


def test_06_queue_wait_and_agent():
    c = only_call("06_queuestatus_and_queue_call")
    assert c.call_id == "hotline-test-1795799314.32"
    assert c.channel == "Local/s@ivr-branch-queue-00000010;2"
    assert (c.caller, c.caller_name) == ("0902000003", "Queue Caller")
    assert c.started_at == utc("17:08:34")
    assert c.queue == "test"
    assert utc("17:08:34") <= c.queue_joined_at < utc("17:08:35")
    assert c.queue_left_at == utc("17:08:36")
    assert c.queue_wait_s == 2.0  # AgentConnect HoldTime: 2
    assert c.agent == "Agent200"
    assert c.agent_answered_at == utc("17:08:36")
    # Queue() does not answer: the caller's channel goes Up when the agent answers
    assert c.answered_at == utc("17:08:36")
    assert c.ended_at == utc("17:08:41")
    assert c.transfers == []  # Queue() ringing a member is not a transfer
    assert path(c) == [("enter", "ivr-branch-queue", "")]
    assert c.disposition is Disposition.AGENT
    assert (c.hangup_cause, c.hangup_cause_text) == (16, "Normal Clearing")


def test_09_ami_hangup_with_cause_16():
    c = only_call("09_hangup_action_cdr")
    assert c.call_id == "hotline-test-1795799327.38"
    assert c.channel == "Local/s@hold-00000013;2"
    assert (c.caller, c.caller_name) == ("0903000004", "Hangup Test")
    assert (c.started_at, c.answered_at, c.ended_at) == (
        utc("17:08:47"), utc("17:08:47"), utc("17:08:49"))
    assert (c.hangup_cause, c.hangup_cause_text) == (16, "Normal Clearing")
    assert c.disposition is Disposition.ABANDONED


def test_10_fastagi_digit_then_menu_choice():
    c = only_call("10_fastagi_ivr_ami_events")
    assert c.call_id == "hotline-test-1795799337.40"
    assert (c.caller, c.caller_name) == ("0904000005", "AGI Caller")
    assert (c.started_at, c.answered_at, c.ended_at) == (
        utc("17:08:57"), utc("17:08:57"), utc("17:09:06"))
    # '7' answered the AGI's WAIT FOR DIGIT, '3' chose the information branch
    assert c.digits == "73"
    assert path(c) == [
        ("enter", "ivr-12319", ""),
        ("agi", "ivr-12319", "agi://127.0.0.1:4573/ivr"),
        ("choice", "ivr-12319", "3"),
        ("enter", "ivr-branch-info", ""),
    ]
    assert_ordered_within(c, utc("17:08:57"), utc("17:09:06"))
    assert c.disposition is Disposition.ABANDONED  # no HotlineSelfServed mark in the fixture dialplan
    assert c.hangup_cause == 16
