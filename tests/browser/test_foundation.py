"""The console's foundation in a real browser: login, each role's menu, error pages, offline
API docs, nothing loaded from outside the app."""

from __future__ import annotations

import pytest

from tests.browser.conftest import USERS, screenshot

pytestmark = pytest.mark.slow


def test_login_page_and_a_wrong_password(page_for, server):
    page = page_for(None)
    page.goto(server + "/")
    assert "/login" in page.url and page.locator("h1").inner_text() == "登录"
    page.fill("input[name=username]", "agent1")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "用户名或密码错误"
    screenshot(page, "login")


@pytest.mark.parametrize("role, first_item", [
    ("agent", "坐席工作台"), ("dispatcher", "派遣待办"), ("district_officer", "我的待办"),
    ("department_officer", "我的待办"), ("supervisor", "实时监控"), ("admin", "系统管理"),
])
def test_every_role_sees_its_own_menu(page_for, role, first_item):
    page = page_for(role)
    menu = page.locator("nav.menu a")
    assert menu.first.inner_text() == first_item
    assert "工单查询" in menu.all_inner_texts() and "通知中心" in menu.all_inner_texts()
    assert USERS[role]["display_name"] in page.locator(".who").inner_text()


def test_error_pages_are_chinese_pages(page_for, server):
    page = page_for("agent")
    response = page.goto(server + "/no-such-page")
    assert response.status == 404
    assert "404 页面不存在" in page.locator("h1").inner_text()
    assert page.locator("nav.menu a").count() > 0           # the menu is still there


def test_api_docs_render_offline(page_for, server):
    page = page_for("supervisor")
    page.goto(server + "/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "12319 城建服务热线" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 10
