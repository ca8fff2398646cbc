"""SMS gateways: the edge of the world for notifications.

A gateway sends one text to one number and either returns the carrier's message id or
raises :class:`TemporaryFailure` (worth retrying later: rate limit, carrier outage,
network error, bad credentials an operator can fix) or :class:`PermanentFailure`
(retrying cannot help: invalid or unsubscribed number, region not enabled).
:class:`~hotline.notify.service.OutboxSender` turns those into retries or ``failed`` rows.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from hotline.database import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    provider_id: str          # the carrier's id for the message (Twilio: "SM…")
    status: str = "queued"    # the carrier's status at acceptance
    segments: int | None = None


class SendFailure(Exception):
    """Base of gateway errors; ``code`` is the carrier's error code when it gave one."""

    def __init__(self, message: str, *, code: int | str | None = None):
        super().__init__(message)
        self.code = code


class TemporaryFailure(SendFailure):
    """Retry later (with backoff)."""


class PermanentFailure(SendFailure):
    """Do not retry: the message can never be delivered as addressed."""


def mask_number(number: str) -> str:
    """``+8613800001234`` → ``+86138****1234`` for logs (callers' numbers are personal data)."""
    return number[:-8] + "****" + number[-4:] if len(number) >= 11 else "****"


@runtime_checkable
class SmsGateway(Protocol):
    def send(self, to: str, body: str) -> SendResult:
        """Hand one SMS to the carrier (``to`` in E.164). Blocking; may raise SendFailure."""
        ...


@dataclass(frozen=True)
class LoggedSms:
    to: str
    body: str
    provider_id: str
    at: datetime


class LogGateway:
    """Development gateway: logs each message and keeps it in :attr:`sent`. Never fails."""

    def __init__(self, logger: logging.Logger | None = None):
        self.sent: list[LoggedSms] = []
        self._log = logger or log
        self._lock = threading.Lock()

    def send(self, to: str, body: str) -> SendResult:
        provider_id = f"log-{uuid.uuid4().hex}"
        with self._lock:
            self.sent.append(LoggedSms(to=to, body=body, provider_id=provider_id, at=utcnow()))
        self._log.info("SMS to %s (%s): %s", mask_number(to), provider_id, body)
        return SendResult(provider_id=provider_id, status="logged")
