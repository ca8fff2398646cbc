"""Tickets opened automatically from calls (design §2: ``hotline`` reacts to domain events).

Two kinds of calls leave the citizen without a human answer and so become a ticket in
state ``received`` for an agent to follow up:

* ``voicemail`` — an after-hours message was recorded;
  When the call left a recording, the ticket asks for its transcript (``transcript_status``
  ``pending``, :mod:`hotline.cases.transcripts`), which speech transcription fills in when a
  model is configured;
* ``transfer_failed`` — the transfer to the district line the caller chose failed
  (busy / no answer / congestion / unavailable) and no agent or later transfer served them.

One ticket per call, whatever the number of replays: the source key is
``call:<call_id>:auto``.

Wording: a message is described by why the caller left it (``HOTLINE_MESSAGE_REASON``:
after hours, no agent signed in or free, a menu option), a failed transfer by the district's
name. Only recordings with something in them are attached: a message file only when the
dialplan found more than a WAV header in it (``HOTLINE_MESSAGE_BYTES``), the MixMonitor file of
a queue call only when an agent answered (MixMonitor leaves a 44-byte header for an unbridged call).
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from sqlalchemy import select

from hotline.calls.models import Call
from hotline.cases.models import Ticket
from hotline.cases.service import create_ticket
from hotline.cases.transcripts import mark_pending
from hotline.times import iso
from hotline.grid.models import GridUnit

__all__ = ["REASON_VOICEMAIL", "REASON_TRANSFER_FAILED", "FAILED_TRANSFER_RESULTS",
           "auto_ticket_reason", "ticket_from_call", "source_key_for"]

REASON_VOICEMAIL = "voicemail"
REASON_TRANSFER_FAILED = "transfer_failed"
FAILED_TRANSFER_RESULTS = frozenset({"busy", "no_answer", "congestion", "unavailable"})
IVR_ACTOR = "ivr"

_DESCRIPTIONS = {
    REASON_VOICEMAIL: "{when}来电留言，请听取录音后补录诉求内容并回复来电人。",
    REASON_TRANSFER_FAILED: "转接{district}受理专线未接通（{result}），请回拨来电人了解诉求。",
}
#: Why a caller left a message (HOTLINE_MESSAGE_REASON of the dialplan) → how the ticket says it.
MESSAGE_REASONS = {
    "after_hours": "非工作时间",
    "queue_unavailable": "人工坐席无人接听（无坐席签入、全部示忙或等待超时）时",
    "menu": "通过语音菜单",
}
_NO_MESSAGE = "{when}来电转入留言，但未录到留言内容，请回拨来电人了解诉求。"
_RESULT_LABELS = {"busy": "忙线", "no_answer": "无人接听", "congestion": "线路拥塞", "unavailable": "线路不可用"}
WAV_HEADER_BYTES = 44


def source_key_for(call: Call) -> str:
    return f"call:{call.call_id}:auto"


def _district_transfers(call: Call) -> list[dict]:
    return [t for t in (call.transfers or [])
            if isinstance(t, dict) and (t.get("kind") == "district_line" or t.get("district_code"))]


def _failed_district_transfer(call: Call) -> dict | None:
    transfers = [t for t in (call.transfers or []) if isinstance(t, dict)]
    if any(t.get("result") == "answered" for t in transfers):
        return None
    district = _district_transfers(call)
    if district and district[-1].get("result") in FAILED_TRANSFER_RESULTS:
        return district[-1]
    return None


def auto_ticket_reason(call: Call) -> str | None:
    """Why ``call`` needs an automatic ticket, or ``None`` when it does not."""
    if call.disposition == "voicemail":
        return REASON_VOICEMAIL
    if call.disposition in ("agent", "transferred", "self_served"):
        return None  # someone (or the IVR) served the caller
    if _failed_district_transfer(call) is not None:
        return REASON_TRANSFER_FAILED
    return None


def _chosen_district(call: Call) -> str | None:
    for transfer in reversed(_district_transfers(call)):
        code = str(transfer.get("district_code") or "")
        if re.fullmatch(r"\d{6}", code):
            return code
    code = str((call.variables or {}).get("HOTLINE_DISTRICT") or "")
    return code if re.fullmatch(r"\d{6}", code) else None


def _int(text: object) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def message_recorded(call: Call) -> bool:
    """False when the dialplan reported the message file empty (a WAV header at most) or Record
    failed; True otherwise (also for dialplans that do not report it)."""
    variables = call.variables or {}
    size = _int(variables.get("HOTLINE_MESSAGE_BYTES"))
    if "HOTLINE_MESSAGE_BYTES" in variables and (size is None or size <= WAV_HEADER_BYTES):
        return False
    return variables.get("HOTLINE_RECORD_STATUS") != "ERROR"


def attachable_recordings(call: Call) -> list[str]:
    """The call's recordings a ticket may point at (see the module docstring)."""
    variables = call.variables or {}
    message = str(variables.get("HOTLINE_MESSAGE_FILE") or "")
    queue_recording = str(variables.get("HOTLINE_RECORDING") or "")
    bridged = bool(call.agent) or call.disposition in ("agent", "transferred")
    out = []
    for path in (str(p) for p in (call.recordings or [])):
        if message and path in (message, message + ".wav") and not message_recorded(call):
            continue
        if queue_recording and path == queue_recording and not bridged:
            continue
        out.append(path)
    return out


