"""SMS templates (hotline.notify.render): every template, strict fields, Chinese text, length."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from hotline.notify.render import (
    MissingField, RenderError, UnknownTemplate, render, sms_encoding, sms_segments, template_names,
)

NUMBER = "12319-20261127-00042"
DUE = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)  # 17:00 in Chifeng

CONTEXTS = {
    "ticket_created": {"number": NUMBER},
    "ticket_closed": {"number": NUMBER, "result": "已修复破损路面并恢复通行"},
    "ticket_dispatched": {"number": NUMBER, "category": "道路破损", "address": "红山区三中街12号",
                          "deadline": DUE, "unit": "红山区住建局"},
    "sla_warning": {"number": NUMBER, "category": "道路破损", "stage": "签收", "due": DUE},
    "sla_overdue": {"number": NUMBER, "category": "道路破损", "stage": "处置", "due": DUE, "unit": "松山区城管局"},
    "merged_into": {"number": NUMBER, "parent_number": "12319-20261126-00007"},
    "ticket_rejected": {"number": NUMBER, "reason": "不属于城建服务范围"},
    "ticket_answered": {"number": NUMBER, "result": "供暖期为每年10月15日至次年4月15日"},
}


def test_every_template_has_a_test_context():
    assert sorted(CONTEXTS) == template_names()


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_templates_render_signed_chinese_text_within_two_segments(name):
    body = render(name, CONTEXTS[name])
    assert body.startswith("【赤峰12319")
    assert NUMBER in body
    assert "\n" not in body and "  " not in body
    assert sms_encoding(body) == "UCS-2"
    assert 1 <= sms_segments(body) <= 2


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_each_required_field_missing_is_a_clear_error(name):
    optional = {"unit"} if name in ("ticket_dispatched", "sla_warning") else set()
    for field in set(CONTEXTS[name]) - optional:
        ctx = {k: v for k, v in CONTEXTS[name].items() if k != field}
        with pytest.raises(MissingField, match=rf"{name}.*'{field}' is undefined"):
            render(name, ctx)


def test_ticket_created_tells_how_to_check_status():
    body = render("ticket_created", CONTEXTS["ticket_created"])
    assert body == ("【赤峰12319】您的诉求已受理，工单号12319-20261127-00042。"
                    "查询办理进度请拨打12319按3键，输入工单号即可。")


def test_ticket_closed_has_result_and_callback_notice():
    body = render("ticket_closed", CONTEXTS["ticket_closed"])
    assert "办理结果：已修复破损路面并恢复通行。" in body
    assert "回访" in body


def test_long_result_is_clipped():
    body = render("ticket_closed", {"number": NUMBER, "result": "清" * 300})
    assert "清" * 59 + "…" in body and "清" * 60 not in body


def test_deadline_is_local_time_in_chifeng():
    body = render("ticket_dispatched", CONTEXTS["ticket_dispatched"])
    assert "红山区住建局：新派工单" in body
    assert "类别：道路破损" in body and "地址：红山区三中街12号" in body
    assert "请于11月28日17:00前签收办理" in body
    other = render("ticket_dispatched", CONTEXTS["ticket_dispatched"], tz=ZoneInfo("UTC"))
    assert "请于11月28日09:00前" in other


def test_optional_unit_can_be_left_out():
    ctx = {k: v for k, v in CONTEXTS["ticket_dispatched"].items() if k != "unit"}
    assert render("ticket_dispatched", ctx).startswith("【赤峰12319】新派工单")


def test_overdue_names_unit_and_stage():
    body = render("sla_overdue", CONTEXTS["sla_overdue"])
    assert body.startswith("【赤峰12319督办】松山区城管局：")
    assert "处置已于11月28日17:00超时" in body


def test_naive_datetime_is_refused():
    ctx = dict(CONTEXTS["sla_warning"], due=datetime(2026, 11, 28, 9, 0))
    with pytest.raises(RenderError, match="naive datetime"):
        render("sla_warning", ctx)


def test_unknown_template_lists_available_ones():
    with pytest.raises(UnknownTemplate, match="ticket_created"):
        render("ticket_opened", {})
    with pytest.raises(UnknownTemplate):
        render("../render", {})


def test_segments():
    assert sms_segments("") == 0
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_segments("汉" * 70) == 1 and sms_segments("汉" * 71) == 2
    assert sms_segments("汉" * 134) == 2 and sms_segments("汉" * 135) == 3
    assert sms_segments("{" * 80) == 1 and sms_segments("{" * 81) == 2  # GSM extension chars count double


def test_too_long_text_warns(caplog):
    ctx = {"number": NUMBER, "result": "清" * 300}
    with caplog.at_level(logging.WARNING, logger="hotline.notify.render"):
        render("ticket_closed", ctx)
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="hotline.notify.render"):
        render("ticket_closed", ctx, max_segments=1)
    assert "segments (limit 1)" in caplog.text
