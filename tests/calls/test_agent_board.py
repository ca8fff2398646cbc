"""The agent board: seat states from queue member events (synthetic, the Asterisk 20 capture,
and the PBX simulator over real AMI)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from call_helpers import FakeClock, ev, fixture_bytes
from ivr.agents import WRAP_UP_REASON, AgentBoard
from ivr.ami.protocol import parse_stream
from ivr.events import AgentState, AgentStateChanged

SEAT = "PJSIP/agent-1101"


def member(event: str, queue: str = "agents", *, paused: str = "0", reason: str = "", in_call: str = "0",
           status: str = "1", interface: str = SEAT, name: str = "王芳"):
    return ev(event, Queue=queue, MemberName=name, Interface=interface, StateInterface=interface,
              Membership="dynamic", Penalty="0", CallsTaken="0", InCall=in_call, Status=status, Paused=paused,
              PausedReason=reason)


def agent_event(event: str, queue: str = "agents", *, uid: str = "pbx-1.10", linkedid: str = "pbx-1.10", **more):
    return ev(event, Queue=queue, Interface=SEAT, MemberName="王芳", Uniqueid=uid, Linkedid=linkedid,
              Channel="PJSIP/trunk-00000001", DestChannel=f"{SEAT}-00000002", **more)


def board(clock=None, **kw):
    seen: list[AgentStateChanged] = []
    kw.setdefault("wrapup_seconds", {"agents": 15})
    b = AgentBoard(on_event=seen.append, clock=clock or FakeClock(), **kw)
    return b, seen


def states(seen):
    return [e.agent.state for e in seen]


def test_a_seat_goes_through_a_whole_call():
    clock = FakeClock()
    b, seen = board(clock, call_id_for=lambda uid: {"pbx-1.10": "call-7"}.get(uid))
    assert b.snapshot(SEAT).state is AgentState.LOGGED_OUT
    b.feed(member("QueueMemberAdded"))
    b.feed(member("QueueMemberAdded", "mongolian"))
    snap = b.snapshot(SEAT)
    assert snap.state is AgentState.IDLE and snap.queues == ("agents", "mongolian") and snap.name == "王芳"
    clock.advance(30)
    b.feed(agent_event("AgentCalled"))
    snap = b.snapshot(SEAT)
    assert snap.state is AgentState.RINGING and snap.call_id == "call-7" and snap.since == clock.now
    clock.advance(4)
    b.feed(agent_event("AgentConnect", HoldTime="12", RingTime="4"))
    b.feed(member("QueueMemberStatus", in_call="1", status="2"))
    assert b.snapshot(SEAT).state is AgentState.ON_CALL and b.snapshot(SEAT).call_id == "call-7"
    clock.advance(120)
    b.feed(agent_event("AgentComplete", TalkTime="120", Reason="caller"))
    b.feed(member("QueueMemberStatus", in_call="0", status="1"))
    snap = b.snapshot(SEAT)
    assert snap.state is AgentState.WRAP_UP and snap.calls_taken == 1 and snap.call_id == ""
    assert (snap.wrap_up_until - clock.now).total_seconds() == 15
    clock.advance(14)
    b.expire(clock.now)
    assert b.snapshot(SEAT).state is AgentState.WRAP_UP
    clock.advance(1)
    b.expire(clock.now)
    assert b.snapshot(SEAT).state is AgentState.IDLE
    b.feed(member("QueueMemberRemoved"))
    b.feed(member("QueueMemberRemoved", "mongolian"))
    assert b.snapshot(SEAT).state is AgentState.LOGGED_OUT
    assert states(seen) == [AgentState.IDLE, AgentState.IDLE, AgentState.RINGING, AgentState.ON_CALL,
                            AgentState.WRAP_UP, AgentState.IDLE, AgentState.IDLE, AgentState.LOGGED_OUT]


def test_pause_with_a_reason_and_wrap_up_by_pause():
    b, seen = board()
    b.feed(member("QueueMemberAdded"))
    b.feed(member("QueueMemberPause", paused="1", reason="培训"))
    snap = b.snapshot(SEAT)
    assert snap.state is AgentState.PAUSED and snap.pause_reason == "培训"
    b.feed(member("QueueMemberPause", paused="0"))
    assert b.snapshot(SEAT).state is AgentState.IDLE and b.snapshot(SEAT).pause_reason == ""
    b.feed(member("QueueMemberPause", paused="1", reason=WRAP_UP_REASON))
    assert b.snapshot(SEAT).state is AgentState.WRAP_UP


def test_paused_in_one_queue_only_is_still_available():
    b, _ = board()
    b.feed(member("QueueMemberAdded"))
    b.feed(member("QueueMemberAdded", "mongolian"))
    b.feed(member("QueueMemberPause", "mongolian", paused="1", reason="会议"))
    assert b.snapshot(SEAT).state is AgentState.IDLE


def test_a_ring_that_is_not_answered_returns_to_idle():
    b, seen = board()
    b.feed(member("QueueMemberAdded"))
    b.feed(agent_event("AgentCalled"))
    b.feed(agent_event("AgentRingNoAnswer", RingTime="15000"))
    assert states(seen)[-2:] == [AgentState.RINGING, AgentState.IDLE]
    assert b.snapshot(SEAT).call_id == ""


def test_resync_signs_out_seats_gone_and_adopts_new_ones():
    b, _ = board()
    b.feed(member("QueueMemberAdded"))
    b.feed(member("QueueMemberAdded", interface="PJSIP/agent-1102", name="李静"))
    items = list(parse_stream(
        b"Event: QueueParams\r\nQueue: agents\r\n\r\n"
        b"Event: QueueMember\r\nQueue: agents\r\nName: \xe6\x9d\x8e\xe9\x9d\x99\r\nLocation: PJSIP/agent-1102\r\n"
        b"InCall: 1\r\nStatus: 2\r\nPaused: 0\r\nPausedReason: \r\n\r\n"
        b"Event: QueueMember\r\nQueue: agents\r\nName: A3\r\nLocation: PJSIP/agent-1103\r\n"
        b"InCall: 0\r\nStatus: 1\r\nPaused: 1\r\nPausedReason: lunch\r\n\r\n"))
    b.resync(items)
    assert b.snapshot(SEAT).state is AgentState.LOGGED_OUT
    assert b.snapshot("PJSIP/agent-1102").state is AgentState.ON_CALL
    third = b.snapshot("pjsip/AGENT-1103")            # interfaces compare case-insensitively
    assert third.state is AgentState.PAUSED and third.pause_reason == "lunch" and third.name == "A3"
    assert [s.interface for s in b.snapshots()][-1] == SEAT     # signed-out seats last


def test_the_asterisk_20_capture():
    """06_queuestatus_and_queue_call: Agent200 (a static member) paused 'lunch', unpaused, then
    takes the queue call: paused → idle → ringing → on call → idle (wrapuptime 0)."""
    b, seen = board(wrapup_seconds={"test": 0})
    for msg in parse_stream(fixture_bytes("06_queuestatus_and_queue_call")):
        b.feed(msg)
    assert b.errors == 0
    path = [s for i, s in enumerate(states(seen)) if i == 0 or s is not states(seen)[i - 1]]
    assert path[:1] == [AgentState.PAUSED]
    assert path[-3:] == [AgentState.RINGING, AgentState.ON_CALL, AgentState.IDLE]
    final = b.snapshot("Local/200@queue-agents/n")
    assert final.state is AgentState.IDLE and final.name == "Agent200" and final.calls_taken >= 1


def test_odd_input_never_raises():
    b, _ = board()
    for msg in [ev("QueueMemberAdded"), ev("AgentCalled", Interface=""), ev("QueueMemberStatus", Interface=SEAT),
                ev("QueueMemberPause", Interface=SEAT, Queue="agents", Paused="maybe"), None, "text"]:
        b.feed(msg)
    assert b.errors == 0


async def test_seats_in_the_simulator_over_real_ami():
    """Sign in, pause, take a call at a softphone, wrap up: the facade asks, the board follows."""
    from ivr.ami.client import AmiClient
    from ivr.bus import EventBus
    from ivr.calls import CallTracker
    from ivr.controller import AmiController
    from ivr.facade import CallFacade
    from ivr.simulator import CallerScript, PbxSimulator
    from ivr.simulator.softphone import Softphone

    queues = "[agents]\nstrategy = ringall\ntimeout = 20\nwrapuptime = 5\njoinempty = yes\nleavewhenempty = no\n"
    dialplan = ("[sip-guest]\nexten => 12319,1,Answer()\n same => n,Queue(agents,t,,,60)\n same => n,Hangup()\n")
    async with PbxSimulator(dialplan=dialplan, queues=queues, speed=20) as sim:
        phone = Softphone("agent-1101")
        sim.add_endpoint("agent-1101", phone)
        tracker = CallTracker(EventBus(), clock=lambda: datetime.fromtimestamp(sim.clock.now(), timezone.utc))
        agents = AgentBoard(clock=tracker.clock, call_id_for=tracker.call_id_for, wrapup_seconds={"agents": 5})
        controller = AmiController(AmiClient("127.0.0.1", sim.bound_port, "hotline", "hotline-secret"), tracker,
                                   agents)
        await controller.start()
        facade = CallFacade(controller, districts=[], queues=["agents"])
        try:
            assert await facade.sign_in(SEAT, "王芳") == ["agents"]
            assert await facade.sign_in(SEAT, "王芳") == ["agents"]        # already there: fine
            await _until(lambda: facade.agent(SEAT).state is AgentState.IDLE)
            await facade.pause(SEAT, "小休")
            await _until(lambda: facade.agent(SEAT).state is AgentState.PAUSED)
            assert facade.agent(SEAT).pause_reason == "小休"
            await facade.unpause(SEAT)
            await _until(lambda: facade.agent(SEAT).state is AgentState.IDLE)
            await sim.place_call(caller="13900001111", script=CallerScript().wait(300))
            await _until(lambda: facade.agent(SEAT).state is AgentState.RINGING)
            call_id = facade.agent(SEAT).call_id
            assert call_id and [c.call_id for c in facade.live_calls()] == [call_id]
            assert phone.state == "ringing" and phone.caller == "13900001111"
            assert phone.answer()
            await _until(lambda: facade.agent(SEAT).state is AgentState.ON_CALL)
            assert facade.agent(SEAT).call_id == call_id
            assert phone.hangup()
            await _until(lambda: facade.agent(SEAT).state is AgentState.WRAP_UP)
            await _until(lambda: (agents.expire(), facade.agent(SEAT).state)[1] is AgentState.IDLE, timeout=5)
            assert await facade.sign_out(SEAT) == ["agents"]
            await _until(lambda: facade.agent(SEAT).state is AgentState.LOGGED_OUT)
        finally:
            await controller.stop()


async def _until(predicate, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
