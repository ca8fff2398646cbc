"""/healthz and /readyz."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hotline.config import Settings
from hotline.database import make_engine, session_factory
from hotline.web.app import AppState, create_app


def _state(url: str, rules=object()) -> AppState:
    engine = make_engine(url)
    return AppState(settings=Settings(), engine=engine, sessions=session_factory(engine), rules=rules)


def test_healthz_and_readyz_when_all_is_well(db_url):
    with TestClient(create_app(_state(db_url))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 200
        assert r.json()["checks"]["database"] == "ok" and r.json()["checks"]["rules"] == "ok"


def test_readyz_fails_without_database_or_rules():
    state = _state("postgresql://u:p@127.0.0.1:1/none", rules=None)
    state.rules_error = "routing_rules.yaml:3:1: bad"
    with TestClient(create_app(state)) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"].startswith("error")
        assert "bad" in body["checks"]["rules"]
