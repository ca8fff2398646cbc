"""The scripts' side of the Directory seam with fakes of ``hotline``: number mapping, caller
normalisation, and what the dialplan does when the directory fails (AGISTATUS=FAILURE →
the documented fallbacks)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ivr.agi.server import FastAgiServer
from ivr.calls import CallTracker
from ivr.dialplan import render_dialplan
from ivr.directory import Directory, DistrictLine, TicketStatus
from ivr.events import CallEnded
from ivr.flow import flow_from_rules
from ivr.scripts import build_router, digits_for_ticket, ticket_number_from_digits
from ivr.scripts.caller_lookup import normalise_caller
from ivr.simulator import CallerScript, Endpoint, PbxSimulator


@pytest.mark.parametrize("keyed, number", [
    ("2026112700042", "12319-20261127-00042"),
    ("123192026112700042", "12319-20261127-00042"),
    ("2026112700042#", "12319-20261127-00042"),
    ("2026022900001", None),          # 2026 is not a leap year
    ("2026112700000", None),          # serial 0 is never issued
    ("202611270004", None), ("20261127000421", None), ("", None), ("12a4", None), ("２０２６１１２７０００４２", None),
])
def test_keyed_digits_to_ticket_number(keyed, number):
    assert ticket_number_from_digits(keyed) == number


def test_ticket_number_to_digits_round_trips():
    assert ticket_number_from_digits(digits_for_ticket("12319-20261231-99999")) == "12319-20261231-99999"
    with pytest.raises(ValueError, match="12319-YYYYMMDD-NNNNN"):
        digits_for_ticket("20261231-99999")


@pytest.mark.parametrize("raw, number", [("13904760000", "13904760000"), ("+8613904760000", "13904760000"),
                                         ("008613904760000", "13904760000"), ("0476-8312319", "04768312319"),
                                         ("anonymous", ""), ("", ""), ("<unknown>", "")])
def test_caller_numbers_are_normalised_before_the_lookup(raw, number):
    assert normalise_caller(raw) == number


def test_build_router_needs_a_directory():
    with pytest.raises(TypeError, match="Directory"):
        build_router(object())
    assert build_router(FakeDirectory()).names == ("business_hours", "caller_lookup", "ticket_status")


class FakeDirectory:
    """``hotline`` replaced by a fake: fixed answers, or failures."""

    def __init__(self, *, fail: bool = False, open_now: bool = True, tickets: dict | None = None):
        self.fail, self.open_now, self.tickets = fail, open_now, tickets or {}
        self.asked: list[tuple[str, object]] = []

    def _check(self, what, arg):
        self.asked.append((what, arg))
        if self.fail:
            raise ConnectionError("database down")

    async def district_line(self, district_code):
        self._check("district_line", district_code)
        return DistrictLine(district_code, "红山区", "04768312319")

    async def district_lines(self):
        return []

    async def ticket_status(self, number):
        self._check("ticket_status", number)
        return self.tickets.get(number)

    async def open_tickets_for(self, caller):
        self._check("open_tickets_for", caller)
        return []

    async def is_open_now(self, at=None):
        self._check("is_open_now", at)
        return self.open_now


def test_fake_is_a_directory():
    assert isinstance(FakeDirectory(), Directory)


async def run(flow, tmp_path, directory, script, clock=None):
    agi = FastAgiServer("127.0.0.1", 0, build_router(directory, clock=clock))
    await agi.start()
    try:
        out = tmp_path / "dialplan"
        render_dialplan(flow, out_dir=out, agi_host="127.0.0.1", agi_port=agi.bound_port)
        ended = []
        tracker = CallTracker(on_event=lambda e: ended.append(e) if isinstance(e, CallEnded) else None)
        async with PbxSimulator(agi_address=("127.0.0.1", agi.bound_port),
                                dialplan=(out / "extensions.conf").read_text(encoding="utf-8"),
                                queues=(out / "queues.conf").read_text(encoding="utf-8"),
                                speed=60, inbound_context="hl12319-entry") as sim:
            sim.pbx.listeners.append(lambda cls, msg: tracker.feed(msg))
            sim.add_agent("agents", "agent-1001", Endpoint("noanswer"), member_name="坐席1001")  # never picks up
            call = await sim.place_call(caller="13904760000", script=script)
            await call.wait_ended(timeout=60)
    finally:
        await agi.stop()
    return ended[0].snapshot


async def test_directory_down_hours_come_from_the_schedule_and_status_goes_to_an_agent(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d.update(
        business_hours={"mode": "scheduled", "hours": ["00:00-24:00"], "days": "every_day"})))
    directory = FakeDirectory(fail=True)
    script = CallerScript().until_app("Background").wait(1).press("3").wait(0.5).until_app("Read").wait(1) \
        .press("2026112700042#").wait(1).until_app("Queue").wait(3).hangup()
    snap = await run(flow, tmp_path, directory, script)
    assert snap.variables["HOTLINE_HOURS_SOURCE"] == "schedule"
    assert snap.variables["HOTLINE_AGI_ERROR"] == "SCRIPT_ERROR"
    assert "HOTLINE_OPEN_TICKETS" not in snap.variables
    assert ("ticket_status", "12319-20261127-00042") in directory.asked
    assert snap.queue == "agents"


async def test_the_business_hours_clock_is_passed_to_the_directory(make_rules, tmp_path):
    at = datetime(2026, 10, 1, 3, 0, tzinfo=timezone.utc)
    directory = FakeDirectory(open_now=False)
    snap = await run(flow_from_rules(make_rules()), tmp_path, directory,
                     CallerScript().until_app("Record").wait(2).hangup(), clock=lambda: at)
    assert ("is_open_now", at) in directory.asked
    assert snap.variables["HOTLINE_OPEN"] == "0"


async def test_a_ticket_in_an_unknown_state_is_handed_to_an_agent(make_rules, tmp_path):
    odd = TicketStatus("12319-20261127-00042", "archived", "已归档", datetime.now(timezone.utc))
    directory = FakeDirectory(tickets={odd.number: odd})
    script = CallerScript().until_app("Background").wait(1).press("3").wait(0.5).until_app("Read").wait(1) \
        .press("2026112700042#").wait(1).until_app("Queue").wait(3).hangup()
    snap = await run(flow_from_rules(make_rules()), tmp_path, directory, script)
    assert snap.variables["HOTLINE_TICKET_STATE"] == "archived"
    assert snap.queue == "agents"
