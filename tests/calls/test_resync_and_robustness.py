"""Resync after an AMI reconnect, bounded memory, and bad input."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from call_helpers import FIXTURES, FakeClock, chan, ev, fixture_bytes, utc
from ivr.ami.messages import Message
from ivr.ami.protocol import parse_stream
from ivr.calls import CallTracker
from ivr.events import CallEnded, CallStarted, Disposition


def messages(name: str) -> list[Message]:
    return parse_stream(fixture_bytes(name))


def split_at_list(name: str):
    """(events before CoreShowChannels, the CoreShowChannel rows, events after the list)."""
    msgs = messages(name)
    rows = [m for m in msgs if m.name == "CoreShowChannel"]
    first = msgs.index(rows[0])
    last = next(i for i, m in enumerate(msgs) if m.name == "CoreShowChannelsComplete")
    return msgs[:first], rows, msgs[last + 1:]


def test_unknown_live_calls_are_adopted():
    """A controller that (re)connects in the middle of 05 learns both calls from the list."""
    clock = FakeClock(utc("17:08:31"))
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    _, rows, after = split_at_list("05_coreshowchannels_status")
    tracker.begin_resync()
    for row in rows:
        tracker.resync_channel(row)
    assert seen == []  # nothing happens before the list is complete
    tracker.end_resync()
    started = [e for e in seen if isinstance(e, CallStarted)]
    assert [(e.call_id, e.caller, e.channel, e.adopted) for e in started] == [
        ("hotline-test-1795799310.28", "0901000001", "Local/s@hold-0000000e;2", True),
        ("hotline-test-1795799310.30", "0901000002", "Local/wait@hold-0000000f;2", True),
    ]
    # Duration: 00:00:01 -> started one second before the resync
    assert all(e.at == utc("17:08:30") for e in started)
    assert sorted(tracker.channels_of("hotline-test-1795799310.28")) == [
        "Local/s@hold-0000000e;1", "Local/s@hold-0000000e;2"]
    for m in after:
        tracker.feed(m)
    ended = [e for e in seen if isinstance(e, CallEnded)]
    assert sorted(e.call_id for e in ended) == [
        "hotline-test-1795799310.28", "hotline-test-1795799310.30"]
    for e in ended:
        assert e.snapshot.hangup_cause == 0
        # answered (ChannelState 6) and never served: abandoned, not failed
        assert e.snapshot.disposition is Disposition.ABANDONED
    assert len(tracker) == 0


def test_known_calls_listed_again_are_untouched():
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=FakeClock(utc("17:08:31")))
    before, rows, after = split_at_list("05_coreshowchannels_status")
    for m in before:
        tracker.feed(m)
    assert len(tracker) == 2
    n = len(seen)
    tracker.begin_resync()
    for row in rows:
        tracker.resync_channel(row)
    tracker.end_resync()
    assert seen[n:] == []  # no adoption, no closing
    for m in after:
        tracker.feed(m)
    assert [type(e).__name__ for e in seen[n:]] == ["CallEnded", "CallEnded"]


def test_vanished_calls_end_while_disconnected():
    clock = FakeClock(utc("18:00:00"))
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    msgs = messages("01_ivr_call_dtmf_playdtmf")
    cut = next(i for i, m in enumerate(msgs) if m.name == "DTMFEnd") + 1
    for m in msgs[:cut]:
        tracker.feed(m)
    assert len(tracker) == 1
    # the AMI link drops; when it is back the PBX lists no channel at all
    clock.advance(30)
    tracker.begin_resync()
    tracker.end_resync()
    end = seen[-1]
    assert isinstance(end, CallEnded)
    assert end.call_id == "hotline-test-1795799243.0"
    assert end.snapshot.disposition is Disposition.ENDED_DISCONNECTED
    assert end.snapshot.ended_at == utc("18:00:30")
    assert end.snapshot.digits == "1"
    assert len(tracker) == 0
    # the rest of the old stream (if it were replayed) must not resurrect the call
    for m in msgs[cut:]:
        tracker.feed(m)
    assert len(tracker) == 0


def test_resync_keeps_the_call_but_drops_vanished_legs_and_adopts_new_ones():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = chan("PJSIP/trunk-00000001", "p-1.1", "p-1.1", context="ivr-main", exten="12319")
    leg = chan("PJSIP/trunk-00000002", "p-1.2", "p-1.1", context="district-dial")
    tracker.feed(ev("Newchannel", **c))
    tracker.feed(ev("Newchannel", **leg))
    tracker.begin_resync()
    # a channel created while the list is being collected is alive, though unlisted
    late = chan("PJSIP/trunk-00000004", "p-1.4", "p-1.1")
    tracker.feed(ev("Newchannel", **late))
    tracker.resync_channel(ev("CoreShowChannel", **c, Duration="00:00:10"))
    tracker.resync_channel(ev("CoreShowChannel", **chan("PJSIP/agent-00000003", "p-1.3", "p-1.3"),
                              Duration="00:02:00"))
    tracker.end_resync()
    assert sorted(tracker.channels_of("p-1.1")) == ["PJSIP/trunk-00000001", "PJSIP/trunk-00000004"]
    adopted = [e for e in seen if isinstance(e, CallStarted) and e.adopted]
    assert [(e.call_id, e.at) for e in adopted] == [("p-1.3", clock.now - timedelta(minutes=2))]
    assert not any(isinstance(e, CallEnded) for e in seen)
    assert tracker.call_id_for("PJSIP/agent-00000003") == "p-1.3"


def test_resync_without_begin_is_harmless():
    tracker = CallTracker()
    tracker.resync_channel(ev("CoreShowChannel", Uniqueid="x", Linkedid="x"))
    tracker.end_resync()
    assert len(tracker) == 0


def test_live_call_cap_drops_the_oldest():
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=FakeClock(), max_live_calls=2)
    for i in range(1, 4):
        tracker.feed(ev("Newchannel", **chan(f"PJSIP/t-{i:08x}", f"u.{i}", f"u.{i}")))
    assert len(tracker) == 2
    [end] = [e for e in seen if isinstance(e, CallEnded)]
    assert end.call_id == "u.1"
    assert end.snapshot.disposition is Disposition.ENDED_DISCONNECTED
    assert [s.call_id for s in tracker.live_snapshots()] == ["u.2", "u.3"]


def test_ended_calls_are_forgotten_and_memory_of_them_is_bounded():
    tracker = CallTracker(clock=FakeClock(), ended_memory=50)
    for i in range(200):
        c = chan(f"PJSIP/t-{i:08x}", f"u.{i}", f"u.{i}")
        tracker.feed(ev("Newchannel", **c))
        tracker.feed(ev("Hangup", **c, Cause="16"))
    assert len(tracker) == 0
    assert len(tracker._ended) <= 50
    assert tracker._by_uid == {} and tracker._by_linkedid == {}


BAD_INPUT = [
    Message([]),
    Message([("Event", "")]),
    Message([("Response", "Success")]),
    ev("Newchannel"),
    ev("Newchannel", Uniqueid="only-uid"),
    ev("Hangup", Uniqueid="nobody", Cause="x"),
    ev("Newstate", Uniqueid="nobody", ChannelState="6"),
    ev("DialBegin", DestUniqueid="nobody"),
    ev("DialEnd", Uniqueid="nobody", DestUniqueid="nobody", DialStatus="ANSWER"),
    ev("QueueCallerJoin", Uniqueid="nobody", Queue="q"),
    ev("AgentConnect", Uniqueid="nobody", HoldTime="abc"),
    ev("BlindTransfer", Result="Success"),
    ev("AttendedTransfer"),
    ev("LocalBridge", LocalOneUniqueid="nobody"),
    ev("BridgeEnter", SwapUniqueid="nobody", Uniqueid="u"),
    ev("UserEvent", UserEvent="IVRChoice"),
    ev("CEL", EventName="ANSWER", UniqueID="nobody", EventTime="not a time"),
    ev("CEL", EventName="CHAN_START", UniqueID="u", EventTime="2026-13-45 99:99:99"),
    ev("SomethingNew", Uniqueid="u", Foo="bar"),
    ev("VarSet", Variable="MIXMONITOR_FILENAME"),
    ev("Ping", Timestamp="NaN-ish"),
    ev("SuccessfulAuth", EventTV="yesterday"),
]


def test_odd_events_are_ignored():
    tracker = CallTracker(clock=FakeClock())
    for m in BAD_INPUT:
        tracker.feed(m)
    tracker.feed(None)  # type: ignore[arg-type]
    tracker.feed("Event: Newchannel")  # type: ignore[arg-type]
    assert tracker.errors == 0
    # only the Newchannel that had a Uniqueid made a (root) call
    assert [s.call_id for s in tracker.live_snapshots()] == ["only-uid"]


def test_odd_field_values_inside_a_real_call():
    clock = FakeClock()
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=clock)
    c = chan("PJSIP/t-00000001", "u.1", "u.1", state="6")
    tracker.feed(ev("Newchannel", **c))
    tracker.feed(ev("Newstate", **{**c, "ChannelState": "Up?"}))
    tracker.feed(ev("QueueCallerJoin", **c, Queue="q", Position="first"))
    tracker.feed(ev("QueueCallerLeave", **c, Queue="q"))
    tracker.feed(ev("AgentConnect", **c, Queue="q", HoldTime="soon"))
    tracker.feed(ev("DTMFEnd", **c, Direction="Received"))
    tracker.feed(ev("DialEnd", **c, DestUniqueid="zz", DialStatus="WEIRD"))
    tracker.feed(ev("Hangup", **c, Cause="sixteen"))
    assert tracker.errors == 0
    s = seen[-1].snapshot
    assert s.hangup_cause is None and s.digits == ""
    assert s.agent == "" and s.disposition is Disposition.AGENT


@pytest.mark.parametrize("seed", range(20))
def test_shuffled_and_mangled_real_events_never_raise(seed):
    rng = random.Random(seed)
    msgs = messages("06_queuestatus_and_queue_call") + messages("01c_ivr_call_dtmf_senddtmf_dialplan")
    rng.shuffle(msgs)
    tracker = CallTracker(clock=FakeClock())
    for m in msgs:
        headers = list(m.headers)
        if headers and rng.random() < 0.5:
            del headers[rng.randrange(len(headers))]
        if len(headers) > 1 and rng.random() < 0.3:
            k, v = headers[-1]
            headers[-1] = (k, v[::-1])
        tracker.feed(Message(headers))
    assert tracker.errors == 0

EVENT_NAMES = [
    "Newchannel", "Newstate", "Newexten", "Hangup", "DialBegin", "DialEnd", "UserEvent",
    "DTMFEnd", "VarSet", "LocalBridge", "BridgeEnter", "QueueCallerJoin", "QueueCallerLeave",
    "QueueCallerAbandon", "AgentCalled", "AgentConnect", "BlindTransfer", "AttendedTransfer",
    "CEL", "NewConnectedLine",
]
KEYS = [
    "Uniqueid", "Linkedid", "Channel", "ChannelState", "Context", "Exten", "Application",
    "AppData", "DestUniqueid", "DestLinkedid", "DialStatus", "Digit", "Direction", "Cause",
    "UserEvent", "Variable", "Value", "Queue", "HoldTime", "SwapUniqueid", "LocalOneUniqueid",
    "LocalTwoUniqueid", "EventName", "EventTime", "Timestamp", "TransfereeUniqueid", "Result",
]
small_text = st.sampled_from(["", "u1", "u2", "u3", "6", "Local/s@x-1;1", "Local/s@x-1;2", "1",
                              "Received", "ANSWER", "IVRChoice", "MIXMONITOR_FILENAME",
                              "2026-11-27 17:00:00", "1795799243.5", "x" * 3, "坐席"])
event_st = st.builds(
    lambda name, pairs: Message([("Event", name), *pairs]),
    st.sampled_from(EVENT_NAMES),
    st.lists(st.tuples(st.sampled_from(KEYS), small_text), max_size=12),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_st, max_size=40))
# found by this test: a queue leave on a call not yet started (its citizen channel unknown) was
# published before the call's CallStarted
@example([Message([("Event", "Newchannel"), ("Uniqueid", "u1"), ("Channel", "Local/s@x-1;1")]),
          Message([("Event", "QueueCallerLeave"), ("Uniqueid", "u1"), ("Queue", "q")])])
def test_random_event_soup_never_raises_and_stays_consistent(events):
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=FakeClock())
    for m in events:
        tracker.feed(m)
    tracker.begin_resync()
    tracker.end_resync()  # everything vanished: every call must end now
    assert tracker.errors == 0
    assert len(tracker) == 0
    check_event_stream(seen)


def check_event_stream(seen: list[object]) -> None:
    """Per call: CallStarted first, exactly one CallEnded, nothing after it."""
    by_call: dict[str, list[str]] = {}
    for e in seen:
        by_call.setdefault(e.call_id, []).append(type(e).__name__)
    for call_id, kinds in by_call.items():
        assert kinds[0] == "CallStarted", (call_id, kinds)
        assert kinds.count("CallStarted") == 1, (call_id, kinds)
        assert kinds.count("CallEnded") == 1 and kinds[-1] == "CallEnded", (call_id, kinds)


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("[0-9]*.txt")))
def test_fixture_event_streams_are_well_formed(name):
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=FakeClock())
    for m in messages(name):
        tracker.feed(m)
    assert len(tracker) == 0  # every capture ends with all its calls hung up
    check_event_stream(seen)


# -- issue 14: what an adopted call had before (the app restarted mid-call) -------------------
T_RESYNC = utc("09:10:00")
ANSWERED_EPOCH = str(int(utc("09:08:20").timestamp()))


def citizen_row(app: str, bridge: str = "", **extra: str) -> Message:
    """The citizen's CoreShowChannel row as Asterisk 20 lists it with the hotline channelvars."""
    c = chan("PJSIP/district-trunk-00000007", "p-9.7", "p-9.7", context="hl12319-queue", exten="agents",
             cid="13904760123")
    return ev("CoreShowChannel", ("ChanVariable", "HOTLINE_DISTRICT=" + extra.pop("district", "")),
              ("ChanVariable", "HOTLINE_QUEUE=agents"), ("ChanVariable", "HOTLINE_MENU=main"),
              ("ChanVariable", "HOTLINE_DIALED=12319"), ("ChanVariable", "HOTLINE_ANSWERED=" + ANSWERED_EPOCH),
              **c, Application=app, BridgeId=bridge, Duration="00:01:45", **extra)