def district_name(session: Session, code: str | None) -> str | None:
    """The district's name from the grid (the rules' districts are grid units), else None."""
    if not code:
        return None
    return session.scalar(select(GridUnit.name).where(GridUnit.code == code))


def _description(session: Session, call: Call, reason: str, district: str | None) -> str:
    if reason == REASON_VOICEMAIL:
        why = str((call.variables or {}).get("HOTLINE_MESSAGE_REASON") or "")
        when = MESSAGE_REASONS.get(why, "")
        if not message_recorded(call):
            return _NO_MESSAGE.format(when=when)
        return _DESCRIPTIONS[reason].format(when=when)
    failed = _failed_district_transfer(call) or {}
    return _DESCRIPTIONS[reason].format(
        district=district_name(session, district) or district or "区县",
        result=_RESULT_LABELS.get(failed.get("result", ""), "未接通"))


def ticket_from_call(session: Session, call: Call, *, reason: str, at: datetime, tz: tzinfo) -> Ticket:
    """The automatic ticket of ``call`` (created once; replays return the same ticket)."""
    if reason not in _DESCRIPTIONS:
        raise ValueError(f"unknown auto-ticket reason {reason!r}; expected {REASON_VOICEMAIL!r} "
                         f"or {REASON_TRANSFER_FAILED!r}")
    district = _chosen_district(call)
    description = _description(session, call, reason, district)
    recordings = attachable_recordings(call)
    data = {
        "source": "call", "reason": reason, "call_id": call.call_id, "disposition": call.disposition,
        "dialed": call.dialed, "ivr_path": list(call.ivr_path or []), "digits": call.digits,
        "transfers": list(call.transfers or []), "recordings": recordings,
        "variables": dict(call.variables or {}),
        "started_at": iso(call.started_at) if call.started_at else None,
        "ended_at": iso(call.ended_at) if call.ended_at else None,
    }
    ticket = create_ticket(
        session, channel="phone", caller_number=call.caller or "", caller_name=call.caller_name or "",
        category=None, description=description, district_code=district, call=call,
        source_key=source_key_for(call), actor=None, actor_name=IVR_ACTOR, at=at, tz=tz,
        note="录音：" + "，".join(recordings) if recordings else "", event_data=data,
    )
    if reason == REASON_VOICEMAIL and recordings and not ticket.transcript_status:
        mark_pending(session, ticket)
    return ticket
