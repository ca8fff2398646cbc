"""Transcription fills the ticket: a message left after hours (espeak-ng Korean, 8 kHz) becomes a
voicemail ticket through the call recorder, the worker transcribes it with the real model and stores
the transcript with the suggested district and category — never applying them — on SQLite and
PostgreSQL. Missing and unreadable recordings, a busy pool and speech off have their outcome."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hotline.calls.recorder import CallRecorder
from hotline.calls.transcription import TranscriptionWorker, parse_path_map
from hotline.categories.models import Category
from hotline.cases.models import Ticket, TicketEvent
from hotline.database import transaction
from ivr.bus import EventBus
from ivr.events import CallEnded, CallSnapshot, CallStarted, Disposition
from ivr.speech import SpeechRecognizer, read_audio
from speech_audio import synthesise

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 7, 13, 40, tzinfo=timezone.utc)  # 21:40 local: after hours


@pytest.fixture
async def bus():
    bus = EventBus()
    yield bus
    await bus.close()


def add_category(factory, code: str, name: str) -> None:
    with transaction(factory) as s:
        s.add(Category(standard_ref="LOCAL:TEST", kind="matter", code=code, big_class_code=code[:2],
                       big_class="测试", name=name))


async def leave_message(factory, bus, call_id: str, recording: str) -> Ticket:
    recorder = CallRecorder(factory, TZ, bus)
    snap = CallSnapshot(call_id=call_id, caller="13800001234", dialed="12319", started_at=T0,
                        answered_at=T0, ended_at=T0 + timedelta(seconds=40), recordings=[recording],
                        disposition=Disposition.VOICEMAIL)
    bus.publish(CallStarted(call_id=call_id, at=T0, caller="13800001234", dialed="12319"))
    bus.publish(CallEnded(call_id=call_id, at=T0 + timedelta(seconds=40), snapshot=snap))
    await bus.drain()
    recorder.close()
    with factory() as s:
        return s.scalars(select(Ticket).where(Ticket.source_key == f"call:{call_id}:auto")).one()


def worker(factory, recogniser, korean_rules, korean_flow, **kw) -> TranscriptionWorker:
    return TranscriptionWorker(factory, lambda: recogniser, rules=lambda: korean_rules, flow=lambda: korean_flow,
                               clock=lambda: T0 + timedelta(minutes=1), **kw)


def log_of(factory, ticket_id: int) -> list[TicketEvent]:
    with factory() as s:
        return list(s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                        TicketEvent.action == "transcribed")))


async def test_a_message_is_transcribed_into_its_ticket_with_a_suggestion(
        db_factory, bus, recogniser, korean_rules, korean_flow, tmp_path):
    # 서울 is the district menu's keyword of 红山区 (150402); a category named 수도 exists
    add_category(db_factory, "99001", "수도")
    message = synthesise("서울 수도", tmp_path / "msg.wav")
    ticket = await leave_message(db_factory, bus, "1765114800.1", str(message))
    assert ticket.transcript_status == "pending"
    version = ticket.version

    assert await worker(db_factory, recogniser, korean_rules, korean_flow).run_once() == 1

    with db_factory() as s:
        t = s.get(Ticket, ticket.id)
        assert t.transcript_status == "done"
        assert t.transcript != ""                       # the model's free text, whatever it heard
        suggestion = t.transcript_suggestion
        assert suggestion["district_code"] == "150402" and suggestion["district_name"] == "红山区"
        assert suggestion["category_code"] == "99001" and suggestion["category_name"] == "수도"
        assert set(suggestion["keywords"]) == {"서울", "수도"}
        # a suggestion only: nothing applied, and no conflict for an agent already on the ticket
        assert t.district_code is None and t.category_code == ""
        assert t.version == version
    [event] = log_of(db_factory, ticket.id)
    assert "建议分类：수도" in event.note and "建议区县：红山区" in event.note and "待坐席确认" in event.note
    assert event.data["recording"] == str(message)
    # a second round finds nothing to do
    assert await worker(db_factory, recogniser, korean_rules, korean_flow).run_once() == 0


async def test_pbx_paths_are_mapped_to_where_this_process_reads_them(
        db_factory, bus, recogniser, korean_rules, korean_flow, tmp_path):
    (tmp_path / "day").mkdir()
    synthesise("상담원", tmp_path / "day" / "msg.wav")
    ticket = await leave_message(db_factory, bus, "1765114800.2", "/var/spool/asterisk/hl12319-messages/day/msg.wav")
    w = worker(db_factory, recogniser, korean_rules, korean_flow,
               path_map=parse_path_map(f"/var/spool/asterisk/hl12319-messages={tmp_path}"))
    assert await w.run_once() == 1
    with db_factory() as s:
        assert s.get(Ticket, ticket.id).transcript_status == "done"


async def test_a_missing_recording_fails_with_the_reason(db_factory, bus, recogniser, korean_rules, korean_flow,
                                                          tmp_path):
    ticket = await leave_message(db_factory, bus, "1765114800.3", str(tmp_path / "gone.wav"))
    assert await worker(db_factory, recogniser, korean_rules, korean_flow).run_once() == 1
    with db_factory() as s:
        t = s.get(Ticket, ticket.id)
        assert (t.transcript_status, t.transcript, t.transcript_suggestion) == ("failed", "", None)
    assert log_of(db_factory, ticket.id)[0].note == "留言录音未能转写：录音文件不存在"


async def test_a_recording_in_the_wrong_format_fails_with_the_reason(
        db_factory, bus, recogniser, korean_rules, korean_flow, tmp_path):
    stereo = synthesise("서울", tmp_path / "stereo.wav", channels=2)
    ticket = await leave_message(db_factory, bus, "1765114800.4", str(stereo))
    assert await worker(db_factory, recogniser, korean_rules, korean_flow).run_once() == 1
    with db_factory() as s:
        assert s.get(Ticket, ticket.id).transcript_status == "failed"
    [event] = log_of(db_factory, ticket.id)
    assert event.note == "留言录音未能转写：录音格式无法识别" and "2 channels" in event.data["error"]


async def test_without_speech_messages_wait_and_a_full_pool_leaves_them_pending(
        db_factory, bus, model, korean_rules, korean_flow, tmp_path):
    ticket = await leave_message(db_factory, bus, "1765114800.5", str(synthesise("서울", tmp_path / "m.wav")))
    assert await worker(db_factory, None, korean_rules, korean_flow).run_once() == 0
    busy = SpeechRecognizer(model, korean_flow, workers=1, max_pending=0)
    try:
        long = synthesise("상담원 " * 20, tmp_path / "long.wav")
        hog = asyncio.ensure_future(busy.transcribe(read_audio(long)))
        await asyncio.sleep(0.05)
        assert await worker(db_factory, busy, korean_rules, korean_flow).run_once() == 0
        await hog
    finally:
        busy.close()
    with db_factory() as s:
        assert s.get(Ticket, ticket.id).transcript_status == "pending"
    assert log_of(db_factory, ticket.id) == []


def test_path_maps_are_checked():
    assert parse_path_map("/a=/b; /c/=/d/") == [("/a", "/b"), ("/c", "/d")]
    with pytest.raises(ValueError, match="PBX path"):
        parse_path_map("/a")


async def test_a_message_left_on_a_twilio_call_is_fetched_from_twilio_and_transcribed(
        db_factory, bus, recogniser, korean_rules, korean_flow, tmp_path):
    from hotline.calls.twilio_recordings import TwilioRecordings
    from twilio_support import ACCOUNT, TOKEN, TwilioRecordingHost

    add_category(db_factory, "99001", "수도")
    host = TwilioRecordingHost()
    fetch = TwilioRecordings(ACCOUNT, TOKEN, base_url=host.base_url, timeout=5)
    try:
        audio = synthesise("서울 수도", tmp_path / "msg.wav").read_bytes()
        url = host.add("RE" + "7" * 32, audio) + ".wav"          # as ivr.twilio stores RecordingUrl
        ticket = await leave_message(db_factory, bus, "CA" + "7" * 32, url)
        assert ticket.transcript_status == "pending"

        host.fail = 503                                            # Twilio down: the ticket waits
        assert await worker(db_factory, recogniser, korean_rules, korean_flow, fetch=fetch).run_once() == 0
        with db_factory() as s:
            assert s.get(Ticket, ticket.id).transcript_status == "pending"
        assert log_of(db_factory, ticket.id) == []

        host.fail = None                                           # back: the next round transcribes it
        assert await worker(db_factory, recogniser, korean_rules, korean_flow, fetch=fetch).run_once() == 1
        with db_factory() as s:
            t = s.get(Ticket, ticket.id)
            assert t.transcript_status == "done"
            assert t.transcript_suggestion["district_name"] == "红山区"
            assert t.transcript_suggestion["category_name"] == "수도"
        [event] = log_of(db_factory, ticket.id)
        assert event.data["recording"] == url
    finally:
        await fetch.aclose()
        host.close()