def peer_row(channel: str, uid: str, bridge: str, duration: str) -> Message:
    return ev("CoreShowChannel", **chan(channel, uid, "p-9.7", context="hl12319-queue", exten="agents"),
              Application="AppQueue", BridgeId=bridge, Duration=duration)


def adopt(*rows: Message, entries: tuple[Message, ...] = ()) -> tuple[CallTracker, list[object]]:
    seen: list[object] = []
    tracker = CallTracker(on_event=seen.append, clock=FakeClock(T_RESYNC))
    tracker.begin_resync()
    for row in rows:
        tracker.resync_channel(row)
    for entry in entries:
        tracker.resync_queue_item(entry)
    tracker.end_resync()
    return tracker, seen


def test_an_adopted_call_talking_to_an_agent_keeps_dialled_number_answer_time_and_agent():
    member = ev("QueueMember", Queue="agents", Name="坐席1002", Location="PJSIP/agent-1002", InCall="1")
    tracker, seen = adopt(citizen_row("Queue", bridge="b-1"),
                          peer_row("PJSIP/agent-1002-0000000a", "p-9.10", "b-1", "00:00:40"), entries=(member,))
    [started] = [e for e in seen if isinstance(e, CallStarted)]
    assert (started.call_id, started.dialed, started.caller, started.adopted) == ("p-9.7", "12319", "13904760123", True)
    snap = tracker.snapshot("p-9.7")
    assert snap.dialed == "12319"                                  # was "s"/"agents" before
    assert snap.answered_at == utc("09:08:20")                     # was None
    assert snap.started_at == T_RESYNC - timedelta(seconds=105)       # Duration 1:45, before the answer
    # Duration is whole seconds: a call answered at once starts no later than its answer
    late = citizen_row("Queue", bridge="b-1")
    late = Message([(k, "00:01:00" if k == "Duration" else v) for k, v in late])
    tracker2, _ = adopt(late, peer_row("PJSIP/agent-1002-0000000a", "p-9.10", "b-1", "00:00:40"))
    assert tracker2.snapshot("p-9.7").started_at == utc("09:08:20")
    assert (snap.queue, snap.agent, snap.agent_answered_at) == ("agents", "坐席1002", utc("09:09:20"))
    assert snap.queue_joined_at == utc("09:09:20")                  # no later than the agent answered
    tracker.feed(ev("Hangup", **chan("PJSIP/district-trunk-00000007", "p-9.7", "p-9.7"), Cause="16"))
    assert seen[-1].snapshot.disposition is Disposition.AGENT      # not abandoned


