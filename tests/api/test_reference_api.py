"""Grid, categories and routing-preview APIs."""

from __future__ import annotations

from tests.api.conftest import HONGSHAN_HEPING, OUTSIDE


def test_grid_units_by_level_and_parent(client_for):
    c = client_for("hs")                    # any logged-in role may browse the grid
    districts = c.get("/api/grid/units", params={"level": 1}).json()
    assert {d["code"] for d in districts} >= {"150402", "150403", "150404", "150428"}
    streets = c.get("/api/grid/units", params={"parent": "150402"}).json()
    assert streets and all(s["parent_code"] == "150402" and s["level"] == 2 for s in streets)
    assert "西屯街道" in {s["name"] for s in streets}
    r = c.get("/api/grid/units", params={"parent": "150499"})
    assert r.status_code == 404 and "不存在" in r.json()["detail"]
    assert c.get("/api/grid/units", params={"level": 7}).status_code == 422


def test_grid_locate(client_for):
    c = client_for("agent1")
    r = c.get("/api/grid/locate", params={"lat": HONGSHAN_HEPING[0], "lon": HONGSHAN_HEPING[1]})
    assert r.status_code == 200
    body = r.json()
    assert [u["code"] for u in body["chain"]][:3] == ["150402", "150402001", "150402001001"]
    assert "和平社区" in body["label"]
    r = c.get("/api/grid/locate", params={"lat": OUTSIDE[0], "lon": OUTSIDE[1]})
    assert r.status_code == 404 and "不在本热线服务的任何网格内" in r.json()["detail"]
    assert c.get("/api/grid/locate", params={"lat": 91, "lon": 118}).status_code == 422
    assert c.get("/api/grid/locate", params={"lat": "nan", "lon": 118}).status_code == 422
    assert c.get("/api/grid/locate", params={"lat": 42}).status_code == 422


def test_categories_search(client_for):
    c = client_for("water")
    both = c.get("/api/categories", params={"q": "01001"}).json()
    assert {(x["code"], x["kind"]) for x in both} == {("01001", "component"), ("01001", "matter")}
    matters = c.get("/api/categories", params={"q": "井盖", "kind": "matter"}).json()
    assert matters and all(x["kind"] == "matter" and x["kind_label"] == "事项" for x in matters)
    local = c.get("/api/categories", params={"q": "停水"}).json()
    assert any(x["is_local_extension"] for x in local)
    assert c.get("/api/categories", params={"kind": "thing"}).status_code == 422
    assert c.get("/api/categories", params={"q": "%"}).json() == []      # LIKE wildcards are escaped


def test_routing_preview_explains_and_stores_nothing(client_for, api_state):
    c = client_for("disp1")
    r = c.post("/api/routing/preview", json={"category_code": "01001", "kind": "component",
                                             "lat": HONGSHAN_HEPING[0], "lon": HONGSHAN_HEPING[1]})
    assert r.status_code == 200
    d = r.json()
    assert d["district"]["code"] == "150402" and d["department"]["code"] == "util-water"
    assert d["lead"] == "owner" and any("先属主" in s for s in d["explanation"])
    bad = c.post("/api/routing/preview", json={"category_code": "01001", "address": "和平社区"})
    assert bad.status_code == 422 and "多个网格" in bad.json()["detail"]
    unknown = c.post("/api/routing/preview", json={"category_code": "nope", "district_code": "150402"})
    assert unknown.status_code == 422 and "未知的分类编码" in unknown.json()["detail"]
    from sqlalchemy import func, select

    from hotline.cases.models import Ticket

    with api_state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
