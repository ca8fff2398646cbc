"""LogGateway (development): records and logs every message, masking the number."""

from __future__ import annotations

import logging

from hotline.notify.gateways import LogGateway, SmsGateway, mask_number


def test_log_gateway_records_and_masks(caplog):
    gw = LogGateway()
    assert isinstance(gw, SmsGateway)
    with caplog.at_level(logging.INFO, logger="hotline.notify.gateways"):
        first = gw.send("+8613800001234", "【赤峰12319】测试")
        second = gw.send("+8613800001234", "【赤峰12319】测试")
    assert first.provider_id != second.provider_id
    assert [(m.to, m.body, m.provider_id) for m in gw.sent] == [
        ("+8613800001234", "【赤峰12319】测试", first.provider_id),
        ("+8613800001234", "【赤峰12319】测试", second.provider_id),
    ]
    assert "+86138****1234" in caplog.text and "13800001234" not in caplog.text


def test_mask_number():
    assert mask_number("+8613800001234") == "+86138****1234"
    assert mask_number("+14155552671") == "+141****2671"
    assert mask_number("123") == "****"
