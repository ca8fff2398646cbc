"""The case pages through HTTP (TestClient, SQLite and PostgreSQL): 工单查询, the ticket page and
its action forms (field errors with the typed values kept, conflicts on a stale page or a second
submit, POST/redirect/GET with a confirmation), 补录 and dispatch from the desk, photos, the
call recording, and the work lists (我的待办, 派遣待办, 核查结案, 督办, 回访任务)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from hotline.calls.models import Call
from hotline.cases.models import Ticket, TicketAttachment, TicketEvent
from hotline.sla.sweep import sweep

from tests.api.case_pages_support import (
    HTML, JPEG, WEBP, act, dispatched, hongshan_ticket, page, png, songshan_ticket, submit, text_of, version_of,
)
from tests.api.conftest import TZ
from tests.api.test_completion_api import voicemail_ticket


def _events(api_state, number: str) -> list[str]:
    with api_state.sessions() as s:
        ticket_id = s.scalar(select(Ticket.id).where(Ticket.number == number))
        return list(s.scalars(select(TicketEvent.action).where(TicketEvent.ticket_id == ticket_id)
                              .order_by(TicketEvent.seq)))


# --- 工单查询 -------------------------------------------------------------------------------------

def test_ticket_search_filters_and_columns(client_for, api_state):
    agent, disp = client_for("agent1"), client_for("disp1")
    water_hs = hongshan_ticket(agent, caller_number="13800001111", address="和平路12号")
    water_ss = songshan_ticket(agent, caller_number="13900002222", address="民主路3号")
    lamp = hongshan_ticket(agent, category_code="01006", description="路灯不亮", address="和平路路灯")
    dispatched(agent, disp, water_hs)

    def found(client, **params) -> set[str]:
        r = page(client, "/tickets", params=params)
        assert r.status_code == 200, r.text
        return set(re.findall(r"12319-\d{8}-\d{5}", r.text))

    assert found(agent) == {water_hs, water_ss, lamp}
    assert found(agent, state="dispatched") == {water_hs}
    assert found(agent, category="01006") == {lamp}
    assert found(agent, district="150404") == {water_ss}
    assert found(agent, street="150402001") == {water_hs, lamp}
    assert found(agent, department="util-water") == {water_hs, water_ss}
    assert found(agent, q="民主路") == {water_ss}
    assert found(agent, q=water_ss) == {water_ss}
    assert found(agent, **{"from": "2026-11-27", "to": "2026-11-27"}) == {water_hs, water_ss, lamp}
    assert found(agent, **{"from": "2026-11-28"}) == set()
    assert found(agent, to="2026-11-26") == set()
    # full numbers for agents: they find a caller by number; dispatchers see and search masked
    assert found(agent, q="13900002222") == {water_ss}
    assert found(disp, q="13900002222") == set()
    assert "13900002222" not in page(disp, "/tickets", params={"q": "民主路"}).text
    assert "139****2222" in page(disp, f"/tickets/{water_ss}").text
    body = text_of(page(agent, "/tickets"))
    # names, not codes; the category with its code; the running stage's light
    assert "供水井盖异常 01001" in body or "01001" in body
    assert "赤峰市供水公司" in body and "赤峰市路灯管理所（拟派）" in body
    assert "签收时限" in body and "剩余" in body


def test_search_refuses_bad_filters_and_keeps_what_was_typed(client_for):
    agent = client_for("agent1")
    hongshan_ticket(agent)
    r = page(agent, "/tickets", params={"from": "2026/11/27", "q": "和平路", "state": "lost", "district": "999999"})
    assert r.status_code == 422
    body = text_of(r)
    assert "日期格式应为 YYYY-MM-DD" in body and "请从列表中选择" in body
    assert 'value="2026/11/27"' in r.text and 'value="和平路"' in r.text
    assert "没有符合条件的工单" in body


def test_paging(client_for):
    agent = client_for("agent1")
    numbers = [hongshan_ticket(agent) for _ in range(22)]
    first = re.findall(r"12319-\d{8}-\d{5}", page(agent, "/tickets").text)
    second = re.findall(r"12319-\d{8}-\d{5}", page(agent, "/tickets", params={"page": 2}).text)
    assert len(set(first)) == 20 and set(second) == set(numbers[:2]) and not set(first) & set(second)
    assert "共 22 条，第 1 / 2 页" in text_of(page(agent, "/tickets"))


def test_a_large_result_is_counted_only_so_far(client_for, monkeypatch):
    """Counting a million rows on every view is the list's main cost: the page counts up to a
    limit and says "超过 N 条"; paging on still works and the last pages count exactly."""
    import hotline.cases.pages.tickets as tickets_pages

    agent = client_for("agent1")
    numbers = [hongshan_ticket(agent) for _ in range(22)]
    monkeypatch.setattr(tickets_pages, "COUNT_LIMIT", 5)
    first = page(agent, "/tickets")
    assert "超过 20 条，第 1 页" in text_of(first) and 'rel="next"' in first.text
    second = page(agent, "/tickets", params={"page": 2})
    assert "共 22 条，第 2 / 2 页" in text_of(second) and 'rel="next"' not in second.text
    assert set(re.findall(r'ticket-no">(12319-[\d-]+)<', second.text)) == set(numbers[:2])


# --- the ticket page --------------------------------------------------------------------------------

def test_ticket_page_shows_what_a_dispatcher_needs(client_for, api_state):
    agent, disp = client_for("agent1"), client_for("disp1")
    n = hongshan_ticket(agent)
    act(agent, n, "register")
    r = page(disp, f"/tickets/{n}")
    assert r.status_code == 200
    body = text_of(r)
    assert "138****1234" in body and "13800001234" not in r.text and "陈**" in body
    assert "红山区 › 西屯街道 › 和平社区" in body
    assert "赤峰市供水公司 牵头处置" in body and "先属主、后属地" in body and "路由说明" in body
    assert "派遣后开始计时" in body
    assert "受理" in body and "立案" in body                               # the timeline
    assert 'id="act-dispatch"' in r.text and 'id="act-merge"' in r.text
    assert 'value="department:util-water" selected' in r.text          # the routing's proposal
    assert "本工单未关联通话记录" in body
    # an agent sees the full number
    assert "13800001234" in page(agent, f"/tickets/{n}").text


def test_deadlines_with_countdown_light_and_provisional_tag(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    body = text_of(page(water, f"/tickets/{n}"))
    # 签收 (设施维修: 1 working day) dispatched Friday 10:00: due Monday 17:30 — Friday's 5 office hours
    # left (10:00–12:00, 14:30–17:30) and Monday's 6.5: 1 office day and 5 hours
    assert "签收时限 剩余 1 工作日 5 小时" in body
    api_state.clock.now = datetime(2026, 11, 30, 16, 0, tzinfo=TZ)   # Monday: 1.5 h of 11.5 left
    r = page(water, f"/tickets/{n}")
    assert 'class="deadline warning"' in r.text and "剩余 1 小时 30 分" in text_of(r)
    api_state.clock.now = datetime(2026, 12, 1, 9, 30, tzinfo=TZ)    # Tuesday: 1 office hour late
    r = page(water, f"/tickets/{n}")
    assert 'class="deadline overdue"' in r.text and "已超时 1 小时" in text_of(r)
    # a deadline in a year whose holidays are estimated is marked 预计
    from hotline.sla import WorkCalendar
    cal = api_state.calendar
    api_state.calendar = WorkCalendar(cal.tz, cal.office_hours, official_years=range(2001, 2027))
    api_state.clock.now = datetime(2026, 12, 31, 16, 0, tzinfo=TZ)
    m = dispatched(agent, disp, hongshan_ticket(agent))
    r = page(water, f"/tickets/{m}")
    assert 'class="tag provisional"' in r.text and "预计" in text_of(r)


def test_field_errors_keep_the_typed_values(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, n, "accept")
    r = submit(water, n, "request_extension", duration="三天", reason="等待管材<到货>")
    assert r.status_code == 422
    body = text_of(r)
    assert "延期时长必须是数字" in body
    assert "等待管材&lt;到货&gt;</textarea>" in r.text                    # kept, and escaped
    assert 'value="三天"' in r.text and 'id="act-request_extension" class="action" open' in r.text
    r = submit(water, n, "request_extension", duration="2", reason="  ")
    assert r.status_code == 422 and "请填写理由" in text_of(r) and 'value="2"' in r.text
    r = submit(water, n, "return", note="x")
    assert r.status_code == 422 and "请填写理由" in text_of(r)
    assert _events(api_state, n) == ["create", "register", "dispatch", "accept"]


def test_success_redirects_back_with_a_confirmation(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    r = submit(water, n, "accept")
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{n}"
    shown = page(water, r.headers["location"])
    assert "已签收：" in text_of(shown) and n in text_of(shown)
    assert "已签收" not in text_of(page(water, f"/tickets/{n}")).split("流转记录")[0]   # shown once
    # a list page's form returns to the list
    m = dispatched(agent, disp, hongshan_ticket(agent))
    r = submit(water, m, "accept", next="/inbox?tab=accept")
    assert r.status_code == 303 and r.headers["location"] == "/inbox?tab=accept"
    r = submit(water, m, "return", reason="不属于供水设施", next="https://evil.example/")
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{m}"      # never another site


def test_stale_page_and_double_submit_write_nothing(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    version = version_of(water, n)
    assert submit(water, n, "accept", version).status_code == 303
    again = submit(water, n, "accept", version)                        # the same form sent twice
    assert again.status_code == 409
    assert "本次“签收”未执行" in text_of(again) and "已被他人办理或修改" in text_of(again)
    assert _events(api_state, n).count("accept") == 1
    # a page opened before a colleague's change: the typed reason stays for a second try
    stale = submit(water, n, "return", version, reason="不属于供水设施")
    assert stale.status_code == 409 and "不属于供水设施" in stale.text
    assert _events(api_state, n) == ["create", "register", "dispatch", "accept"]


def test_merge_with_the_duplicate_proposals(client_for, api_state):
    agent = client_for("agent1")
    parent = hongshan_ticket(agent)
    child = hongshan_ticket(agent, caller_number="13900005678")
    r = page(agent, f"/tickets/{child}")
    assert "疑似重复工单" in text_of(r) and f'data-fill-parent="{parent}"' in r.text
    assert submit(agent, child, "merge", parent=parent).status_code == 303
    body = text_of(page(agent, f"/tickets/{parent}"))
    assert "并入本单" in body and child in body
    assert "已并入" in text_of(page(agent, f"/tickets/{child}"))


# --- 补录 and dispatch at the desk ------------------------------------------------------------------

def test_voicemail_ticket_completed_and_dispatched_through_the_pages(client_for, api_state):
    disp, hs = client_for("disp1"), client_for("hs")
    n = voicemail_ticket(api_state)
    desk = page(disp, "/dispatch", params={"tab": "complete"})
    assert n in desk.text and "待补录1" in text_of(desk).replace(" ", "")
    assert n not in page(disp, "/dispatch").text                       # not 待立案 yet
    r = page(disp, f"/tickets/{n}")
    assert [a for a in re.findall(r'id="act-(\w+)"', r.text)] == ["complete"]
    assert "无法播放" in text_of(r)                                    # the message file is not on disk
    # missing description: field error, category kept
    r = submit(disp, n, "complete", category_code="01001", address="和平路12号", district_code="150402")
    assert r.status_code == 422 and "请填写诉求内容" in text_of(r) and 'value="01001"' in r.text
    r = submit(disp, n, "complete", category_code="99999", description="井盖缺失", district_code="150402")
    assert r.status_code == 422 and "99999" in text_of(r) and "井盖缺失" in r.text
    r = submit(disp, n, "complete", category_code="01001", description="和平路井盖缺失", address="和平路12号",
               district_code="150402", lat="42.2696", lon="118.9556")
    assert r.status_code == 303
    assert n in page(disp, "/dispatch").text                           # now 待立案
    assert submit(disp, n, "register").status_code == 303
    r = submit(disp, n, "dispatch", responsible="district:150402", note="属地先行处置")
    assert r.status_code == 303
    assert n in page(hs, "/inbox").text
    assert _events(api_state, n) == ["create", "complete", "register", "dispatch"]


def test_a_transcript_suggestion_is_applied_only_by_the_agent(client_for, api_state):
    """录音转写: the page shows the transcript and the guessed category and district; 采纳建议 fills
    the 补录 form, and nothing changes on the ticket until that form is submitted."""
    from hotline.cases.models import Ticket
    from hotline.cases.transcripts import DONE, mark_pending, store_transcript

    disp = client_for("disp1")
    n = voicemail_ticket(api_state, district="")
    suggestion = {"keywords": ["井盖", "松山"], "category_code": "01001", "category_name": "井盖",
                  "district_code": "150404", "district_name": "松山区"}
    with api_state.sessions() as s, s.begin():
        ticket = s.scalars(select(Ticket).where(Ticket.number == n)).one()
        mark_pending(s, ticket)
        store_transcript(s, ticket.id, status=DONE, text="松山 民主路 井盖 坏了 <b>快来</b>",
                         suggestion=suggestion, at=api_state.now())
    r = page(disp, f"/tickets/{n}")
    body = text_of(r)
    assert "录音转写" in body and "松山 民主路 井盖 坏了 <b>快来</b>" in body       # escaped, shown as typed
    assert "分类 井盖" in body and "区县 松山区" in body and 'id="use-suggestion"' in r.text
    assert 'id="f-category_code" name="category_code" value=""' in r.text.replace("  ", " ")
    filled = page(disp, f"/tickets/{n}", params={"use_suggestion": "1"})
    assert 'value="01001"' in filled.text and re.search(r'<option value="150404" selected>松山区', filled.text)
    assert re.search(r'<details id="act-complete" class="action" open', filled.text)
    assert disp.get(f"/api/tickets/{n}").json()["category_code"] == ""      # only shown, not applied
    r = submit(disp, n, "complete", category_code="01001", description="民主路井盖损坏", district_code="150404")
    assert r.status_code == 303
    t = disp.get(f"/api/tickets/{n}").json()
    assert t["category_code"] == "01001" and t["district_code"] == "150404"
    assert 'id="use-suggestion"' not in page(disp, f"/tickets/{n}").text   # 补录 done: nothing to adopt


def test_dispatch_form_refuses_an_unknown_unit(client_for, api_state):
    agent, disp = client_for("agent1"), client_for("disp1")
    n = hongshan_ticket(agent)
    act(agent, n, "register")
    for bad in ("", "department:nowhere", "district:999999", "street:150402001"):
        r = submit(disp, n, "dispatch", responsible=bad)
        assert r.status_code == 422 and "责任单位" in text_of(r)
    assert _events(api_state, n) == ["create", "register"]


def test_register_of_an_empty_ticket_is_refused_with_a_message(client_for, api_state):
    disp = client_for("disp1")
    n = voicemail_ticket(api_state)
    r = submit(disp, n, "register")
    assert r.status_code == 422 and "请先“补录”再“立案”" in text_of(r)


# --- photos ---------------------------------------------------------------------------------------

def _photo_rows(api_state) -> list[TicketAttachment]:
    with api_state.sessions() as s:
        return list(s.scalars(select(TicketAttachment).order_by(TicketAttachment.id)))


def test_feedback_with_photos_stores_them_by_their_bytes(client_for, api_state):
    agent, disp, water, hs = client_for("agent1"), client_for("disp1"), client_for("water"), client_for("hs")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, n, "accept")
    image = png()
    r = submit(water, n, "feedback", result="已更换井盖", files=[
        ("photos", ("../../etc/passwd.png", image, "image/png")),
        ("photos", ("现场.jpg", JPEG, "application/octet-stream")),
        ("photos", ("again.png", image, "image/png"))])                # the same picture twice: stored once
    assert r.status_code == 303, r.text
    rows = _photo_rows(api_state)
    assert [(p.content_type, p.label, p.original_name) for p in rows] == [
        ("image/png", "after", "passwd.png"), ("image/jpeg", "after", "现场.jpg")]
    root = api_state.settings.effective_attachments_dir
    for p in rows:
        assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{32}\.(png|jpg)", p.storage_key)
        assert (root / p.storage_key).read_bytes() in (image, JPEG)
    assert not (root.parent / "etc").exists()
    body = page(water, f"/tickets/{n}")
    assert f"/tickets/{n}/photos/{rows[0].id}" in body.text and "处置后" in text_of(body)
    got = water.get(f"/tickets/{n}/photos/{rows[0].id}")
    assert got.status_code == 200 and got.content == image and got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    # the dispatcher who verifies sees them; an officer of another unit gets nothing
    assert disp.get(f"/tickets/{n}/photos/{rows[1].id}").status_code == 200
    assert page(hs, f"/tickets/{n}/photos/{rows[0].id}").status_code == 404
    assert hs.get(f"/tickets/{n}/photos/{rows[0].id}").status_code == 404
    # a photo id of another ticket under this ticket's number
    m = dispatched(agent, disp, hongshan_ticket(agent))
    assert water.get(f"/tickets/{m}/photos/{rows[0].id}").status_code == 404


@pytest.mark.parametrize("files, message", [
    ([("photos", ("note.png", b"not an image at all", "image/png"))], "不是 JPEG、PNG 或 WebP 图片"),
    ([("photos", ("page.html", b"<html><script>alert(1)</script>", "image/jpeg"))], "不是 JPEG、PNG 或 WebP 图片"),
    ([("photos", ("big.png", png() + b"\0" * (5 * 1024 * 1024), "image/png"))], "超过 5 MB"),
    ([("photos", (f"p{i}.png", png(rgb=(i, i, i)), "image/png")) for i in range(7)], "一次最多上传 6 张"),
])
def test_refused_photos_write_nothing(client_for, api_state, files, message):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, n, "accept")
    r = submit(water, n, "feedback", result="已处理", files=files)
    assert r.status_code == 422 and message in text_of(r)
    assert "已处理</textarea>" in r.text
    assert _photo_rows(api_state) == [] and _events(api_state, n)[-1] == "accept"
    root = api_state.settings.effective_attachments_dir
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def test_photo_files_are_removed_when_the_action_fails(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, n, "accept")
    stale = version_of(water, n) - 1
    r = submit(water, n, "feedback", stale, result="已处理", files=[("photos", ("a.png", png(), "image/png"))])
    assert r.status_code == 409
    root = api_state.settings.effective_attachments_dir
    assert _photo_rows(api_state) == [] and not any(p.is_file() for p in root.rglob("*"))


def test_photos_while_in_progress_by_the_responsible_unit_only(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    upload = lambda client, label="before", files=None: client.post(  # noqa: E731
        f"/tickets/{n}/photos", data={"label": label}, headers=HTML, follow_redirects=False,
        files=files or [("photos", ("before.webp", WEBP, "image/webp"))])
    assert upload(water).status_code == 403                            # not accepted yet
    act(water, n, "accept")
    assert 'action="/tickets/' + n + '/photos"' in page(water, f"/tickets/{n}").text
    r = upload(water)
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{n}#photos"
    assert [(p.label, p.content_type) for p in _photo_rows(api_state)] == [("before", "image/webp")]
    assert _events(api_state, n)[-1] == "photos"
    body = text_of(page(water, f"/tickets/{n}"))
    assert "上传照片" in body and "上传处置前照片 1 张" in body
    r = upload(water)
    assert r.status_code == 422 and "所选照片已上传过" in text_of(r)
    assert upload(water, label="").status_code == 422
    assert upload(disp).status_code == 403                             # the desk does not add photos
    assert upload(client_for("hs")).status_code == 404                 # nor another unit, which cannot see it
    assert 'action="/tickets/' + n + '/photos"' not in page(disp, f"/tickets/{n}").text


# --- the call recording ------------------------------------------------------------------------------

def test_call_recording_plays_only_from_the_recordings_directory(client_for, api_state, tmp_path):
    spool = tmp_path / "spool"
    (spool / "hl12319-messages").mkdir(parents=True)
    message = spool / "hl12319-messages" / "1700000000.5.wav"
    message.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    api_state.settings.recordings_dir = spool
    disp, agent, hs = client_for("disp1"), client_for("agent1"), client_for("hs")
    n = voicemail_ticket(api_state, call_id="1700000000.5")
    with api_state.sessions() as s, s.begin():
        call = s.scalar(select(Call).where(Call.call_id == "1700000000.5"))
        call.recordings = [str(message), str(outside), str(spool / "hl12319-messages" / "never-written.wav"),
                           str(spool / ".." / "secret.wav")]
    r = page(disp, f"/tickets/{n}")
    assert f'<audio controls preload="none" src="/tickets/{n}/recordings/0">' in r.text
    body = text_of(r)
    assert "录音文件不在录音目录中" in body and "录音文件不存在" in body
    got = disp.get(f"/tickets/{n}/recordings/0")
    assert got.status_code == 200 and got.content == message.read_bytes() and got.headers["content-type"] == "audio/wav"
    for index in (1, 2, 3, 9):
        assert disp.get(f"/tickets/{n}/recordings/{index}").status_code == 404
    assert agent.get(f"/tickets/{n}/recordings/0").status_code == 200
    # officers work from the text: no recordings for them, even on their own tickets
    act(disp, n, "complete", category_code="01001", description="井盖缺失", address="和平路12号")
    act(disp, n, "register")
    act(disp, n, "dispatch", responsible="district")
    assert hs.get(f"/tickets/{n}/recordings/0").status_code == 404
    assert "通话录音" not in text_of(page(hs, f"/tickets/{n}"))


def test_simulator_mode_says_there_is_no_audio(client_for, api_state):
    disp = client_for("disp1")
    n = voicemail_ticket(api_state)
    api_state.telephony = "simulator"
    assert "模拟通话不产生录音文件" in text_of(page(disp, f"/tickets/{n}"))


# --- work lists --------------------------------------------------------------------------------------

def _tabs(response) -> dict[str, int]:
    return {label: int(count) for label, count in re.findall(r'>([^<>]+)<span class="count">(\d+)</span>',
                                                             response.text)}


def test_inbox_tabs_counts_and_rows(client_for, api_state):
    agent, disp, water, sup = client_for("agent1"), client_for("disp1"), client_for("water"), client_for("sup1")
    waiting = dispatched(agent, disp, hongshan_ticket(agent))
    working = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, working, "accept")
    asked = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, asked, "accept")
    act(water, asked, "request_extension", reason="等待配件", duration=2)
    rework = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, rework, "accept")
    act(water, rework, "feedback", result="已处理")
    act(disp, rework, "verify_fail", reason="井盖仍松动")
    elsewhere = dispatched(agent, disp, songshan_ticket(agent), responsible="district")   # 松山区's
    r = page(water, "/inbox")
    assert _tabs(r) == {"待签收": 1, "处理中": 3, "即将超时": 0, "已超时": 0, "待核查返工": 1}
    assert waiting in r.text and elsewhere not in r.text
    assert f'action="/tickets/{waiting}/actions/accept"' in r.text       # 签收 from the list
    assert set(re.findall(r"12319-\d{8}-\d{5}", page(water, "/inbox", params={"tab": "rework"}).text)) == {rework}
    handling = page(water, "/inbox", params={"tab": "handling"}).text
    assert {working, asked, rework} <= set(re.findall(r"12319-\d{8}-\d{5}", handling))
    # time passes: the sweep warns (黄灯), then the deadlines pass (红灯)
    api_state.clock.now = datetime(2026, 11, 30, 16, 0, tzinfo=TZ)
    with api_state.sessions() as s:      # the sweep commits its batches itself
        sweep(s, now=api_state.clock.now, rules=api_state.rules, calendar=api_state.calendar)
    r = page(water, "/inbox", params={"tab": "warning"})
    assert _tabs(r)["即将超时"] == 1 and waiting in r.text             # 签收 due Monday 17:30
    api_state.clock.now = datetime(2026, 12, 10, 9, 0, tzinfo=TZ)
    r = page(water, "/inbox", params={"tab": "overdue"})
    assert _tabs(r)["已超时"] == 4 and "已超时" in text_of(r)
    # filters narrow the counts too; bad filters are refused
    assert _tabs(page(water, "/inbox", params={"state": "dispatched"}))["处理中"] == 0
    assert page(water, "/inbox", params={"deadline": "purple"}).status_code == 422
    assert _tabs(page(water, "/inbox", params={"deadline": "overdue"}))["待签收"] == 1
    # the supervisor's 督办 lists the same overdue stages, most overdue first
    r = page(sup, "/supervise", params={"tab": "overdue"})
    rows = re.findall(r"12319-\d{8}-\d{5}", r.text)
    assert rows[0] == waiting and set(rows) == {waiting, working, asked, rework, elsewhere}   # every unit's


def test_supervise_shows_the_escalation_level(client_for, api_state):
    agent, disp, sup = client_for("agent1"), client_for("disp1"), client_for("sup1")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    for day in (1, 2, 3):
        api_state.clock.now = datetime(2026, 12, day, 18, 0, tzinfo=TZ)
        with api_state.sessions() as s:
            sweep(s, now=api_state.clock.now, rules=api_state.rules, calendar=api_state.calendar)
    body = text_of(page(sup, "/supervise"))
    assert n in body and "第 2 级 督办" in body and "签收时限" in body


def test_dispatch_desk_tabs(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    fresh = hongshan_ticket(agent)
    registered = hongshan_ticket(agent)
    act(agent, registered, "register")
    back = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, back, "return", reason="属于排水设施")
    voice = voicemail_ticket(api_state)
    r = page(disp, "/dispatch")
    assert _tabs(r) == {"待立案": 1, "待派遣": 1, "被退回": 1, "待补录": 1}
    assert fresh in r.text and f'action="/tickets/{fresh}/actions/register"' in r.text
    r = page(disp, "/dispatch", params={"tab": "dispatch"})
    assert registered in r.text and 'name="responsible" value="department:util-water"' in r.text
    r = page(disp, "/dispatch", params={"tab": "returned"})
    assert back in r.text and "属于排水设施" in text_of(r)
    assert voice in page(disp, "/dispatch", params={"tab": "complete"}).text
    # 按建议派遣 from the list
    r = disp.post(f"/tickets/{registered}/actions/dispatch", headers=HTML, follow_redirects=False, data={
        "expected_version": version_of(disp, registered), "responsible": "department:util-water",
        "next": "/dispatch?tab=dispatch"})
    assert r.status_code == 303 and r.headers["location"] == "/dispatch?tab=dispatch"
    assert _tabs(page(disp, "/dispatch"))["待派遣"] == 0


def test_review_verify_and_extension_decisions(client_for, api_state):
    agent, disp, water, sup = client_for("agent1"), client_for("disp1"), client_for("water"), client_for("sup1")
    done = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, done, "accept")
    act(water, done, "feedback", result="井盖已更换")
    asked = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, asked, "accept")
    act(water, asked, "request_extension", reason="等待配件", duration=3.0)   # the API keeps a float
    r = page(sup, "/review")
    assert _tabs(r) == {"待核查": 1, "延期审批": 1} and "井盖已更换" in text_of(r)
    r = page(sup, "/review", params={"tab": "extension"})
    assert asked in r.text and "3 工作日" in text_of(r) and "3.0" not in text_of(r) and "等待配件" in text_of(r)
    # dispatchers verify but do not decide extensions
    assert "由值班长审批" in text_of(page(disp, "/review", params={"tab": "extension"}))
    assert submit(sup, asked, "approve_extension", next="/review?tab=extension").status_code == 303
    r = submit(disp, done, "verify_fail", next="/review")            # no reason
    assert r.status_code == 422 and "请填写理由" in text_of(r)
    assert 'name="next" value="/review"' in r.text                 # corrected there, it returns to the list
    assert submit(disp, done, "verify_fail", reason="照片不清晰", next="/review").status_code == 303
    assert _tabs(page(sup, "/review")) == {"待核查": 0, "延期审批": 0}
    assert rework_in_inbox(water, done)


def rework_in_inbox(client, number) -> bool:
    return number in page(client, "/inbox", params={"tab": "rework"}).text


def test_callbacks_page_records_results_and_attempts(client_for, api_state):
    agent, disp, water, sup = client_for("agent1"), client_for("disp1"), client_for("water"), client_for("sup1")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, n, "accept")
    act(water, n, "feedback", result="已更换")
    act(disp, n, "verify_pass")
    api_state.clock.now = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)     # the 回访 is due the next working day
    r = page(agent, "/callbacks")
    assert n in r.text and "13800001234" in r.text and 'class="dial"' in r.text
    r = agent.post(f"/callbacks/{n}/attempt", headers=HTML, follow_redirects=False, data={})
    assert r.status_code == 303 and "第 1 次" in text_of(page(agent, "/callbacks"))
    r = agent.post(f"/callbacks/{n}", headers=HTML, follow_redirects=False,
                   data={"expected_version": version_of(agent, n), "note": "路面已平整"})
    assert r.status_code == 422 and "请选择满意度" in text_of(r) and 'value="路面已平整"' in r.text
    version = version_of(agent, n)
    r = agent.post(f"/callbacks/{n}", headers=HTML, follow_redirects=False,
                   data={"expected_version": version, "satisfaction": "basically_satisfied", "note": "路面已平整"})
    assert r.status_code == 303 and "已记录回访" in text_of(page(agent, "/callbacks"))
    r = sup.post(f"/callbacks/{n}", headers=HTML, follow_redirects=False,
                 data={"expected_version": version, "satisfaction": "satisfied"})
    assert r.status_code == 409 and "本次记录未保存" in text_of(r)
    assert _events(api_state, n)[-2:] == ["callback_attempt", "callback"]
    assert n not in page(sup, "/callbacks").text
    assert page(water, "/callbacks").status_code == 403


def test_forms_need_the_csrf_token_in_the_form_or_header(client_for, api_state):
    from fastapi.testclient import TestClient

    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    token = water.headers.pop("X-CSRF-Token")
    assert isinstance(water, TestClient)
    r = submit(water, n, "accept")
    assert r.status_code == 403
    # every form of the pages carries the token, the list pages' inline ones too
    inbox = page(water, "/inbox").text
    form = inbox[inbox.index(f'action="/tickets/{n}/actions/accept"'):]
    assert re.search(r'name="csrf_token" value="([^"]+)"', form).group(1) == token
    r = water.post(f"/tickets/{n}/actions/accept", headers=HTML, follow_redirects=False,
                   data={"expected_version": version_of(water, n), "csrf_token": token})
    assert r.status_code == 303
    # multipart forms (photos) carry it in the form too
    r = water.post(f"/tickets/{n}/photos", headers=HTML, follow_redirects=False,
                   data={"label": "before", "csrf_token": token}, files=[("photos", ("a.png", png(), "image/png"))])
    assert r.status_code == 303
    assert len(_photo_rows(api_state)) == 1


def test_the_workflow_table_gives_every_page_a_form_for_each_action(client_for):
    """Every action the workflow may offer has a form definition on the ticket page."""
    from hotline.cases.pages.tickets import ACTION_FIELDS
    from hotline.cases.workflow import Action

    assert set(ACTION_FIELDS) == set(Action)
    for action, fields in ACTION_FIELDS.items():
        assert all(f.label and f.kind for f in fields), action


def test_timeline_escapes_user_text(client_for, api_state):
    agent, disp = client_for("agent1"), client_for("disp1")
    n = hongshan_ticket(agent, description="<script>alert('x')</script>井盖", address="<b>和平路</b>")
    act(agent, n, "register")
    act(disp, n, "dispatch", responsible="department", note="<img src=x onerror=alert(1)>")
    r = page(disp, f"/tickets/{n}")
    assert "<script>alert('x')</script>" not in r.text and "&lt;script&gt;" in r.text
    assert "<img src=x" not in r.text and "<b>和平路</b>" not in r.text


def test_timeline_lists_every_event_with_its_label(client_for, api_state):
    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    act(water, n, "accept")
    api_state.clock.now = datetime(2026, 12, 30, 10, 0, tzinfo=TZ)
    with api_state.sessions() as s:      # the sweep commits its batches itself
        sweep(s, now=api_state.clock.now, rules=api_state.rules, calendar=api_state.calendar)
    body = text_of(page(water, f"/tickets/{n}"))
    timeline = body.split("流转记录", 1)[1]
    for label in ("受理", "立案", "派遣", "签收", "督办"):
        assert label in timeline
    assert "责任单位：赤峰市供水公司" in timeline and "第1级催办" in timeline.replace(" ", "")
    assert "· 系统" in timeline and "system" not in timeline


def test_an_action_tells_open_consoles_of_the_desk_and_the_unit(client_for, api_state, monkeypatch):
    from hotline.users.identity import CurrentUser
    from hotline.users.roles import Role

    agent, disp, water = client_for("agent1"), client_for("disp1"), client_for("water")
    n = dispatched(agent, disp, hongshan_ticket(agent))
    published = []
    monkeypatch.setattr(api_state.live, "publish", published.append)
    assert submit(water, n, "accept").status_code == 303
    # (the dispatch's 新派工单 notice may reach the console now too: notices are sent by a thread)
    (event,) = [e for e in published if e.kind == "ticket"]
    assert event.kind == "ticket"
    assert (event.data["number"], event.data["state"], event.data["action_label"]) == (n, "in_progress", "签收")

    def officer(role, district=None, department=None):
        return CurrentUser(9, "x", "x", role, district, department)

    assert event.audience.admits(officer(Role.DEPARTMENT_OFFICER, department="util-water"))
    assert event.audience.admits(officer(Role.DISPATCHER))
    assert not event.audience.admits(officer(Role.DISTRICT_OFFICER, district="150402"))
    assert not event.audience.admits(officer(Role.DEPARTMENT_OFFICER, department="util-gas"))
