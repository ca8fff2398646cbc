"""/metrics: access rules, the text format (parsed with prometheus_client's own parser), request
latency, telephony gauges (set, and read from a running telephony service), SLA and SMS figures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, update

import metrics_fixture as mf
from ivr_e2e_support import ROOT, make_running, menu_caller

from hotline.metrics.prometheus import MetricsAccess, TelephonyGauges, runtime_of
from hotline.notify.models import Notification
from hotline.rules import load_rules
from hotline.web.app import create_app

TOKEN = "scrape-token-1234"


@pytest.fixture
def scraped(api_state, monkeypatch):
    """An app whose /metrics wants ``TOKEN``, and a client for it."""
    monkeypatch.setenv("HOTLINE_METRICS_TOKEN", TOKEN)
    app = create_app(api_state)
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield app, client


def families(client) -> dict:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def samples(family, name=None) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name}


def test_metrics_need_the_token_or_an_allowed_network(scraped):
    _, client = scraped
    assert client.get("/metrics").status_code == 401                  # the test client is no allowed network
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_access_rule_without_a_token():
    access = MetricsAccess(token="", allow="127.0.0.1/32,::1/128,10.8.0.0/16")
    assert access.allows(None, "127.0.0.1") and access.allows(None, "::1") and access.allows(None, "10.8.3.4")
    assert not access.allows(None, "10.9.0.1") and not access.allows(None, "testclient")
    assert not access.allows("Bearer anything", "192.0.2.1")
    assert not MetricsAccess(token="", allow="").allows(None, "127.0.0.1")
    assert MetricsAccess(token="t", allow="").allows("bearer t", "192.0.2.1")


def test_forbidden_without_any_configuration(api_state, monkeypatch):
    monkeypatch.delenv("HOTLINE_METRICS_TOKEN", raising=False)
    with TestClient(create_app(api_state), base_url="http://testserver") as client:
        r = client.get("/metrics")
    assert r.status_code == 403 and "HOTLINE_METRICS_TOKEN" in r.text


def test_request_latency_by_route_template(scraped, client_for):
    app, client = scraped
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    f = families(client)["hotline_http_request_duration_seconds"]
    counts = samples(f, "hotline_http_request_duration_seconds_count")
    assert counts[(("method", "GET"), ("route", "/healthz"), ("status", "2xx"))] == 2
    assert counts[(("method", "GET"), ("route", "<unmatched>"), ("status", "4xx"))] == 1
    assert not any(dict(k).get("route") == "/metrics" for k in counts)
    buckets = samples(f, "hotline_http_request_duration_seconds_bucket")
    assert buckets[(("le", "+Inf"), ("method", "GET"), ("route", "/healthz"), ("status", "2xx"))] == 2


def test_telephony_gauges_set_by_the_telephony_side(scraped):
    app, client = scraped
    gauges = runtime_of(app).telephony
    gauges.set_calls_in_progress(5)
    gauges.set_queue_waiting({"agents": 3, "mongolian": 1})
    gauges.set_queue_waiting({"agents": 2})
    gauges.set_agents({"idle": 2, "talking": 1})
    gauges.set_ami_connected(True)
    gauges.ami_reconnected()
    gauges.ami_reconnected()
    gauges.set_agi_sessions(4, started=10, failed=1)
    f = families(client)
    assert samples(f["hotline_calls_in_progress"]) == {(): 5}
    assert samples(f["hotline_queue_waiting_calls"]) == {(("queue", "agents"),): 2, (("queue", "mongolian"),): 0}
    assert samples(f["hotline_agents"]) == {(("state", s),): n for s, n in
                                            {"idle": 2, "talking": 1, "ringing": 0, "wrapup": 0, "paused": 0}.items()}
    assert samples(f["hotline_ami_connected"]) == {(): 1}
    assert samples(f["hotline_ami_reconnects"], "hotline_ami_reconnects_total") == {(): 2}
    assert samples(f["hotline_fastagi_sessions_active"]) == {(): 4}
    assert samples(f["hotline_fastagi_sessions"], "hotline_fastagi_sessions_total") == {(): 10}
    assert samples(f["hotline_fastagi_sessions_failed"], "hotline_fastagi_sessions_failed_total") == {(): 1}


def test_sla_overdue_and_sms_backlog_from_the_database(scraped, api_state):
    _, client = scraped
    with api_state.sessions() as s:
        mf.write_tickets(s)
        s.execute(update(Notification).values(status="sent"))
        now = mf.at(11, 27, 10)          # the API tests' clock
        s.execute(insert(Notification), [
            {"channel": "sms", "to": "13800000001", "template": "t", "body": "{}", "status": "pending",
             "created_at": now - timedelta(minutes=10), "next_attempt_at": now},
            {"channel": "sms", "to": "13800000002", "template": "t", "body": "{}", "status": "pending",
             "created_at": now - timedelta(minutes=1), "next_attempt_at": now},
            {"channel": "sms", "to": "13800000003", "template": "t", "body": "{}", "status": "failed",
             "created_at": now, "next_attempt_at": now}])
        s.commit()
    f = families(client)
    # running clocks past due on 11-27: T3 处置 (11-04), T8 签收 (11-06), T4 回访 (11-07), T9 回访 (11-10)
    assert samples(f["hotline_sla_overdue_stages"]) == {(("stage", "处置"),): 1, (("stage", "签收"),): 1,
                                                        (("stage", "回访"),): 2}
    assert samples(f["hotline_sms_outbox"]) == {(("status", "pending"),): 2, (("status", "failed"),): 1}
    assert samples(f["hotline_sms_outbox_oldest_pending_seconds"]) == {(): 600.0}
    assert samples(f["hotline_metrics_database_up"]) == {(): 1}


async def test_gauges_read_a_running_telephony_service(db_factory, tmp_path):
    running = make_running(db_factory, tmp_path, load_rules(ROOT / "routing_rules.yaml"))
    gauges = TelephonyGauges()
    async with running(silent_agents=True) as pbx:
        handle = await pbx.place(menu_caller().press("0").until_app("Queue").wait(600).hangup())
        for _ in range(500):
            live = pbx.svc.tracker.live_snapshots()
            if any(s.queue_joined_at is not None for s in live):
                break
            await asyncio.sleep(0.02)
        gauges.sample(pbx.svc)
        assert gauges.ami_connected is True and gauges.ami_reconnects == 0
        assert gauges.calls_in_progress == 1 and gauges.waiting == {"agents": 1}
        assert gauges.agi_started >= 1 and gauges.agi_failed == 0
        # the simulator's agents are signed in: the board's seats, by state, signed-out ones left out
        seats = [s for s in pbx.svc.agents.snapshots() if s.state.value != "logged_out"]
        assert seats and sum(gauges.agents.values()) == len(seats)
        assert set(gauges.agents) == {"idle", "ringing", "talking", "wrapup", "paused"}
        handle.hangup()
        await handle.wait_ended(30)
        for _ in range(500):
            if not pbx.svc.tracker.live_snapshots():
                break
            await asyncio.sleep(0.02)
        gauges.sample(pbx.svc)
        assert gauges.calls_in_progress == 0 and gauges.waiting == {"agents": 0}
