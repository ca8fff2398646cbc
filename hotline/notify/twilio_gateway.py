"""Twilio Programmable Messaging gateway (``pip install hotline12319[twilio]``).

Uses the official ``twilio`` client: ``Client(...).messages.create(to=, from_=, body=)``,
which POSTs ``/2010-04-01/Accounts/{AccountSid}/Messages.json``. Configuration comes
only from the environment (``HOTLINE_TWILIO_ACCOUNT_SID``, ``HOTLINE_TWILIO_AUTH_TOKEN``,
``HOTLINE_TWILIO_FROM``, optional ``HOTLINE_TWILIO_BASE_URL`` and
``HOTLINE_TWILIO_TIMEOUT``).

Error mapping (Twilio answers errors as JSON ``{code, message, more_info, status}``):

* connection errors, timeouts, HTTP 429 and 5xx → :class:`TemporaryFailure`;
* HTTP 401/403 (error 20003, bad credentials) → :class:`TemporaryFailure` as well: it is
  an operator's configuration fault, and messages should survive until it is fixed
  (they still end ``failed`` after the sender's ``max_attempts``);
* any other 4xx, e.g. 21211 invalid 'To', 21610 unsubscribed recipient, 21408 region
  not enabled, 21614 not a mobile number → :class:`PermanentFailure`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from hotline.notify.gateways import PermanentFailure, SendResult, TemporaryFailure

DEFAULT_BASE_URL = "https://api.twilio.com"

# Codes documented as "this recipient/sender combination will never work".
PERMANENT_CODES = {
    21211: "invalid 'To' number",
    21408: "region not enabled for this account",
    21610: "recipient unsubscribed (STOP)",
    21612: "'To' number unreachable from this sender",
    21614: "'To' number is not a mobile number",
}


class TwilioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_TWILIO_", extra="ignore", populate_by_name=True)

    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    from_: str = Field(default="", validation_alias="HOTLINE_TWILIO_FROM")  # E.164 sender or alphanumeric ID
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 15.0  # seconds per HTTP request

    def missing(self) -> list[str]:
        names = []
        if not self.account_sid:
            names.append("HOTLINE_TWILIO_ACCOUNT_SID")
        if not self.auth_token.get_secret_value():
            names.append("HOTLINE_TWILIO_AUTH_TOKEN")
        if not self.from_:
            names.append("HOTLINE_TWILIO_FROM")
        return names


class TwilioNotConfigured(RuntimeError):
    pass


class TwilioGateway:
    """:class:`~hotline.notify.gateways.SmsGateway` backed by the real Twilio client."""

    def __init__(self, settings: TwilioSettings | None = None):
        self.settings = settings or TwilioSettings()
        missing = self.settings.missing()
        if missing:
            raise TwilioNotConfigured("Twilio SMS gateway needs environment variables: " + ", ".join(missing))
        self.client = Client(
            self.settings.account_sid,
            self.settings.auth_token.get_secret_value(),
            http_client=TwilioHttpClient(timeout=self.settings.timeout),
        )
        # The API domain's base URL (normally https://api.twilio.com); tests and proxies
        # point it elsewhere. Requests are built from it at call time.
        self.client.api.base_url = self.settings.base_url.rstrip("/")

    def send(self, to: str, body: str) -> SendResult:
        try:
            msg = self.client.messages.create(to=to, from_=self.settings.from_, body=body)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TemporaryFailure(f"twilio unreachable: {type(exc).__name__}: {exc}") from exc
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify(exc) from exc
        except TwilioException as exc:
            raise TemporaryFailure(f"twilio client error: {exc}") from exc
        segments = None
        try:
            segments = int(msg.num_segments) if msg.num_segments is not None else None
        except (TypeError, ValueError):
            pass
        return SendResult(provider_id=msg.sid, status=str(msg.status or "queued"), segments=segments)


def _classify(exc: TwilioRestException | TwilioServiceException) -> TemporaryFailure | PermanentFailure:
    status = int(exc.status or 0)
    code = exc.code
    text = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    label = PERMANENT_CODES.get(code) if isinstance(code, int) else None
    message = f"twilio HTTP {status} error {code}: {text}" + (f" ({label})" if label else "")
    if status == 429 or status >= 500 or status in (401, 403, 408) or status == 0:
        return TemporaryFailure(message, code=code)
    return PermanentFailure(message, code=code)
