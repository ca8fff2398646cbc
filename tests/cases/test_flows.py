"""Automatic tickets from calls (hotline.cases.flows) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hotline.calls.service import upsert_call
from hotline.cases.flows import (
    REASON_TRANSFER_FAILED, REASON_VOICEMAIL, auto_ticket_reason, source_key_for, ticket_from_call,
)
from hotline.cases.models import Ticket, TicketEvent, TicketNumberSequence
from hotline.grid.models import GridUnit
from ivr.events import CallSnapshot, Disposition, IvrStep, Transfer, TransferResult

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 27, 14, 5, tzinfo=timezone.utc)  # 22:05 in Chifeng, after hours


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def voicemail_call(call_id="1764252300.17") -> CallSnapshot:
    return CallSnapshot(
        call_id=call_id, caller="13800001234", caller_name="", dialed="12319", channel="PJSIP/trunk-00000011",
        started_at=at(0), answered_at=at(1), ended_at=at(75),
        ivr_path=[IvrStep(at(1), "main", "enter"), IvrStep(at(9), "main", "choice", "1"),
                  IvrStep(at(12), "district", "choice", "2"), IvrStep(at(14), "after_hours", "enter")],
        digits="12", recordings=["/var/spool/asterisk/monitor/msg-1764252300.17.wav"],
        variables={"HOTLINE_DISTRICT": "150402"}, disposition=Disposition.VOICEMAIL,
        hangup_cause=16, hangup_cause_text="Normal Clearing",
    )


def failed_transfer_call(result=TransferResult.BUSY, disposition=Disposition.FAILED,
                         call_id="1764252400.21") -> CallSnapshot:
    return CallSnapshot(
        call_id=call_id, caller="0476-8888123", dialed="12319", started_at=at(0), answered_at=at(1),
        ended_at=at(40), ivr_path=[IvrStep(at(1), "main", "enter"), IvrStep(at(6), "district", "choice", "4")],
        digits="4",
        transfers=[Transfer(at(8), "district:150404", "district_line", result, result.value.upper(), "150404")],
        disposition=disposition,
    )


def count(session, model):
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_voicemail_call_becomes_a_received_ticket_with_the_ivr_path(db_session):
    call = upsert_call(db_session, voicemail_call())
    assert auto_ticket_reason(call) == REASON_VOICEMAIL
    ticket = ticket_from_call(db_session, call, reason=REASON_VOICEMAIL, at=call.ended_at, tz=TZ)
    db_session.commit()

    assert ticket.number == "12319-20261127-00001"  # 22:06 local time is still the 27th
    assert (ticket.state, ticket.channel, ticket.caller_number, ticket.call_id) == (
        "received", "phone", "13800001234", call.id)
    assert ticket.district_code == "150402" and ticket.source_key == "call:1764252300.17:auto"
    assert "留言" in ticket.description
    (event,) = db_session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).scalars()
    assert (event.seq, event.action, event.actor, event.actor_id) == (1, "create", "ivr", None)
    assert event.data["reason"] == "voicemail"
    assert event.data["recordings"] == ["/var/spool/asterisk/monitor/msg-1764252300.17.wav"]
    assert [(s["menu"], s["kind"], s["value"]) for s in event.data["ivr_path"]] == [
        ("main", "enter", ""), ("main", "choice", "1"), ("district", "choice", "2"), ("after_hours", "enter", "")]
    assert "msg-1764252300.17.wav" in event.note


def test_failed_district_transfer_carries_the_chosen_district(db_session):
    db_session.add(GridUnit(code="150404", name="松山区", level=1, kind="district"))
    call = upsert_call(db_session, failed_transfer_call(TransferResult.NO_ANSWER))
    assert auto_ticket_reason(call) == REASON_TRANSFER_FAILED
    ticket = ticket_from_call(db_session, call, reason=REASON_TRANSFER_FAILED, at=call.ended_at, tz=TZ)
    db_session.commit()
    assert ticket.district_code == "150404" and ticket.caller_number == "0476-8888123"
    # the district by name, not by code (issue 14: 转接150403… before)
    assert ticket.description == "转接松山区受理专线未接通（无人接听），请回拨来电人了解诉求。"
    event = db_session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).scalar_one()
    assert event.data["transfers"][0]["result"] == "no_answer"
    assert event.data["digits"] == "4"


@pytest.mark.parametrize("snapshot, expected", [
    (failed_transfer_call(TransferResult.BUSY), REASON_TRANSFER_FAILED),
    (failed_transfer_call(TransferResult.CONGESTION, Disposition.ABANDONED), REASON_TRANSFER_FAILED),
    (failed_transfer_call(TransferResult.UNAVAILABLE), REASON_TRANSFER_FAILED),
    (failed_transfer_call(TransferResult.ANSWERED, Disposition.TRANSFERRED), None),
    (failed_transfer_call(TransferResult.CANCELLED, Disposition.ABANDONED), None),  # caller hung up
    (failed_transfer_call(TransferResult.BUSY, Disposition.AGENT), None),  # an agent took over
    (CallSnapshot(call_id="x", caller="1", disposition=Disposition.SELF_SERVED), None),
    (CallSnapshot(call_id="y", caller="1", disposition=Disposition.ABANDONED), None),
])
def test_which_calls_qualify(db_session, snapshot, expected):
    assert auto_ticket_reason(upsert_call(db_session, snapshot)) == expected


def test_replaying_a_call_never_creates_a_second_ticket(db_session):
    first = None
    for _ in range(3):
        call = upsert_call(db_session, voicemail_call())
        ticket = ticket_from_call(db_session, call, reason=REASON_VOICEMAIL, at=call.ended_at, tz=TZ)
        db_session.commit()
        first = first or ticket
        assert ticket.id == first.id
    assert count(db_session, Ticket) == 1
    assert count(db_session, TicketEvent) == 1
    assert db_session.get(TicketNumberSequence, "20261127").last == 1
    assert source_key_for(call) == "call:1764252300.17:auto"


def test_unknown_reason_is_refused(db_session):
    call = upsert_call(db_session, voicemail_call())
    with pytest.raises(ValueError):
        ticket_from_call(db_session, call, reason="missed", at=call.ended_at, tz=TZ)
    db_session.rollback()
    assert count(db_session, Ticket) == 0


MESSAGE = "/var/spool/asterisk/hl12319-messages/20261127/1764252300.17"
QUEUE_RECORDING = "/var/spool/asterisk/monitor/hl12319/20261127/1764252300.17.wav"


def message_call(reason: str, message_bytes: str | None = "96044", call_id="1764252300.17") -> CallSnapshot:
    """A caller who left a message through the rendered dialplan (variables as it sets them)."""
    snap = voicemail_call(call_id)
    snap.recordings = [QUEUE_RECORDING, MESSAGE + ".wav"] if reason == "queue_unavailable" else [MESSAGE + ".wav"]
    snap.variables = {"HOTLINE_MESSAGE_REASON": reason, "HOTLINE_MESSAGE_FILE": MESSAGE,
                      "HOTLINE_RECORD_STATUS": "HANGUP"}
    if reason == "queue_unavailable":
        snap.variables.update(HOTLINE_QUEUE="agents", HOTLINE_QUEUE_STATUS="JOINEMPTY",
                              HOTLINE_RECORDING=QUEUE_RECORDING)
    if message_bytes is not None:
        snap.variables["HOTLINE_MESSAGE_BYTES"] = message_bytes
    return snap


@pytest.mark.parametrize("reason, wording", [
    ("after_hours", "非工作时间来电留言，请听取录音后补录诉求内容并回复来电人。"),
    ("queue_unavailable", "人工坐席无人接听（无坐席签入、全部示忙或等待超时）时来电留言，请听取录音后补录诉求内容并回复来电人。"),
    ("menu", "通过语音菜单来电留言，请听取录音后补录诉求内容并回复来电人。"),
])
def test_a_message_ticket_says_why_the_caller_left_a_message(db_session, reason, wording):
    call = upsert_call(db_session, message_call(reason))
    ticket = ticket_from_call(db_session, call, reason=REASON_VOICEMAIL, at=call.ended_at, tz=TZ)
    assert ticket.description == wording
    event = db_session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).scalar_one()
    # the MixMonitor file of the unanswered queue call (a 44-byte header) is never attached
    assert event.data["recordings"] == [MESSAGE + ".wav"]


@pytest.mark.parametrize("size", ["44", "", "0"])
def test_an_empty_message_file_is_not_attached(db_session, size):
    call = upsert_call(db_session, message_call("after_hours", message_bytes=size))
    ticket = ticket_from_call(db_session, call, reason=REASON_VOICEMAIL, at=call.ended_at, tz=TZ)
    assert ticket.description == "非工作时间来电转入留言，但未录到留言内容，请回拨来电人了解诉求。"
    event = db_session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).scalar_one()
    assert event.data["recordings"] == [] and event.note == ""
