"""An agent's seat in the console: sign in to and out of the queues, 示忙 with a reason, wrap-up
(话后整理), the simulated desk phone in demo mode, click-to-dial.

A seat is the queue member interface of the agent's phone (``users.seat``, e.g.
``PJSIP/agent-1101``), bound to the user by an admin. Commands go through the telephony facade
(``QueueAdd`` / ``QueueRemove`` / ``QueuePause`` / ``Originate``), so a real Asterisk sees the same
state; what the page shows comes back from the agent board, whoever changed it (the console,
the phone, an operator).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.users.models import User
from ivr.api import WRAP_UP_REASON, AgentSnapshot, AgentState, CommandFailed, UnknownTarget

__all__ = ["PAUSE_REASONS", "STATE_LABELS", "SeatError", "SeatView", "seat_of", "users_at_seat", "seat_view",
           "sign_in", "sign_out", "pause", "resume", "extend_wrap_up"]

#: Reasons an agent can give for 示忙 (the wrap-up reason is added by the console itself).
PAUSE_REASONS = ("小休", "就餐", "培训", "会议", "其他")

STATE_LABELS = {
    AgentState.LOGGED_OUT: "未签入",
    AgentState.IDLE: "签入空闲",
    AgentState.RINGING: "振铃",
    AgentState.ON_CALL: "通话中",
    AgentState.WRAP_UP: "话后整理",
    AgentState.PAUSED: "示忙",
}


class SeatError(Exception):
    """A seat command that cannot be done; ``str()`` is the Chinese message for the agent."""


def seat_of(session: Session, user_id: int) -> str | None:
    """The seat bound to an active user (None: not bound)."""
    return session.scalar(select(User.seat).where(User.id == user_id, User.active.is_(True)))


def users_at_seat(session: Session, seat: str) -> list[int]:
    """The active users bound to ``seat`` (one, normally)."""
    return list(session.scalars(select(User.id).where(User.seat == seat, User.active.is_(True))))


@dataclass(frozen=True)
class SeatView:
    """What the agent bar shows."""

    seat: str
    state: AgentState
    label: str
    since: datetime | None
    queues: tuple[str, ...]
    pause_reason: str
    call_id: str
    wrap_up_until: datetime | None
    calls_taken: int
    phone: str                  # simulator softphone: idle / ringing / connected; "" with a real PBX

    @property
    def signed_in(self) -> bool:
        return self.state is not AgentState.LOGGED_OUT

    def as_dict(self) -> dict[str, Any]:
        return {"seat": self.seat, "state": self.state.value, "label": self.label, "since": self.since,
                "queues": list(self.queues), "pause_reason": self.pause_reason, "call_id": self.call_id,
                "wrap_up_until": self.wrap_up_until, "calls_taken": self.calls_taken, "phone": self.phone}


def seat_view(telephony: Any, seat: str) -> SeatView:
    snap: AgentSnapshot = telephony.facade.agent(seat) if telephony is not None else AgentSnapshot(interface=seat)
    phone = telephony.softphone(seat) if telephony is not None else None
    label = STATE_LABELS[snap.state]
    if snap.state is AgentState.PAUSED and snap.pause_reason:
        label = f"示忙（{snap.pause_reason}）"
    return SeatView(seat, snap.state, label, snap.since, snap.queues, snap.pause_reason, snap.call_id,
                    snap.wrap_up_until, snap.calls_taken, phone.state if phone is not None else "")


def _facade(telephony: Any):
    if telephony is None:
        raise SeatError("电话系统未连接，暂时无法签入（telephony not running）")
    return telephony.facade


async def sign_in(telephony: Any, seat: str, name: str, queues: list[str]) -> list[str]:
    """签入: the seat joins ``queues`` (ids of the IVR flow's queues)."""
    if not queues:
        raise SeatError("请至少选择一个队列")
    try:
        return await _facade(telephony).sign_in(seat, name, queues)
    except UnknownTarget as exc:
        raise SeatError(f"队列或座席无效：{exc}") from None
    except CommandFailed as exc:
        raise SeatError(f"交换机拒绝签入：{exc}") from None


async def sign_out(telephony: Any, seat: str) -> None:
    """签出: the seat leaves every queue it is in."""
    try:
        await _facade(telephony).sign_out(seat)
    except CommandFailed as exc:
        raise SeatError(f"交换机拒绝签出：{exc}") from None


async def pause(telephony: Any, seat: str, reason: str) -> None:
    """示忙 with one of :data:`PAUSE_REASONS`."""
    if reason not in PAUSE_REASONS:
        raise SeatError("请选择示忙原因：" + "、".join(PAUSE_REASONS))
    try:
        await _facade(telephony).pause(seat, reason)
    except CommandFailed as exc:
        raise SeatError(f"交换机拒绝示忙：{exc}") from None


async def resume(telephony: Any, seat: str) -> None:
    """取消示忙 / 整理完毕: the seat takes calls again."""
    try:
        await _facade(telephony).unpause(seat)
    except CommandFailed as exc:
        raise SeatError(f"交换机拒绝置闲：{exc}") from None


async def extend_wrap_up(telephony: Any, seat: str) -> None:
    """延长话后整理: paused with the wrap-up reason until the agent says 整理完毕."""
    try:
        await _facade(telephony).pause(seat, WRAP_UP_REASON)
    except CommandFailed as exc:
        raise SeatError(f"交换机拒绝延长整理：{exc}") from None
