"""系统管理 in a browser: the status page, adding an agent with a seat, disabling a user whose
open page then lands on the login page, the audit log; the CSP lets Swagger UI work."""

from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.slow


def test_status_page(server, page_for):
    page = page_for("admin")
    page.goto(server + "/admin")
    for title in ("电话系统", "定时任务", "节假日日历", "浏览器组件", "数据库", "审计日志"):
        assert page.get_by_role("heading", name=title).count() == 1
    assert "内置模拟交换机" in page.content()
    screenshot(page, "admin-status")


def test_admin_adds_an_agent_with_a_seat_and_disables_a_user_with_an_open_page(server, page_for):
    admin = page_for("admin")
    admin.goto(server + "/admin/users")
    admin.locator("#add-user summary").click()
    admin.fill("#f-username", "bt_agent")
    admin.fill("#f-name", "孙丽")
    admin.fill("#f-password", "bt-agent-pass-1")
    admin.select_option("#f-role", "agent")
    admin.fill("#f-seat", "PJSIP/agent-1109")
    admin.get_by_role("button", name="添加").click()
    admin.wait_for_url("**/admin/users?done=created")
    row = admin.locator("tr", has_text="bt_agent")
    assert "PJSIP/agent-1109" in row.inner_text() and "坐席" in row.inner_text()

    victim = page_for(None)
    victim.goto(server + "/login")
    victim.fill("input[name=username]", "bt_agent")
    victim.fill("input[name=password]", "bt-agent-pass-1")
    victim.click("button[type=submit]")
    victim.wait_for_url(lambda url: "/login" not in url)
    victim.goto(server + "/notices")
    victim.wait_for_selector("body[data-live=open]", state="attached")

    admin.goto(server + "/admin/users")
    admin.locator("tr", has_text="bt_agent").get_by_role("button", name="停用 bt_agent").click()
    admin.wait_for_url("**/admin/users?done=disabled")
    assert "已停用" in admin.locator("tr", has_text="bt_agent").inner_text()
    victim.wait_for_url("**/login**", timeout=10_000)          # no click: the page was sent away
    screenshot(admin, "admin-users")


def test_audit_log_page_and_swagger_ui_under_the_csp(server, page_for):
    page = page_for("admin")
    page.goto(server + "/admin/audit?kind=login")
    assert page.locator("table.list tbody tr").count() >= 1
    assert "登录成功" in page.locator("table.list").inner_text()
    page.goto(server + "/admin/audit")
    screenshot(page, "admin-audit")
    page.goto(server + "/api/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)   # rendered: scripts ran under the CSP
