"""Ticket-status self-service: the caller keys the 13 digits of a ticket number, the real
``ticket_status`` script finds it through ``SqlDirectory``, reads the digits back and the
dialplan plays the state."""

from __future__ import annotations

from ivr_e2e_support import CALLER, OPEN_AT, TZ, menu_caller, steps

from hotline.cases.service import create_ticket
from hotline.database import transaction
from ivr.scripts import digits_for_ticket


def new_ticket(db_factory, caller: str = CALLER, district: str | None = "150402") -> str:
    with transaction(db_factory) as s:
        return create_ticket(s, channel="phone", caller_number=caller, category=None,
                             description="楼道积水", district_code=district, actor=None, actor_name="测试",
                             at=OPEN_AT, tz=TZ).number


def keyed(digits: str):
    """Main menu 3, then the digits and # when the ticket number is asked for."""
    return menu_caller().press("3").wait(0.5).until_app("Read").wait(1).press(digits + "#")


async def test_existing_ticket_is_read_back_and_the_caller_returns_to_the_menu(running, db_factory):
    number = new_ticket(db_factory, caller="13800009999")  # anybody may ask by number
    async with running() as pbx:
        call = await pbx.call(keyed(digits_for_ticket(number)).wait(1).until_app("Background").wait(1).hangup())
    path = steps(call)
    at = path.index(("hl12319-menu-main", "choice", "3"))
    assert path[at + 1:at + 3] == [("hl12319-ticket", "enter", ""), ("hl12319-menu-main", "enter", "")]
    v = call.variables
    assert (v["HOTLINE_TICKET_STATE"], v["HOTLINE_TICKET_NUMBER"], v["HOTLINE_TICKET_ERROR"]) == \
        ("received", number, "")
    assert call.disposition == "self_served"
    assert pbx.tickets_of(call) == []  # self-service opens no ticket


async def test_full_eighteen_digits_are_accepted_too(running, db_factory):
    number = new_ticket(db_factory)
    async with running() as pbx:
        call = await pbx.call(keyed("12319" + digits_for_ticket(number)).wait(1).until_app("Background")
                              .wait(1).hangup())
    assert call.variables["HOTLINE_TICKET_NUMBER"] == number
    assert call.variables["HOTLINE_TICKET_STATE"] == "received"


async def test_unknown_number_is_asked_again_then_an_agent_takes_over(running, db_factory):
    new_ticket(db_factory)
    unknown, malformed = "2026112799999", "42"
    script = keyed(unknown).wait(1).until_app("Read").wait(1).press(malformed + "#").wait(1) \
        .until_app("Read").wait(1).press(unknown + "#").wait(1).until_app("Queue").wait(30).hangup()
    async with running() as pbx:
        call = await pbx.call(script)
    v = call.variables
    assert v["HOTLINE_TICKET_STATE"] == ""
    assert v["HOTLINE_TICKET_ERROR"] == "not_found"
    assert v["HOTLINE_TICKET_TRIES"] == "3"
    assert "HOTLINE_TICKET_NUMBER" not in v
    assert steps(call)[-1] == ("hl12319-queue", "enter", "agents")
    assert call.disposition == "agent"


async def test_malformed_number_gets_a_reason(running):
    async with running() as pbx:
        call = await pbx.call(keyed("2026133100001").wait(3).hangup())  # month 13
    assert call.variables["HOTLINE_TICKET_ERROR"] == "invalid_number"
    assert call.variables["HOTLINE_TICKET_STATE"] == ""


async def test_hang_up_while_the_script_reads_the_number_back(running, db_factory):
    number = new_ticket(db_factory)
    async with running() as pbx:
        # SAY DIGITS of 13 digits lasts several seconds: the caller leaves in the middle
        call = await pbx.call(keyed(digits_for_ticket(number)).wait(2).hangup())
        failed = pbx.svc.agi.sessions_failed
    assert call.ended_at is not None and call.disposition
    assert call.variables["HOTLINE_TICKET_NUMBER"] == number
    assert "HOTLINE_TICKET_STATE" not in call.variables or call.variables["HOTLINE_TICKET_STATE"] == ""
    assert failed == 0  # a caller hanging up is not a script failure
