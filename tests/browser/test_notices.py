"""A district officer's open page learns of a ticket dispatched to the district at once: a toast
and the header badge, without reloading."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD, screenshot

pytestmark = pytest.mark.slow

HONGSHAN = (42.2696, 118.9556)


def api(server: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=server, timeout=20)
    r = c.post("/api/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def dispatch_matter_to_hongshan(server: str) -> str:
    """A matter (私搭乱建) in 红山区: the street office leads, so the district's officers are told."""
    agent, disp = api(server, "agent1"), api(server, "disp1")
    try:
        r = agent.post("/api/tickets", json={"caller_number": "13800001234", "category_code": "06001",
                                             "kind": "matter", "description": "小区内有人私搭乱建",
                                             "address": "和平路12号", "lat": HONGSHAN[0], "lon": HONGSHAN[1]})
        assert r.status_code == 201, r.text
        ticket = r.json()["ticket"]
        for action in ("register", "dispatch"):
            r = disp.post(f"/api/tickets/{ticket['number']}/actions/{action}",
                          json={"expected_version": ticket["version"]})
            assert r.status_code == 200, r.text
            ticket = r.json()
        return ticket["number"]
    finally:
        agent.close()
        disp.close()


def test_a_dispatch_reaches_the_district_officers_open_page(server, page_for):
    page = page_for("district_officer")
    page.goto(server + "/notices")
    badge = page.locator("#unread")
    before = int(badge.get_attribute("data-count") or 0)
    page.wait_for_selector("body[data-live=open]", state="attached")
    number = dispatch_matter_to_hongshan(server)
    toast = page.locator("#toasts .toast", has_text=number)
    toast.wait_for(timeout=10_000)
    assert "新派工单" in toast.inner_text()
    expect(badge).to_have_attribute("data-count", str(before + 1))
    assert badge.is_visible() and badge.inner_text() == str(before + 1)
    page.reload()
    assert page.locator("tr.unread", has_text=number).count() == 1
    screenshot(page, "notices")
    page.locator("tr.unread", has_text=number).get_by_role("button", name="标为已读").click()
    page.wait_for_url("**/notices**")
    assert page.locator("#unread").get_attribute("data-count") == str(before)
