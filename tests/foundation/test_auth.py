"""Every page and API needs a logged-in role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hotline.config import Settings
from hotline.database import make_engine, session_factory
from hotline.users.service import create_user
from hotline.web.app import AppState, create_app


@pytest.fixture
def client(db_url, tmp_path):
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        create_user(s, username="agent1", password="agent-pass-1", role="agent", display_name="王芳")
        create_user(s, username="hs", password="district-pass", role="district_officer",
                    district_code="150402", display_name="红山区办")
    state = AppState(settings=Settings(var_dir=tmp_path, session_secret="x" * 40), engine=engine,
                     sessions=factory, rules=object())
    with TestClient(create_app(state), base_url="http://testserver") as c:
        yield c
    engine.dispose()


def test_pages_redirect_to_login_and_apis_say_401(client):
    r = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/openapi.json").status_code == 401
    assert client.get("/api/docs").status_code == 401
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404


def test_form_login_shows_the_console_in_chinese(client):
    page = client.get("/login")
    assert "登录" in page.text
    bad = client.post("/login", data={"username": "agent1", "password": "nope", "next": "/"})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    ok = client.post("/login", data={"username": "agent1", "password": "agent-pass-1", "next": "/"},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    home = client.get("/")
    assert "王芳" in home.text and "坐席" in home.text


def test_open_redirects_are_refused(client):
    r = client.post("/login", data={"username": "agent1", "password": "agent-pass-1",
                                    "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_api_session_login_and_logout(client):
    assert client.post("/api/session", json={"username": "hs", "password": "x"}).status_code == 401
    r = client.post("/api/session", json={"username": "hs", "password": "district-pass"})
    assert r.status_code == 200 and r.json()["role"] == "district_officer"
    me = client.get("/api/me").json()
    assert me["district_code"] == "150402" and me["role_label"] == "区县处置人员"
    assert client.get("/api/openapi.json").json()["info"]["title"] == "12319 城建服务热线"
    assert client.delete("/api/session").status_code == 403          # no CSRF token: refused
    assert client.get("/api/me").status_code == 200
    assert client.delete("/api/session", headers={"X-CSRF-Token": r.json()["csrf_token"]}).status_code == 200
    assert client.get("/api/me").status_code == 401
