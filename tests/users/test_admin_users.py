"""用户与座席: adding, changing, disabling users with the same checks as the CLI; the seat."""

from __future__ import annotations

from sqlalchemy import select

from hotline.audit.models import AuditEntry
from hotline.users.models import User

from .conftest import PASSWORD, html_client

FORM = {"username": "zhangmin", "display_name": "张敏", "role": "agent", "district_code": "", "department_code": "",
        "seat": "PJSIP/agent-1102", "password": "first-pass-1"}


def _user(state, username):
    with state.read_sessions() as s:
        return s.scalar(select(User).where(User.username == username))


def test_admin_adds_an_agent_with_a_seat(state, client_for):
    admin = html_client(client_for("admin1"))
    r = admin.post("/admin/users", data=FORM, follow_redirects=False)
    assert r.status_code == 303
    user = _user(state, "zhangmin")
    assert user.role == "agent" and user.seat == "PJSIP/agent-1102" and user.display_name == "张敏"
    assert client_for("zhangmin", "first-pass-1").get("/api/me").json()["display_name"] == "张敏"
    assert "PJSIP/agent-1102" in admin.get("/admin/users").text
    state.audit.flush()
    with state.read_sessions() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.kind == "user_admin"))
    assert entry.username == "admin1" and entry.target == "zhangmin" and "seat=PJSIP/agent-1102" in entry.detail


def test_bad_fields_come_back_with_what_was_typed(state, client_for):
    admin = html_client(client_for("admin1"))
    bad = {**FORM, "role": "district_officer", "district_code": "999999", "seat": "PJSIP/agent-1101",
           "username": "x y", "password": "short"}
    r = admin.post("/admin/users", data=bad)
    assert r.status_code == 422
    assert "未知区县“999999”" in r.text and "只有坐席和值班长可以绑定座席分机" in r.text
    assert "用户名为" in r.text and "至少 8 位" in r.text
    assert 'value="x y"' in r.text and 'value="张敏"' in r.text        # nothing typed is lost
    assert _user(state, "x y") is None
    r = admin.post("/admin/users", data={**FORM, "seat": "PJSIP/agent-1101"})   # agent1's seat
    assert r.status_code == 422 and "已绑定给用户 agent1" in r.text
    r = admin.post("/admin/users", data={**FORM, "seat": "agent 1102"})
    assert r.status_code == 422 and "座席格式" in r.text
    r = admin.post("/admin/users", data={**FORM, "role": "department_officer", "seat": "",
                                         "department_code": "no-such-dept"})
    assert r.status_code == 422 and "未知部门“no-such-dept”" in r.text


def test_changing_role_scope_and_seat(state, client_for):
    admin = html_client(client_for("admin1"))
    uid = _user(state, "disp2").id
    r = admin.post(f"/admin/users/{uid}", data={"display_name": "赵强", "role": "district_officer",
                                                "district_code": "150404", "department_code": "", "seat": ""},
                   follow_redirects=False)
    assert r.status_code == 303
    user = _user(state, "disp2")
    assert user.role == "district_officer" and user.district_code == "150404"
    r = admin.post(f"/admin/users/{uid}", data={"display_name": "赵强", "role": "district_officer",
                                                "district_code": "150404", "department_code": "", "seat": "PJSIP/x-1"})
    assert r.status_code == 422 and "只有坐席和值班长" in r.text
    assert html_client(client_for("disp2")).get("/api/me").json()["role"] == "district_officer"


def test_disabled_seat_is_free_and_enabling_checks_it_again(state, client_for):
    admin = html_client(client_for("admin1"))
    agent1 = _user(state, "agent1")
    admin.post(f"/admin/users/{agent1.id}/active", data={"active": "0"})
    assert admin.post("/admin/users", data={**FORM, "seat": "PJSIP/agent-1101"}, follow_redirects=False).status_code == 303
    r = admin.post(f"/admin/users/{agent1.id}/active", data={"active": "1"})
    assert r.status_code == 409 and "已绑定给用户 zhangmin" in r.text
    assert _user(state, "agent1").active is False


def test_admin_cannot_disable_themselves_and_others_cannot_administer(state, client_for):
    admin = html_client(client_for("admin1"))
    me = _user(state, "admin1")
    assert admin.post(f"/admin/users/{me.id}/active", data={"active": "0"}).status_code == 409
    assert _user(state, "admin1").active is True
    sup = html_client(client_for("sup1"))
    assert sup.post("/admin/users", data=FORM).status_code == 403
    assert sup.post(f"/admin/users/{me.id}/active", data={"active": "0"}).status_code == 403
    assert _user(state, "zhangmin") is None


def test_password_reset_ends_the_sessions(state, client_for):
    victim = client_for("water")
    admin = html_client(client_for("admin1"))
    uid = _user(state, "water").id
    r = admin.post(f"/admin/users/{uid}/password", data={"password": "reset-pass-9", "repeat": "reset-pass-9"},
                   follow_redirects=False)
    assert r.status_code == 303
    assert victim.get("/api/me").status_code == 401
    assert client_for(None).post("/api/session", json={"username": "water", "password": PASSWORD}).status_code == 401
    client_for("water", "reset-pass-9")
