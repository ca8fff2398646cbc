"""CallRecorder over a real EventBus, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from hotline.calls.models import Call
from hotline.calls.recorder import CallRecorder
from hotline.calls.service import get_call
from hotline.cases.models import Ticket, TicketEvent
from ivr.bus import EventBus
from ivr.events import CallEnded, CallSnapshot, CallStarted, Disposition, IvrStep, Transfer, TransferResult

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 27, 13, 40, tzinfo=timezone.utc)  # 21:40 local


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def started(call_id: str, caller="13800001234") -> CallStarted:
    return CallStarted(call_id=call_id, at=at(0), caller=caller, dialed="12319", channel="PJSIP/trunk-1")


def ended(call_id: str, disposition: Disposition, **kw) -> CallEnded:
    snap = CallSnapshot(call_id=call_id, caller="13800001234", dialed="12319", started_at=at(0),
                        answered_at=at(1), ended_at=at(60),
                        ivr_path=[IvrStep(at(1), "main", "enter"), IvrStep(at(5), "main", "choice", "1")],
                        digits="1", disposition=disposition, **kw)
    return CallEnded(call_id=call_id, at=at(60), snapshot=snap)


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
async def bus():
    bus = EventBus()
    yield bus
    await bus.close()


async def test_voicemail_published_twice_makes_one_call_and_one_ticket(db_factory, bus):
    recorder = CallRecorder(db_factory, TZ, bus)
    msg = ended("1764250800.3", Disposition.VOICEMAIL, recordings=["/var/spool/asterisk/voicemail/msg0001.wav"])
    bus.publish(started("1764250800.3"))
    bus.publish(msg)
    bus.publish(msg)
    await bus.drain()

    assert recorder.failures == 0
    with db_factory() as session:
        assert count(session, Call) == 1
        call = get_call(session, "1764250800.3")
        assert call.disposition == "voicemail" and call.ended_at == at(60)
        (ticket,) = session.execute(select(Ticket)).scalars()
        assert ticket.call_id == call.id and ticket.state == "received"
        assert ticket.number == "12319-20261127-00001" and ticket.created_at == at(60)
        event = session.execute(select(TicketEvent)).scalar_one()
        assert event.data["recordings"] == ["/var/spool/asterisk/voicemail/msg0001.wav"]


async def test_live_row_then_completed_and_unqualified_calls_make_no_ticket(db_factory, bus):
    CallRecorder(db_factory, TZ, bus)
    bus.publish(started("1764250900.8"))
    await bus.drain()
    with db_factory() as session:
        live = get_call(session, "1764250900.8")
        assert live.caller == "13800001234" and live.ended_at is None and live.disposition is None

    bus.publish(ended("1764250900.8", Disposition.AGENT, agent="PJSIP/agent-101"))
    bus.publish(ended("1764251000.9", Disposition.SELF_SERVED))
    await bus.drain()
    with db_factory() as session:
        assert get_call(session, "1764250900.8").agent == "PJSIP/agent-101"
        assert count(session, Call) == 2
        assert count(session, Ticket) == 0


async def test_failed_district_transfer_creates_a_ticket_for_that_district(db_factory, bus):
    CallRecorder(db_factory, TZ, bus)
    transfer = Transfer(at(10), "district:150403", "district_line", TransferResult.CONGESTION, "CONGESTION", "150403")
    bus.publish(ended("1764251100.2", Disposition.FAILED, transfers=[transfer]))
    await bus.drain()
    with db_factory() as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        assert ticket.district_code == "150403" and ticket.source_key == "call:1764251100.2:auto"


async def test_database_error_is_logged_and_the_recorder_keeps_going(db_factory, bus, tmp_path, caplog):
    recorder = CallRecorder(db_factory, TZ, bus)
    good_sessions = recorder.sessions
    broken = create_engine(f"sqlite:///{tmp_path}")  # a directory: the database cannot be opened
    recorder.sessions = sessionmaker(broken)
    with caplog.at_level(logging.ERROR, logger="hotline.calls.recorder"):
        bus.publish(ended("1764251200.1", Disposition.VOICEMAIL))
        await bus.drain()
    assert recorder.failures == 1
    assert "1764251200.1" in caplog.text

    recorder.sessions = good_sessions
    bus.publish(ended("1764251200.1", Disposition.VOICEMAIL))  # the replay after recovery succeeds
    await bus.drain()
    assert recorder.failures == 1
    with db_factory() as session:
        assert count(session, Call) == 1 and count(session, Ticket) == 1
    broken.dispose()


async def test_close_unsubscribes(db_factory, bus):
    recorder = CallRecorder(db_factory, TZ, bus)
    recorder.close()
    bus.publish(ended("1764251300.4", Disposition.VOICEMAIL))
    await bus.drain()
    with db_factory() as session:
        assert count(session, Call) == 0


async def test_an_internal_staff_leg_is_stored_but_never_makes_a_ticket(db_factory, bus):
    CallRecorder(db_factory, TZ, bus)
    # an agent's consult call to a district line that did not answer, then transferred elsewhere
    transfer = Transfer(at(10), "district:150403", "district_line", TransferResult.NO_ANSWER, "NOANSWER", "150403")
    bus.publish(ended("1764251200.7", Disposition.INTERNAL, transfers=[transfer]))
    await bus.drain()
    with db_factory() as session:
        assert get_call(session, "1764251200.7").disposition == "internal"
        assert count(session, Ticket) == 0
