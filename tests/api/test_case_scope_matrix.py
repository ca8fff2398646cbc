"""Who may open which case page, and what scoped users see (decision 0009): a district or
department officer sees only the tickets their unit is responsible for — in the ticket list, on
the ticket page, in the inbox and its counts, through photo and recording URLs and through the
JSON API — never another unit's, and never a ticket before it is handed over. Both ways: the
district of the place does not see a ticket a department holds, nor the department one handed
to the district."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.calls.models import Call
from hotline.cases.models import Ticket, TicketAttachment

from tests.api.case_pages_support import (
    act, dispatched, hongshan_ticket, page, png, songshan_ticket, submit, text_of,
)
from tests.api.conftest import NOW

ROLES = ["agent1", "disp1", "sup1", "admin1", "hs", "water"]
PAGES = {
    "/tickets": {"agent1", "disp1", "sup1", "admin1", "hs", "water"},
    "/inbox": {"hs", "water", "admin1"},
    "/dispatch": {"disp1", "sup1", "admin1"},
    "/review": {"disp1", "sup1", "admin1"},
    "/supervise": {"sup1", "admin1"},
    "/callbacks": {"agent1", "sup1", "admin1"},
}


@pytest.mark.parametrize("url", sorted(PAGES))
def test_role_page_matrix(client_for, url):
    for username in ROLES:
        r = page(client_for(username), url)
        expected = 200 if username in PAGES[url] else 403
        assert r.status_code == expected, (username, url, r.status_code)
        if expected == 403:
            assert "无权打开此页面" in text_of(r) and "<nav" in r.text       # a Chinese page with the menu
    anonymous = page(client_for(None), url)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")


def _call(api_state, call_id: str, spool) -> str:
    recording = spool / f"{call_id}.wav"
    recording.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    with api_state.sessions() as s, s.begin():
        call = Call(call_id=call_id, caller="13800001234", started_at=NOW - timedelta(minutes=3), ended_at=NOW,
                    disposition="agent", recordings=[str(recording)])
        s.add(call)
        s.flush()
        return call.call_id


@pytest.fixture
def world(client_for, api_state, tmp_path):
    """Four phone tickets with a recording each; A and B with a photo:
    A 红山区, held by the water company; B 红山区, handed to the district; C 松山区, handed to
    its district; D 红山区, not yet dispatched."""
    spool = tmp_path / "spool"
    spool.mkdir()
    api_state.settings.recordings_dir = spool
    agent, disp, water, hs = client_for("agent1"), client_for("disp1"), client_for("water"), client_for("hs")
    calls = [_call(api_state, f"1700000000.{i}", spool) for i in range(4)]
    a = dispatched(agent, disp, hongshan_ticket(agent, call_id=calls[0]))
    b = dispatched(agent, disp, hongshan_ticket(agent, call_id=calls[1]), responsible="district")
    c = dispatched(agent, disp, songshan_ticket(agent, call_id=calls[2]), responsible="district")
    d = hongshan_ticket(agent, call_id=calls[3])
    for client, number, colour in ((water, a, (1, 2, 3)), (hs, b, (4, 5, 6))):
        act(client, number, "accept")
        r = submit(client, number, "feedback", result="已处理",
                   files=[("photos", ("p.png", png(rgb=colour), "image/png"))])
        assert r.status_code == 303, r.text
    with api_state.sessions() as s:
        photos = {row.ticket_id: row.id for row in s.scalars(select(TicketAttachment))}
        ids = dict(s.execute(select(Ticket.number, Ticket.id)).all())
    return {"A": a, "B": b, "C": c, "D": d, "photo": {a: photos[ids[a]], b: photos[ids[b]]}}


VISIBLE = {"hs": {"B"}, "ss": {"C"}, "water": {"A"}}


@pytest.mark.parametrize("officer", sorted(VISIBLE))
def test_officers_see_only_their_units_tickets(client_for, world, officer):
    client = client_for(officer)
    mine = {world[k] for k in VISIBLE[officer]}
    everything = {world[k] for k in "ABCD"}
    # the ticket list and the JSON API
    listed = set(re.findall(r"12319-\d{8}-\d{5}", page(client, "/tickets").text))
    assert listed == mine
    assert {t["number"] for t in client.get("/api/tickets").json()["items"]} == mine
    # searching for another unit's ticket by its number finds nothing
    for other in everything - mine:
        found = page(client, "/tickets", params={"q": other})
        assert not re.findall(r'ticket-no">(12319-[\d-]+)<', found.text) and "没有符合条件的工单" in text_of(found)
    # the ticket page, the API detail, photos and recordings
    for number in everything:
        expected = 200 if number in mine else 404
        assert page(client, f"/tickets/{number}").status_code == expected, (officer, number)
        assert client.get(f"/api/tickets/{number}").status_code == expected
        assert client.get(f"/tickets/{number}/recordings/0").status_code == 404     # officers: never
    for number, photo_id in world["photo"].items():
        expected = 200 if number in mine else 404
        assert client.get(f"/tickets/{number}/photos/{photo_id}").status_code == expected
        for other in everything - {number}:   # a visible ticket's URL with another ticket's photo
            assert client.get(f"/tickets/{other}/photos/{photo_id}").status_code == 404
    # the inbox and its counts: A and B were fed back (待核查, no longer the unit's to do); C waits
    # for 松山区 to accept it — and no other unit counts it
    inbox = page(client, "/inbox")
    assert set(re.findall(r'ticket-no">(12319-[\d-]+)<', inbox.text)) == ({world["C"]} if officer == "ss" else set())
    counts = [int(n) for n in re.findall(r'<span class="count">(\d+)</span>', inbox.text)]
    assert counts == ([1, 0, 0, 0, 0] if officer == "ss" else [0, 0, 0, 0, 0])


def test_the_desk_sees_everything_and_officers_act_only_for_their_unit(client_for, world):
    disp, sup = client_for("disp1"), client_for("sup1")
    for number in (world[k] for k in "ABCD"):
        assert page(disp, f"/tickets/{number}").status_code == 200
        assert page(sup, f"/tickets/{number}").status_code == 200
        assert disp.get(f"/tickets/{number}/recordings/0").status_code == 200
    # 松山区's officer cannot act on 红山区's tickets: not found, nothing written
    ss = client_for("ss")
    assert submit(ss, world["B"], "return", 5, reason="x").status_code == 404
    # 红山区's officer cannot accept C (another district) nor A (a department's, in 红山区)
    hs = client_for("hs")
    assert submit(hs, world["C"], "accept", 3).status_code == 404
    assert submit(hs, world["A"], "return", 5, reason="不归我们").status_code == 404
    # the water company cannot act on B, which 红山区 holds
    assert submit(client_for("water"), world["B"], "accept", 3).status_code == 404
