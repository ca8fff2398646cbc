"""What ``hotline serve`` writes to its log: no caller numbers, no secrets."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.serve_support import running_serve

pytestmark = pytest.mark.slow


def test_access_log_has_no_caller_numbers_or_api_keys(tmp_path):
    from hotline.database import make_engine, session_factory
    from hotline.users.service import create_user

    with running_serve(tmp_path, HOTLINE_OPEN311_API_KEYS="partner-key-0123456789") as serve:
        engine = make_engine(f"sqlite:///{serve.database}")
        with session_factory(engine)() as s, s.begin():
            create_user(s, username="agent1", password="log-test-pass", role="agent")
        engine.dispose()
        with httpx.Client(base_url=serve.base) as c:
            r = c.post("/api/session", json={"username": "agent1", "password": "log-test-pass"})
            assert r.status_code == 200
            assert c.get("/api/callers/13800001234/history").status_code == 200
            assert c.get("/api/tickets", params={"q": "13912345678"}).status_code == 200
        r = httpx.post(serve.base + "/open311/v2/requests.json?api_key=partner-key-0123456789",
                       data={"service_code": "C01001", "lat": "42.27", "long": "118.96"})
        assert r.status_code == 400 and "请求体" in r.text
        serve.stop()
    text = serve.log.read_text()
    assert "GET /api/callers/138****1234/history" in text            # the line is there, masked
    for secret in ("13800001234", "13912345678", "partner-key-0123456789"):
        assert secret not in text
