"""补录 (``complete``) of the tickets the IVR opens without content, through the API: an empty
ticket cannot be registered or dispatched; completing it stores the content and routes it again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hotline.calls.models import Call
from hotline.cases.flows import REASON_VOICEMAIL, ticket_from_call
from hotline.cases.models import Ticket, TicketEvent

from tests.api.conftest import HONGSHAN_HEPING, NOW, TZ


def voicemail_ticket(api_state, *, caller="13800009999", district="150402", call_id="1700000000.77") -> str:
    """A voicemail ticket as the call recorder opens it (no page or API creates these)."""
    with api_state.sessions() as s, s.begin():
        call = Call(call_id=call_id, caller=caller, started_at=NOW - timedelta(minutes=5), ended_at=NOW,
                    disposition="voicemail", recordings=[f"/var/spool/asterisk/hl12319-messages/{call_id}.wav"],
                    variables={"HOTLINE_DISTRICT": district} if district else {})
        s.add(call)
        s.flush()
        return ticket_from_call(s, call, reason=REASON_VOICEMAIL, at=NOW, tz=TZ).number


def _act(client, number, action, version, **payload):
    return client.post(f"/api/tickets/{number}/actions/{action}", json={"expected_version": version, **payload})


CONTENT = {"category_code": "01001", "kind": "component", "description": "和平路井盖缺失，夜间有人踩空",
           "address": "和平路12号", "lat": HONGSHAN_HEPING[0], "lon": HONGSHAN_HEPING[1]}


def test_an_empty_ticket_cannot_leave_intake_until_completed(client_for, api_state):
    disp, agent = client_for("disp1"), client_for("agent1")
    n = voicemail_ticket(api_state)
    t = disp.get(f"/api/tickets/{n}").json()
    assert t["category_code"] == "" and [a["value"] for a in t["available_actions"]] == ["complete"]
    r = _act(disp, n, "register", 1)
    assert r.status_code == 422 and "补录" in r.json()["detail"]
    r = _act(agent, n, "register", 1)
    assert r.status_code == 422 and "补录" in r.json()["detail"]
    with api_state.sessions() as s:
        assert s.scalar(select(Ticket.state).where(Ticket.number == n)) == "received"
        assert [e.action for e in s.scalars(select(TicketEvent).order_by(TicketEvent.seq))] == ["create"]


def test_complete_stores_the_content_and_routes_again(client_for, api_state):
    disp = client_for("disp1")
    n = voicemail_ticket(api_state)
    r = _act(disp, n, "complete", 1, **CONTENT)
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["state"] == "received" and t["version"] == 2
    assert t["category_code"] == "01001" and t["category_kind"] == "component" and t["category_name"]
    assert t["description"] == CONTENT["description"] and t["address"] == "和平路12号"
    # the router placed it in 红山区 › 西屯街道 › 和平社区 and gave it to the water company (先属主)
    assert (t["district_code"], t["street_code"], t["community_code"]) == ("150402", "150402001", "150402001001")
    assert t["department_code"] == "util-water" and t["routing"]["lead"] == "owner"
    assert t["routing"]["explanation"] and t["routing"]["time_limit_set"] == "facility"
    event = t["events"][-1]
    assert (event["action"], event["action_label"]) == ("complete", "补录")
    assert event["data"]["previous"]["category_code"] == "" and "补录" in event["data"]["previous"]["description"]
    assert event["actor"] == "张伟"
    # complete now: 立案 and 派遣 go through, with the routed time limits
    t = _act(disp, n, "register", t["version"]).json()
    assert t["state"] == "registered"
    t = _act(disp, n, "dispatch", t["version"]).json()
    assert t["state"] == "dispatched" and t["deadlines"][0]["stage"] == "签收"


def test_a_matter_routed_to_the_territory_is_the_districts(client_for, api_state):
    """事项先属地: the district of the place is responsible, the department only assists."""
    disp, hs, water = client_for("disp1"), client_for("hs"), client_for("water")
    n = voicemail_ticket(api_state)
    r = _act(disp, n, "complete", 1, category_code="91005", kind="matter", description="楼下住宅改成饭店，油烟扰民",
             address="和平路12号", lat=HONGSHAN_HEPING[0], lon=HONGSHAN_HEPING[1])
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["routing"]["lead"] == "territory" and t["department_code"] is None
    assert t["routing"]["co_unit"]["code"]                      # the assisting department is named
    t = _act(disp, n, "register", t["version"]).json()
    t = _act(disp, n, "dispatch", t["version"]).json()
    assert {a["value"] for a in hs.get(f"/api/tickets/{n}").json()["available_actions"]} == {"accept", "return"}
    assert water.get(f"/api/tickets/{n}").status_code == 404


def test_complete_refusals_write_nothing(client_for, api_state):
    disp, hs = client_for("disp1"), client_for("hs")
    n = voicemail_ticket(api_state)
    cases = [
        ({k: v for k, v in CONTENT.items() if k != "category_code"}, 422, "分类"),
        ({k: v for k, v in CONTENT.items() if k != "description"}, 422, "诉求内容"),
        ({**CONTENT, "description": "   "}, 422, "诉求内容"),
        ({**CONTENT, "category_code": "99999"}, 422, "99999"),
        ({**CONTENT, "lat": 44.0, "lon": 120.5, "address": ""}, None, None),   # outside the grid: IVR district used
    ]
    for payload, status, text in cases[:-1]:
        r = _act(disp, n, "complete", 1, **payload)
        assert r.status_code == status, (payload, r.text)
        assert text in r.json()["detail"]
    assert _act(disp, n, "complete", 7, **CONTENT).status_code == 409          # stale page
    assert _act(hs, n, "complete", 1, **CONTENT).status_code == 404            # officers never see intake
    with api_state.sessions() as s:
        assert s.scalar(select(Ticket.version).where(Ticket.number == n)) == 1
        assert s.scalar(select(Ticket.category_code).where(Ticket.number == n)) == ""
    payload, *_ = cases[-1]
    r = _act(disp, n, "complete", 1, **payload)
    assert r.status_code == 200 and r.json()["district_code"] == "150402"
    # completed tickets cannot be completed twice from the same page
    assert _act(disp, n, "complete", 1, **CONTENT).status_code == 409
