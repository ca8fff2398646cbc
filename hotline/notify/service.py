"""Notification outbox: :func:`enqueue` inside the workflow's transaction, and
:class:`OutboxSender` sending due rows later through an :class:`SmsGateway`.

Guarantees:

* A workflow step never fails because of SMS. :func:`enqueue` stores a bad phone number
  or a template fault as a ``failed`` row with ``last_error`` (visible in
  :func:`summary`) instead of raising; only database errors propagate.
* The same ``dedup_key`` is stored once: a second enqueue returns the existing row, also
  when two transactions race on the unique constraint.
* Sending happens outside long transactions. A short transaction *claims* due rows
  (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite serialises writers with
  ``BEGIN IMMEDIATE``) by counting the attempt and pushing ``next_attempt_at`` one lease
  ahead, so no other sender picks them. The result is written in a second short
  transaction, conditional on the claim still being ours. A sender that dies mid-send
  leaves the row to be retried after the lease (at-least-once; a carrier without
  idempotency keys cannot do better).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.database import utcnow
from hotline.notify.gateways import PermanentFailure, SendFailure, SmsGateway, TemporaryFailure
from hotline.notify.models import Notification
from hotline.notify.render import RenderError, render
from hotline.times import iso

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"

# -- phone numbers -------------------------------------------------------------------

_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
# 0 + area code (10, 2x or 3–4 digits) + 7–8 digit subscriber number, e.g. 0476-8234567
_CN_LANDLINE = re.compile(r"0(?:10|2\d|[3-9]\d{2})\d{7,8}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class InvalidPhoneNumber(ValueError):
    pass


def normalise_phone(raw: str) -> str:
    """An SMS-capable number in E.164, or :class:`InvalidPhoneNumber` with a clear reason.

    Accepts Chinese mobiles with or without ``+86``/``0086``/``86`` and separators
    (``138 0476 1234``, ``+86-138-0476-1234``) and any foreign E.164 number. Chinese
    landlines (``0476-8234567``) are recognised and refused: they cannot receive SMS.
    """
    text = (raw or "").strip()
    compact = re.sub(r"[\s\-().]", "", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact:
        raise InvalidPhoneNumber("empty phone number")
    if not re.fullmatch(r"\+?\d+", compact):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    digits = compact.lstrip("+")
    national = None
    if compact.startswith("+86"):
        national = digits[2:]
    elif not compact.startswith("+"):
        national = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    if national is not None:
        if _CN_MOBILE.fullmatch(national):
            return "+86" + national
        landline = national if national.startswith("0") else "0" + national
        if _CN_LANDLINE.fullmatch(landline):
            raise InvalidPhoneNumber(f"landline number cannot receive SMS: {raw!r}")
        raise InvalidPhoneNumber(f"not a valid Chinese mobile number: {raw!r}")
    if _E164.fullmatch(compact):
        return compact
    raise InvalidPhoneNumber(f"not a valid E.164 number: {raw!r}")


# -- notices to staff about a ticket event --------------------------------------------

def notice_context(*, number: str, action: str, action_label: str, from_state: str, to_state: str,
                   state_label: str, note: str, category_name: str, address: str, district_code: str,
                   department_code: str | None, at: datetime, **extra: Any) -> dict[str, Any]:
    """What a staff notice about a ticket event carries (``body`` of an internal row; the
    console and the SMS to officers are rendered from it by :mod:`hotline.notify.flows`)."""
    return {"number": number, "action": action, "action_label": action_label, "from_state": from_state,
            "to_state": to_state, "state_label": state_label, "note": note, "category_name": category_name,
            "address": address, "district_code": district_code, "department_code": department_code,
            "at": iso(at), **extra}


def internal_rows(*, ticket_id: int, event_seq: int, action: str, targets: Iterable[str],
                  context: Mapping[str, Any], at: datetime) -> list[dict[str, Any]]:
    """Outbox rows telling each target (a role such as ``supervisor``, ``responsible``,
    ``district``, or ``department:<code>``) about event ``event_seq`` of a ticket; the leader's
    :class:`hotline.notify.flows.NotificationFlows` resolves targets to people."""
    return [{"ticket_id": ticket_id, "channel": "internal", "to": target[:40],
             "template": f"ticket.{action}.{target}"[:60],
             "body": json.dumps({**context, "target": target}, ensure_ascii=False),
             "dedup_key": f"ticket:{ticket_id}:event:{event_seq}:{target}:{target}"[:160],
             "status": PENDING, "attempts": 0, "next_attempt_at": at, "last_error": "", "created_at": at}
            for target in targets]


def sms_row(*, ticket_id: int, event_seq: int, target: str, phone: str, template: str, text: str,
            error: str, at: datetime) -> dict[str, Any]:
    """The outbox row of one SMS to a citizen about event ``event_seq`` (same shape as
    :func:`internal_rows`). A template fault (``error``) or a number that cannot receive SMS
    gives a ``failed`` row with the reason: visible, never sent, never raised."""
    to, status, problem = phone, PENDING if not error else FAILED, error
    if not error:
        try:
            to = normalise_phone(phone)
        except InvalidPhoneNumber as exc:     # a landline or withheld number
            status, problem = FAILED, f"invalid number: {exc}"
    return {"ticket_id": ticket_id, "channel": "sms", "to": to[:40], "template": template[:60], "body": text,
            "dedup_key": f"ticket:{ticket_id}:event:{event_seq}:{target}:{phone}"[:160],
            "status": status, "attempts": 0, "next_attempt_at": at, "last_error": problem, "created_at": at}


def add_outbox(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows in the caller's transaction, skipping any whose ``dedup_key`` is taken
    (the same event never notifies twice). Returns how many rows were offered."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Notification.__table__
    # executemany form: one cached statement (a literal multi-VALUES would be compiled per batch)
    session.execute(insert(table).on_conflict_do_nothing(index_elements=[table.c.dedup_key]), rows)
    return len(rows)


# -- enqueue -------------------------------------------------------------------------

def enqueue(
    session: Session,
    *,
    to: str | None,
    template: str,
    context: Mapping[str, Any],
    ticket_id: int | None = None,
    dedup_key: str | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """Store one SMS for sending, in the caller's transaction (not committed here).

    Returns the new row, the existing row for an already used ``dedup_key``, or ``None``
    when there is no recipient at all (``to`` empty: withheld caller ID, unit without a
    mobile on file). A malformed number or a template fault gives a ``failed`` row.
    """
    if dedup_key is not None and len(dedup_key) > 160:
        raise ValueError(f"dedup_key longer than 160 characters: {dedup_key[:40]!r}…")
    if not (to or "").strip():
        log.info("SMS %s for ticket %s not queued: no recipient number", template, ticket_id)
        return None
    if dedup_key is not None:
        existing = _by_dedup_key(session, dedup_key)
        if existing is not None:
            return existing

    now = now or utcnow()
    status, error, body, number = PENDING, "", "", to.strip()
    try:
        body = render(template, context)
    except RenderError as exc:
        status, error = FAILED, f"render: {exc}"
        log.error("SMS %s for ticket %s not renderable: %s", template, ticket_id, exc)
    if status == PENDING:
        try:
            number = normalise_phone(to)
        except InvalidPhoneNumber as exc:
            status, error = FAILED, f"invalid number: {exc}"
            log.warning("SMS %s for ticket %s not queued: recipient number refused", template, ticket_id)

    row = Notification(
        channel="sms", to=number[:40], template=template[:60], body=body, ticket_id=ticket_id,
        dedup_key=dedup_key, status=status, attempts=0, next_attempt_at=now, last_error=error,
        created_at=now,
    )
    if dedup_key is None:
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():  # a savepoint: losing the race must not doom the caller's transaction
            session.add(row)
    except IntegrityError:
        existing = _by_dedup_key(session, dedup_key)
        if existing is None:
            raise
        return existing
    return row


def _by_dedup_key(session: Session, key: str) -> Notification | None:
    return session.scalars(select(Notification).where(Notification.dedup_key == key)).first()


class CannotRequeue(ValueError):
    pass


def requeue(session: Session, notification_id: int, *, now: datetime | None = None) -> Notification:
    """Send a ``failed`` message again (e.g. after credentials were fixed): attempts restart.

    Refused (:class:`CannotRequeue`) for rows that are not failed, have no text (template
    fault) or whose number can never receive SMS. In the caller's transaction.
    """
    row = session.get(Notification, notification_id, with_for_update=True)
    if row is None:
        raise CannotRequeue(f"no notification {notification_id}")
    if row.status != FAILED:
        raise CannotRequeue(f"notification {notification_id} is {row.status}, not failed")
    if not row.body:
        raise CannotRequeue(f"notification {notification_id} has no text: {row.last_error}")
    try:
        row.to = normalise_phone(row.to)
    except InvalidPhoneNumber as exc:
        raise CannotRequeue(f"notification {notification_id}: {exc}") from None
    row.status, row.attempts, row.next_attempt_at = PENDING, 0, now or utcnow()
    row.last_error = f"requeued after: {row.last_error}"[:2000]
    session.flush()
    return row


# -- sending -------------------------------------------------------------------------

@dataclass
class SendCounts:
    sent: int = 0
    retried: int = 0   # temporary failure, another attempt is scheduled
    failed: int = 0    # permanent failure or attempts exhausted
    lost: int = 0      # claim expired and the row was taken over before we finished
    released: int = 0  # claimed but handed back unsent: the batch ran out of lease time

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.lost + self.released


@dataclass(frozen=True)
class _Claim:
    id: int
    to: str
    body: str
    attempts: int


class OutboxSender:
    """Send due ``pending`` notifications through ``gateway`` with retries.

    ``sessions`` is a session factory (``sessionmaker``); each claim and each result is
    its own short transaction. Attempt *n* that fails temporarily is retried after
    ``base_delay · 2^(n-1)`` (capped at ``max_delay``), multiplied by a random factor in
    ``[1 - jitter, 1 + jitter]`` so a carrier outage does not end in a thundering herd.
    After ``max_attempts`` attempts, or on a permanent error, the row becomes ``failed``.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SmsGateway,
        *,
        batch: int = 50,
        max_attempts: int = 6,
        base_delay: timedelta = timedelta(seconds=30),
        max_delay: timedelta = timedelta(hours=1),
        jitter: float = 0.2,
        lease: timedelta = timedelta(minutes=5),
        rng: random.Random | None = None,
    ):
        if batch < 1 or max_attempts < 1 or not 0 <= jitter < 1:
            raise ValueError("batch and max_attempts must be ≥ 1 and 0 ≤ jitter < 1")
        self.sessions = sessions
        self.gateway = gateway
        self.batch = batch
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.lease = lease
        self.rng = rng or random.Random()

    def retry_delay(self, attempt: int) -> timedelta:
        """Delay before the attempt after failed attempt number ``attempt`` (1-based)."""
        nominal = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return nominal * self.rng.uniform(1 - self.jitter, 1 + self.jitter)

    def send_due(self, now: datetime | None = None) -> SendCounts:
        """Send every row due at ``now`` (one batch); never raises for gateway errors.

        A slow carrier must not let the lease of the last rows of a batch run out while
        earlier rows are being sent (another sender would send them again): once half
        the lease has passed (real time), the rest of the batch is handed back unsent.
        """
        real_clock = now is None
        now = now or utcnow()
        counts = SendCounts()
        started = time.monotonic()
        budget = self.lease.total_seconds() / 2
        claims = self._claim(now)
        for i, claim in enumerate(claims):
            if time.monotonic() - started > budget:
                counts.released += self._release(claims[i:], now)
                break
            outcome = self._send_one(claim, now, utcnow() if real_clock else now)
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    def _release(self, claims: list[_Claim], now: datetime) -> int:
        """Undo unsent claims (only those still ours): due again at ``now``, attempt not counted."""
        released = 0
        with self.sessions() as session, session.begin():
            for claim in claims:
                done = session.execute(
                    update(Notification)
                    .where(Notification.id == claim.id, Notification.status == PENDING,
                           Notification.attempts == claim.attempts)
                    .values(attempts=claim.attempts - 1, next_attempt_at=now)
                    .execution_options(synchronize_session=False)
                )
                released += done.rowcount
        log.info("SMS sender ran out of lease time: %d claimed messages handed back", len(claims))
        return released

    def _claim(self, now: datetime) -> list[_Claim]:
        with self.sessions() as session, session.begin():
            rows = session.scalars(
                select(Notification)
                .where(Notification.status == PENDING, Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            claims = []
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + self.lease
                claims.append(_Claim(id=row.id, to=row.to, body=row.body, attempts=row.attempts))
            return claims

    def _send_one(self, claim: _Claim, now: datetime, sent_at: datetime) -> str:
        values: dict[str, Any]
        try:
            result = self.gateway.send(claim.to, claim.body)
        except PermanentFailure as exc:
            values, outcome = {"status": FAILED, "last_error": _error_text(exc, permanent=True)}, "failed"
        except Exception as exc:  # temporary, or a gateway bug: never lose the message, never raise
            if not isinstance(exc, TemporaryFailure):
                log.exception("SMS gateway raised unexpectedly for notification %s", claim.id)
            error = _error_text(exc, permanent=False)
            if claim.attempts >= self.max_attempts:
                values = {"status": FAILED, "last_error": f"gave up after {claim.attempts} attempts: {error}"}
                outcome = "failed"
            else:
                values = {"last_error": error, "next_attempt_at": now + self.retry_delay(claim.attempts)}
                outcome = "retried"
        else:
            values = {"status": SENT, "provider_id": result.provider_id, "sent_at": sent_at, "last_error": ""}
            outcome = "sent"
        if outcome == "failed":
            log.warning("SMS notification %s failed: %s", claim.id, values["last_error"])
        with self.sessions() as session, session.begin():
            done = session.execute(
                update(Notification)
                .where(
                    Notification.id == claim.id,
                    Notification.status == PENDING,
                    Notification.attempts == claim.attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:
                log.warning("SMS notification %s: claim was taken over before the result (%s) was stored",
                            claim.id, outcome)
                return "lost"
        return outcome


def _error_text(exc: BaseException, *, permanent: bool) -> str:
    if isinstance(exc, SendFailure):
        kind = "permanent" if permanent else "temporary"
        return f"{kind}: {exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


# -- supervisor view -----------------------------------------------------------------

@dataclass(frozen=True)
class FailedNotification:
    id: int
    to: str
    template: str
    ticket_id: int | None
    attempts: int
    last_error: str
    created_at: datetime


@dataclass
class OutboxSummary:
    pending: int = 0
    sent: int = 0
    failed: int = 0
    due: int = 0                          # pending rows whose time has come (a backlog if it grows)
    retrying: int = 0                     # pending rows that already failed at least once
    oldest_due_at: datetime | None = None
    recent_failures: list[FailedNotification] = field(default_factory=list)


def summary(session: Session, *, now: datetime | None = None, failures: int = 20) -> OutboxSummary:
    """Counts by status, backlog and the latest failed messages (for the supervisor dashboard)."""
    now = now or utcnow()
    out = OutboxSummary()
    for status, n in session.execute(select(Notification.status, func.count()).group_by(Notification.status)):
        if status in (PENDING, SENT, FAILED):
            setattr(out, status, n)
    due = Notification.status == PENDING
    out.due, out.oldest_due_at = session.execute(
        select(func.count(), func.min(Notification.next_attempt_at))
        .where(due, Notification.next_attempt_at <= now)
    ).one()
    if out.oldest_due_at is not None and out.oldest_due_at.tzinfo is None:  # aggregate bypasses UTCDateTime
        out.oldest_due_at = out.oldest_due_at.replace(tzinfo=timezone.utc)
    out.retrying = session.scalar(select(func.count()).where(due, Notification.attempts > 0)) or 0
    rows = session.scalars(
        select(Notification).where(Notification.status == FAILED)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(failures)
    )
    out.recent_failures = [
        FailedNotification(r.id, r.to, r.template, r.ticket_id, r.attempts, r.last_error, r.created_at)
        for r in rows
    ]
    return out
