"""Logins: sessions that really end, passwords checked outside any write transaction, throttling,
and the fault test of many bad logins during intake."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, select

from hotline.audit.models import AuditEntry
from hotline.users.models import User

from .conftest import PASSWORD, html_client, new_ticket


def _cookie(client) -> str:
    return client.cookies.get("hotline_session")


def _with_cookie(app, cookie: str):
    from fastapi.testclient import TestClient

    c = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
    c.cookies.set("hotline_session", cookie)
    return c


def test_an_old_cookie_does_not_work_after_logout(app, client_for):
    c = client_for("disp1")
    stolen = _cookie(c)
    assert c.delete("/api/session").json() == {"ok": True}
    assert _with_cookie(app, stolen).get("/api/me").status_code == 401


def test_an_old_cookie_does_not_work_after_the_logout_form(app, client_for):
    c = html_client(client_for("disp1"))
    stolen = _cookie(c)
    assert c.post("/logout", follow_redirects=False).status_code == 303
    assert _with_cookie(app, stolen).get("/api/me").status_code == 401


def test_disabling_a_user_ends_their_sessions(app, client_for, state):
    victim = client_for("hs")
    cookie = _cookie(victim)
    admin = client_for("admin1")
    with state.read_sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == "hs"))
    r = admin.post(f"/admin/users/{uid}/active", data={"active": "0"}, follow_redirects=False)
    assert r.status_code == 303
    assert _with_cookie(app, cookie).get("/api/me").status_code == 401
    assert victim.get("/api/me").status_code == 401
    r = client_for(None).post("/api/session", json={"username": "hs", "password": PASSWORD})
    assert r.status_code == 401                        # cannot log in again either
    admin.post(f"/admin/users/{uid}/active", data={"active": "1"})
    assert client_for("hs").get("/api/me").status_code == 200
    assert victim.get("/api/me").status_code == 401    # the old session stays ended


def test_a_password_change_ends_the_other_sessions_but_not_this_one(app, client_for):
    here, elsewhere = html_client(client_for("sup1")), client_for("sup1")
    r = here.post("/account/password", data={"current": PASSWORD, "new": "a-new-pass-2", "repeat": "a-new-pass-2"})
    assert r.status_code == 200 and "密码已修改" in r.text
    assert here.get("/api/me").status_code == 200
    assert elsewhere.get("/api/me").status_code == 401
    assert client_for(None).post("/api/session", json={"username": "sup1", "password": PASSWORD}).status_code == 401
    client_for("sup1", "a-new-pass-2")


def test_the_password_form_names_each_bad_field(client_for):
    c = html_client(client_for("agent1"))
    r = c.post("/account/password", data={"current": "wrong-one", "new": "short", "repeat": "other"})
    assert r.status_code == 422 and "两次输入的新密码不一致" in r.text
    r = c.post("/account/password", data={"current": "wrong-one", "new": "long-enough-1", "repeat": "long-enough-1"})
    assert r.status_code == 422 and "当前密码不正确" in r.text
    r = c.post("/account/password", data={"current": PASSWORD, "new": "short", "repeat": "short"})
    assert r.status_code == 422 and "至少 8 位" in r.text
    assert c.get("/api/me").status_code == 200


def test_a_failed_login_writes_nothing(state, client_for):
    writes = []

    def watch(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")):
            writes.append(statement)

    event.listen(state.engine, "before_cursor_execute", watch)
    try:
        r = client_for(None).post("/api/session", json={"username": "disp1", "password": "wrong-password"})
    finally:
        event.remove(state.engine, "before_cursor_execute", watch)
    assert r.status_code == 401 and "用户名或密码错误" in r.json()["detail"]
    assert writes == []


def test_repeated_failures_lock_the_account_even_for_the_right_password(client_for, state):
    state.login_guard.address_threshold = 1000        # this test is about the account's lock
    anon = client_for(None)
    codes = [anon.post("/api/session", json={"username": "disp2", "password": f"guess-{i}"}).status_code
             for i in range(100)]
    assert codes[:4] == [401] * 4 and set(codes[5:]) == {429}
    r = anon.post("/api/session", json={"username": "disp2", "password": PASSWORD})
    assert r.status_code == 429 and "已被暂时锁定" in r.json()["detail"] and int(r.headers["Retry-After"]) > 0
    page = html_client(client_for(None)).post("/login", data={"username": "disp2", "password": PASSWORD})
    assert page.status_code == 429 and "已被暂时锁定" in page.text
    assert client_for("disp1").get("/api/me").status_code == 200       # other accounts are not affected
    state.login_guard.clear("disp2")              # an administrator's reset (or the lock's end)
    assert anon.post("/api/session", json={"username": "disp2", "password": PASSWORD}).status_code == 200


def test_many_accounts_from_one_address_lock_the_address(client_for):
    anon = client_for(None)
    codes = [anon.post("/api/session", json={"username": f"nobody{i}", "password": "x" * 10}).status_code
             for i in range(25)]
    assert codes[:19] == [401] * 19 and codes[-1] == 429
    r = anon.post("/api/session", json={"username": "agent1", "password": PASSWORD})
    assert r.status_code == 429 and "本机地址" in r.json()["detail"]


def test_logins_are_audited(state, client_for):
    client_for("agent1").delete("/api/session")
    client_for(None).post("/api/session", json={"username": "agent1", "password": "bad-password"})
    state.audit.flush()
    with state.read_sessions() as s:
        kinds = [(e.kind, e.username) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("login", "agent1") in kinds and ("logout", "agent1") in kinds and ("login_failed", "agent1") in kinds


def test_forty_concurrent_bad_logins_do_not_block_intake(state, client_for, monkeypatch):
    """The outside test: bad logins took the SQLite writer while hashing (intake 20 ms → 2 s; 40
    gave 500 "database is locked"). Real argon2 cost here."""
    from argon2 import PasswordHasher

    import hotline.users.service as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher())
    monkeypatch.setattr(users, "_DUMMY_HASH", None)
    agent = client_for("agent1")
    attackers = [client_for(None) for _ in range(4)]
    state.login_guard.address_threshold = 10_000       # measure the database, not the throttle
    state.login_guard.user_threshold = 10_000
    start = threading.Barrier(41)

    def bad_login(i: int) -> int:
        start.wait()
        return attackers[i % 4].post("/api/session", json={"username": f"disp{i % 2 + 1}",
                                                           "password": f"wrong-{i}"}).status_code

    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(bad_login, i) for i in range(40)]
        start.wait()
        tickets = [new_ticket(agent, description=f"井盖破损 {i}") for i in range(10)]
        codes = [f.result() for f in futures]
    assert codes == [401] * 40
    assert len({t["number"] for t in tickets}) == 10


@pytest.mark.parametrize("path", ["/api/me", "/notices"])
def test_a_cookie_without_a_session_id_is_refused(app, path, state):
    """A cookie from before server-side sessions (only ``uid``) no longer logs anyone in."""
    from itsdangerous import TimestampSigner
    import base64
    import json

    signer = TimestampSigner(state.settings.session_secret_value())
    forged = signer.sign(base64.b64encode(json.dumps({"uid": 1}).encode())).decode()
    r = _with_cookie(app, forged).get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code in (401, 303)
