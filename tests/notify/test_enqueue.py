"""Outbox enqueue (hotline.notify.service.enqueue) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text

from hotline.cases.models import Ticket
from hotline.notify.models import Notification
from hotline.notify.service import InvalidPhoneNumber, enqueue, normalise_phone, summary

NUMBER = "12319-20261127-00042"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw, e164", [
    ("13800001234", "+8613800001234"),
    ("138 0000 1234", "+8613800001234"),
    ("+86 138-0000-1234", "+8613800001234"),
    ("008613800001234", "+8613800001234"),
    ("8613800001234", "+8613800001234"),
    ("+1 (415) 555-2671", "+14155552671"),
    ("+447700900123", "+447700900123"),
])
def test_normalise_phone_accepts(raw, e164):
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize("raw, reason", [
    ("0476-8234567", "landline"),
    ("04768234567", "landline"),
    ("+86 476 8234567", "landline"),
    ("010-62345678", "landline"),
    ("12345678901", "Chinese mobile"),
    ("1380000123", "Chinese mobile"),
    ("+12", "E.164"),
    ("anonymous", "not a phone number"),
    ("", "empty"),
])
def test_normalise_phone_refuses(raw, reason):
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalise_phone(raw)


def _ticket(session) -> Ticket:
    t = Ticket(number=NUMBER, state="received", caller_number="13800001234")
    session.add(t)
    session.flush()
    return t


def test_enqueue_stores_a_pending_rendered_row(db_session):
    t = _ticket(db_session)
    row = enqueue(db_session, to="138 0000 1234", template="ticket_created", context={"number": t.number},
                  ticket_id=t.id, dedup_key=f"ticket:{t.id}:created", now=NOW)
    db_session.commit()
    stored = db_session.get(Notification, row.id)
    assert (stored.status, stored.to, stored.template, stored.ticket_id) == (
        "pending", "+8613800001234", "ticket_created", t.id)
    assert stored.body.startswith("【赤峰12319】您的诉求已受理，工单号12319-20261127-00042")
    assert stored.next_attempt_at == NOW and stored.attempts == 0 and stored.last_error == ""


def test_same_dedup_key_twice_gives_the_existing_row(db_session):
    first = enqueue(db_session, to="13800001234", template="ticket_created", context={"number": NUMBER},
                    dedup_key="k1")
    db_session.commit()
    again = enqueue(db_session, to="13900009999", template="ticket_created", context={"number": "other"},
                    dedup_key="k1")
    db_session.commit()
    assert again.id == first.id and again.to == "+8613800001234"
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 1
    third = enqueue(db_session, to="13800001234", template="ticket_created", context={"number": NUMBER})
    fourth = enqueue(db_session, to="13800001234", template="ticket_created", context={"number": NUMBER})
    assert third.id != fourth.id  # no key: no dedup


def test_dedup_race_on_the_unique_constraint_keeps_the_callers_transaction(db_factory, engine):
    """Two transactions enqueue the same key at once: the loser blocks on the unique index,
    gets the IntegrityError inside its savepoint and returns the winner's row, and its own
    earlier work in the same transaction survives."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the race cannot happen there")
    ctx = {"number": NUMBER}
    winner = db_factory()
    loser = db_factory()
    try:
        won = enqueue(winner, to="13800001234", template="ticket_created", context=ctx, dedup_key="race")
        loser_pid = loser.scalar(text("SELECT pg_backend_pid()"))
        loser.add(Ticket(number="12319-20261127-00043", state="received"))  # the loser's own work
        loser.flush()
        result: dict = {}

        def lose():
            try:
                result["row"] = enqueue(loser, to="13900009999", template="ticket_created", context=ctx,
                                        dedup_key="race")
                loser.commit()
            except BaseException as exc:  # pragma: no cover - reported below
                result["error"] = exc

        thread = threading.Thread(target=lose)
        thread.start()
        with engine.connect() as watch:  # wait until the loser's INSERT waits on the winner's row lock
            deadline = 200
            while deadline and watch.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"
            ), {"pid": loser_pid}) == 0:
                deadline -= 1
                threading.Event().wait(0.05)
            assert deadline, "the second INSERT never blocked on the unique index"
        winner.commit()
        thread.join(timeout=30)
        assert "error" not in result, result.get("error")
        assert result["row"].id == won.id and result["row"].to == "+8613800001234"
    finally:
        winner.close()
        loser.close()
    with db_factory() as check:
        assert check.scalar(select(func.count()).select_from(Notification)) == 1
        assert check.scalar(select(func.count()).select_from(Ticket)) == 1


def test_bad_number_is_stored_failed_not_raised(db_session):
    row = enqueue(db_session, to="0476-8234567", template="ticket_created", context={"number": NUMBER})
    db_session.commit()
    assert row.status == "failed" and "landline" in row.last_error and row.to == "0476-8234567"
    assert row.body.startswith("【赤峰12319】")  # the text is kept for the record


def test_template_fault_is_stored_failed_not_raised(db_session):
    row = enqueue(db_session, to="13800001234", template="ticket_closed", context={"number": NUMBER})
    db_session.commit()
    assert row.status == "failed" and "'result' is undefined" in row.last_error and row.body == ""


def test_no_recipient_is_nothing_to_send(db_session):
    assert enqueue(db_session, to="", template="ticket_created", context={"number": NUMBER}) is None
    assert enqueue(db_session, to="  ", template="ticket_created", context={"number": NUMBER}) is None
    assert enqueue(db_session, to=None, template="ticket_created", context={"number": NUMBER}) is None
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 0


def test_enqueue_is_part_of_the_callers_transaction(db_session):
    enqueue(db_session, to="13800001234", template="ticket_created", context={"number": NUMBER}, dedup_key="tx")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 0


def test_summary_counts_and_lists_failures(db_session):
    enqueue(db_session, to="13800001234", template="ticket_created", context={"number": NUMBER}, now=NOW)
    enqueue(db_session, to="0476-8234567", template="ticket_created", context={"number": NUMBER}, now=NOW)
    db_session.commit()
    s = summary(db_session, now=NOW)
    assert (s.pending, s.sent, s.failed, s.due, s.retrying) == (1, 0, 1, 1, 0)
    assert s.oldest_due_at == NOW
    assert [f.to for f in s.recent_failures] == ["0476-8234567"]
    assert "landline" in s.recent_failures[0].last_error


def test_overlong_dedup_key_is_a_programming_error(db_session):
    with pytest.raises(ValueError, match="dedup_key longer than 160"):
        enqueue(db_session, to="13800001234", template="ticket_created", context={"number": NUMBER},
                dedup_key="k" * 161)
