"""坐席工作台 in a real browser against a real ``hotline serve`` with the PBX simulator: the agent
signs in, a demo call rings the desk phone in the page, the agent answers, the call panel pops
with the caller and the IVR path, the agent registers a ticket from the call with the category
picker, an address suggestion and the routing preview, transfers the caller to a district line,
and the call's ticket is linked to the call."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot

pytestmark = pytest.mark.slow


def answer(page) -> None:
    """接听 on the simulated desk phone. The agent bar is re-rendered by live events; a click that
    lands while it is being swapped is lost, as a person's would be, and is made again."""
    for _ in range(3):
        page.click("#answer")
        try:
            expect(page.locator("#softphone")).not_to_have_attribute("data-phone", "ringing", timeout=5_000)
            return
        except AssertionError:
            continue
    expect(page.locator("#softphone")).not_to_have_attribute("data-phone", "ringing")


def test_an_agent_takes_a_demo_call_end_to_end(page_for, server):
    page = page_for("agent")
    page.goto(server + "/agent")
    bar = page.locator("#agent-bar")
    assert "PJSIP/agent-1102" in bar.inner_text()
    assert page.locator("#agent-state").inner_text() == "未签入"
    page.click("text=签入 (Alt+S)")
    state = page.locator("#agent-state")
    expect(state).to_have_attribute("data-state", "idle")
    # 示忙 and back
    page.select_option("select[name=reason]", "培训")
    page.click("text=示忙 (Alt+B)")
    expect(state).to_have_text("示忙（培训）")
    page.click("text=置闲 (Alt+R)")
    expect(state).to_have_attribute("data-state", "idle")
    screenshot(page, "agent-idle")

    page.click("#demo-call")
    expect(state).to_have_attribute("data-state", "ringing", timeout=60_000)
    page.wait_for_selector("#panel-data")                       # the screen pop arrived while ringing
    caller = page.locator("#panel-data").get_attribute("data-caller")
    assert re.fullmatch(r"\d{11}|0476\d{7}", caller)
    assert page.locator("#softphone").get_attribute("data-phone") == "ringing"
    screenshot(page, "agent-ringing")
    answer(page)
    expect(state).to_have_attribute("data-state", "on_call")
    panel = page.locator("#call-panel").inner_text()
    assert caller in panel and "IVR 路径" in panel and "未办结工单" in panel
    assert "转回12319人工坐席" in panel and "转回蒙古语坐席" in panel        # back to a queue as well
    assert page.locator("#f-caller").input_value() == caller           # the form belongs to the call
    call_id = page.locator("#f-call-id").input_value()
    assert call_id

    # 受理登记: category picker by keyboard, address suggestion, routing preview
    page.fill("#category-search", "井盖")
    page.wait_for_selector(".picker-item")
    page.press("#category-search", "Enter")
    assert page.locator("#f-category-code").input_value()
    page.fill("#f-address", "西屯街道和平路12号")
    page.wait_for_selector(".suggestion")
    page.locator(".suggestion").first.click()
    assert page.locator("#f-street-code").input_value().startswith("150402")
    page.wait_for_selector("#routing-result")
    assert "牵头单位" in page.locator("#preview").inner_text()
    # the map picker: the grid's polygons drawn from the app (no tiles), a click sets the point
    page.click("#map-box summary")
    page.wait_for_selector("#map path.leaflet-interactive")
    assert page.locator("#map path.leaflet-interactive").count() >= 4      # districts and streets
    page.click("#map", position={"x": 200, "y": 130})
    assert page.locator("#f-lat").input_value() and page.locator("#f-lon").input_value()
    expect(page.locator("#map-hint")).to_contain_text("已选点")
    page.fill("#f-description", "和平路12号门前井盖破损，有人踩空")
    screenshot(page, "agent-intake")
    page.click("text=受理 (Alt+T)")
    page.wait_for_selector("#created-number")
    number = page.locator("#created-number").inner_text()
    assert re.fullmatch(r"12319-\d{8}-\d{5}", number)

    # transfer the caller to 红山区's receiving line; the result comes back live
    page.click("#call-panel button:has-text('红山区')")
    page.wait_for_selector("#call-note:has-text('已发起转接')")
    expect(page.locator("#call-note")).to_contain_text("转接红山区", timeout=60_000)

    # the ticket is linked to the call, through the API as well
    with httpx.Client(base_url=server) as api:
        r = api.post("/api/session", json={"username": "agent1", "password": PASSWORD})
        ticket = api.get(f"/api/tickets/{number}").json()
    assert ticket["caller_number"] == caller and ticket["category_code"]
    page.goto(server + "/agent")
    assert number in page.locator("text=今日受理").locator("..").inner_text()


def test_the_wallboard_follows_a_call_that_waits_and_is_answered(page_for, server):
    """实时监控: while a demo call rings the agent it waits in the queue (排队数 1, the agent 振铃);
    once answered the queue is empty and the agent is on the call — pushed live, no reload."""
    board = page_for("supervisor")
    board.goto(server + "/wallboard")
    screenshot(board, "wallboard")
    waiting = board.locator("[data-field=waiting]")
    agent = page_for("agent")
    agent.goto(server + "/agent")
    state = agent.locator("#agent-state")
    current = state.get_attribute("data-state")
    if current == "logged_out":
        agent.click("text=签入 (Alt+S)")
    elif current in ("wrap_up", "paused"):            # left over from an earlier test: 整理完毕 / 置闲
        agent.click("#agent-bar form[action='/agent/resume'] button")
    expect(state).to_have_attribute("data-state", "idle", timeout=30_000)
    expect(board.locator("#wb-agents")).to_contain_text("签入空闲")
    agent.click("#demo-call")
    expect(state).to_have_attribute("data-state", "ringing", timeout=60_000)
    expect(waiting).to_have_text("1")
    expect(board.locator("#wb-agents tr.state-ringing")).to_have_count(1)
    answer(agent)
    expect(state).to_have_attribute("data-state", "on_call")
    expect(waiting).to_have_text("0")
    expect(board.locator("[data-field='agents.on_call']")).not_to_have_text("0")
    expect(board.locator("#wb-agents tr.state-on_call")).not_to_have_count(0)
    agent.click("#hangup")
    expect(state).to_have_attribute("data-state", "wrap_up")
    expect(board.locator("#wb-agents")).to_contain_text("话后整理")
    screenshot(board, "wallboard-live")


def test_an_agent_calls_a_citizen_back_from_the_workspace(page_for, server):
    """外呼: the agent's desk phone rings first; once the agent answers, the citizen is dialled.
    From 回访任务 the box carries the ticket, so the page never needs the full number."""
    page = page_for("agent")
    page.goto(server + "/agent?callback=12319-20000101-99999")
    expect(page.locator("#outbound")).to_contain_text("不存在或无权查看")
    page.fill("#dial-number", "12a")
    page.click("text=呼叫 (Alt+O)")
    expect(page.locator("#dial-result")).to_contain_text("号码应为 3–20 位数字")
    page.fill("#dial-number", "13800001234")
    page.click("text=呼叫 (Alt+O)")
    expect(page.locator("#softphone")).to_have_attribute("data-phone", "ringing", timeout=30_000)
    answer(page)
    expect(page.locator("#dial-result")).to_contain_text("已接通您的话机，正在呼叫对方", timeout=30_000)
    screenshot(page, "agent-outbound")
    page.click("#hangup")
    expect(page.locator("#softphone")).not_to_have_attribute("data-phone", "connected", timeout=30_000)
