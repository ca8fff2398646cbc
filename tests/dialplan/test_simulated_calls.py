"""The rendered dialplan run end to end: the project's PBX simulator executes it, a real
FastAGI server answers its AGI calls, and the call tracker reads the AMI events it produces.

Checks that the generated contexts, AGI contract and UserEvents work together: each
caller journey ends with the disposition, IVR path, transfer and variables the backend
needs (district ticket after a busy line, message after hours, self-served ticket status).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.agi.server import FastAgiServer
from ivr.calls import CallTracker
from ivr.dialplan import render_dialplan
from ivr.events import CallEnded, Disposition, TransferResult
from ivr.flow import flow_from_rules
from ivr.simulator import CallerScript, PbxSimulator
from ivr.simulator.pbx import Endpoint

SPEED = 50  # simulated seconds per real second


class Backend:
    """The AGI side of the contract in docs/ivr.md, with a fixed answer per script."""

    def __init__(self, open_now: str = "1", tickets: dict[str, str] | None = None,
                 offered: str | None = None) -> None:
        self.open_now = open_now
        self.tickets = tickets or {}
        self.offered = offered
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def routes(self):
        async def caller_lookup(session):
            self.calls.append(("caller_lookup", session.env.args))
            if self.offered is not None:
                await session.set_variable("HOTLINE_OFFERED_DISTRICT", self.offered)

        async def business_hours(session):
            self.calls.append(("business_hours", session.env.args))
            await session.set_variable("HOTLINE_OPEN", self.open_now)

        async def ticket_status(session):
            self.calls.append(("ticket_status", session.env.args))
            await session.set_variable("HOTLINE_TICKET_STATE", self.tickets.get(session.env.args[0], ""))

        return {"caller_lookup": caller_lookup, "business_hours": business_hours, "ticket_status": ticket_status}


def seat_silent_agents(sim) -> None:
    """One logged-in seat per queue that never picks up: callers wait in the queue (an empty queue
    refuses them with JOINEMPTY, as ``joinempty`` in the rendered queues.conf says)."""
    for queue, seat in (("agents", "agent-1001"), ("mongolian", "agent-2001")):
        sim.add_agent(queue, seat, Endpoint("noanswer"))


async def run_call(flow, tmp_path: Path, script: CallerScript, backend: Backend,
                   endpoints: dict[str, Endpoint] | None = None, *, seat_agents: bool = True):
    agi = FastAgiServer("127.0.0.1", 0, backend.routes())
    await agi.start()
    try:
        out = tmp_path / "dialplan"
        render_dialplan(flow, out_dir=out, agi_host="127.0.0.1", agi_port=agi.bound_port)
        ended: list[CallEnded] = []
        tracker = CallTracker(on_event=lambda e: ended.append(e) if isinstance(e, CallEnded) else None)
        async with PbxSimulator(agi_address=("127.0.0.1", agi.bound_port),
                                dialplan=(out / "extensions.conf").read_text(encoding="utf-8"),
                                queues=(out / "queues.conf").read_text(encoding="utf-8"),
                                speed=SPEED, inbound_context="hl12319-entry") as sim:
            sim.pbx.listeners.append(lambda cls, msg: tracker.feed(msg))
            if seat_agents:
                seat_silent_agents(sim)
            for name, ep in (endpoints or {}).items():
                sim.add_endpoint(name, ep)
            call = await sim.place_call(caller="13904760000", dialed="12319", script=script)
            await call.wait_ended(timeout=60)
    finally:
        await agi.stop()
    assert len(ended) == 1
    return ended[0].snapshot


def path_of(snapshot) -> list[tuple[str, str, str]]:
    return [(s.menu, s.kind, s.value) for s in snapshot.ivr_path if s.kind != "agi"]


@pytest.fixture
def flow(shipped_rules):
    return flow_from_rules(shipped_rules)


async def test_busy_district_line_falls_back_to_agents_and_marks_the_district(flow, tmp_path):
    backend = Backend()
    script = CallerScript().wait(3).press("2").wait(2).press("1").wait(30).hangup()
    snap = await run_call(flow, tmp_path, script, backend, {"04768312319": Endpoint("busy")})
    assert path_of(snap) == [
        ("hl12319-entry", "enter", ""), ("hl12319-menu-main", "enter", ""), ("hl12319-menu-main", "choice", "2"),
        ("hl12319-menu-districts", "enter", ""), ("hl12319-menu-districts", "choice", "1"),
        ("hl12319-district", "enter", ""), ("hl12319-queue", "enter", "agents")]
    [transfer] = snap.transfers
    assert (transfer.district_code, transfer.result, transfer.dial_status) == ("150402", TransferResult.BUSY, "BUSY")
    assert snap.variables["HOTLINE_TRANSFER_FAILED"] == "150402"
    assert snap.queue == "agents"
    assert [name for name, _ in backend.calls] == ["caller_lookup", "business_hours"]
    assert backend.calls[0][1] == ("13904760000",)


async def test_answered_district_line_is_a_transfer(flow, tmp_path):
    script = CallerScript().wait(3).press("2").wait(2).press("3").wait(20).hangup()
    snap = await run_call(flow, tmp_path, script, Backend(),
                          {"04765812319": Endpoint("answer", answer_after=2, talk_time=5)})
    [transfer] = snap.transfers
    assert (transfer.district_code, transfer.result) == ("150404", TransferResult.ANSWERED)
    assert snap.disposition is Disposition.TRANSFERRED
    assert "HOTLINE_TRANSFER_FAILED" not in snap.variables


async def test_offered_district_accepted_busy_line_is_marked_like_a_menu_choice(flow, tmp_path):
    script = CallerScript().wait(3).press("2").wait(2).press("1").wait(30).hangup()
    snap = await run_call(flow, tmp_path, script, Backend(offered="150402"), {"04768312319": Endpoint("busy")})
    assert path_of(snap) == [
        ("hl12319-entry", "enter", ""), ("hl12319-menu-main", "enter", ""), ("hl12319-menu-main", "choice", "2"),
        ("hl12319-offer-districts", "enter", "150402"), ("hl12319-offer-districts", "choice", "1"),
        ("hl12319-district", "enter", ""), ("hl12319-queue", "enter", "agents")]
    [transfer] = snap.transfers
    assert (transfer.district_code, transfer.result, transfer.dial_status) == ("150402", TransferResult.BUSY, "BUSY")
    assert snap.variables["HOTLINE_TRANSFER_FAILED"] == "150402"
    assert snap.variables["HOTLINE_OFFER"] == "150402"


async def test_silence_after_the_offer_opens_the_district_menu(flow, tmp_path):
    script = CallerScript().wait(3).press("2").until_app("Playback").until_app("Background").wait(1) \
        .press("3").wait(20).hangup()
    snap = await run_call(flow, tmp_path, script, Backend(offered="150404"),
                          {"04765812319": Endpoint("answer", answer_after=2, talk_time=5)})
    path = path_of(snap)
    at = path.index(("hl12319-offer-districts", "enter", "150404"))
    assert path[at + 1:at + 5] == [
        ("hl12319-offer-districts", "timeout", ""), ("hl12319-menu-districts", "enter", ""),
        ("hl12319-menu-districts", "choice", "3"), ("hl12319-district", "enter", "")]
    [transfer] = snap.transfers
    assert (transfer.district_code, transfer.result) == ("150404", TransferResult.ANSWERED)


async def test_an_unknown_offered_district_is_not_offered(flow, tmp_path):
    script = CallerScript().wait(3).press("2").wait(2).press("4").wait(20).hangup()
    snap = await run_call(flow, tmp_path, script, Backend(offered="150499"),
                          {"04763712319": Endpoint("answer", answer_after=2, talk_time=5)})
    path = path_of(snap)
    assert not [s for s in path if s[0] == "hl12319-offer-districts"]
    assert path[2:5] == [("hl12319-menu-main", "choice", "2"), ("hl12319-menu-districts", "enter", ""),
                         ("hl12319-menu-districts", "choice", "4")]
    assert [t.district_code for t in snap.transfers] == ["150428"]
    assert "HOTLINE_OFFER" not in snap.variables


async def test_ticket_status_is_read_back_and_the_caller_returns_to_the_menu(flow, tmp_path):
    backend = Backend(tickets={"42": "dispatched"})
    script = CallerScript().wait(3).press("3").wait(2).press("42#").wait(10).hangup()
    snap = await run_call(flow, tmp_path, script, backend)
    assert ("ticket_status", ("42",)) in backend.calls
    path = path_of(snap)
    at = path.index(("hl12319-menu-main", "choice", "3"))
    assert path[at + 1:at + 3] == [("hl12319-ticket", "enter", ""), ("hl12319-menu-main", "enter", "")]
    assert snap.variables["HOTLINE_TICKET_STATE"] == "dispatched"
    assert snap.disposition is Disposition.SELF_SERVED


async def test_unknown_ticket_number_is_asked_again(flow, tmp_path):
    backend = Backend(tickets={})
    script = CallerScript().wait(3).press("3").wait(2).press("7#").wait(8).press("8#").wait(5).hangup()
    snap = await run_call(flow, tmp_path, script, backend)
    assert [a for n, a in backend.calls if n == "ticket_status"] == [("7",), ("8",)]
    assert snap.variables["HOTLINE_TICKET_TRIES"] == "2"


async def test_after_hours_caller_leaves_a_message(flow, tmp_path):
    backend = Backend(open_now="0")
    snap = await run_call(flow, tmp_path, CallerScript().wait(20).hangup(), backend)
    assert path_of(snap) == [("hl12319-entry", "enter", ""), ("hl12319-message", "enter", "after_hours")]
    assert snap.disposition is Disposition.VOICEMAIL
    assert snap.variables["HOTLINE_MESSAGE_REASON"] == "after_hours"
    [message] = snap.recordings
    assert message.startswith("/var/spool/asterisk/hl12319-messages/") and message.endswith(".wav")


async def test_three_invalid_keys_reach_an_agent(flow, tmp_path):
    script = CallerScript().wait(3).press("7").wait(3).press("8").wait(3).press("6").wait(5).hangup()
    snap = await run_call(flow, tmp_path, script, Backend())
    kinds = [(m, k, v) for m, k, v in path_of(snap) if m == "hl12319-menu-main"]
    assert kinds[1:] == [("hl12319-menu-main", "invalid", "7"), ("hl12319-menu-main", "invalid", "8"),
                         ("hl12319-menu-main", "invalid", "6"), ("hl12319-menu-main", "maxretries", "")]
    assert path_of(snap)[-1] == ("hl12319-queue", "enter", "agents")


async def test_mongolian_seat_switches_the_language(flow, tmp_path):
    script = CallerScript().wait(3).press("9").wait(5).hangup()
    snap = await run_call(flow, tmp_path, script, Backend())
    assert snap.queue == "mongolian"
    assert path_of(snap)[-1] == ("hl12319-queue", "enter", "mongolian")


async def test_menu_less_goes_straight_to_agents(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(menu_less=True)))
    snap = await run_call(flow, tmp_path, CallerScript().wait(10).hangup(), Backend())
    assert path_of(snap) == [("hl12319-entry", "enter", ""), ("hl12319-queue", "enter", "agents")]
    assert snap.queue == "agents"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _call_without_agi(flow, tmp_path: Path, script: CallerScript):
    """The app is down: every AGI() fails, the dialplan must carry on by itself."""
    port = _closed_port()
    out = tmp_path / "dialplan"
    render_dialplan(flow, out_dir=out, agi_host="127.0.0.1", agi_port=port)
    ended: list[CallEnded] = []
    tracker = CallTracker(on_event=lambda e: ended.append(e) if isinstance(e, CallEnded) else None)
    async with PbxSimulator(agi_address=("127.0.0.1", port),
                            dialplan=(out / "extensions.conf").read_text(encoding="utf-8"),
                            queues=(out / "queues.conf").read_text(encoding="utf-8"),
                            speed=SPEED, inbound_context="hl12319-entry") as sim:
        sim.pbx.listeners.append(lambda cls, msg: tracker.feed(msg))
        seat_silent_agents(sim)
        call = await sim.place_call(script=script)
        await call.wait_ended(timeout=60)
    return ended[0].snapshot


def _span_away_from_now(hours_from: int) -> str:
    """A one-hour span starting ``hours_from`` hours from now (Asia/Shanghai), not wrapping midnight."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai")).hour
    start = (now + hours_from) % 24
    if start == 23:
        start = (now - hours_from) % 24
    return f"{start:02d}:00-{start + 1:02d}:00"


