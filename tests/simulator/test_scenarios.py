"""Simulated callers, district lines and agents driving the simulator's dialplan engine."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import pytest

from ivr.replay import replay_bytes
from ivr.simulator import CallerScript, Endpoint, PbxSimulator
from sim_driver import AmiTap, free_port

FAST = 50  # simulated seconds per real second


def sim(**kw) -> PbxSimulator:
    kw.setdefault("agi_address", ("127.0.0.1", free_port()))
    kw.setdefault("speed", FAST)
    return PbxSimulator(**kw)


def lifecycle_ok(tap: AmiTap) -> None:
    """Every channel: Newchannel first, exactly one Hangup, and Hangup last."""
    per: dict[str, list[str]] = defaultdict(list)
    for m in tap.events():
        ch = m.get("Channel")
        if ch and m.name not in ("Cdr", "CoreShowChannel", "Status", "QueueEntry", "ChannelHungup", "CEL", "OriginateResponse"):
            per[ch].append(m.name)
    for ch, names in per.items():
        assert names[0] == "Newchannel", (ch, names)
        assert names.count("Hangup") == 1, (ch, names)
        assert names[-1] == "Hangup", (ch, names)


async def test_caller_chooses_district_line_over_sip_trunk() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        call = await s.place_call("13800000000", "12319", CallerScript().until_app("WaitExten").press("1"), caller_name="张三")
        await call.wait_ended(10)
        await s.wait_idle(5)
        choice = await tap.wait_for(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "IVRChoice")
        assert choice.get("Digit") == "1"
        dial_end = await tap.wait_for(lambda m: m.name == "DialEnd" and m.get("Channel") == call.name)
        assert dial_end.get("DialStatus") == "ANSWER"
        await tap.wait_for(lambda m: m.name == "Hangup" and m.get("Channel") == call.name)
    lifecycle_ok(tap)
    calls = replay_bytes(bytes(tap.raw))
    assert len(calls) == 1
    rec = calls[0]
    assert rec.caller == "13800000000" and rec.caller_name == "张三" and rec.dialed == "12319"
    assert rec.digits == "1"
    assert [t.dial_status for t in rec.transfers] == ["ANSWER"]


DIAL_PLAN = {
    "contexts": {
        "in": {
            "_X.": [
                "Answer()",
                "Dial(SIP/${EXTEN},4)",
                "UserEvent(DialResult,Status: ${DIALSTATUS})",
                "Hangup()",
            ]
        }
    }
}


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        (Endpoint("answer", answer_after=1, talk_time=1), "ANSWER"),
        (Endpoint("busy"), "BUSY"),
        (Endpoint("noanswer"), "NOANSWER"),
        (Endpoint("congestion"), "CONGESTION"),
        (None, "CHANUNAVAIL"),
    ],
)
async def test_district_line_outcomes_set_dialstatus(endpoint, expected) -> None:
    async with sim(dialplan=DIAL_PLAN, inbound_context="in") as s, AmiTap(s.bound_port) as tap:
        if endpoint is not None:
            s.add_endpoint("150101", endpoint)
        call = await s.place_call("13900000000", "150101")
        await call.wait_ended(10)
        await s.wait_idle(5)
        if expected == "ANSWER":
            # the line hangs up after its talk time: Dial returns and the caller is hung up (no 'g')
            await tap.wait_for(lambda m: m.name == "DialEnd" and m.get("DialStatus") == "ANSWER")
            assert not [m for m in tap.events("UserEvent") if m.get("UserEvent") == "DialResult"]
        else:
            ev = await tap.wait_for(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "DialResult")
            assert ev.get("Status") == expected
    lifecycle_ok(tap)


async def test_many_concurrent_callers() -> None:
    rng = random.Random(7)
    n = 40
    async with sim(speed=10) as s, AmiTap(s.bound_port) as tap:
        scripts = []
        for i in range(n):
            digit = rng.choice("1234")
            scripts.append((f"1380000{i:04d}", digit))
        calls = await asyncio.gather(*[
            s.place_call(num, "12319", CallerScript().until_app("WaitExten").wait(rng.uniform(0, 2)).press(d)) for num, d in scripts
        ])
        await asyncio.gather(*[c.wait_ended(30) for c in calls])
        await s.wait_idle(10)
    lifecycle_ok(tap)
    choices = Counter(m.get("Digit") for m in tap.events("UserEvent") if m.get("UserEvent") == "IVRChoice")
    assert choices == Counter(d for _, d in scripts)
    records = {r.caller: r for r in replay_bytes(bytes(tap.raw))}
    assert set(records) == {num for num, _ in scripts}
    for num, d in scripts:
        assert records[num].digits == d


@pytest.mark.parametrize("hangup_at", [0, 0.5, 1.5, 2.5, 3.1, 4, 5.5, 6.5, 7.5, 9, 11, 14, 30])
@pytest.mark.parametrize("digit", ["1", "2", "3", "4"])
async def test_caller_hangs_up_at_any_step(hangup_at: float, digit: str) -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        if hangup_at > 3:
            script = CallerScript().wait(3).press(digit).wait(hangup_at - 3)
        else:
            script = CallerScript().wait(hangup_at)
        call = await s.place_call("13700000000", "12319", script.hangup())
        await call.wait_ended(20)
        await s.wait_idle(10)
        assert not s.pbx.channels
    lifecycle_ok(tap)
    assert len(replay_bytes(bytes(tap.raw))) == 1


async def test_queue_abandon_when_caller_hangs_up_while_waiting() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        await tap.action("QueuePause", Interface="Local/200@queue-agents/n", Paused="true", Queue="test")
        call = await s.place_call("13600000000", "12319", CallerScript().until_app("WaitExten").press("2").until_app("Queue").wait(3).hangup())
        await call.wait_ended(20)
        await s.wait_idle(5)
        ab = await tap.wait_for(lambda m: m.name == "QueueCallerAbandon")
        assert ab.get("Queue") == "test" and ab.get("Position") == "1"
        leave = await tap.wait_for(lambda m: m.name == "QueueCallerLeave")
        assert leave.get("Count") == "0"
        status = await tap.action("QueueStatus", Queue="test")
        assert status.get("EventList") == "start"
        params = await tap.wait_for(lambda m: m.name == "QueueParams" and m.get("ActionID") == status.get("ActionID"))
        assert params.get("Abandoned") == "1" and params.get("Calls") == "0"
    lifecycle_ok(tap)


async def test_queue_agent_answers_and_completes() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        call = await s.place_call("13500000000", "12319", CallerScript().until_app("WaitExten").press("2"))
        await call.wait_ended(30)
        await s.wait_idle(5)
        names = [m.name for m in tap.events() if m.name.startswith(("QueueCaller", "Agent"))]
        assert names == ["QueueCallerJoin", "AgentCalled", "QueueCallerLeave", "AgentConnect", "AgentComplete"]
    rec = replay_bytes(bytes(tap.raw))[0]
    assert rec.queue == "test" and rec.agent


async def test_sip_agent_added_with_queueadd_takes_the_call() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        s.add_endpoint("agent7", Endpoint("answer", answer_after=2, talk_time=3))
        await tap.action("QueuePause", Interface="Local/200@queue-agents/n", Paused="true", Queue="test")
        added = await tap.action("QueueAdd", Queue="test", Interface="SIP/agent7", MemberName="坐席7", Penalty="1")
        assert added.get("Message") == "Added interface to queue"
        again = await tap.action("QueueAdd", Queue="test", Interface="SIP/agent7")
        assert again.get("Message") == "Unable to add interface: Already there"
        call = await s.place_call("13400000000", "12319", CallerScript().until_app("WaitExten").press("2"))
        await call.wait_ended(30)
        await s.wait_idle(5)
        connect = await tap.wait_for(lambda m: m.name == "AgentConnect")
        assert connect.get("MemberName") == "坐席7" and connect.get("DestChannel").startswith("SIP/agent7-")
        done = await tap.wait_for(lambda m: m.name == "AgentComplete")
        assert done.get("Reason") == "agent"
        removed = await tap.action("QueueRemove", Queue="test", Interface="SIP/agent7")
        assert removed.get("Message") == "Removed interface from queue"
        static = await tap.action("QueueRemove", Queue="test", Interface="Local/200@queue-agents/n")
        assert static.get("Message") == "Unable to remove interface: Member not dynamic"
    lifecycle_ok(tap)
    rec = replay_bytes(bytes(tap.raw))[0]
    assert rec.queue == "test"


async def test_originate_with_channel_id_uses_client_uniqueids() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        await tap.action("Originate", Channel="Local/s@hold", Application="Wait", Data="2", Async="true",
                         ChannelId="case-42-leg", CallerID='"回访" <12319>')
        resp = await tap.wait_for(lambda m: m.name == "OriginateResponse")
        assert resp.get("Uniqueid") == "case-42-leg" and resp.get("Response") == "Success"
        two = await tap.wait_for(lambda m: m.name == "Newchannel" and m.get("Channel", "").endswith(";2"))
        assert two.get("Uniqueid") == "case-42-leg;2" and two.get("Linkedid") == "case-42-leg"
        status = await tap.action("Getvar", Channel="case-42-leg", Variable="CALLERID(name)")
        assert status.get("Value") == "回访"
        dup = await tap.action("Originate", Channel="Local/s@hold", Application="Wait", Data="2", ChannelId="case-42-leg")
        assert dup.get("Message") == "Originate failed"
        await s.wait_idle(10)


async def test_userevent_action_is_broadcast_with_all_headers() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap, AmiTap(s.bound_port, events="user") as other:
        resp = await tap.action("UserEvent", UserEvent="CaseRouted", Case="12319-20261127-00042", District="150402")
        assert resp.get("Message") == "Event Sent"
        ev = await other.wait_for(lambda m: m.name == "UserEvent")
        assert [k for k, _ in ev.headers] == ["Event", "Privilege", "SystemName", "UserEvent", "Case", "District", "ActionID"]
        assert ev.get("Case") == "12319-20261127-00042"


async def test_queue_timeout_continues_dialplan_with_queuestatus() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        await tap.action("QueuePause", Interface="Local/200@queue-agents/n", Paused="true", Queue="test")
        call = await s.place_call("13300000000", "12319", CallerScript().until_app("WaitExten").press("2"))
        await call.wait_ended(30)
        noop = await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Channel") == call.name
                                  and m.get("AppData", "").startswith("QUEUESTATUS="))
        assert noop.get("AppData") == "QUEUESTATUS=TIMEOUT"
        assert not tap.events("QueueCallerAbandon")
    lifecycle_ok(tap)


async def test_add_agent_helper_and_caller_hangup_cause() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        await tap.action("QueuePause", Interface="Local/200@queue-agents/n", Paused="true", Queue="test")
        s.add_agent("test", "agent9", Endpoint("answer", answer_after=1, talk_time=None), member_name="王坐席")
        with pytest.raises(ValueError):
            s.add_agent("nosuchqueue", "agent10")
        call = await s.place_call("13200000000", "12319",
                                  CallerScript().until_app("WaitExten").press("2").wait_answer().wait(4).hangup(cause=17))
        await call.wait_ended(30)
        await s.wait_idle(5)
        done = await tap.wait_for(lambda m: m.name == "AgentComplete")
        assert done.get("MemberName") == "王坐席" and done.get("Reason") == "caller"
        hang = await tap.wait_for(lambda m: m.name == "Hangup" and m.get("Channel") == call.name)
        assert hang.get("Cause") == "17"
    lifecycle_ok(tap)


@pytest.mark.parametrize(
    "endpoint, response, reason",
    [
        (Endpoint("answer", answer_after=1, talk_time=2), "Success", "4"),
        (Endpoint("busy"), "Failure", "5"),
        (Endpoint("noanswer"), "Failure", "3"),
        (Endpoint("congestion"), "Failure", "8"),
        (None, "Failure", "0"),
    ],
)
async def test_callback_originate_to_a_citizen_phone(endpoint, response, reason) -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        if endpoint is not None:
            s.add_endpoint("citizen", endpoint)
        queued = await tap.action("Originate", Channel="SIP/citizen", Context="hold", Exten="s", Priority="1",
                                  Timeout="5000", CallerID='"12319回访" <12319>', Async="true")
        ev = await tap.wait_for(lambda m: m.name == "OriginateResponse")
        assert (ev.get("ActionID"), ev.get("Response"), ev.get("Reason")) == (queued.get("ActionID"), response, reason)
        if response == "Success":
            assert ev.get("Channel").startswith("SIP/citizen-")
            await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Channel") == ev.get("Channel")
                               and m.get("Context") == "hold" and m.get("Application") == "Wait")
        else:
            assert (ev.get("Channel"), ev.get("Uniqueid")) == ("SIP/citizen", "<unknown>")
        await s.wait_idle(10)
    lifecycle_ok(tap)


QUEUES_CONF = """
[general]
[hotline]
strategy = {strategy}
timeout = 3
retry = 1
wrapuptime = 0
member => SIP/a1,0,A1
member => SIP/a2,0,A2
member => SIP/backup,5,Backup
"""
QUEUE_PLAN = {"contexts": {"in": {"12319": ["Answer()", "Queue(hotline,t,,,40)", "Hangup()"]}}}


async def _agents_rung(strategy: str, a1: Endpoint, a2: Endpoint, calls: int = 1) -> list[tuple[str, str]]:
    async with sim(dialplan=QUEUE_PLAN, queues=QUEUES_CONF.format(strategy=strategy), inbound_context="in") as s, \
            AmiTap(s.bound_port) as tap:
        s.add_endpoint("a1", a1)
        s.add_endpoint("a2", a2)
        s.add_endpoint("backup", Endpoint("answer", answer_after=1, talk_time=1))
        for i in range(calls):
            call = await s.place_call(f"1310000000{i}", "12319")
            await call.wait_ended(30)
            await s.wait_idle(5)
    lifecycle_ok(tap)
    return [(m.name, m.get("MemberName")) for m in tap.events() if m.name in ("AgentCalled", "AgentRingNoAnswer", "AgentConnect")]


async def test_ringall_rings_lowest_penalty_tier_then_retries_after_no_answer() -> None:
    seq = await _agents_rung("ringall", Endpoint("noanswer"), Endpoint("answer", answer_after=5, talk_time=1))
    # a2 answers after 5 s but the member timeout is 3 s: both ring, neither answers, retry, ... backup never
    assert ("AgentCalled", "Backup") not in seq
    assert seq[:2] == [("AgentCalled", "A1"), ("AgentCalled", "A2")]
    assert ("AgentRingNoAnswer", "A1") in seq


async def test_round_robin_memory_alternates_members() -> None:
    quick = Endpoint("answer", answer_after=1, talk_time=1)
    seq = await _agents_rung("rrmemory", quick, Endpoint("answer", answer_after=1, talk_time=1), calls=3)
    connected = [name for ev, name in seq if ev == "AgentConnect"]
    assert connected == ["A1", "A2", "A1"]


async def test_fewestcalls_prefers_the_member_with_fewer_calls() -> None:
    seq = await _agents_rung("fewestcalls", Endpoint("answer", answer_after=1, talk_time=1),
                             Endpoint("answer", answer_after=1, talk_time=1), calls=2)
    connected = [name for ev, name in seq if ev == "AgentConnect"]
    assert connected[0] == "A1" and connected[1] == "A2"  # A1 has taken one call, A2 none


async def test_call_handle_press_and_hangup_interactively() -> None:
    async with sim() as s, AmiTap(s.bound_port) as tap:
        call = await s.place_call("13000000000", "12319")
        await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Channel") == call.name
                           and m.get("Application") == "WaitExten")
        await call.press("3")
        await tap.wait_for(lambda m: m.get("UserEvent") == "IVRChoice" and m.get("Channel") == call.name)
        call.hangup(cause=16)
        await call.wait_ended(5)
        req = await tap.wait_for(lambda m: m.name == "HangupRequest" and m.get("Channel") == call.name)
        assert req.get("Cause") == "16"
    lifecycle_ok(tap)


@pytest.mark.parametrize("autofill, parallel", [("yes", True), ("no", False)])
async def test_autofill_offers_waiting_callers_to_free_agents_at_once(autofill: str, parallel: bool) -> None:
    """app_queue's is_our_turn: with autofill (Asterisk's default) two callers ring two free agents
    at the same time; without it the second waits until the first is connected."""
    queues = QUEUES_CONF.format(strategy="rrmemory").replace("retry = 1", f"retry = 1\nautofill = {autofill}")
    queues = queues.replace("member => SIP/backup,5,Backup\n", "")
    async with sim(dialplan=QUEUE_PLAN, queues=queues, inbound_context="in") as s, AmiTap(s.bound_port) as tap:
        s.add_endpoint("a1", Endpoint("answer", answer_after=2, talk_time=1))
        s.add_endpoint("a2", Endpoint("answer", answer_after=2, talk_time=1))
        calls = [await s.place_call(f"1320000000{i}", "12319") for i in range(2)]
        for call in calls:
            await call.wait_ended(30)
        await s.wait_idle(5)
    seq = [m.name for m in tap.events() if m.name in ("AgentCalled", "AgentConnect")]
    assert seq.count("AgentConnect") == 2
    assert (seq[:2] == ["AgentCalled", "AgentCalled"]) is parallel
