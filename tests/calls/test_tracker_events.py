"""Domain events published by the tracker, on the fixtures and on synthetic calls."""

from __future__ import annotations

from call_helpers import FakeClock, chan, ev, fixture_bytes, utc
from ivr.ami.protocol import parse_stream
from ivr.bus import EventBus
from ivr.calls import CallTracker
from ivr.events import (
    AgentAnswered,
    CallAnswered,
    CallEnded,
    CallStarted,
    Disposition,
    MenuChosen,
    QueueJoined,
    QueueLeft,
    Recorded,
    Transferred,
    TransferResult,
)
from ivr.replay import capture_times


def run_fixture(name: str) -> list[object]:
    msgs = parse_stream(fixture_bytes(name))
    times = capture_times(msgs)
    now = [times[0]]
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=lambda: now[0])
    for m, t in zip(msgs, times):
        now[0] = t
        tracker.feed(m)
    assert len(tracker) == 0 and tracker.errors == 0
    return seen


def kinds(events) -> list[str]:
    return [type(e).__name__ for e in events]


def test_01_event_sequence():
    events = run_fixture("01_ivr_call_dtmf_playdtmf")
    assert kinds(events) == [
        "CallStarted", "MenuChosen", "CallAnswered", "MenuChosen", "MenuChosen", "MenuChosen",
        "Transferred", "CallEnded",
    ]
    started = events[0]
    assert isinstance(started, CallStarted)
    assert (started.call_id, started.caller, started.dialed, started.adopted) == (
        "hotline-test-1795799243.0", "0987654321", "s", False)
    assert started.channel == "Local/s@ivr-12319-00000000;2"
    choice = [e for e in events if isinstance(e, MenuChosen) and e.step.kind == "choice"]
    assert [e.step.value for e in choice] == ["1"]
    [tr] = [e for e in events if isinstance(e, Transferred)]
    assert tr.transfer.result is TransferResult.ANSWERED
    assert tr.transfer.target == "100@district-lines"
    end = events[-1]
    assert isinstance(end, CallEnded)
    assert end.snapshot.disposition is Disposition.TRANSFERRED
    assert end.at == utc("17:07:31")
    assert all(e.call_id == "hotline-test-1795799243.0" for e in events)


def test_06_queue_events():
    events = run_fixture("06_queuestatus_and_queue_call")
    assert kinds(events) == [
        "CallStarted", "MenuChosen", "QueueJoined", "QueueLeft", "AgentAnswered", "CallAnswered",
        "CallEnded",
    ]
    joined = next(e for e in events if isinstance(e, QueueJoined))
    assert (joined.queue, joined.position) == ("test", 1)
    left = next(e for e in events if isinstance(e, QueueLeft))
    assert (left.queue, left.abandoned) == ("test", False)
    # measured from the replay clock at leave time (join time is interpolated) ...
    assert 1.0 < left.wait_s <= 2.0
    # ... and replaced by Asterisk's own HoldTime once the agent connects
    agent = next(e for e in events if isinstance(e, AgentAnswered))
    assert (agent.queue, agent.agent, agent.wait_s) == ("test", "Agent200", 2.0)
    assert agent.at == utc("17:08:36")


def test_01c_recording_event():
    events = run_fixture("01c_ivr_call_dtmf_senddtmf_dialplan")
    [rec] = [e for e in events if isinstance(e, Recorded)]
    assert rec.path == "/var/spool/asterisk/monitor/ivr-hotline-test-1795799261.7.wav"
    assert rec.kind == "call"


def test_04_every_failed_originate_still_starts_and_ends():
    events = run_fixture("04_originate_failure")
    assert kinds(events).count("CallStarted") == 3
    ends = [e for e in events if isinstance(e, CallEnded)]
    assert [e.snapshot.hangup_cause for e in ends] == [17, 0, 19]
    assert not any(isinstance(e, CallAnswered) for e in events)


