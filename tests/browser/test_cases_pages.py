"""The case pages in a real browser, one ticket's whole life: the IVR records a voicemail (seeded
as the call recorder does it), the dispatcher completes (补录) and dispatches it, the 红山区
officer finds it in 待签收, accepts it and feeds back with a photo, the supervisor verifies and
closes it and records the 回访. Everything after the voicemail happens through the pages."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.api.case_pages_support import png
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.slow

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def voicemail(server, tmp_path_factory) -> str:
    """A voicemail ticket in 红山区, written into the running server's database by the call
    recorder, as after a real after-hours call."""
    from hotline.calls.recorder import CallRecorder
    from hotline.cases.models import Ticket
    from hotline.database import make_engine, session_factory
    from ivr.bus import EventBus
    from ivr.events import CallEnded, CallSnapshot, Disposition

    database = next(tmp_path_factory.getbasetemp().glob("serve*/hotline.sqlite3"))
    engine = make_engine(f"sqlite:///{database}")
    sessions = session_factory(engine)
    ended = datetime.now(TZ)
    call_id = f"{ended.timestamp():.0f}.{uuid.uuid4().int % 10**6}"
    snapshot = CallSnapshot(
        call_id=call_id, caller="13800007777", dialed="12319", started_at=ended - timedelta(minutes=2),
        answered_at=ended - timedelta(minutes=2), ended_at=ended, disposition=Disposition.VOICEMAIL,
        recordings=[f"/var/spool/asterisk/hl12319-messages/{call_id}.wav"], variables={"HOTLINE_DISTRICT": "150402"})
    recorder = CallRecorder(sessions, TZ, EventBus())
    try:
        recorder.handle_sync(CallEnded(call_id=call_id, at=ended, snapshot=snapshot))
        with sessions() as s:
            number = s.scalar(select(Ticket.number).where(Ticket.source_key == f"call:{call_id}:auto"))
    finally:
        recorder.close()
        engine.dispose()
    assert number
    return number


def _flash(page) -> str:
    return page.locator(".flash").inner_text()


def test_a_voicemail_from_completion_to_callback(page_for, server, voicemail, tmp_path):
    number = voicemail

    # -- the dispatcher: 待补录 → 补录 → 立案 → 派遣 to 红山区 ------------------------------------------
    desk = page_for("dispatcher")
    desk.goto(server + "/dispatch?tab=complete")
    row = desk.locator("tr", has_text=number)
    assert row.count() == 1 and "待补录" in row.inner_text()
    assert re.search(r"待补录\s*\d+", desk.locator("nav.tabs").inner_text())
    screenshot(desk, "dispatch")
    row.get_by_role("link", name="补录").click()
    desk.wait_for_url(re.compile(rf"/tickets/{number}#act-complete"))
    assert desk.locator("#act-complete").get_attribute("open") is not None
    assert "无法播放" in desk.locator("#photos").inner_text()          # the message file is not on this machine
    form = desk.locator("#act-complete form")
    form.locator("#f-category_code").fill("0100")                      # the catalogue search offers codes
    desk.wait_for_selector("#category-options option", state="attached")
    form.locator("#f-category_code").fill("01001")
    form.locator("#f-description").fill("和平路12号门前井盖缺失，夜里有人踩空（据留言）")
    form.locator("#f-address").fill("西屯街道和平社区和平路12号")
    form.get_by_role("button", name="补录").click()
    desk.wait_for_url(re.compile(rf"/tickets/{number}$"))
    assert "已补录" in _flash(desk)
    assert "红山区 › 西屯街道 › 和平社区" in desk.locator(".facts-card").inner_text()
    assert desk.locator("#act-register").get_attribute("open") is not None   # the next step is open
    desk.locator("#act-register form").get_by_role("button", name="立案").click()
    assert "已立案" in _flash(desk)
    dispatch = desk.locator("#act-dispatch")
    if dispatch.get_attribute("open") is None:
        dispatch.locator("summary").click()
    dispatch.locator("select[name=responsible]").select_option("district:150402")
    dispatch.locator("input[name=note]").fill("属地先行处置，供水公司配合")
    dispatch.get_by_role("button", name="派遣").click()
    assert "已派遣" in _flash(desk)
    assert "签收时限" in desk.locator(".running").inner_text()

    # -- 红山区: 待签收 → 签收 → 反馈 with a photo ---------------------------------------------------
    officer = page_for("district_officer")
    officer.goto(server + "/inbox")
    assert officer.locator("nav.tabs a[aria-current=page]").inner_text().startswith("待签收")
    row = officer.locator("tr", has_text=number)
    assert row.count() == 1 and "剩余" in row.inner_text()
    screenshot(officer, "inbox")
    row.get_by_role("button", name="签收").click()
    officer.wait_for_url(re.compile(r"/inbox"))
    assert "已签收" in _flash(officer)
    officer.goto(server + f"/tickets/{number}#act-feedback")
    feedback = officer.locator("#act-feedback form")
    feedback.locator("#f-result").fill("已更换井盖并设置警示标志")
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(png(4, 3, (30, 120, 200)))
    feedback.locator("#f-photos").set_input_files(str(photo))
    feedback.get_by_role("button", name="反馈").click()
    officer.wait_for_url(re.compile(rf"/tickets/{number}$"))
    assert "已反馈" in _flash(officer)
    thumbnail = officer.locator("ul.photos img").first
    thumbnail.wait_for()
    assert officer.evaluate("img => img.complete && img.naturalWidth", thumbnail.element_handle()) == 4
    assert "处置后" in officer.locator("ul.photos").inner_text()
    screenshot(officer, "ticket")

    # -- the supervisor: 核查通过 (结案), then the 回访 ---------------------------------------------
    sup = page_for("supervisor")
    sup.goto(server + "/review")
    row = sup.locator("tr", has_text=number)
    assert "已更换井盖" in row.inner_text()
    screenshot(sup, "review")
    row.get_by_role("button", name="核查通过").click()
    sup.wait_for_url(re.compile(r"/review"))
    assert "已核查通过" in _flash(sup) and "已结案" in _flash(sup)
    sup.goto(server + "/callbacks?all=1")
    row = sup.locator("tr", has_text=number)
    assert "13800007777" in row.inner_text()                          # supervisors call citizens back
    row.get_by_label("满意", exact=True).check()
    row.locator("input[name=note]").fill("来电人确认井盖已更换")
    row.get_by_role("button", name="记录回访").click()
    sup.wait_for_url(re.compile(r"/callbacks$"))
    assert "已记录回访" in _flash(sup)
    sup.goto(server + f"/tickets/{number}")
    assert "已回访" in sup.locator("h1").inner_text()
    timeline = sup.locator(".timeline").inner_text()
    for label in ("受理", "补录", "立案", "派遣", "签收", "反馈", "核查通过", "回访"):
        assert label in timeline
    sup.goto(server + "/tickets?q=" + number)
    assert sup.locator("table.tickets tbody tr").count() == 1
    sup.goto(server + "/tickets")
    screenshot(sup, "tickets")


def test_a_stale_form_is_refused_with_a_message(page_for, server, voicemail):
    """Two dispatchers on the same page: the second 补录 meets a conflict and writes nothing."""
    first, second = page_for("dispatcher"), page_for("admin")
    for p in (first, second):
        p.goto(server + f"/tickets/{voicemail}#act-complete")
    for p, text in ((first, "第一位补录"), (second, "第二位补录")):
        form = p.locator("#act-complete form")
        form.locator("#f-category_code").fill("01001")
        form.locator("#f-description").fill(text)
    first.locator("#act-complete form").get_by_role("button", name="补录").click()
    assert "已补录" in _flash(first)
    second.locator("#act-complete form").get_by_role("button", name="补录").click()
    notice = second.locator(".notice-box.conflict")
    assert "已被他人办理或修改" in notice.inner_text()
    assert "第一位补录" in second.locator(".facts-card").inner_text()


def test_keyboard_search_and_names_not_codes(page_for, server, voicemail):
    page = page_for("agent")
    page.goto(server + "/tickets")
    page.keyboard.type(voicemail)                                      # the search box has the focus
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/tickets\?"))
    rows = page.locator("table.tickets tbody tr")
    assert rows.count() == 1 and "待补录" in rows.inner_text() and "红山区" in rows.inner_text()
    assert "150402" not in rows.inner_text()