async def test_agi_down_open_by_the_static_schedule(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d.update(
        business_hours={"mode": "scheduled", "hours": ["00:00-24:00"], "days": "every_day"})))
    snap = await _call_without_agi(flow, tmp_path, CallerScript().wait(3).press("0").wait(5).hangup())
    assert snap.variables["HOTLINE_HOURS_SOURCE"] == "schedule"
    assert ("hl12319-menu-main", "choice", "0") in path_of(snap)
    assert snap.queue == "agents"


async def test_agi_down_closed_by_the_static_schedule(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d.update(
        business_hours={"mode": "scheduled", "hours": [_span_away_from_now(3)], "days": "every_day"})))
    snap = await _call_without_agi(flow, tmp_path, CallerScript().wait(20).hangup())
    assert snap.variables["HOTLINE_HOURS_SOURCE"] == "schedule"
    assert path_of(snap)[-1] == ("hl12319-message", "enter", "after_hours")
    assert snap.disposition is Disposition.VOICEMAIL


async def test_nobody_logged_in_the_agent_queue_refuses_at_once_and_takes_a_message(flow, tmp_path):
    script = CallerScript().wait(3).press("0").wait(40).hangup()
    snap = await run_call(flow, tmp_path, script, Backend(), seat_agents=False)
    assert path_of(snap)[-2:] == [("hl12319-queue", "enter", "agents"), ("hl12319-message", "enter", "queue_unavailable")]
    assert snap.variables["HOTLINE_QUEUE_STATUS"] == "JOINEMPTY"
    assert snap.queue in ("", None)                                  # never joined: no QueueCallerJoin