async def test_events_reach_an_event_bus():
    bus = EventBus()
    got: list[object] = []
    bus.subscribe(got.append)
    tracker = CallTracker(bus)
    for m in parse_stream(fixture_bytes("01b_ivr_call_dtmf_receive")):
        tracker.feed(m)
    await bus.drain()
    await bus.close()
    assert kinds(got)[0] == "CallStarted" and kinds(got)[-1] == "CallEnded"
    assert got[-1].snapshot.digits == "3" and got[-1].snapshot.disposition is Disposition.ABANDONED


# -- synthetic calls (PJSIP inbound, hotline dialplan marks) --------------------------

def sip_call(tracker: CallTracker, clock: FakeClock, uid: str = "pbx-1.1") -> dict[str, str]:
    c = chan("PJSIP/trunk-00000001", uid, uid, state="4", context="from-trunk", exten="12319",
             cid="13912345678", name="张三")
    tracker.feed(ev("Newchannel", **c))
    clock.advance(1)
    tracker.feed(ev("Newexten", **{**c, "Context": "ivr-main", "Exten": "s"},
                    Application="Answer", AppData=""))
    tracker.feed(ev("Newstate", **{**c, "ChannelState": "6", "Context": "ivr-main"}))
    return {**c, "ChannelState": "6", "Context": "ivr-main", "Exten": "s"}


def test_sip_inbound_call_started_at_newchannel_with_caller_and_did():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    sip_call(tracker, clock)
    started = seen[0]
    assert isinstance(started, CallStarted)
    assert (started.caller, started.dialed, started.channel) == (
        "13912345678", "12319", "PJSIP/trunk-00000001")
    assert started.at == utc("09:00:00")
    snap = tracker.snapshot("pbx-1.1")
    assert snap.caller_name == "张三"
    assert snap.answered_at == utc("09:00:01")


def test_district_mark_queue_abandon_and_voicemail():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock)
    # the caller picks district 2, the generated dialplan marks the district dial
    tracker.feed(ev("DTMFEnd", **c, Digit="2", Direction="Received"))
    tracker.feed(ev("DTMFEnd", **c, Digit="9", Direction="Sent"))  # not the caller's
    tracker.feed(ev("Newexten", **{**c, "Exten": "2"}, Application="UserEvent", AppData=""))
    tracker.feed(ev("UserEvent", **{**c, "Exten": "2"}, UserEvent="HotlineDistrict",
                    District="150402"))
    tracker.feed(ev("Newexten", **{**c, "Context": "district-dial", "Exten": "150402"},
                    Application="Dial", AppData="PJSIP/04768888888@trunk,30"))
    d = c | {"Context": "district-dial", "Exten": "150402"}
    tracker.feed(ev("Newchannel", **chan("PJSIP/trunk-00000002", "pbx-1.2", "pbx-1.1", state="0")))
    tracker.feed(ev("DialBegin", **d, DestChannel="PJSIP/trunk-00000002", DestUniqueid="pbx-1.2",
                    DestLinkedid="pbx-1.1", DialString="04768888888@trunk"))
    clock.advance(20)
    tracker.feed(ev("DialEnd", **d, DestChannel="PJSIP/trunk-00000002", DestUniqueid="pbx-1.2",
                    DestLinkedid="pbx-1.1", DialStatus="NOANSWER"))
    tracker.feed(ev("Hangup", **chan("PJSIP/trunk-00000002", "pbx-1.2", "pbx-1.1"), Cause="19",
                    Cause_txt="User alerting, no answer"))
    # falls back to the queue, waits 12 s and gives up
    q = c | {"Context": "queue", "Exten": "s"}
    tracker.feed(ev("Newexten", **q, Application="Queue", AppData="hotline"))
    tracker.feed(ev("QueueCallerJoin", **q, Queue="hotline", Position="3", Count="3"))
    clock.advance(12)
    tracker.feed(ev("QueueCallerAbandon", **q, Queue="hotline", Position="1",
                    OriginalPosition="3", HoldTime="12"))
    tracker.feed(ev("QueueCallerLeave", **q, Queue="hotline", Position="1", Count="0"))
    tracker.feed(ev("Hangup", **q, Cause="16", Cause_txt="Normal Clearing"))
    end = seen[-1]
    assert isinstance(end, CallEnded)
    s = end.snapshot
    assert s.digits == "2"
    [t] = s.transfers
    assert (t.kind, t.target, t.district_code, t.result, t.dial_status) == (
        "district_line", "district:150402", "150402", TransferResult.NO_ANSWER, "NOANSWER")
    assert (s.queue, s.queue_wait_s) == ("hotline", 12.0)
    left = next(e for e in seen if isinstance(e, QueueLeft))
    assert (left.abandoned, left.wait_s) == (True, 12.0)
    assert s.disposition is Disposition.ABANDONED
    assert [(st.kind, st.menu, st.value) for st in s.ivr_path] == [
        ("enter", "ivr-main", ""), ("choice", "ivr-main", "2"),
        ("enter", "district-dial", ""), ("enter", "queue", "")]
    assert s.ended_at == utc("09:00:33")
    assert len(tracker) == 0


