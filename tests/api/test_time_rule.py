"""One time rule for everything the API writes (issue: lists, history and deadlines came in UTC
"Z", creation, detail and Open311 in +08:00): every time is ISO 8601 with the hotline's offset —
including the times inside ticket-event data written by the workflow and the SLA sweep, notices and
Open311 — and every one still names the right instant."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from hotline.sla.sweep import sweep
from tests.api.conftest import NOW, new_ticket

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$")


def times_in(value, path="$"):
    """Every string in a JSON document that is an ISO 8601 date-time, with where it is."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from times_in(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from times_in(v, f"{path}[{i}]")
    elif isinstance(value, str) and ISO.match(value):
        yield path, value


def act(client, number, action, version, **payload):
    r = client.post(f"/api/tickets/{number}/actions/{action}", json={"expected_version": version, **payload})
    assert r.status_code == 200, r.text
    return r.json()


def test_every_time_the_api_writes_carries_the_hotlines_offset(client_for, api_state):
    agent, disp, sup, water = client_for("agent1"), client_for("disp1"), client_for("sup1"), client_for("water")
    t = new_ticket(agent)["ticket"]
    n = t["number"]
    t = act(agent, n, "register", t["version"])
    t = act(disp, n, "dispatch", t["version"])
    t = act(water, n, "accept", t["version"])
    # long after the 处置 deadline: the SLA sweep writes escalation events with times in their data
    later = NOW + timedelta(days=30)
    with api_state.sessions() as s:
        report = sweep(s, now=later, rules=api_state.rules, calendar=api_state.calendar)
    assert report.events > 0
    api_state.clock.now = later

    documents = {
        "list": sup.get("/api/tickets").json(),
        "detail": sup.get(f"/api/tickets/{n}").json(),
        "history": agent.get("/api/callers/13800001234/history").json(),
        "notices": water.get("/api/notices").json(),
        "open311 list": client_for(None).get("/open311/v2/requests.json").json(),
        "open311 one": client_for(None).get(f"/open311/v2/requests/{n}.json").json(),
        "today": sup.get("/api/metrics/today").json(),
    }
    found = {name: list(times_in(doc)) for name, doc in documents.items()}
    for name in ("list", "detail", "history", "notices", "open311 list", "open311 one", "today"):
        assert found[name], f"{name}: no times at all ({documents[name]})"
    wrong = [(name, path, value) for name, items in found.items() for path, value in items
             if not value.endswith("+08:00")]
    assert wrong == []
    detail = documents["detail"]
    assert any(path.startswith("$.events") and ".data." in path for path, _ in found["detail"])  # sweep data
    # the offset changes the writing, not the instant
    assert datetime.fromisoformat(detail["created_at"]) == NOW
    escalations = [e for e in detail["events"] if e["action"] == "escalate"]
    assert escalations and datetime.fromisoformat(escalations[0]["at"]) == later
