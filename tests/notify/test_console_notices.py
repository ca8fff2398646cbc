"""Every staff notice reaches its recipients in the console (通知中心), at once and once; SMS to
staff only where a mobile is configured; citizens' SMS rendered from the templates."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from hotline.notify.models import ConsoleNotice, Notification
from hotline.users.identity import CurrentUser
from hotline.users.models import User

from tests.users.conftest import act, html_client, new_ticket

from .live_listener import LiveListener


def _user(state, username: str) -> CurrentUser:
    with state.read_sessions() as s:
        return CurrentUser.of(s.scalar(select(User).where(User.username == username)))


def _notices(state, username: str) -> list[ConsoleNotice]:
    with state.read_sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        return list(s.scalars(select(ConsoleNotice).where(ConsoleNotice.user_id == uid).order_by(ConsoleNotice.id)))


#: A matter (私搭乱建) in 红山区: the street office leads (先属地后属主), 城管执法局 co-works.
MATTER = dict(category_code="06001", kind="matter", description="小区内有人私搭乱建")


def _dispatched(client_for, ticket: dict | None = None, **dispatch) -> dict:
    disp = client_for("disp1")
    ticket = ticket or new_ticket(client_for("agent1"), **MATTER)
    ticket = act(disp, ticket, "register")
    return act(disp, ticket, "dispatch", **dispatch)


def test_dispatch_to_a_district_reaches_its_officers_live_without_a_scheduler_tick(state, client_for):
    """The district leads this matter and has only a landline: before, its officers never learned
    of the ticket."""
    listener = LiveListener(state.live, _user(state, "hs"))
    try:
        ticket = _dispatched(client_for, district_code="150402")
        event = listener.next("notice")      # pushed by the delivery after commit; no scheduler runs here
    finally:
        listener.close()
    assert event["ticket"] == ticket["number"] and event["title"] == "新派工单" and event["unread"] == 1
    assert ticket["number"] in event["body"] and "请于" in event["body"] and "【" not in event["body"]
    assert state.notices.wait_idle()
    for officer in ("hs", "hs2"):          # every officer of 红山区, nobody else
        (notice,) = _notices(state, officer)
        assert notice.ticket_number == ticket["number"] and notice.read_at is None
    assert _notices(state, "ss") == [] and _notices(state, "water") == [] and _notices(state, "disp1") == []
    with state.read_sessions() as s:
        row = s.scalar(select(Notification).where(Notification.template.like("ticket_dispatched%")))
    # neither 城管执法局 nor 红山区 has a mobile: delivered in the console only, never texted to a landline
    assert row.channel == "console" and row.status == "sent" and "0476" not in row.to


def test_dispatch_to_a_department_reaches_its_officers_and_texts_its_mobile(state, client_for):
    """A component (井盖) is the owner's: 供水公司 leads, the district is not told."""
    ticket = _dispatched(client_for, new_ticket(client_for("agent1")), department_code="util-water")
    assert state.notices.wait_idle()
    assert [n.ticket_number for n in _notices(state, "water")] == [ticket["number"]]
    assert _notices(state, "hs") == []          # the department is responsible, not the district
    with state.read_sessions() as s:
        sms = s.scalars(select(Notification).where(Notification.channel == "sms")).all()
    assert [(n.to, n.status, n.template) for n in sms] == [("+8613804760001", "pending", "ticket_dispatched")]


def test_resolving_again_never_doubles_a_notice(state, client_for):
    from hotline.notify.flows import NotificationFlows

    _dispatched(client_for, district_code="150402")
    assert state.notices.wait_idle()
    again = NotificationFlows(state.rules).resolve_pending(state.sessions)   # the leader's tick after it
    assert again.resolved == 0 and again.notices == 0
    with state.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleNotice)) == 2      # hs and hs2
        # the same notification resolved twice by hand: the unique (notification, user) holds
    from hotline.notify.console import add_notices

    with state.sessions() as s, s.begin():
        notice = s.scalars(select(ConsoleNotice)).first()
        assert add_notices(s, user_ids=[notice.user_id], notification_id=notice.notification_id, ticket_id=None,
                           ticket_number="", title="x", body="", at=state.now()) == []