def test_after_hours_message_is_voicemail():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock)
    tracker.feed(ev("Newexten", **{**c, "Context": "after-hours"}, Application="Record",
                    AppData="/var/spool/asterisk/hotline/msg-pbx-1.1.wav,3,120,k"))
    tracker.feed(ev("VarSet", **{**c, "Context": "after-hours"}, Variable="RECORDED_FILE",
                    Value="/var/spool/asterisk/hotline/msg-pbx-1.1"))
    tracker.feed(ev("VarSet", **c, Variable="HOTLINE_CATEGORY", Value="A01"))
    tracker.feed(ev("Hangup", **c, Cause="16", Cause_txt="Normal Clearing"))
    recs = [e for e in seen if isinstance(e, Recorded)]
    assert [(r.path, r.kind) for r in recs] == [
        ("/var/spool/asterisk/hotline/msg-pbx-1.1.wav", "message")]
    s = seen[-1].snapshot
    assert s.disposition is Disposition.VOICEMAIL
    assert s.variables == {"HOTLINE_CATEGORY": "A01"}


def test_blind_transfer_by_agent():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock)
    agent = chan("PJSIP/agent1-00000009", "pbx-1.9", "pbx-1.1", context="agents", exten="s")
    tracker.feed(ev("Newchannel", **agent))
    tracker.feed(ev("AgentConnect", **c, Queue="hotline", MemberName="坐席01",
                    Interface="PJSIP/agent1", HoldTime="4", RingTime="2",
                    DestUniqueid="pbx-1.9", DestLinkedid="pbx-1.1"))
    tracker.feed(ev("BlindTransfer", Result="Success", TransfererUniqueid="pbx-1.9",
                    TransfererLinkedid="pbx-1.1", TransfereeUniqueid="pbx-1.1",
                    TransfereeLinkedid="pbx-1.1", IsExternal="Yes", Context="district-dial",
                    Extension="150403"))
    tracker.feed(ev("Hangup", **agent, Cause="16"))
    assert tracker.snapshot("pbx-1.1").agent == "坐席01"
    tracker.feed(ev("Hangup", **c, Cause="16", Cause_txt="Normal Clearing"))
    s = seen[-1].snapshot
    [t] = s.transfers
    assert (t.kind, t.target, t.result, t.dial_status) == (
        "blind", "150403@district-dial", TransferResult.ANSWERED, "Success")
    assert s.disposition is Disposition.TRANSFERRED
    assert s.queue_wait_s == 4.0


