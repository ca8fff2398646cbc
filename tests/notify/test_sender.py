"""OutboxSender on SQLite and PostgreSQL, sending through the real twilio client to the fake API."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from hotline.notify.gateways import LogGateway
from hotline.notify.models import Notification
from hotline.notify.service import CannotRequeue, OutboxSender, enqueue, requeue, summary
from hotline.notify.twilio_gateway import TwilioGateway, TwilioSettings

from .fake_twilio import FakeTwilio

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
SENDER = "+15005550006"
CALLER = "+8613800001234"


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio(fake):
    return TwilioGateway(TwilioSettings(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                        from_=SENDER, base_url=fake.base_url))


def queue(db_factory, n=1, *, to="13800001234", now=T0, key="created") -> list[int]:
    ids = []
    with db_factory() as s, s.begin():
        for i in range(n):
            row = enqueue(s, to=to, template="ticket_created", context={"number": f"12319-20261127-{i:05d}"},
                          dedup_key=f"{key}:{i}", now=now)
            ids.append(row.id)
    return ids


def row(db_factory, nid) -> Notification:
    with db_factory() as s:
        return s.get(Notification, nid)


def test_sends_due_rows_and_records_the_twilio_sid(db_factory, fake, twilio):
    [nid] = queue(db_factory)
    later = queue(db_factory, now=T0 + timedelta(minutes=5), key="later")[0]
    counts = OutboxSender(db_factory, twilio).send_due(T0)
    assert (counts.sent, counts.retried, counts.failed) == (1, 0, 0)
    n = row(db_factory, nid)
    [msg] = fake.messages
    assert (n.status, n.provider_id, n.sent_at, n.attempts) == ("sent", msg.sid, T0, 1)
    assert msg.to == CALLER and msg.body == n.body
    assert row(db_factory, later).status == "pending"  # not due yet
    assert OutboxSender(db_factory, twilio).send_due(T0).claimed == 0  # nothing sent twice


def test_server_errors_are_retried_with_backoff_then_sent(db_factory, fake, twilio):
    [nid] = queue(db_factory)
    fake.fail_next(500, count=2)
    sender = OutboxSender(db_factory, twilio, rng=random.Random(7))
    assert sender.send_due(T0).retried == 1
    n = row(db_factory, nid)
    assert n.status == "pending" and n.attempts == 1 and "HTTP 500 error 20500" in n.last_error
    assert T0 + timedelta(seconds=24) <= n.next_attempt_at <= T0 + timedelta(seconds=36)
    assert sender.send_due(n.next_attempt_at - timedelta(seconds=1)).claimed == 0  # not before its time
    t1 = n.next_attempt_at
    assert sender.send_due(t1).retried == 1
    n = row(db_factory, nid)
    assert t1 + timedelta(seconds=48) <= n.next_attempt_at <= t1 + timedelta(seconds=72)
    assert sender.send_due(n.next_attempt_at).sent == 1
    n = row(db_factory, nid)
    [msg] = fake.messages
    assert (n.status, n.attempts, n.provider_id, n.last_error) == ("sent", 3, msg.sid, "")
    assert [r["status"] for r in fake.requests] == [500, 500, 201]


def test_backoff_doubles_up_to_the_cap_and_gives_up_after_max_attempts(db_factory, fake, twilio):
    [nid] = queue(db_factory)
    fake.fail_next(429, count=10)
    sender = OutboxSender(db_factory, twilio, max_attempts=5, base_delay=timedelta(seconds=30),
                          max_delay=timedelta(seconds=200), jitter=0.2, rng=random.Random(1))
    now, delays = T0, []
    for _ in range(4):
        assert sender.send_due(now).retried == 1
        n = row(db_factory, nid)
        delays.append((n.next_attempt_at - now).total_seconds())
        now = n.next_attempt_at
    for got, nominal in zip(delays, [30, 60, 120, 200]):
        assert nominal * 0.8 <= got <= nominal * 1.2
    counts = sender.send_due(now)
    assert counts.failed == 1
    n = row(db_factory, nid)
    assert n.status == "failed" and n.attempts == 5
    assert n.last_error.startswith("gave up after 5 attempts") and "20429" in n.last_error
    assert fake.messages == [] and len(fake.requests) == 5
    assert sender.send_due(now + timedelta(days=1)).claimed == 0


def test_jitter_spreads_retries(db_factory):
    sender = OutboxSender(db_factory, LogGateway(), rng=random.Random(3))
    delays = {sender.retry_delay(1) for _ in range(20)}
    assert len(delays) > 1 and all(timedelta(seconds=24) <= d <= timedelta(seconds=36) for d in delays)


def test_invalid_number_fails_permanently_with_the_twilio_code(db_factory, fake, twilio):
    fake.invalid.add("+8613900000000")
    [bad] = queue(db_factory, to="13900000000")
    [good] = queue(db_factory, key="ok")
    counts = OutboxSender(db_factory, twilio).send_due(T0)
    assert (counts.sent, counts.failed, counts.retried) == (1, 1, 0)
    n = row(db_factory, bad)
    assert n.status == "failed" and n.attempts == 1 and n.provider_id is None
    assert n.last_error.startswith("permanent:") and "21211" in n.last_error
    assert row(db_factory, good).status == "sent"
    with db_factory() as s:
        failures = summary(s, now=T0).recent_failures
    assert [f.id for f in failures] == [bad] and "21211" in failures[0].last_error


def test_unsubscribed_recipient_is_not_retried(db_factory, fake, twilio):
    fake.unsubscribed.add(CALLER)
    [nid] = queue(db_factory)
    assert OutboxSender(db_factory, twilio).send_due(T0).failed == 1
    assert "21610" in row(db_factory, nid).last_error
    assert len(fake.requests) == 1


def test_bad_credentials_keep_messages_for_retry(db_factory, fake):
    [nid] = queue(db_factory)
    wrong = TwilioGateway(TwilioSettings(account_sid=fake.account_sid, auth_token="wrong",
                                         from_=SENDER, base_url=fake.base_url))
    assert OutboxSender(db_factory, wrong).send_due(T0).retried == 1
    n = row(db_factory, nid)
    assert n.status == "pending" and "401 error 20003" in n.last_error
    with db_factory() as s:
        assert summary(s, now=T0).retrying == 1


def test_unreachable_carrier_never_raises_into_the_caller(db_factory):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = TwilioGateway(TwilioSettings(account_sid="AC" + "0" * 32, auth_token="t", from_=SENDER,
                                      base_url=f"http://127.0.0.1:{port}"))
    ids = queue(db_factory, 3)
    counts = OutboxSender(db_factory, gw).send_due(T0)
    assert counts.retried == 3
    assert all("unreachable" in row(db_factory, i).last_error for i in ids)


def test_rows_failed_at_enqueue_are_never_sent(db_factory):
    with db_factory() as s, s.begin():
        enqueue(s, to="0476-8234567", template="ticket_created", context={"number": "N"}, now=T0)
    gw = LogGateway()
    assert OutboxSender(db_factory, gw).send_due(T0).claimed == 0
    assert gw.sent == []


def test_batch_limits_one_run(db_factory):
    queue(db_factory, 5)
    gw = LogGateway()
    sender = OutboxSender(db_factory, gw, batch=2)
    assert sender.send_due(T0).sent == 2
    assert sender.send_due(T0).sent == 2
    assert sender.send_due(T0).sent == 1
    assert sorted(m.body for m in gw.sent) == sorted({m.body for m in gw.sent})
    with db_factory() as s:
        assert summary(s, now=T0).sent == 5


def test_a_claim_taken_over_after_its_lease_is_not_overwritten(db_factory, fake, twilio):
    """A sender that stalls past its lease loses the row to another sender; its late
    result must not overwrite the newer one."""
    [nid] = queue(db_factory)
    slow = OutboxSender(db_factory, twilio, lease=timedelta(minutes=5))
    fast = OutboxSender(db_factory, twilio, lease=timedelta(minutes=5))
    [stale] = slow._claim(T0)
    assert fast.send_due(T0 + timedelta(minutes=1)).claimed == 0  # leased: invisible to others
    assert fast.send_due(T0 + timedelta(minutes=6)).sent == 1      # lease expired: taken over
    assert slow._send_one(stale, T0, T0) == "lost"
    n = row(db_factory, nid)
    first, late = fake.messages  # a stalled sender is the at-least-once case: both went out
    assert n.status == "sent" and n.attempts == 2 and n.provider_id == first.sid != late.sid


def test_two_concurrent_senders_never_send_twice(db_factory, fake, twilio):
    ids = queue(db_factory, 40)
    fake.delay = 0.005  # keep each HTTP request open a little so the senders overlap
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run():
        sender = OutboxSender(db_factory, twilio, batch=5)
        try:
            start.wait()
            while sender.send_due(T0).claimed:
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    bodies = [m.body for m in fake.messages]
    assert len(bodies) == 40 and len(set(bodies)) == 40
    with db_factory() as s:
        rows = s.scalars(select(Notification).where(Notification.id.in_(ids))).all()
        assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
        assert {r.provider_id for r in rows} == {m.sid for m in fake.messages}
        assert s.scalar(select(func.count()).select_from(Notification)) == 40


def test_a_slow_carrier_hands_back_the_rest_of_the_batch(db_factory, fake, twilio):
    """Half the lease is the time budget of one batch; unsent claims go back, due at once."""
    ids = queue(db_factory, 5)
    fake.delay = 0.15  # each request takes at least this long; the budget is 0.1 s
    sender = OutboxSender(db_factory, twilio, batch=5, lease=timedelta(seconds=0.2))
    counts = sender.send_due(T0)
    assert (counts.sent, counts.released, counts.claimed) == (1, 4, 5)
    rows = [row(db_factory, i) for i in ids]
    assert [r.status for r in rows].count("sent") == 1
    back = [r for r in rows if r.status == "pending"]
    assert len(back) == 4 and all(r.attempts == 0 and r.next_attempt_at == T0 for r in back)
    fake.delay = 0
    assert OutboxSender(db_factory, twilio).send_due(T0).sent == 4
    assert len(fake.messages) == 5 and len({m.body for m in fake.messages}) == 5


def test_requeue_a_failed_message_after_fixing_credentials(db_factory, fake, twilio):
    [nid] = queue(db_factory)
    wrong = TwilioGateway(TwilioSettings(account_sid=fake.account_sid, auth_token="wrong",
                                         from_=SENDER, base_url=fake.base_url))
    assert OutboxSender(db_factory, wrong, max_attempts=1).send_due(T0).failed == 1
    later = T0 + timedelta(hours=1)
    with db_factory() as s, s.begin():
        n = requeue(s, nid, now=later)
        assert (n.status, n.attempts) == ("pending", 0) and "20003" in n.last_error
    assert OutboxSender(db_factory, twilio).send_due(later).sent == 1
    assert row(db_factory, nid).provider_id == fake.messages[0].sid


def test_requeue_refuses_what_can_never_be_sent(db_factory):
    with db_factory() as s, s.begin():
        landline = enqueue(s, to="0476-8234567", template="ticket_created", context={"number": "N"}).id
        broken = enqueue(s, to="13800001234", template="ticket_closed", context={"number": "N"}).id
        pending = enqueue(s, to="13800001234", template="ticket_created", context={"number": "N"}).id
    for nid, reason in [(landline, "landline"), (broken, "no text"), (pending, "not failed"), (9999, "no notification")]:
        with db_factory() as s, s.begin():
            with pytest.raises(CannotRequeue, match=reason):
                requeue(s, nid)
