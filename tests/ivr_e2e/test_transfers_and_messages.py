"""District transfers from the menu (answered / busy / no answer with fallback), after-hours
messages becoming tickets through the recorder, and a Call record for a hang-up at every step."""

from __future__ import annotations

import pytest
from ivr_e2e_support import CALLER, menu_caller, steps

from ivr.simulator import CallerScript, Endpoint


def district(digit: str):
    """Main menu 2, then ``digit`` in the district submenu."""
    return menu_caller().press("2").wait(1).until_app("Background").wait(1).press(digit)


async def test_answered_district_line_is_a_transfer_and_no_ticket(running):
    async with running() as pbx:
        call = await pbx.call(district("3").wait(60).hangup())
    [t] = call.transfers
    assert (t["district_code"], t["result"], t["kind"]) == ("150404", "answered", "district_line")
    assert call.disposition == "transferred"
    assert pbx.tickets_of(call) == []


async def test_busy_district_line_falls_back_to_an_agent(running):
    async with running() as pbx:
        pbx.line("150402", Endpoint("busy"))
        call = await pbx.call(district("1").wait(60).hangup())
    [t] = call.transfers
    assert (t["district_code"], t["result"], t["dial_status"]) == ("150402", "busy", "BUSY")
    assert call.variables["HOTLINE_TRANSFER_FAILED"] == "150402"
    assert steps(call)[-1] == ("hl12319-queue", "enter", "agents")
    assert call.disposition == "agent"
    assert pbx.tickets_of(call) == []  # an agent served the caller


async def test_unanswered_district_line_then_hang_up_in_the_queue_opens_a_district_ticket(running):
    # the line rings out (Dial timeout 30 s); nobody answers in the agent queue either
    async with running(silent_agents=True) as pbx:
        pbx.line("150403", Endpoint("noanswer"))
        call = await pbx.call(district("2").until_app("Queue").wait(20).hangup())
    [t] = call.transfers
    assert (t["district_code"], t["result"], t["dial_status"]) == ("150403", "no_answer", "NOANSWER")
    assert call.disposition == "abandoned"
    [ticket] = pbx.tickets_of(call)
    assert ticket.district_code == "150403" and ticket.caller_number == CALLER
    assert ticket.state == "received" and "无人接听" in ticket.description
    [created] = pbx.events_of(ticket.id)
    assert created.data["reason"] == "transfer_failed"


async def test_after_hours_message_becomes_a_ticket(running):
    async with running(open_now=False) as pbx:
        call = await pbx.call(CallerScript().until_app("Record").wait(20).hangup())
    assert steps(call) == [("hl12319-entry", "enter", ""), ("hl12319-message", "enter", "after_hours")]
    assert (call.variables["HOTLINE_OPEN"], call.variables["HOTLINE_HOURS_SOURCE"]) == ("0", "backend")
    assert call.disposition == "voicemail"
    [message] = call.recordings
    assert message.startswith("/var/spool/asterisk/hl12319-messages/") and message.endswith(".wav")
    [ticket] = pbx.tickets_of(call)
    assert ticket.channel == "phone" and ticket.caller_number == CALLER and ticket.state == "received"
    [created] = pbx.events_of(ticket.id)
    assert created.data["reason"] == "voicemail" and created.data["recordings"] == [message]


HANGUPS = {
    # step: (script, the last IVR step reached)
    "welcome": (CallerScript().until_app("Playback").wait(1).hangup(), ("hl12319-entry", "enter", "")),
    "main_menu": (menu_caller().hangup(), ("hl12319-menu-main", "enter", "")),
    "district_menu": (menu_caller().press("2").wait(1).until_app("Background").wait(1).hangup(),
                      ("hl12319-menu-districts", "enter", "")),
    "district_ringing": (menu_caller().press("2").wait(1).until_app("Background").wait(1).press("4")
                         .until_app("Dial").wait(3).hangup(), ("hl12319-district", "enter", "")),
    "ticket_number": (menu_caller().press("3").wait(0.5).until_app("Read").wait(2).hangup(),
                      ("hl12319-ticket", "enter", "")),
    "queue": (menu_caller().press("1").until_app("Queue").wait(5).hangup(), ("hl12319-queue", "enter", "agents")),
}


@pytest.mark.parametrize("where", list(HANGUPS))
async def test_a_hang_up_at_any_step_leaves_a_call_record(running, where):
    script, last = HANGUPS[where]
    async with running(silent_agents=True) as pbx:
        if where == "district_ringing":
            pbx.line("150428", Endpoint("noanswer"))
        call = await pbx.call(script)
    assert call.caller == CALLER and call.dialed == "12319"
    assert call.started_at and call.ended_at and call.disposition
    assert steps(call)[-1] == last, call.disposition
    if where == "district_ringing":
        assert [t["result"] for t in call.transfers] == ["cancelled"]
    assert pbx.tickets_of(call) == []


@pytest.mark.parametrize("where", ["welcome", "main_menu", "queue",
                                   "district_menu",
                                   "district_ringing",
                                   "ticket_number"])
async def test_a_caller_who_hangs_up_unserved_is_abandoned(running, where):
    script, _ = HANGUPS[where]
    async with running(silent_agents=True) as pbx:
        if where == "district_ringing":
            pbx.line("150428", Endpoint("noanswer"))
        call = await pbx.call(script)
    assert call.disposition == "abandoned"