def test_linkedid_change_moves_a_leg_and_aliases_follow():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock, "pbx-1.1")
    # an agent's own call, with a consult leg to a district office
    agent = chan("PJSIP/agent1-00000005", "pbx-1.5", "pbx-1.5", context="agents", cid="8001")
    leg = chan("PJSIP/trunk-00000006", "pbx-1.6", "pbx-1.5", context="agents", cid="8001")
    tracker.feed(ev("Newchannel", **agent))
    tracker.feed(ev("Newchannel", **leg))
    assert tracker.call_id_for("pbx-1.6") == "pbx-1.5"
    # the leg is bridged with the citizen: it takes the older Linkedid
    tracker.feed(ev("BridgeEnter", **{**leg, "Linkedid": "pbx-1.1"}, BridgeUniqueid="b1"))
    assert tracker.call_id_for("PJSIP/trunk-00000006") == "pbx-1.1"
    assert tracker.channels_of("pbx-1.1") == ["PJSIP/trunk-00000001", "PJSIP/trunk-00000006"]
    # the citizen's channel takes a new Linkedid: it becomes an alias of the same call
    tracker.feed(ev("NewConnectedLine", **{**c, "Linkedid": "pbx-9.9"}))
    tracker.feed(ev("Newchannel", **chan("Local/x@y-00000001;1", "pbx-1.7", "pbx-9.9")))
    assert tracker.call_id_for("pbx-1.7") == "pbx-1.1"
    assert tracker.snapshot("pbx-9.9").call_id == "pbx-1.1"
    # the agent hangs up: the agent's call ends on its own
    tracker.feed(ev("Hangup", **agent, Cause="16"))
    ended = [e.call_id for e in seen if isinstance(e, CallEnded)]
    assert ended == ["pbx-1.5"]
    tracker.feed(ev("Hangup", **c, Cause="16"))
    assert [e.call_id for e in seen if isinstance(e, CallEnded)] == ["pbx-1.5", "pbx-1.1"]
    # late events of the finished conversation create nothing
    tracker.feed(ev("Hangup", **{**leg, "Linkedid": "pbx-1.1"}, Cause="16"))
    tracker.feed(ev("Newchannel", **chan("Local/z@y-00000002;2", "pbx-1.8", "pbx-1.1")))
    assert len(tracker) == 0


def test_local_optimisation_swap_hands_over_the_citizen_role():
    clock = FakeClock()
    tracker = CallTracker(clock=clock)
    one = chan("Local/s@ivr-00000001;1", "pbx-2.1", "pbx-2.1", context="ivr")
    two = chan("Local/s@ivr-00000001;2", "pbx-2.2", "pbx-2.1", context="ivr")
    tracker.feed(ev("Newchannel", **one))
    tracker.feed(ev("Newchannel", **two))
    assert tracker.snapshot("pbx-2.1").channel == "Local/s@ivr-00000001;2"
    real = chan("PJSIP/phone-00000003", "pbx-2.3", "pbx-2.1")
    tracker.feed(ev("BridgeEnter", **real, SwapUniqueid="pbx-2.2", BridgeUniqueid="b"))
    assert tracker.snapshot("pbx-2.1").channel == "PJSIP/phone-00000003"
    tracker.feed(ev("Hangup", **two, Cause="16"))
    assert len(tracker) == 1  # the old half left; the conversation goes on
    tracker.feed(ev("Hangup", **real, Cause="16"))
    assert len(tracker) == 0


