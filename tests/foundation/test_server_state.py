"""The single-process server assembles database, rules, routing, calendar and telephony."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hotline.config import Settings
from hotline.server import StartupError, build_state
from hotline.web.app import create_app


def test_build_state_on_embedded_defaults(tmp_path):
    settings = Settings(var_dir=tmp_path, demo_call_rate=0.0)
    state = build_state(settings)
    assert state.telephony == "simulator"
    assert state.ticket_router is not None and state.calendar is not None and state.stage_policy is not None
    assert (tmp_path / "hotline.sqlite3").exists()
    decision = state.ticket_router.route("06010", address="永巨街道")
    assert decision.street.code == "150402003"
    with TestClient(create_app(state)) as client:
        body = client.get("/readyz").json()
        checks = body["checks"]
        assert {k: checks[k] for k in ("database", "telephony")} == {"database": "ok", "telephony": "ok"}
        assert body["telephony"] == "simulator"
        from hotline.rules.reload import rules_digest

        assert checks["rules"] == f"ok ({rules_digest(settings.rules_file)})"
        assert checks["calendar"] == "ok" or checks["calendar"].startswith("warning: ")


def test_readyz_warns_when_the_holiday_data_is_about_to_end(tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hotline.sla import official_package_years

    last = max(official_package_years())      # the next year is estimated
    state = build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0, session_secret="x" * 40))
    state.services.clear()
    with TestClient(create_app(state)) as client:
        state.clock = lambda: datetime(last, 6, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
        body = client.get("/readyz").json()
        assert body["checks"]["calendar"] == "ok"
        assert body["calendar"]["official_years"].endswith(f"–{last}")
        assert body["calendar"]["estimated_from"] == last + 1 and body["calendar"]["source"].startswith("holidays ")
        state.clock = lambda: datetime(last, 12, 5, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
        r = client.get("/readyz")
        assert r.status_code == 200                                     # a warning, not "not ready"
        assert r.json()["checks"]["calendar"].startswith(f"warning: {last + 1} 年的节假日安排尚未正式公布")


def test_broken_rules_refuse_to_start_with_one_line(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(StartupError) as err:
        build_state(Settings(var_dir=tmp_path, rules_file=bad, demo_call_rate=0.0))
    assert "routing rules invalid" in str(err.value) and "\n" not in str(err.value)


def test_scheduler_and_sms_gateway_are_configured(tmp_path, monkeypatch):
    from hotline.notify.gateways import LogGateway
    from hotline.sla.scheduled import SchedulerService

    state = build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0,
                                 notify_role_numbers="supervisor=13800000009"))
    sched = next(s for s in state.services if isinstance(s, SchedulerService))
    assert isinstance(sched.sender.gateway, LogGateway)
    assert sched.flows.role_numbers["supervisor"] == ("13800000009",)
    for key in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM"):
        monkeypatch.delenv(f"HOTLINE_TWILIO_{key}", raising=False)
    with pytest.raises(StartupError, match="HOTLINE_TWILIO"):
        build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0, sms_gateway="twilio"))
    with pytest.raises(StartupError, match="NOTIFY_ROLE_NUMBERS"):
        build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0, notify_role_numbers="nobody=1"))


def test_first_start_creates_an_admin_whose_password_is_only_in_a_private_file(tmp_path):
    import stat

    state = build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0, session_secret="x" * 40))
    secret_file = tmp_path / "initial_admin_password"
    password = secret_file.read_text().strip()
    assert len(password) >= 12 and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with TestClient(create_app(state)) as client:
        assert client.post("/api/session", json={"username": "admin", "password": "wrong-password"}).status_code == 401
        me = client.post("/api/session", json={"username": "admin", "password": password})
        assert me.status_code == 200 and me.json()["role"] == "admin"
    state.close()
    # a restart changes nothing: the same accounts (the admin, and in simulator mode the demo agent
    # whose seat is a simulated phone), the same password files
    demo_password = (tmp_path / "demo_agent_password").read_text().strip()
    state = build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0, session_secret="x" * 40))
    from sqlalchemy import select

    from hotline.users.models import User

    with state.sessions() as s:
        assert s.scalars(select(User.username).order_by(User.id)).all() == ["admin", "demo-agent"]
        assert s.scalar(select(User.seat).where(User.username == "demo-agent")) == "PJSIP/agent-demo"
    assert (tmp_path / "demo_agent_password").read_text().strip() == demo_password
    assert secret_file.read_text().strip() == password
    state.close()


def test_no_admin_is_created_when_users_exist(tmp_path, db_session):
    from hotline.users.service import create_user, ensure_first_admin

    create_user(db_session, username="agent7", password="agent7-password", role="agent")
    assert ensure_first_admin(db_session, tmp_path) is None
    assert not (tmp_path / "initial_admin_password").exists()


@pytest.mark.parametrize("role, shown", [("dispatcher", True), ("supervisor", True), ("admin", True),
                                         ("agent", False), ("district_officer", False)])
def test_home_page_tells_dispatchers_supervisors_and_admins_that_the_holiday_data_ends(tmp_path, role, shown):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hotline.sla import official_package_years
    from hotline.users.service import create_user

    last = max(official_package_years())
    state = build_state(Settings(var_dir=tmp_path, demo_call_rate=0.0, session_secret="x" * 40))
    state.services.clear()
    with state.sessions() as s, s.begin():
        create_user(s, username="u1", password="user-pass-1", role=role, display_name="测试用户",
                    district_code="150402" if role == "district_officer" else None)
    with TestClient(create_app(state)) as client:
        assert client.post("/login", data={"username": "u1", "password": "user-pass-1", "next": "/"},
                           follow_redirects=False).status_code == 303
        state.clock = lambda: datetime(last, 6, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert "节假日安排为推定" not in client.get("/").text           # far from the estimate: nothing
        state.clock = lambda: datetime(last, 12, 5, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
        page = client.get("/").text
        assert ("节假日安排为推定" in page) is shown
        assert (f"{last + 1} 年的节假日安排尚未正式公布" in page) is shown
