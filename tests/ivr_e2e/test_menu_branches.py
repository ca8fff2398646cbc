"""Every branch of the shipped main menu, the invalid/timeout loops and the caller lookup,
with the real FastAGI scripts answering from the database."""

from __future__ import annotations

import asyncio
from datetime import datetime

from ivr_e2e_support import CALLER, OPEN_AT, TZ, menu_caller, steps

from hotline.cases.service import create_ticket
from hotline.database import transaction


async def test_report_a_problem_reaches_an_agent_and_the_backend_decided_the_hours(running):
    async with running() as pbx:
        call = await pbx.call(menu_caller().press("1").wait(30).hangup())
    assert call.disposition == "agent"
    assert call.queue == "agents" and call.agent
    assert ("hl12319-menu-main", "choice", "1") in steps(call)
    v = call.variables
    assert (v["HOTLINE_OPEN"], v["HOTLINE_HOURS_SOURCE"]) == ("1", "backend")
    assert (v["HOTLINE_OPEN_TICKETS"], v["HOTLINE_REPEAT_CALLER"], v["HOTLINE_OFFERED_DISTRICT"]) == ("0", "0", "")


async def test_zero_reaches_an_agent(running):
    async with running() as pbx:
        call = await pbx.call(menu_caller().press("0").wait(30).hangup())
    assert steps(call)[-1] == ("hl12319-queue", "enter", "agents")
    assert call.disposition == "agent"


async def test_nine_reaches_the_mongolian_seat(running):
    async with running() as pbx:
        call = await pbx.call(menu_caller().press("9").wait(30).hangup())
    assert call.queue == "mongolian" and call.disposition == "agent"
    assert "2001" in call.agent


async def test_mongolian_seat_without_an_agent_falls_back_to_the_agent_queue(running):
    # nobody in the Mongolian queue: joinempty refuses the caller at once (QUEUESTATUS JOINEMPTY,
    # no QueueCallerJoin) → the agent queue, instead of waiting max_wait (300 s) in vain
    async with running(agents=(("agents", "PJSIP/agent-1001", "坐席1001"),)) as pbx:
        call = await pbx.call(menu_caller().press("9").wait(60).hangup())
    assert ("hl12319-queue", "enter", "mongolian") in steps(call)
    assert call.variables["HOTLINE_QUEUE"] == "agents" and call.queue == "agents"
    assert call.variables["HOTLINE_QUEUE_STATUS"] == "JOINEMPTY"
    assert call.disposition == "agent" and "1001" in call.agent


async def test_a_caller_waiting_for_the_mongolian_seat_leaves_when_its_agent_pauses(running):
    from ivr.simulator import Endpoint

    async with running() as pbx:
        pbx.agent("agent-2001", Endpoint("noanswer"))          # the Mongolian seat does not pick up ...
        handle = await pbx.place(menu_caller().press("9").wait(120).hangup())
        await asyncio.sleep(20 / 60)                            # ... while the caller waits (20 s simulated)
        assert pbx.sim.pbx.queues.pause("PJSIP/agent-2001", True, "mongolian", "午休")   # ... then pauses
        await handle.wait_ended(60)
        call = await pbx.stored(handle.linkedid)
    # the agent queue's Queue() ended with the caller's hang-up, so the last status set is the seat's
    assert call.variables["HOTLINE_QUEUE_STATUS"] == "LEAVEEMPTY"
    assert call.queue == "agents" and call.disposition == "agent" and "1001" in call.agent
    entered = {s["value"]: datetime.fromisoformat(s["at"]) for s in call.ivr_path if s["menu"] == "hl12319-queue"}
    assert list(entered) == ["mongolian", "agents"]
    assert (entered["agents"] - entered["mongolian"]).total_seconds() < 60      # left at the pause, not at 300 s


async def test_three_invalid_keys_reach_an_agent(running):
    script = menu_caller().press("7").wait(1).until_app("Background").wait(1).press("8").wait(1) \
        .until_app("Background").wait(1).press("6").wait(40).hangup()
    async with running() as pbx:
        call = await pbx.call(script)
    main = [(k, v) for m, k, v in steps(call) if m == "hl12319-menu-main"]
    assert main[1:] == [("invalid", "7"), ("invalid", "8"), ("invalid", "6"), ("maxretries", "")]
    assert steps(call)[-1] == ("hl12319-queue", "enter", "agents")
    assert call.disposition == "agent"


async def test_silence_times_out_twice_then_reaches_an_agent(running):
    async with running() as pbx:
        call = await pbx.call(menu_caller().until_app("Queue").wait(30).hangup())
    main = [k for m, k, v in steps(call) if m == "hl12319-menu-main"]
    assert main.count("timeout") == 3 and main[-1] == "maxretries"
    assert call.variables["HOTLINE_TIMEOUTS"] == "3"
    assert call.disposition == "agent"


async def test_district_submenu_repeat_and_zero(running):
    script = menu_caller().press("2").wait(1).until_app("Background").wait(1).press("*").wait(1) \
        .until_app("Background").wait(1).press("0").wait(30).hangup()
    async with running() as pbx:
        call = await pbx.call(script)
    sub = [(k, v) for m, k, v in steps(call) if m == "hl12319-menu-districts"]
    assert ("choice", "*") in sub and ("choice", "0") in sub
    assert call.queue == "agents" and call.disposition == "agent"


async def test_repeat_caller_is_recognised_with_the_district_of_the_open_ticket(running, db_factory):
    with transaction(db_factory) as s:
        ticket = create_ticket(s, channel="phone", caller_number=CALLER, category=None,
                               description="小区路灯不亮", district_code="150404", actor=None,
                               actor_name="测试", at=OPEN_AT, tz=TZ)
        number = ticket.number
    async with running() as pbx:
        call = await pbx.call(menu_caller().press("0").wait(20).hangup())
        other = await pbx.call(menu_caller().press("0").wait(20).hangup(), caller="13800000001")
    v = call.variables
    assert (v["HOTLINE_REPEAT_CALLER"], v["HOTLINE_OPEN_TICKETS"]) == ("1", "1")
    assert (v["HOTLINE_LAST_TICKET"], v["HOTLINE_LAST_TICKET_STATE"]) == (number, "received")
    assert v["HOTLINE_OFFERED_DISTRICT"] == "150404"
    assert other.variables["HOTLINE_REPEAT_CALLER"] == "0"
