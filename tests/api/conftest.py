"""A full server state (sample grid, categories, shipped rules) with users, and logged-in clients."""

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

# Points of the sample grid (see hotline/data/grid_sample.json).
HONGSHAN_HEPING = (42.2696, 118.9556)     # 红山区 › 西屯街道 › 和平社区
SONGSHAN_MINZHU = (42.30, 118.93)         # 松山区 › 铁东街道 › 民主社区
OUTSIDE = (44.0, 120.5)                   # no unit of the sample grid

USERS = {
    "agent1": dict(role="agent", display_name="王芳"),
    "agent2": dict(role="agent", display_name="李静"),
    "disp1": dict(role="dispatcher", display_name="张伟"),
    "disp2": dict(role="dispatcher", display_name="赵强"),
    "sup1": dict(role="supervisor", display_name="刘值班"),
    "admin1": dict(role="admin", display_name="管理员"),
    "hs": dict(role="district_officer", district_code="150402", display_name="红山区办"),
    "ss": dict(role="district_officer", district_code="150404", display_name="松山区办"),
    "water": dict(role="department_officer", department_code="util-water", display_name="供水公司"),
}
PASSWORD = "api-test-pass-1"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """argon2 at its minimum cost: these tests exercise the API, not the password hashing."""
    from argon2 import PasswordHasher

    import hotline.users.service as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def api_state(db_url, tmp_path):
    state = build_state(Settings(var_dir=tmp_path, database_url=db_url, demo_call_rate=0,
                                 session_secret="s" * 40))
    state.services.clear()          # no telephony in API tests
    state.clock = Clock(NOW)
    with state.sessions() as s, s.begin():
        for username, info in USERS.items():
            create_user(s, username=username, password=PASSWORD, **info)
    yield state
    state.close()


@pytest.fixture
def app(api_state):
    return create_app(api_state)


@pytest.fixture
def client_for(app) -> Callable[[str | None], TestClient]:
    """``client_for("agent1")`` → a TestClient logged in as that user; ``None`` → anonymous."""
    clients: list[TestClient] = []

    def make(username: str | None) -> TestClient:
        c = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
        clients.append(c)
        if username is not None:
            r = c.post("/api/session", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]     # state changes carry the session's token
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
    return r.json()
