"""Tickets REST API: intake, listing and scope, detail, actions and their errors."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, select

from hotline.cases.models import Ticket, TicketEvent
from tests.api.conftest import HONGSHAN_HEPING, OUTSIDE, SONGSHAN_MINZHU, TZ, new_ticket


def _count(state, model=Ticket) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


# --- auth ----------------------------------------------------------------------------------

def test_every_ticket_endpoint_needs_login(client_for):
    anon = client_for(None)
    for method, url in [("get", "/api/tickets"), ("post", "/api/tickets"), ("get", "/api/tickets/12319-20261127-00001"),
                        ("post", "/api/tickets/12319-20261127-00001/actions/register"),
                        ("get", "/api/tickets/12319-20261127-00001/duplicates"),
                        ("get", "/api/callers/13800001234/history"), ("get", "/api/grid/units"),
                        ("get", "/api/grid/locate?lat=42.27&lon=118.95"), ("get", "/api/categories"),
                        ("post", "/api/routing/preview")]:
        r = getattr(anon, method)(url, **({"json": {}} if method == "post" else {}))
        assert r.status_code == 401, (url, r.status_code)
        assert "请先登录" in r.json()["detail"]


def test_officers_may_not_create_tickets_or_read_caller_history(client_for, api_state):
    hs = client_for("hs")
    r = hs.post("/api/tickets", json={"category_code": "01001", "description": "x", "district_code": "150402"})
    assert r.status_code == 403 and "无权访问" in r.json()["detail"]
    assert client_for("disp1").get("/api/callers/13800001234/history").status_code == 403
    assert hs.get("/api/tickets/12319-20261127-00001/duplicates").status_code == 403
    assert hs.post("/api/routing/preview", json={"category_code": "01001"}).status_code == 403
    assert _count(api_state) == 0


# --- intake --------------------------------------------------------------------------------

def test_create_routes_the_ticket_and_stores_the_explanation(client_for, api_state):
    agent = client_for("agent1")
    out = new_ticket(agent)
    t = out["ticket"]
    assert out["created"] is True and out["duplicates"] == []
    assert t["number"] == "12319-20261127-00001" and t["state"] == "received" and t["state_label"] == "受理"
    assert t["district_code"] == "150402" and t["street_code"] == "150402001"
    assert t["community_code"] == "150402001001" and t["department_code"] == "util-water"
    assert t["caller_number"] == "13800001234" and t["caller_name"] == "陈先生"   # the agent needs them
    assert t["routing"]["district"]["name"] == "红山区" and any("网格" in step for step in t["routing"]["explanation"])
    assert [e["action"] for e in t["events"]] == ["create"] and t["events"][0]["actor"] == "王芳"
    assert {"value": "register", "label": "立案"} in t["available_actions"]
    with api_state.sessions() as s:
        stored = s.scalar(select(Ticket))
        assert stored.routing["rule_id"] == t["routing"]["rule_id"] and stored.channel == "phone"


def test_create_proposes_nearby_open_duplicates_ranked_by_distance(client_for, api_state):
    agent = client_for("agent1")
    far = new_ticket(agent, lat=HONGSHAN_HEPING[0] + 0.0015)       # ≈ 167 m north
    near = new_ticket(agent, lat=HONGSHAN_HEPING[0] + 0.0005)      # ≈ 56 m north
    new_ticket(agent, lat=HONGSHAN_HEPING[0] + 0.01)              # ≈ 1.1 km: outside the 250 m radius
    new_ticket(agent, category_code="01002")                       # another category, same spot
    out = new_ticket(agent)
    dups = out["duplicates"]
    assert [d["number"] for d in dups] == [near["ticket"]["number"], far["ticket"]["number"]]
    assert 50 < dups[0]["distance_m"] < 62 and dups[0]["matched_by"] == "point" and "米" in dups[0]["reason"]
    # the same list from the duplicates endpoint, which also sees later tickets
    r = agent.get(f"/api/tickets/{near['ticket']['number']}/duplicates")
    assert r.status_code == 200
    assert out["ticket"]["number"] in [d["number"] for d in r.json()]


def test_without_a_point_duplicates_are_proposed_by_community(client_for):
    agent = client_for("agent1")
    first = new_ticket(agent, lat=None, lon=None, address="红山区西屯街道和平社区")
    second = new_ticket(agent, lat=None, lon=None, address="西屯街道和平社区5号楼")
    assert [d["number"] for d in second["duplicates"]] == [first["ticket"]["number"]]
    assert second["duplicates"][0]["matched_by"] == "community" and second["duplicates"][0]["distance_m"] is None


def test_closed_or_old_tickets_are_not_duplicates(client_for, api_state):
    agent, sup = client_for("agent1"), client_for("sup1")
    voided = new_ticket(agent)["ticket"]
    r = sup.post(f"/api/tickets/{voided['number']}/actions/void", json={"expected_version": 1, "reason": "测试"})
    assert r.status_code == 200
    api_state.clock.now = datetime(2027, 1, 10, 10, 0, tzinfo=TZ)   # 44 days later: outside the 30-day window
    old = new_ticket(agent)
    assert old["duplicates"] == []


def test_intake_validation_errors_are_4xx_with_chinese_messages_and_write_nothing(client_for, api_state):
    agent = client_for("agent1")
    cases = [
        ({"category_code": "99999", "description": "x", "district_code": "150402"}, 422, "未知的分类编码"),
        ({"category_code": "01001", "description": "x", "lat": 95, "lon": 118.9}, 422, None),
        ({"category_code": "01001", "description": "x", "lat": 42.27}, 422, "同时"),
        ({"category_code": "01001", "description": "x", "lat": OUTSIDE[0], "lon": OUTSIDE[1]}, 422, "无法确定属地"),
        ({"category_code": "01001", "description": "x", "address": "和平社区"}, 422, "多个网格"),
        ({"category_code": "01001", "description": "x"}, 422, "无法确定属地"),
        ({"category_code": "01001", "description": "   ", "district_code": "150402"}, 422, None),
        ({"category_code": "01001", "kind": "matter", "description": "x", "district_code": "999999"}, 422, "区县"),
        # call ids are the Linkedids the live-call API lists; a number (≥ 2^63 gave a 500) is refused
        ({"category_code": "01001", "description": "x", "district_code": "150402", "call_id": 999}, 422, "call_id"),
        ({"category_code": "01001", "description": "x", "district_code": "150402", "call_id": 2**64}, 422, "call_id"),
        ({"category_code": "01001", "description": "x", "district_code": "150402", "call_id": "1 OR 1"}, 422,
         "call_id"),
        ({"category_code": "01001", "description": "x", "district_code": "150402", "bogus": 1}, 422, None),
        ({"category_code": "01001", "description": "x", "district_code": "150402",
          "override": {"department": "no-such-dept"}}, 422, "未在 routing_rules.yaml"),
    ]
    for body, code, text in cases:
        r = agent.post("/api/tickets", json=body)
        assert r.status_code == code, (body, r.status_code, r.text)
        if text:
            assert text in r.json()["detail"], (body, r.json())
    assert _count(api_state) == 0 and _count(api_state, TicketEvent) == 0


def test_point_outside_every_unit_is_accepted_with_a_district(client_for):
    out = new_ticket(client_for("agent1"), lat=OUTSIDE[0], lon=OUTSIDE[1], district_code="150404")
    t = out["ticket"]
    assert t["district_code"] == "150404" and "point_outside_grid" in t["routing"]["fallbacks"]


def test_source_key_makes_intake_idempotent(client_for, api_state):
    agent = client_for("agent1")
    first = new_ticket(agent, source_key="call:1700000000.1")
    r = agent.post("/api/tickets", json={"category_code": "01001", "description": "again", "district_code": "150402",
                                         "source_key": "call:1700000000.1"})
    assert r.status_code == 201 and r.json()["created"] is False
    assert r.json()["ticket"]["number"] == first["ticket"]["number"] and _count(api_state) == 1


def test_agent_override_is_recorded(client_for):
    t = new_ticket(client_for("agent1"), override={"department": "city-municipal", "reason": "供水公司称非其资产"})["ticket"]
    assert t["department_code"] == "city-municipal"
    assert "override_department" in t["routing"]["fallbacks"]
    assert any("王芳" in step and "非其资产" in step for step in t["routing"]["explanation"])


# --- listing, detail, scope, masking -------------------------------------------------------

def _to_district(client, number: str) -> dict:
    """Register and dispatch a ticket to the district of its place (the district is responsible)."""
    t = _act(client, number, "register", 1).json()
    r = _act(client, number, "dispatch", t["version"], responsible="district")
    assert r.status_code == 200, r.text
    assert r.json()["department_code"] is None
    return r.json()


def test_listing_is_scoped_and_masked(client_for):
    agent, disp = client_for("agent1"), client_for("disp1")
    hongshan = new_ticket(agent)["ticket"]["number"]
    songshan = new_ticket(agent, lat=SONGSHAN_MINZHU[0], lon=SONGSHAN_MINZHU[1], caller_number="13900005678")["ticket"]["number"]
    everything = agent.get("/api/tickets").json()
    assert everything["total"] == 2 and {i["number"] for i in everything["items"]} == {hongshan, songshan}

    hs = client_for("hs")
    assert hs.get("/api/tickets").json()["total"] == 0       # nothing before the hand-over (decision 0009)
    assert hs.get(f"/api/tickets/{hongshan}").status_code == 404
    _to_district(disp, hongshan)
    _to_district(disp, songshan)
    mine = hs.get("/api/tickets").json()
    assert mine["total"] == 1 and mine["items"][0]["number"] == hongshan
    assert mine["items"][0]["caller_number"] == "138****1234"
    assert hs.get(f"/api/tickets/{songshan}").status_code == 404
    assert hs.get("/api/tickets", params={"district": "150404"}).json()["total"] == 0
    detail = hs.get(f"/api/tickets/{hongshan}").json()
    assert detail["caller_number"] == "138****1234" and detail["caller_name"] == "陈**"
    assert [a["value"] for a in detail["available_actions"]] == ["accept", "return"]
    # masked roles cannot probe callers' numbers through the search box
    assert hs.get("/api/tickets", params={"q": "13800001234"}).json()["total"] == 0
    assert agent.get("/api/tickets", params={"q": "13800001234"}).json()["total"] == 1
    assert hs.get("/api/tickets", params={"q": "和平路"}).json()["total"] == 1


def test_listing_filters_and_paging(client_for):
    agent = client_for("agent1")
    for _ in range(3):
        new_ticket(agent)
    new_ticket(agent, category_code="01002", lat=SONGSHAN_MINZHU[0], lon=SONGSHAN_MINZHU[1])
    assert agent.get("/api/tickets", params={"category": "01002"}).json()["total"] == 1
    assert agent.get("/api/tickets", params={"district": "150402"}).json()["total"] == 3
    assert agent.get("/api/tickets", params={"state": "received"}).json()["total"] == 4
    page2 = agent.get("/api/tickets", params={"page": 2, "page_size": 3}).json()
    assert page2["total"] == 4 and len(page2["items"]) == 1 and page2["items"][0]["number"].endswith("00001")
    bad = agent.get("/api/tickets", params={"state": "nonsense"})
    assert bad.status_code == 422 and "state" in bad.json()["detail"] and "received" in bad.json()["detail"]
    assert agent.get("/api/tickets", params={"page_size": 1000}).status_code == 422
    assert agent.get("/api/tickets/12319-19990101-00001").status_code == 404


def test_caller_history(client_for):
    agent = client_for("agent1")
    new_ticket(agent)
    new_ticket(agent, caller_number="13900005678")
    r = agent.get("/api/callers/13800001234/history")
    assert r.status_code == 200 and len(r.json()) == 1 and r.json()[0]["state_label"] == "受理"


# --- actions -------------------------------------------------------------------------------

def _act(client, number, action, version, **payload):
    return client.post(f"/api/tickets/{number}/actions/{action}", json={"expected_version": version, **payload})


def test_full_loop_through_the_api(client_for, api_state):
    agent, disp, hs, water = client_for("agent1"), client_for("disp1"), client_for("hs"), client_for("water")
    t = new_ticket(agent)["ticket"]
    n = t["number"]
    t = _act(agent, n, "register", t["version"]).json()
    t = _act(disp, n, "dispatch", t["version"]).json()
    assert t["state"] == "dispatched" and t["deadlines"][0]["stage"] == "签收"
    assert t["caller_number"] == "138****1234"             # dispatchers see masked numbers
    # the water company is responsible (department_code util-water); the 红山区 office of the
    # place neither sees nor acts on it (decision 0009)
    assert {"value": "accept", "label": "签收"} in water.get(f"/api/tickets/{n}").json()["available_actions"]
    assert hs.get(f"/api/tickets/{n}").status_code == 404
    assert _act(hs, n, "accept", t["version"]).status_code == 404
    t = _act(water, n, "accept", t["version"]).json()
    assert t["state"] == "in_progress" and any(d["stage"] == "处置" for d in t["deadlines"])
    t = _act(water, n, "feedback", t["version"], result="已更换井盖").json()
    t = _act(disp, n, "verify_pass", t["version"]).json()
    t = _act(agent, n, "callback", t["version"], satisfaction="satisfied").json()
    assert t["state"] == "callback_done" and t["satisfaction"] == "satisfied"
    assert [e["action"] for e in t["events"]] == ["create", "register", "dispatch", "accept", "feedback",
                                                  "verify_pass", "callback"]


def test_action_errors_and_no_partial_writes(client_for, api_state):
    agent, disp, ss = client_for("agent1"), client_for("disp1"), client_for("ss")
    t = new_ticket(agent)["ticket"]
    n = t["number"]
    events = _count(api_state, TicketEvent)
    # illegal transition → 409
    r = _act(disp, n, "accept", 1)
    assert r.status_code == 409 and "不允许执行" in r.json()["detail"]
    # role → 403
    r = _act(agent, n, "void", 1, reason="x")
    assert r.status_code == 403 and "无权" in r.json()["detail"]
    # missing field → 422
    r = _act(agent, n, "reject", 1)
    assert r.status_code == 422 and "理由" in r.json()["detail"]
    r = _act(agent, n, "merge", 1, parent="12319-19990101-00001")
    assert r.status_code == 422 and "主工单编号" in r.json()["detail"]
    # unknown action → 404; missing expected_version → 422
    assert _act(agent, n, "teleport", 1).status_code == 404
    assert agent.post(f"/api/tickets/{n}/actions/register", json={}).status_code == 422
    # out of scope → 404 (existence not revealed)
    assert _act(ss, n, "accept", 1).status_code == 404
    # stale version → 409 with the Chinese message
    r = _act(agent, n, "register", 7)
    assert r.status_code == 409 and "已被他人修改，请刷新后重试" in r.json()["detail"]
    assert _count(api_state, TicketEvent) == events
    with api_state.sessions() as s:
        assert s.scalar(select(Ticket.state)) == "received" and s.scalar(select(Ticket.version)) == 1


def test_two_dispatchers_with_the_same_version_one_wins(client_for, api_state):
    agent, d1, d2 = client_for("agent1"), client_for("disp1"), client_for("disp2")
    t = new_ticket(agent)["ticket"]
    t = _act(agent, t["number"], "register", 1).json()
    seen = d1.get(f"/api/tickets/{t['number']}").json()["version"]
    assert d2.get(f"/api/tickets/{t['number']}").json()["version"] == seen
    assert _act(d1, t["number"], "dispatch", seen, district_code="150402").status_code == 200
    r = _act(d2, t["number"], "dispatch", seen, department_code="city-municipal")
    assert r.status_code == 409 and "已被他人修改" in r.json()["detail"]
    final = d2.get(f"/api/tickets/{t['number']}").json()
    assert final["department_code"] == "util-water" and [e["action"] for e in final["events"]].count("dispatch") == 1


def test_concurrent_dispatches_really_racing(client_for, api_state):
    """Both requests in flight at once: exactly one succeeds, the other gets 409."""
    agent = client_for("agent1")
    t = new_ticket(agent)["ticket"]
    version = _act(agent, t["number"], "register", 1).json()["version"]
    clients = [client_for("disp1"), client_for("disp2")]
    barrier = threading.Barrier(2)
    results: list[int] = []

    def go(c):
        barrier.wait()
        results.append(_act(c, t["number"], "dispatch", version).status_code)

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [200, 409]
    with api_state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.action == "dispatch")) == 1


def test_merge_subscribes_the_child_caller_and_masks_it_for_masked_roles(client_for):
    agent, disp = client_for("agent1"), client_for("disp1")
    parent = new_ticket(agent)["ticket"]
    child = new_ticket(agent, caller_number="13900005678")
    assert child["duplicates"][0]["number"] == parent["number"]
    r = _act(agent, child["ticket"]["number"], "merge", 1, parent=parent["number"])
    assert r.status_code == 200 and r.json()["state"] == "merged" and r.json()["parent"] == parent["number"]
    assert r.json()["events"][-1]["data"]["subscribed"] == ["13900005678"]
    assert agent.get(f"/api/tickets/{parent['number']}").json()["children"] == [child["ticket"]["number"]]
    assert [h["number"] for h in agent.get("/api/callers/13900005678/history").json()] == \
        [child["ticket"]["number"], parent["number"]]
    masked = disp.get(f"/api/tickets/{child['ticket']['number']}").json()
    assert masked["events"][-1]["data"]["subscribed"] == ["139****5678"]


def test_a_deadline_in_an_estimated_year_is_computed_and_marked_provisional(client_for, api_state):
    """The holiday schedule of 2027 is not published (as on 2026-12-07): dispatch and extension
    still work, and their deadlines say 预计 (``provisional``) instead of being refused."""
    from hotline.sla import WorkCalendar

    cal = api_state.calendar
    api_state.calendar = WorkCalendar(cal.tz, cal.office_hours, official_years=range(2001, 2027))
    agent, disp, water, sup = client_for("agent1"), client_for("disp1"), client_for("water"), client_for("sup1")
    api_state.clock.now = datetime(2026, 12, 31, 16, 0, tzinfo=TZ)
    t = new_ticket(agent)["ticket"]
    t = _act(agent, t["number"], "register", 1).json()
    r = _act(disp, t["number"], "dispatch", t["version"])     # 签收 deadline falls in 2027
    assert r.status_code == 200, r.text
    accept = r.json()["deadlines"][0]
    assert accept["stage"] == "签收" and accept["provisional"] is True and accept["due_at"].startswith("2027-")
    t = _act(water, t["number"], "accept", r.json()["version"]).json()
    handle = next(d for d in t["deadlines"] if d["stage"] == "处置")
    assert handle["provisional"] is True
    t = _act(water, t["number"], "request_extension", t["version"], reason="春节期间无法施工", duration=10).json()
    t = _act(sup, t["number"], "approve_extension", t["version"]).json()
    extended = next(d for d in t["deadlines"] if d["stage"] == "处置")
    assert extended["provisional"] is True and extended["due_at"] > handle["due_at"]
    # a deadline inside an official year is not provisional
    api_state.clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
    t2 = new_ticket(agent)["ticket"]
    t2 = _act(agent, t2["number"], "register", 1).json()
    assert _act(disp, t2["number"], "dispatch", t2["version"]).json()["deadlines"][0]["provisional"] is False


def test_priority_given_at_intake_is_recorded_as_the_agents_choice(client_for):
    t = new_ticket(client_for("agent1"), priority="urgent")["ticket"]
    assert t["priority"] == "urgent" and "override_priority" in t["routing"]["fallbacks"]
    assert any("紧急程度" in step for step in t["routing"]["explanation"])


def test_a_ticket_is_linked_to_the_call_by_the_id_the_live_call_list_shows(client_for, api_state):
    """``call_id`` is the call's Linkedid (what ``/api/calls/live`` lists): a live call the recorder
    has not stored yet gets its row, and the ticket points at it."""
    from hotline.calls.models import Call

    agent = client_for("agent1")
    t = new_ticket(agent, call_id="hotline-test-1796600000.42")["ticket"]
    with api_state.sessions() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == t["number"])).scalar_one()
        call = s.get(Call, ticket.call_id)
        assert call.call_id == "hotline-test-1796600000.42" and call.caller == "13800001234"
    again = new_ticket(agent, call_id="hotline-test-1796600000.42", description="同一通话第二件诉求")["ticket"]
    with api_state.sessions() as s:
        second = s.execute(select(Ticket).where(Ticket.number == again["number"])).scalar_one()
        assert second.call_id == ticket.call_id
        assert s.execute(select(func.count()).select_from(Call)).scalar_one() == 1


def test_listing_by_street_department_and_dates(client_for, api_state):
    agent = client_for("agent1")
    water = new_ticket(agent)["ticket"]["number"]
    lamp = new_ticket(agent, category_code="01006")["ticket"]["number"]
    elsewhere = new_ticket(agent, lat=SONGSHAN_MINZHU[0], lon=SONGSHAN_MINZHU[1])["ticket"]["number"]
    api_state.clock.now = datetime(2026, 11, 28, 0, 30, tzinfo=TZ)       # the next day in Chifeng
    later = new_ticket(agent)["ticket"]["number"]

    def numbers(**params):
        r = agent.get("/api/tickets", params=params)
        assert r.status_code == 200, r.text
        return {i["number"] for i in r.json()["items"]}

    assert numbers(street="150402001") == {water, lamp, later}
    assert numbers(department="util-water") == {water, elsewhere, later}
    assert numbers(**{"from": "2026-11-28"}) == {later}
    assert numbers(**{"from": "2026-11-27", "to": "2026-11-27"}) == {water, lamp, elsewhere}
    assert agent.get("/api/tickets", params={"from": "27/11/2026"}).status_code == 422
