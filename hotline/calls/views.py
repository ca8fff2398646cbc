"""Live calls REST API for the agent console: list calls in progress, transfer a caller
to a district receiving line or back to a queue, hang up. Agents and supervisors only
(admins pass every role check).

``GET  /api/calls/live``                    calls in progress (oldest first)
``POST /api/calls/{call_id}/transfer``      ``{"district_code": "150402"}`` or ``{"queue": "agents"}``
``POST /api/calls/{call_id}/hangup``

A transfer answers ``202 Accepted`` once the PBX accepted the redirect: the dial result
(answered / busy / no answer → fallback to the agents) arrives as a ``Transferred`` event,
is stored on the call and written to the ticket log of the call's tickets
(:mod:`hotline.calls.transfer_log`). The commands go through :class:`ivr.facade.CallFacade`;
this module never speaks AMI.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotline.calls.schemas import phase_of
from hotline.database import transaction, utcnow
from hotline.privacy import mask_phone
from hotline.users.roles import Role
from hotline.web.api import ApiRoute, error_responses
from hotline.web.security import CurrentUser, require_roles

__all__ = ["router", "TransferRequest"]

router = APIRouter(prefix="/api/calls", tags=["calls"], route_class=ApiRoute)
CallAgents = require_roles(Role.AGENT, Role.SUPERVISOR)
CallIdPath = Path(..., min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$",
                  description="call id (Asterisk Linkedid)")
_LIVE_VARIABLES = ("HOTLINE_REPEAT_CALLER", "HOTLINE_OPEN_TICKETS", "HOTLINE_LAST_TICKET",
                   "HOTLINE_OFFERED_DISTRICT", "HOTLINE_DISTRICT", "HOTLINE_TRANSFER_FAILED",
                   "HOTLINE_TICKET_NUMBER", "HOTLINE_QUEUE")


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    district_code: str | None = Field(default=None, description="6-digit district code of a receiving line")
    queue: str | None = Field(default=None, description="queue id, e.g. agents")

    @model_validator(mode="after")
    def _exactly_one(self) -> "TransferRequest":
        if (self.district_code is None) == (self.queue is None):
            raise ValueError("give exactly one of district_code or queue (请指定旗区或队列之一)")
        if self.district_code is not None and not re.fullmatch(r"\d{6}", self.district_code):
            raise ValueError("district_code must be 6 digits (旗区代码应为6位数字)")
        if self.queue is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", self.queue):
            raise ValueError("queue must be a queue id such as 'agents' (队列编号无效)")
        return self

    @property
    def target(self) -> str:
        return f"district:{self.district_code}" if self.district_code else f"queue:{self.queue}"


def _telephony(request: Request):
    svc = request.app.state.hotline.telephony_service()
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="电话系统未连接 (telephony not running)")
    return svc


def _live_call(snap, user: CurrentUser) -> dict[str, Any]:
    menus = [s.menu for s in snap.ivr_path if s.kind == "enter"]
    return {
        "call_id": snap.call_id,
        "caller": snap.caller if user.sees_full_numbers else mask_phone(snap.caller),
        "dialed": snap.dialed,
        "started_at": snap.started_at, "answered_at": snap.answered_at,
        "phase": phase_of(snap),
        "menu": menus[-1] if menus else "",
        "digits": snap.digits,
        "queue": snap.queue, "queue_joined_at": snap.queue_joined_at,
        "agent": snap.agent, "agent_answered_at": snap.agent_answered_at,
        "transfers": [{"at": t.at, "target": t.target, "kind": t.kind, "result": t.result.value,
                       "dial_status": t.dial_status, "district_code": t.district_code} for t in snap.transfers],
        "marks": {k: v for k, v in snap.variables.items() if k in _LIVE_VARIABLES},
    }


@router.get("/live", responses=error_responses(503))
async def live_calls(request: Request, user: CurrentUser = Depends(CallAgents)) -> dict:
    svc = _telephony(request)
    calls = [_live_call(s, user) for s in svc.facade.live_calls()]
    return {"count": len(calls), "calls": calls}


def _facade_error(exc: Exception) -> HTTPException:
    from ivr.api import CommandFailed, UnknownCall, UnknownTarget

    if isinstance(exc, UnknownCall):
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"通话不存在或已结束 (no live call {exc.call_id})")
    if isinstance(exc, UnknownTarget):
        return HTTPException(422, detail=f"转接目标无效: {exc}")
    if isinstance(exc, CommandFailed):
        return HTTPException(status.HTTP_502_BAD_GATEWAY, detail=f"交换机拒绝了该操作: {exc}")
    raise exc


@router.post("/{call_id}/transfer", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(502, 503))
async def transfer_call(body: TransferRequest, request: Request, call_id: str = CallIdPath,
                        user: CurrentUser = Depends(CallAgents)) -> dict:
    from hotline.calls.transfer_log import log_transfer_request
    from ivr.api import FacadeError, UnknownCall

    svc = _telephony(request)
    try:
        target = await svc.facade.transfer(call_id, body.target)
    except (FacadeError, UnknownCall) as exc:
        raise _facade_error(exc) from None
    names = {d.code: d.name for d in svc.flow.districts} if svc.flow is not None else {}
    at = utcnow()

    def log() -> int:
        with transaction(svc.sessions) as session:
            return len(log_transfer_request(session, call_id, str(target), actor=user.display_name or user.username,
                                            actor_id=user.id, at=at, district_names=names))

    logged = await request.app.state.hotline.write_lane.run(log)
    return {"call_id": call_id, "target": str(target), "status": "requested", "ticket_events": logged}


@router.post("/{call_id}/hangup", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(502, 503))
async def hangup_call(request: Request, call_id: str = CallIdPath, user: CurrentUser = Depends(CallAgents)) -> dict:
    from ivr.api import FacadeError, UnknownCall

    svc = _telephony(request)
    try:
        await svc.facade.hangup(call_id)
    except (FacadeError, UnknownCall) as exc:
        raise _facade_error(exc) from None
    return {"call_id": call_id, "status": "hangup_requested"}
