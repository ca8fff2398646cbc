"""Persisting calls from the telephony seam: one ``Call`` row per ``call_id`` (Linkedid).

Snapshots are converted to JSON-safe values (ISO timestamps, enum values). Writing the
same snapshot again changes nothing: only columns whose value differs are assigned, so
replayed events issue no UPDATE at all.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.calls.models import Call
from hotline.times import iso
from ivr.events import CallSnapshot, CallStarted

__all__ = ["upsert_call", "record_call_started", "snapshot_columns", "get_call", "close_call", "call_for_ticket"]


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def snapshot_columns(snapshot: CallSnapshot) -> dict[str, Any]:
    """The ``Call`` column values of ``snapshot``."""
    if not isinstance(snapshot, CallSnapshot):
        raise TypeError(f"snapshot must be an ivr.events.CallSnapshot, got {type(snapshot).__name__}")
    if not snapshot.call_id or not snapshot.call_id.strip():
        raise ValueError("call snapshot without call_id")
    return {
        "caller": snapshot.caller or "",
        "caller_name": snapshot.caller_name or "",
        "dialed": snapshot.dialed or "",
        "channel": snapshot.channel or "",
        "started_at": snapshot.started_at,
        "answered_at": snapshot.answered_at,
        "ended_at": snapshot.ended_at,
        "ivr_path": [_json_safe(asdict(step)) for step in snapshot.ivr_path],
        "digits": snapshot.digits or "",
        "queue": snapshot.queue or "",
        "queue_joined_at": snapshot.queue_joined_at,
        "queue_wait_s": snapshot.queue_wait_s,
        "agent": snapshot.agent or "",
        "agent_answered_at": snapshot.agent_answered_at,
        "transfers": [_json_safe(asdict(t)) for t in snapshot.transfers],
        "recordings": [str(p) for p in snapshot.recordings],
        "variables": {str(k): str(v) for k, v in snapshot.variables.items()},
        "disposition": snapshot.disposition.value if snapshot.disposition is not None else None,
        "hangup_cause": snapshot.hangup_cause,
        "hangup_cause_text": snapshot.hangup_cause_text or "",
    }


def get_call(session: Session, call_id: str) -> Call | None:
    return session.execute(select(Call).where(Call.call_id == call_id)).scalar_one_or_none()


def _assign(call: Call, values: dict[str, Any], *, fill_only: bool) -> None:
    for name, value in values.items():
        current = getattr(call, name)
        if fill_only and current not in (None, "", [], {}):
            continue
        if current != value:
            setattr(call, name, value)


def _upsert(session: Session, call_id: str, values: dict[str, Any], *, fill_only: bool) -> Call:
    call = get_call(session, call_id)
    if call is None:
        try:
            with session.begin_nested():  # a concurrent writer may insert the same call_id
                call = Call(call_id=call_id, **values)
                session.add(call)
        except IntegrityError:
            call = get_call(session, call_id)
            if call is None:
                raise
        else:
            return call
    _assign(call, values, fill_only=fill_only)
    session.flush()
    return call


def upsert_call(session: Session, snapshot: CallSnapshot) -> Call:
    """Insert or update the call ``snapshot.call_id`` with everything the snapshot knows."""
    values = snapshot_columns(snapshot)
    return _upsert(session, snapshot.call_id, values, fill_only=False)


def call_for_ticket(session: Session, call_id: str | int, *, caller: str = "", at: datetime | None = None) -> Call | None:
    """The call a ticket is registered from: by its call id (the Linkedid the live-call API lists),
    or by the row id of a stored call. A live call the recorder has not stored yet gets its row
    now (the recorder fills it in later, never overwriting); an unknown row id gives None."""
    if isinstance(call_id, int):
        return session.get(Call, call_id) if 0 < call_id < 2**63 else None
    call = get_call(session, call_id)
    if call is None:
        call = _upsert(session, call_id, {"caller": caller or "", "started_at": at}, fill_only=True)
    return call


def close_call(session: Session, call_id: str, at: datetime, disposition: str) -> bool:
    """End an open call row whose final snapshot is lost; False when it is not open."""
    call = get_call(session, call_id)
    if call is None or call.ended_at is not None:
        return False
    call.ended_at = at
    call.disposition = call.disposition or disposition
    session.flush()
    return True


def record_call_started(session: Session, event: CallStarted) -> Call:
    """A live row for a call in progress; never overwrites what a later snapshot stored."""
    values = {"caller": event.caller or "", "dialed": event.dialed or "",
              "channel": event.channel or "", "started_at": event.at}
    if not event.call_id:
        raise ValueError("CallStarted without call_id")
    return _upsert(session, event.call_id, values, fill_only=True)
