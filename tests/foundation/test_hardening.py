"""Request body limits (refused early, never read), security headers, the Secure cookie behind
HTTPS or a trusted proxy, private files, and the audit entry of every state change."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hotline.audit.models import AuditEntry
from hotline.config import Settings
from hotline.web.hardening import CONTENT_SECURITY_POLICY, BodyLimits, parse_body_limits

from tests.users.conftest import _cheap_password_hashing, app, client_for, new_ticket, state  # noqa: F401


def _asgi_post(app, path: str, *, declared: int | None, chunks: int = 0, chunk: bytes = b"x" * 65536,
               headers=()):
    """POST straight to the ASGI app; returns (status, bytes the app pulled from the client)."""
    pulled = [0]
    sent = []

    async def receive():
        if pulled[0] < chunks:
            pulled[0] += 1
            return {"type": "http.request", "body": chunk, "more_body": pulled[0] < chunks}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    hdrs = [(b"content-type", b"application/json"), *headers]
    if declared is not None:
        hdrs.append((b"content-length", str(declared).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "headers": hdrs,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], pulled[0] * len(chunk)


def test_a_200_mb_login_is_refused_before_reading_it(app):
    status, read = _asgi_post(app, "/api/session", declared=200 * 1024 * 1024, chunks=3200)
    assert status == 413 and read == 0


def test_a_50_mb_open311_upload_without_a_key_is_refused_before_reading_it(app):
    status, read = _asgi_post(app, "/open311/v2/requests.json", declared=50 * 1024 * 1024, chunks=800,
                              headers=[(b"content-type", b"multipart/form-data; boundary=x")])
    assert status == 413 and read == 0


def test_a_chunked_body_is_cut_off_at_the_limit(app):
    status, read = _asgi_post(app, "/api/session", declared=None, chunks=3200)
    assert status == 413 and read <= 16 * 1024 + 65536          # stopped at the first chunk past 16 KB


def test_limits_table_matches_paths_first_wins():
    limits = BodyLimits(None, parse_body_limits("/api/import=2M") + parse_body_limits("/tickets/*/attachments=32M;*=1M"))
    assert limits.limit_for("/api/import") == 2 * 1024 * 1024
    assert limits.limit_for("/tickets/12319-20261127-00001/attachments") == 32 * 1024 * 1024
    assert limits.limit_for("/api/tickets") == 1024 * 1024
    with pytest.raises(ValueError):
        parse_body_limits("/x=lots")


def test_ordinary_requests_pass_and_the_413_is_chinese(client_for):
    agent = client_for("agent1")
    assert new_ticket(agent)["number"]
    r = agent.post("/api/tickets", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and "请求内容过大" in r.json()["detail"]


def test_security_headers_on_pages_and_api(client_for):
    c = client_for("admin1")
    for path in ("/login", "/api/me", "/static/app/app.css"):
        r = c.get(path)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY


def _login_cookie(app, base_url: str, headers=None) -> str:
    c = TestClient(app, base_url=base_url)
    r = c.post("/api/session", json={"username": "agent1", "password": "users-test-pass-1"}, headers=headers or {})
    assert r.status_code == 200
    return r.headers["set-cookie"]


def test_session_cookie_is_secure_over_https_only(app):
    assert "secure" not in _login_cookie(app, "http://testserver").lower().split("samesite")[0] + \
        _login_cookie(app, "http://testserver").lower().split("samesite")[1].replace("strict", "")
    cookie = _login_cookie(app, "https://testserver")
    assert "; secure" in cookie.lower() and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_a_trusted_proxy_marks_https_and_the_client(state):
    from hotline.web.app import create_app

    state.settings = state.settings.model_copy(update={"trusted_proxies": "testclient,127.0.0.1"})
    proxied = create_app(state)
    cookie = _login_cookie(proxied, "http://testserver",
                           {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.20.30.40"})
    assert "; secure" in cookie.lower()
    state.audit.flush()
    with state.read_sessions() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.kind == "login"))
    assert entry.address == "10.20.30.40"


def test_forwarded_headers_from_anyone_else_are_ignored(app, state):
    cookie = _login_cookie(app, "http://testserver", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.9.9.9"})
    assert "; secure" not in cookie.lower()
    state.audit.flush()
    with state.read_sessions() as s:
        assert s.scalar(select(AuditEntry.address).where(AuditEntry.kind == "login")) == "testclient"


def test_state_changes_are_audited_with_user_address_and_ticket(state, client_for):
    disp = client_for("disp1")
    ticket = new_ticket(client_for("agent1"))
    r = disp.post(f"/api/tickets/{ticket['number']}/actions/register", json={"expected_version": ticket["version"]})
    assert r.status_code == 200
    disp.post(f"/api/tickets/{ticket['number']}/actions/register", json={"expected_version": ticket["version"]})
    state.audit.flush()
    with state.read_sessions() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.kind.in_(["ticket_create", "ticket_action"]))
                              .order_by(AuditEntry.id)))
    assert [(e.kind, e.username, e.status) for e in rows] == [
        ("ticket_create", "agent1", 201), ("ticket_action", "disp1", 200), ("ticket_action", "disp1", 409)]
    assert rows[1].target == ticket["number"] and rows[1].address == "testclient" and rows[1].role == "dispatcher"
    page = client_for("admin1").get("/admin/audit?kind=ticket_action&user_name=disp1",
                                    headers={"Accept": "text/html"})
    # two rows, each naming the ticket in the request path and as the object
    assert page.status_code == 200 and page.text.count(ticket["number"]) == 4 and "失败（409）" in page.text
    bad = client_for("admin1").get("/admin/audit?start=2026-13-01", headers={"Accept": "text/html"})
    assert bad.status_code == 422 and "日期格式" in bad.text


def test_var_dir_and_sqlite_file_are_private(tmp_path):
    from hotline.database import make_engine

    settings = Settings(var_dir=tmp_path / "var")
    var = settings.ensure_var_dir()
    assert stat.S_IMODE(os.stat(var).st_mode) == 0o700
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh' / 'h.sqlite3'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("create table t (x int)")
        conn.exec_driver_sql("insert into t values (1)")
        conn.commit()
    assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == 0o700
    for name in ("h.sqlite3", "h.sqlite3-wal"):
        assert stat.S_IMODE(os.stat(tmp_path / "fresh" / name).st_mode) == 0o600, name
    engine.dispose()
