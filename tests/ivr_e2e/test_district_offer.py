"""A repeat caller with an open ticket who chooses the district branch is offered the ticket's
district by name (the real caller_lookup script answering from the database): 1 dials that
district's line, 2 opens the normal district menu; callers without an open ticket hear no offer."""

from __future__ import annotations

from ivr_e2e_support import CALLER, OPEN_AT, TZ, menu_caller, steps

from hotline.cases.service import create_ticket
from hotline.database import transaction

OFFER = "hl12319-offer-districts"
DISTRICTS = "hl12319-menu-districts"


def open_ticket(db_factory, district_code: str, caller: str = CALLER) -> str:
    with transaction(db_factory) as s:
        ticket = create_ticket(s, channel="phone", caller_number=caller, category=None,
                               description="小区门口路面塌陷", district_code=district_code, actor=None,
                               actor_name="测试", at=OPEN_AT, tz=TZ)
        return ticket.number


def district_branch_then(key: str):
    """Main menu 2, then ``key`` once the next menu (the offer or the district menu) plays."""
    return menu_caller().press("2").wait(1).until_app("Background").wait(1).press(key)


async def test_repeat_caller_accepts_the_offered_district_and_is_dialled_to_its_line(running, db_factory):
    open_ticket(db_factory, "150402")  # 红山区
    async with running() as pbx:
        call = await pbx.call(district_branch_then("1").wait(60).hangup())
    assert call.variables["HOTLINE_OFFERED_DISTRICT"] == "150402"
    assert call.variables["HOTLINE_OFFER"] == "150402"
    assert steps(call) == [
        ("hl12319-entry", "enter", ""), ("hl12319-menu-main", "enter", ""), ("hl12319-menu-main", "choice", "2"),
        (OFFER, "enter", "150402"), (OFFER, "choice", "1"), ("hl12319-district", "enter", "")]
    [t] = call.transfers
    assert (t["district_code"], t["result"], t["kind"]) == ("150402", "answered", "district_line")
    assert call.variables["HOTLINE_DISTRICT"] == "150402"
    assert call.disposition == "transferred"
    assert pbx.tickets_of(call) == []


async def test_repeat_caller_pressing_2_gets_the_normal_district_menu(running, db_factory):
    open_ticket(db_factory, "150402")
    script = district_branch_then("2").wait(1).until_app("Background").wait(1).press("3").wait(60).hangup()
    async with running() as pbx:
        call = await pbx.call(script)
    path = steps(call)
    at = path.index((OFFER, "enter", "150402"))
    assert path[at + 1:] == [(OFFER, "choice", "2"), (DISTRICTS, "enter", ""), (DISTRICTS, "choice", "3"),
                             ("hl12319-district", "enter", "")]
    [t] = call.transfers
    assert (t["district_code"], t["result"]) == ("150404", "answered")  # 松山区, chosen from the menu
    assert call.disposition == "transferred"


async def test_callers_without_an_open_ticket_in_a_district_hear_no_offer(running, db_factory):
    # 13800000002 has an open ticket without a district: nothing to offer either
    open_ticket(db_factory, None, caller="13800000002")
    async with running() as pbx:
        first = await pbx.call(district_branch_then("1").wait(60).hangup())
        second = await pbx.call(district_branch_then("1").wait(60).hangup(), caller="13800000002")
    for call, open_tickets in ((first, "0"), (second, "1")):
        assert call.variables["HOTLINE_OPEN_TICKETS"] == open_tickets
        assert call.variables["HOTLINE_OFFERED_DISTRICT"] == ""
        assert "HOTLINE_OFFER" not in call.variables
        path = steps(call)
        assert not [s for s in path if s[0] == OFFER]
        at = path.index(("hl12319-menu-main", "choice", "2"))
        assert path[at + 1:] == [(DISTRICTS, "enter", ""), (DISTRICTS, "choice", "1"), ("hl12319-district", "enter", "")]
        [t] = call.transfers
        assert (t["district_code"], t["result"]) == ("150402", "answered")  # 1 in the menu is 红山区
