"""Tickets opened automatically from calls (design §2: ``hotline`` reacts to domain events).

Two kinds of calls leave the citizen without a human answer and so become a ticket in
state ``received`` for an agent to follow up:

* ``voicemail`` — an after-hours message was recorded;
* ``transfer_failed`` — the transfer to the district line the caller chose failed
  (busy / no answer / congestion / unavailable) and no agent or later transfer served them.

One ticket per call, whatever the number of replays: the source key is
``call:<call_id>:auto``.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from hotline.calls.models import Call
from hotline.cases.models import Ticket
from hotline.cases.service import create_ticket

__all__ = ["REASON_VOICEMAIL", "REASON_TRANSFER_FAILED", "FAILED_TRANSFER_RESULTS",
           "auto_ticket_reason", "ticket_from_call", "source_key_for"]

REASON_VOICEMAIL = "voicemail"
REASON_TRANSFER_FAILED = "transfer_failed"
FAILED_TRANSFER_RESULTS = frozenset({"busy", "no_answer", "congestion", "unavailable"})
IVR_ACTOR = "ivr"

_DESCRIPTIONS = {
    REASON_VOICEMAIL: "非工作时间来电留言，请听取录音后补录诉求内容并回复来电人。",
    REASON_TRANSFER_FAILED: "转接{district}受理专线未接通（{result}），请回拨来电人了解诉求。",
}
_RESULT_LABELS = {"busy": "忙线", "no_answer": "无人接听", "congestion": "线路拥塞", "unavailable": "线路不可用"}


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


def ticket_from_call(session: Session, call: Call, *, reason: str, at: datetime, tz: tzinfo) -> Ticket:
    """The automatic ticket of ``call`` (created once; replays return the same ticket)."""
    if reason not in _DESCRIPTIONS:
        raise ValueError(f"unknown auto-ticket reason {reason!r}; expected {REASON_VOICEMAIL!r} "
                         f"or {REASON_TRANSFER_FAILED!r}")
    district = _chosen_district(call)
    failed = _failed_district_transfer(call) if reason == REASON_TRANSFER_FAILED else None
    description = _DESCRIPTIONS[reason].format(
        district=district or "区县",
        result=_RESULT_LABELS.get((failed or {}).get("result", ""), "未接通"))
    recordings = [str(p) for p in (call.recordings or [])]
    data = {
        "source": "call", "reason": reason, "call_id": call.call_id, "disposition": call.disposition,
        "dialed": call.dialed, "ivr_path": list(call.ivr_path or []), "digits": call.digits,
        "transfers": list(call.transfers or []), "recordings": recordings,
        "variables": dict(call.variables or {}),
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
    }
    return create_ticket(
        session, channel="phone", caller_number=call.caller or "", caller_name=call.caller_name or "",
        category=None, description=description, district_code=district, call=call,
        source_key=source_key_for(call), actor=None, actor_name=IVR_ACTOR, at=at, tz=tz,
        note="录音：" + "，".join(recordings) if recordings else "", event_data=data,
    )
