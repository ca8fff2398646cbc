"""TwilioGateway: the real ``twilio`` client against the local fake Messages API."""

from __future__ import annotations

import socket

import pytest

from hotline.notify.gateways import PermanentFailure, SendResult, SmsGateway, TemporaryFailure
from hotline.notify.twilio_gateway import TwilioGateway, TwilioNotConfigured, TwilioSettings

from .fake_twilio import FakeTwilio

SENDER = "+15005550006"


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def gateway_for(fake: FakeTwilio, **over) -> TwilioGateway:
    values = dict(account_sid=fake.account_sid, auth_token=fake.auth_token, from_=SENDER, base_url=fake.base_url)
    values.update(over)
    return TwilioGateway(TwilioSettings(**values))


def test_settings_come_from_the_environment(monkeypatch, fake):
    monkeypatch.setenv("HOTLINE_TWILIO_ACCOUNT_SID", fake.account_sid)
    monkeypatch.setenv("HOTLINE_TWILIO_AUTH_TOKEN", fake.auth_token)
    monkeypatch.setenv("HOTLINE_TWILIO_FROM", SENDER)
    monkeypatch.setenv("HOTLINE_TWILIO_BASE_URL", fake.base_url)
    gw = TwilioGateway()
    assert isinstance(gw, SmsGateway)
    assert gw.send("+8613800001234", "测试").provider_id == fake.messages[0].sid
    assert fake.auth_token not in repr(gw.settings)  # SecretStr: never in logs or reprs


def test_missing_configuration_names_the_variables(monkeypatch):
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "BASE_URL"):
        monkeypatch.delenv(f"HOTLINE_TWILIO_{name}", raising=False)
    with pytest.raises(TwilioNotConfigured, match="HOTLINE_TWILIO_ACCOUNT_SID.*HOTLINE_TWILIO_AUTH_TOKEN.*HOTLINE_TWILIO_FROM"):
        TwilioGateway()


def test_success_returns_the_message_sid(fake):
    result = gateway_for(fake).send("+8613800001234", "【赤峰12319】您的诉求已受理，工单号12319-20261127-00042。")
    assert isinstance(result, SendResult)
    [msg] = fake.messages
    assert result.provider_id == msg.sid and msg.sid.startswith("SM") and len(msg.sid) == 34
    assert result.status == "queued" and result.segments == 1
    assert (msg.to, msg.from_) == ("+8613800001234", SENDER)
    assert msg.body == "【赤峰12319】您的诉求已受理，工单号12319-20261127-00042。"


def test_bad_credentials_are_a_temporary_failure_with_code_20003(fake):
    with pytest.raises(TemporaryFailure, match="401 error 20003") as info:
        gateway_for(fake, auth_token="wrong").send("+8613800001234", "测试")
    assert info.value.code == 20003
    assert fake.messages == []


@pytest.mark.parametrize("setup, to, code", [
    (lambda f: None, "+86123", 21211),
    (lambda f: f.unsubscribed.add("+8613800001234"), "+8613800001234", 21610),
    (lambda f: f.blocked_prefixes.add("+86"), "+8613800001234", 21408),
])
def test_recipient_errors_are_permanent_with_the_twilio_code(fake, setup, to, code):
    setup(fake)
    with pytest.raises(PermanentFailure, match=f"400 error {code}") as info:
        gateway_for(fake).send(to, "测试")
    assert info.value.code == code
    assert fake.messages == []


@pytest.mark.parametrize("status, code", [(429, 20429), (500, 20500), (503, 20500)])
def test_rate_limit_and_server_errors_are_temporary(fake, status, code):
    fake.fail_next(status)
    with pytest.raises(TemporaryFailure, match=f"HTTP {status}") as info:
        gateway_for(fake).send("+8613800001234", "测试")
    assert info.value.code == code
    assert gateway_for(fake).send("+8613800001234", "测试").provider_id == fake.messages[0].sid


def test_unreachable_api_is_temporary():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = TwilioGateway(TwilioSettings(account_sid="AC" + "0" * 32, auth_token="t", from_=SENDER,
                                      base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(TemporaryFailure, match="unreachable"):
        gw.send("+8613800001234", "测试")