def test_agi_exec_dial_is_a_transfer_but_agi_queue_ringing_is_not():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock)
    # a Goto to a long numeric extension is not a menu key
    tracker.feed(ev("Newexten", **{**c, "Exten": "12319"}, Application="NoOp", AppData=""))
    tracker.feed(ev("Newexten", **{**c, "Exten": "12319"}, Application="AGI",
                    AppData="agi://app:4573/route"))
    # the FastAGI script runs EXEC Queue: the member ring is announced by AgentCalled
    member = dict(DestChannel="Local/201@agents-00000001;1", DestUniqueid="pbx-1.3",
                  DestLinkedid="pbx-1.1")
    c = {**c, "Exten": "12319"}
    tracker.feed(ev("AgentCalled", **c, **member, Queue="hotline", MemberName="坐席02"))
    tracker.feed(ev("DialBegin", **c, **member, DialString="Local/201@agents/n"))
    tracker.feed(ev("DialEnd", **c, **member, DialStatus="NOANSWER"))
    # then EXEC Dial to a district line
    line = dict(DestChannel="PJSIP/trunk-00000004", DestUniqueid="pbx-1.4", DestLinkedid="pbx-1.1")
    tracker.feed(ev("DialBegin", **c, **line, DialString="04768220000@trunk"))
    tracker.feed(ev("DialEnd", **c, **line, DialStatus="BUSY"))
    snap = tracker.snapshot("pbx-1.1")
    [t] = snap.transfers
    assert (t.kind, t.target, t.result) == ("dial", "04768220000@trunk", TransferResult.BUSY)
    assert [st.kind for st in snap.ivr_path] == ["enter", "agi"]
    assert snap.ivr_path[-1].value == "agi://app:4573/route"
    tracker.feed(ev("Hangup", **c, Cause="16"))
    assert seen[-1].snapshot.disposition is Disposition.FAILED


def test_attended_transfer_success():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock)
    tracker.feed(ev("AttendedTransfer", Result="Success", DestType="Bridge",
                    OrigTransfererUniqueid="pbx-1.9", TransfereeUniqueid="pbx-1.1",
                    TransfereeLinkedid="pbx-1.1", TransferTargetChannel="PJSIP/trunk-0000000a",
                    IsExternal="No"))
    tracker.feed(ev("Hangup", **c, Cause="16"))
    s = seen[-1].snapshot
    [t] = s.transfers
    assert (t.kind, t.target, t.result) == ("attended", "PJSIP/trunk-0000000a",
                                            TransferResult.ANSWERED)
    assert s.disposition is Disposition.TRANSFERRED
    failed = CallTracker(clock=FakeClock())
    c2 = sip_call(failed, FakeClock(), "pbx-2.1")
    failed.feed(ev("AttendedTransfer", Result="Fail", TransfereeUniqueid="pbx-2.1"))
    assert failed.snapshot("pbx-2.1").transfers[0].result is TransferResult.FAILED
    assert c2["Uniqueid"] == "pbx-2.1"


def test_repeated_invalid_keys_and_marks_are_all_kept():
    clock = FakeClock()
    tracker = CallTracker(clock=clock)
    c = sip_call(tracker, clock)
    for digit in ("9", "8"):
        tracker.feed(ev("Newexten", **{**c, "Exten": "i"}, Application="UserEvent", AppData=""))
        tracker.feed(ev("UserEvent", **{**c, "Exten": "i"}, UserEvent="IVRInvalid", Digit=digit))
        tracker.feed(ev("Newexten", **c, Application="Background", AppData="menu"))
    # without marks the dialplan alone still shows both timeouts
    for _ in range(2):
        tracker.feed(ev("Newexten", **{**c, "Exten": "t"}, Application="Goto", AppData="s,menu"))
        tracker.feed(ev("Newexten", **c, Application="Background", AppData="menu"))
    # marks sent by an AGI script (no exten change) are steps of their own
    tracker.feed(ev("UserEvent", **c, UserEvent="IVRSpeech", Menu="main", Text="路灯"))
    tracker.feed(ev("UserEvent", **c, UserEvent="IVRSpeech", Menu="main", Text="路灯"))
    steps = [(s.kind, s.menu, s.value) for s in tracker.snapshot("pbx-1.1").ivr_path]
    assert steps == [
        ("enter", "ivr-main", ""),
        ("invalid", "ivr-main", "9"), ("invalid", "ivr-main", "8"),
        ("timeout", "ivr-main", ""), ("timeout", "ivr-main", ""),
        ("speech", "main", "路灯"), ("speech", "main", "路灯"),
    ]