def test_an_adopted_caller_waiting_in_the_queue_keeps_the_wait():
    entry = ev("QueueEntry", Queue="agents", Position="1", Channel="PJSIP/district-trunk-00000007",
               Uniqueid="p-9.7", Wait="25")
    tracker, _ = adopt(citizen_row("Queue"), entries=(entry,))
    snap = tracker.snapshot("p-9.7")
    assert (snap.queue, snap.queue_joined_at, snap.agent) == ("agents", T_RESYNC - timedelta(seconds=25), "")


def test_an_adopted_caller_bridged_to_a_district_line_is_transferred():
    tracker, seen = adopt(citizen_row("Dial", bridge="b-2", district="150403"),
                          peer_row("PJSIP/district-trunk-00000008", "p-9.8", "b-2", "00:00:30"))
    snap = tracker.snapshot("p-9.7")
    [t] = snap.transfers
    assert (t.kind, t.district_code, t.result.value, t.at) == ("district_line", "150403", "answered",
                                                               T_RESYNC - timedelta(seconds=30))
    tracker.feed(ev("Hangup", **chan("PJSIP/district-trunk-00000007", "p-9.7", "p-9.7"), Cause="16"))
    assert seen[-1].snapshot.disposition is Disposition.TRANSFERRED


def test_an_adopted_call_without_the_channel_variables_is_answered_at_its_start():
    row = ev("CoreShowChannel", **chan("PJSIP/x-00000001", "q-1.1", "q-1.1", exten="s"), Application="WaitExten",
             Duration="00:00:10")
    tracker, _ = adopt(row)
    snap = tracker.snapshot("q-1.1")
    assert snap.dialed == "" and snap.answered_at == snap.started_at == T_RESYNC - timedelta(seconds=10)