def test_a_return_reaches_every_dispatcher(state, client_for):
    ticket = _dispatched(client_for, district_code="150402")
    act(client_for("hs"), ticket, "return", reason="不属于本区管辖")
    assert state.notices.wait_idle()
    for dispatcher in ("disp1", "disp2"):
        titles = [n.title for n in _notices(state, dispatcher)]
        assert titles == ["工单被退回，请重新派遣"]
    assert "不属于本区管辖" in _notices(state, "disp1")[0].body


def test_the_notices_page_lists_unread_first_and_marks_read(state, client_for):
    first = _dispatched(client_for, district_code="150402")
    second = _dispatched(client_for, district_code="150402")
    assert state.notices.wait_idle()
    hs = html_client(client_for("hs"))
    page = hs.get("/notices")
    assert page.status_code == 200 and 'data-initial="2"' in page.text          # the header badge
    assert page.text.index(second["number"]) < page.text.index(first["number"])  # newest first
    older = _notices(state, "hs")[0]
    r = hs.post(f"/notices/{older.id}/read", data={"next": "/notices"}, follow_redirects=False)
    assert r.status_code == 303
    page = hs.get("/notices")
    assert 'data-initial="1"' in page.text
    assert page.text.index(first["number"]) > page.text.index(second["number"])  # read ones after unread
    # someone else's notice cannot be marked (404 from the API, nothing changes)
    mine = _notices(state, "hs2")[0]
    assert client_for("hs").post(f"/api/notices/{mine.id}/read").status_code == 404
    assert _notices(state, "hs2")[0].read_at is None
    assert hs.post("/notices/read-all", follow_redirects=False).status_code == 303
    api = client_for("hs").get("/api/notices").json()
    assert api["unread"] == 0 and api["total"] == 2 and all(n["read_at"] for n in api["items"])
    assert client_for("hs2").get("/api/notices?unread=true").json()["total"] == 2


def test_notices_page_pages(state, client_for):
    for _ in range(3):
        _dispatched(client_for, district_code="150402")
    assert state.notices.wait_idle()
    api = client_for("hs").get("/api/notices?page_size=2&page=2").json()
    assert api["total"] == 3 and len(api["items"]) == 1
    assert client_for(None).get("/api/notices").status_code == 401


def test_closing_sms_to_the_citizen_is_the_template_text(state, client_for):
    ticket = _dispatched(client_for, district_code="150402")
    hs = client_for("hs")
    ticket = act(hs, ticket, "accept")
    ticket = act(hs, ticket, "feedback", result="已更换井盖并恢复通行")
    act(client_for("disp1"), ticket, "verify_pass")
    with state.read_sessions() as s:
        sms = s.scalar(select(Notification).where(Notification.template == "ticket_closed"))
    assert sms.channel == "sms" and sms.to == "+8613800001234" and sms.status == "pending"
    assert sms.body == (f"【赤峰12319】您反映的问题（工单号{ticket['number']}）已办结。"
                        "办理结果：已更换井盖并恢复通行。我们将进行回访，请留意接听来电，感谢您的支持。")
    json.dumps(sms.body)          # plain text, not a JSON context
    assert not sms.body.startswith("{")


def test_rejection_sms_text_and_a_landline_caller(state, client_for):
    ticket = new_ticket(client_for("agent1"), caller_number="0476-8234567")
    act(client_for("agent1"), ticket, "reject", reason="不属于城建服务范围")
    with state.read_sessions() as s:
        sms = s.scalar(select(Notification).where(Notification.template == "ticket_rejected"))
    assert sms.body == (f"【赤峰12319】您反映的问题（工单号{ticket['number']}）经审核不予受理，"
                        "原因：不属于城建服务范围。如有疑问请拨打12319。")
    assert sms.status == "failed" and "landline" in sms.last_error      # never handed to the carrier