def _cel_call(tracker: CallTracker) -> None:
    c = chan("PJSIP/trunk-00000001", "pbx-3.1", "pbx-3.1", state="4", context="ivr-main")
    tracker.feed(ev("CEL", EventName="CHAN_START", UniqueID="pbx-3.1", LinkedID="pbx-3.1",
                    Channel="PJSIP/trunk-00000001", EventTime="2026-11-27 17:00:05"))
    tracker.feed(ev("Newchannel", **c))


def test_cel_times_are_read_in_the_pbx_time_zone():
    from zoneinfo import ZoneInfo

    clock = FakeClock(utc("09:00:06"))  # the PBX runs on Beijing time, 8 h ahead of UTC
    tracker = CallTracker(clock=clock, pbx_tz=ZoneInfo("Asia/Shanghai"))
    _cel_call(tracker)
    assert tracker.snapshot("pbx-3.1").started_at == utc("09:00:05")


def test_cel_times_far_from_the_clock_are_ignored():
    clock = FakeClock(utc("09:00:06"))
    tracker = CallTracker(clock=clock)  # pbx_tz left at UTC although the PBX is on UTC+8
    _cel_call(tracker)
    assert tracker.snapshot("pbx-3.1").started_at == utc("09:00:06")


def test_blind_transfer_into_a_busy_district_line_is_not_a_transfer():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = sip_call(tracker, clock)
    tracker.feed(ev("AgentConnect", **c, Queue="hotline", MemberName="坐席01", HoldTime="3"))
    tracker.feed(ev("BlindTransfer", Result="Success", TransfereeUniqueid="pbx-1.1",
                    Context="district-dial", Extension="150404"))
    d = c | {"Context": "district-dial", "Exten": "150404"}
    tracker.feed(ev("Newexten", **d, Application="Dial", AppData="PJSIP/04765555555@trunk,30"))
    line = dict(DestChannel="PJSIP/trunk-00000007", DestUniqueid="pbx-1.7", DestLinkedid="pbx-1.1")
    tracker.feed(ev("DialBegin", **d, **line, DialString="04765555555@trunk"))
    tracker.feed(ev("DialEnd", **d, **line, DialStatus="BUSY"))
    tracker.feed(ev("Hangup", **d, Cause="17", Cause_txt="User busy"))
    s = seen[-1].snapshot
    assert [(t.kind, t.result) for t in s.transfers] == [
        ("blind", TransferResult.ANSWERED), ("district_line", TransferResult.BUSY)]
    assert s.disposition is Disposition.AGENT  # the agent served; the hand-off failed
    assert (s.hangup_cause, s.hangup_cause_text) == (17, "User busy")


def test_a_withheld_number_is_recorded_and_only_the_citizen_channel_sets_the_caller():
    clock = FakeClock()
    tracker = CallTracker(clock=clock)
    c = sip_call(tracker, clock)
    assert tracker.snapshot("pbx-1.1").caller_presentation == ""          # nothing said yet
    tracker.feed(ev("NewCallerid", **{**c, "CallerIDNum": "13912345678", "CallerIDName": "<unknown>"},
                    **{"CID-CallingPres": "35 (Number Unavailable)"}))
    tracker.feed(ev("NewCallerid", **{**c, "CallerIDNum": "<unknown>"},
                    **{"CID-CallingPres": "33 (Presentation Prohibited, Passed Screen)"}))
    # an agent leg of the same call changing its own caller ID is not the caller
    agent = chan("PJSIP/agent-00000002", "pbx-1.2", "pbx-1.1", cid="1101")
    tracker.feed(ev("Newchannel", **agent))
    tracker.feed(ev("NewCallerid", **{**agent, "CallerIDNum": "1102"}, **{"CID-CallingPres": "0"}))
    snap = tracker.snapshot("pbx-1.1")
    assert (snap.caller, snap.caller_name, snap.caller_presentation) == ("13912345678", "张三", "restricted")
