"""The OpenAPI document is well-formed and documented in Chinese; random input never gives a 500."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.api.conftest import new_ticket

OUR_PATHS = {
    "/api/tickets": {"get", "post"}, "/api/tickets/{number}": {"get"},
    "/api/tickets/{number}/actions/{action}": {"post"}, "/api/tickets/{number}/duplicates": {"get"},
    "/api/callers/{phone}/history": {"get"}, "/api/grid/units": {"get"}, "/api/grid/locate": {"get"},
    "/api/categories": {"get"}, "/api/routing/preview": {"post"},
    "/open311/v2/discovery.{fmt}": {"get"}, "/open311/v2/services.{fmt}": {"get"},
    "/open311/v2/services/{service_code}.{fmt}": {"get"}, "/open311/v2/requests.{fmt}": {"get", "post"},
    "/open311/v2/requests/{service_request_id}.{fmt}": {"get"},
}
HAN = re.compile(r"[\u4e00-\u9fff]")


def _resolve(doc: dict, ref: str) -> dict:
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_openapi_document(client_for):
    assert client_for(None).get("/api/openapi.json").status_code == 401
    doc = client_for("agent1").get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"]
    for path, methods in OUR_PATHS.items():
        assert path in doc["paths"], path
        for method in methods:
            op = doc["paths"][path][method]
            assert HAN.search(op["summary"]), (path, method, op["summary"])
            assert op["responses"], (path, method)
    # every $ref resolves, and every path parameter is declared
    text = str(doc)
    for ref in set(re.findall(r"'\$ref': '([^']+)'", text)):
        assert isinstance(_resolve(doc, ref), dict), ref
    for path, item in doc["paths"].items():
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
    op_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids))
    # and the whole document is valid against the OpenAPI specification of its version
    validate(doc)


def test_the_validator_catches_a_broken_document(client_for):
    """The check above can fail: a document with an undeclared path parameter is refused."""
    doc = client_for("agent1").get("/api/openapi.json").json()
    op = doc["paths"]["/api/tickets/{number}"]["get"]
    op["parameters"] = [p for p in op["parameters"] if p["name"] != "number"]
    with pytest.raises(OpenAPIValidationError):
        validate(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8)
FIELDS = ["channel", "caller_number", "category_code", "kind", "description", "address", "lat", "lon",
          "district_code", "street_code", "priority", "override", "call_id", "source_key"]
ticket_bodies = st.dictionaries(st.sampled_from(FIELDS), json_values | st.sampled_from(
    ["01001", "component", "matter", "150402", "150402001", "和平社区", 42.27, 118.95, "urgent"]), max_size=9)
action_bodies = st.dictionaries(st.sampled_from(
    ["expected_version", "reason", "result", "parent", "satisfaction", "duration", "unit", "district_code",
     "department_code", "note"]), json_values | st.integers(1, 3), max_size=6)
open311_fields = st.dictionaries(st.sampled_from(
    ["api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "description", "phone",
     "start_date", "end_date", "status", "service_request_id"]),
    st.text(max_size=40) | st.sampled_from(["C01001", "chifeng.gov.cn", "42.27", "118.95", "2026-11-27T00:00:00Z",
                                            "open", "test-open311-key-0123456789"]), max_size=8)

FUZZ = settings(max_examples=int(__import__('os').environ.get('API_FUZZ_EXAMPLES', '40')), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@FUZZ
@given(body=ticket_bodies, action=st.sampled_from(["register", "dispatch", "merge", "callback", "bogus", "void"]),
       action_body=action_bodies)
def test_fuzz_ticket_api_never_500(client_for, body, action, action_body):
    agent = _fuzz_clients(client_for)["agent1"]
    r = agent.post("/api/tickets", json=body)
    assert r.status_code in (201, 422), (body, r.status_code, r.text)
    number = r.json()["ticket"]["number"] if r.status_code == 201 else "12319-20261127-00001"
    for name in ("agent1", "sup1", "hs"):
        r = _fuzz_clients(client_for)[name].post(f"/api/tickets/{number}/actions/{action}", json=action_body)
        assert r.status_code < 500, (action, action_body, r.status_code, r.text)


@FUZZ
@given(fields=open311_fields, fmt=st.sampled_from(["xml", "json", "html"]))
def test_fuzz_open311_never_500(client_for, monkeypatch, fields, fmt):
    monkeypatch.setenv("HOTLINE_OPEN311_API_KEYS", "test-open311-key-0123456789")
    anon = _fuzz_clients(client_for)[None]
    from urllib.parse import urlencode

    r = anon.post(f"/open311/v2/requests.{fmt}", content=urlencode(fields),
                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code in (200, 400, 403, 404), (fields, r.status_code, r.text)
    r = anon.get(f"/open311/v2/requests.{fmt}", params=fields)
    assert r.status_code in (200, 400, 404), (fields, r.status_code, r.text)


_CACHE: dict[int, tuple] = {}


def _fuzz_clients(client_for) -> dict:
    """One set of logged-in clients per test (hypothesis reuses the function-scoped fixture)."""
    key = id(client_for)
    if key not in _CACHE:
        _CACHE.clear()
        # keep client_for itself alive so its id cannot be reused by a later test's fixture
        _CACHE[key] = (client_for, {name: client_for(name) for name in ("agent1", "sup1", "hs", None)})
    return _CACHE[key][1]


def test_merge_into_self_or_unknown_is_422(client_for):
    agent = client_for("agent1")
    t = new_ticket(agent)["ticket"]
    r = agent.post(f"/api/tickets/{t['number']}/actions/merge", json={"expected_version": 1, "parent": t["number"]})
    assert r.status_code == 422 and "主工单编号" in r.json()["detail"]


def test_non_standard_json_numbers_are_422(client_for):
    agent = client_for("agent1")
    for raw in ('{"category_code": "01001", "description": "x", "lat": NaN, "lon": 118.95}',
                '{"category_code": "01001", "description": "x", "lat": Infinity, "lon": 118.95}',
                '{"category_code": "01001", "description": "x", "district_code": "150402", "call_id": 1e400}'):
        r = agent.post("/api/tickets", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (raw, r.status_code, r.text)
    r = agent.post("/api/tickets/12319-20261127-00001/actions/register", content='{"expected_version": Infinity}',
                   headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_nul_characters_are_refused_not_500(client_for, monkeypatch):
    """PostgreSQL cannot store NUL: every entry point answers 4xx (found by the fuzz run)."""
    from urllib.parse import urlencode

    monkeypatch.setenv("HOTLINE_OPEN311_API_KEYS", "test-open311-key-0123456789")
    anon, agent = client_for(None), client_for("agent1")
    form = {"api_key": "test-open311-key-0123456789", "service_code": "C01001", "lat": "42.2696",
            "long": "118.9556", "description": "a\x00b"}
    r = anon.post("/open311/v2/requests.xml", content=urlencode(form),
                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "NUL" in r.text
    for url, params in [("/open311/v2/requests.xml", {"service_request_id": "a\x00"}),
                        ("/open311/v2/requests/a%00b.xml", {}), ("/open311/v2/services.json", {"jurisdiction_id": "\x00"})]:
        assert anon.get(url, params=params).status_code == 400, url
    r = agent.post("/api/tickets", json={"category_code": "01001", "description": "x\x00", "district_code": "150402"})
    assert r.status_code == 422 and "NUL" in r.text
    for url, params in [("/api/tickets", {"q": "\x00"}), ("/api/tickets/a%00b", {}), ("/api/categories", {"q": "\x00"}),
                        ("/api/callers/138%00/history", {}), ("/api/grid/units", {"q": "\x00"})]:
        assert agent.get(url, params=params).status_code == 422, url
    r = agent.post("/api/routing/preview", json={"category_code": "01001\x00"})
    assert r.status_code == 422
