"""Storing calls from snapshots (hotline.calls.service) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from hotline.calls.models import Call
from hotline.calls.service import get_call, record_call_started, upsert_call
from hotline.times import iso
from ivr.events import CallSnapshot, CallStarted, Disposition, IvrStep, Transfer, TransferResult

T0 = datetime(2026, 11, 27, 2, 15, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(**changes) -> CallSnapshot:
    base = CallSnapshot(
        call_id="1764209700.5", caller="13800001234", caller_name="ZHANG", dialed="12319",
        channel="PJSIP/trunk-00000005", started_at=at(0), answered_at=at(1), ended_at=at(200),
        ivr_path=[IvrStep(at(1), "main", "enter"), IvrStep(at(7), "main", "choice", "3")], digits="3",
        queue="agents", queue_joined_at=at(8), queue_wait_s=12.5, agent="PJSIP/agent-101",
        agent_answered_at=at(20),
        transfers=[Transfer(at(90), "district:150402", "district_line", TransferResult.BUSY, "BUSY", "150402")],
        recordings=["/var/spool/asterisk/monitor/1764209700.5.wav"], variables={"HOTLINE_LANG": "zh"},
        disposition=Disposition.AGENT, hangup_cause=16, hangup_cause_text="Normal Clearing",
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def count_calls(session) -> int:
    return session.execute(select(func.count()).select_from(Call)).scalar_one()


@pytest.fixture
def statements(engine):
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.strip().split()[0].upper() + " " + statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_upsert_inserts_json_safe_columns(db_session):
    upsert_call(db_session, snapshot())
    db_session.commit()
    db_session.expire_all()
    call = get_call(db_session, "1764209700.5")
    assert (call.caller, call.dialed, call.disposition, call.queue_wait_s) == ("13800001234", "12319", "agent", 12.5)
    assert call.started_at == T0 and call.agent_answered_at == at(20)
    assert call.ivr_path == [
        {"at": iso(at(1)), "menu": "main", "kind": "enter", "value": ""},
        {"at": iso(at(7)), "menu": "main", "kind": "choice", "value": "3"},
    ]
    assert call.transfers == [{"at": iso(at(90)), "target": "district:150402", "kind": "district_line",
                               "result": "busy", "dial_status": "BUSY", "district_code": "150402"}]
    assert call.recordings == ["/var/spool/asterisk/monitor/1764209700.5.wav"]
    assert call.variables == {"HOTLINE_LANG": "zh"}


def test_replaying_the_same_snapshot_writes_nothing(db_session, statements):
    first = upsert_call(db_session, snapshot())
    db_session.commit()
    statements.clear()
    again = upsert_call(db_session, snapshot())
    db_session.commit()
    assert again.id == first.id
    assert count_calls(db_session) == 1
    assert not [s for s in statements if s.startswith(("UPDATE", "INSERT"))]


def test_a_newer_snapshot_updates_the_row(db_session):
    upsert_call(db_session, snapshot(ended_at=None, disposition=None, recordings=[]))
    db_session.commit()
    upsert_call(db_session, snapshot())
    db_session.commit()
    db_session.expire_all()
    call = get_call(db_session, "1764209700.5")
    assert call.disposition == "agent" and call.ended_at == at(200) and len(call.recordings) == 1
    assert count_calls(db_session) == 1


def test_call_started_gives_a_live_row_and_never_overwrites(db_session):
    started = CallStarted(call_id="1764209700.5", at=T0, caller="13800001234", dialed="12319",
                          channel="PJSIP/trunk-00000005")
    live = record_call_started(db_session, started)
    db_session.commit()
    assert (live.caller, live.started_at, live.ended_at, live.disposition) == ("13800001234", T0, None, None)

    upsert_call(db_session, snapshot(caller="13800009999"))
    db_session.commit()
    record_call_started(db_session, started)  # a late or replayed CallStarted
    db_session.commit()
    db_session.expire_all()
    call = get_call(db_session, "1764209700.5")
    assert call.caller == "13800009999" and call.disposition == "agent"


def test_insert_race_on_call_id_is_merged(db_factory, monkeypatch):
    """Another writer stores the call between our lookup and our insert: we update its row."""
    from hotline.calls import service

    with db_factory() as other:
        upsert_call(other, snapshot(disposition=Disposition.VOICEMAIL))
        other.commit()
    real, lookups = service.get_call, []

    def late_lookup(session, call_id):
        lookups.append(call_id)
        return None if len(lookups) == 1 else real(session, call_id)

    monkeypatch.setattr(service, "get_call", late_lookup)
    with db_factory() as session:
        upsert_call(session, snapshot())
        session.commit()
    monkeypatch.undo()
    with db_factory() as session:
        assert len(lookups) == 2
        assert count_calls(session) == 1
        assert get_call(session, "1764209700.5").disposition == "agent"


def test_snapshot_without_call_id_is_refused(db_session):
    with pytest.raises(ValueError):
        upsert_call(db_session, snapshot(call_id=" "))
    with pytest.raises(TypeError):
        upsert_call(db_session, {"call_id": "1"})
    assert count_calls(db_session) == 0
