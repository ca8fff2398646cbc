"""A full server state (sample grid, categories, shipped rules) with a user of every role, and
logged-in clients — for the users, notices, admin, audit and protection tests (both databases)."""

from __future__ import annotations

from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from hotline.config import Settings
from hotline.server import build_state
from hotline.users.service import create_user
from hotline.web.app import create_app

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)   # a Friday working day
HONGSHAN_HEPING = (42.2696, 118.9556)            # 红山区 › 西屯街道 › 和平社区 (sample grid)
PASSWORD = "users-test-pass-1"
USERS = {
    "agent1": dict(role="agent", display_name="王芳", seat="PJSIP/agent-1101"),
    "disp1": dict(role="dispatcher", display_name="张伟"),
    "disp2": dict(role="dispatcher", display_name="赵强"),
    "sup1": dict(role="supervisor", display_name="刘值班"),
    "admin1": dict(role="admin", display_name="管理员"),
    "hs": dict(role="district_officer", district_code="150402", display_name="红山区办"),
    "hs2": dict(role="district_officer", district_code="150402", display_name="红山区办二"),
    "ss": dict(role="district_officer", district_code="150404", display_name="松山区办"),
    "water": dict(role="department_officer", department_code="util-water", display_name="供水公司"),
}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """argon2 at its minimum cost: these tests exercise the rules, not the hashing."""
    from argon2 import PasswordHasher

    import hotline.users.service as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(users, "_DUMMY_HASH", None)


@pytest.fixture
def state(db_url, tmp_path):
    st = build_state(Settings(var_dir=tmp_path, database_url=db_url, demo_call_rate=0, session_secret="s" * 40))
    st.services.clear()          # no telephony, no scheduler: nothing here waits for a tick
    st.clock = Clock(NOW)
    with st.sessions() as s, s.begin():
        for username, info in USERS.items():
            create_user(s, username=username, password=PASSWORD, **info)
    yield st
    st.close()


@pytest.fixture
def app(state):
    return create_app(state)


@pytest.fixture
def client_for(app) -> Callable[..., TestClient]:
    """``client_for("agent1")`` → a TestClient logged in as that user; ``None`` → anonymous."""
    clients: list[TestClient] = []

    def make(username: str | None, password: str = PASSWORD) -> TestClient:
        c = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
        clients.append(c)
        if username is not None:
            r = c.post("/api/session", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    yield make
    for c in clients:
        c.close()


def new_ticket(client: TestClient, **overrides) -> dict:
    body = {"caller_number": "13800001234", "caller_name": "陈先生", "category_code": "01001",
            "kind": "component", "description": "井盖破损，有人踩空", "address": "和平路12号",
            "lat": HONGSHAN_HEPING[0], "lon": HONGSHAN_HEPING[1]}
    body.update(overrides)
    r = client.post("/api/tickets", json=body)
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


def act(client: TestClient, ticket: dict, action: str, **payload) -> dict:
    r = client.post(f"/api/tickets/{ticket['number']}/actions/{action}",
                    json={"expected_version": ticket["version"], **payload})
    assert r.status_code == 200, r.text
    return r.json()


def html_client(client: TestClient) -> TestClient:
    client.headers["Accept"] = "text/html"
    return client
