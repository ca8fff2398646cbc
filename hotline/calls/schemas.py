"""What an agent sees of a call: the call panel of the screen pop (来电号码, IVR 路径, 所选旗区,
等待时长) — menus and keys as their names, never as contexts and digits."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ivr.api import IvrFlow
from ivr.events import CallSnapshot

__all__ = ["ivr_path_labels", "call_panel", "phase_of", "PHASE_LABELS"]

PHASE_LABELS = {"ivr": "自助语音", "queue": "排队中", "agent": "坐席通话", "transferring": "转接中",
                "district": "与旗区受理电话通话", "transferred": "已转出", "ended": "已结束"}
_STEP_KINDS = {"timeout": "超时未按键", "invalid": "按键无效", "speech": "语音"}
_DISTRICT_MARKS = ("HOTLINE_DISTRICT", "HOTLINE_OFFERED_DISTRICT")


def phase_of(snap: CallSnapshot) -> str:
    """Where the caller is now: ivr, queue, agent, transferring (a line rings), district (talking
    to a district line: the last transfer was answered after any agent), transferred (elsewhere)."""
    last = snap.transfers[-1] if snap.transfers else None
    if last is not None and last.result.value == "pending":
        return "transferring"
    if last is not None and last.result.value == "answered" and (
            snap.agent_answered_at is None or last.at >= snap.agent_answered_at):
        return "district" if last.kind == "district_line" or last.district_code else "transferred"
    if snap.agent_answered_at is not None:
        return "agent"
    if snap.queue_joined_at is not None:
        return "queue"
    return "ivr"


def _menu_id(context: str, prefix: str = "hl12319-menu-") -> str | None:
    return context[len(prefix):] if context.startswith(prefix) else None


def ivr_path_labels(flow: IvrFlow | None, snapshot: CallSnapshot) -> list[str]:
    """The caller's way through the menus as the agent reads it, e.g. ``["主菜单：按 1 反映问题"]``."""
    out: list[str] = []
    for step in snapshot.ivr_path:
        menu_id = _menu_id(step.menu)
        menu = flow.menu(menu_id) if flow is not None and menu_id else None
        title = "主菜单" if menu_id == "main" else (f"菜单 {menu_id}" if menu_id else None)
        if step.kind == "choice" and menu is not None:
            option = menu.option(step.value)
            out.append(f"{title}：按 {step.value} {option.label}" if option else f"{title}：按 {step.value}")
        elif step.kind in _STEP_KINDS and title:
            out.append(f"{title}：{_STEP_KINDS[step.kind]}")
    return out


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def call_panel(snapshot: CallSnapshot, flow: IvrFlow | None, names: Any, *, now: datetime | None = None,
               phase: str = "") -> dict[str, Any]:
    """The screen pop's data (the caller's number in full: agents call citizens back)."""
    now = now or datetime.now(timezone.utc)
    district = next((snapshot.variables.get(k) for k in _DISTRICT_MARKS if snapshot.variables.get(k)), "")
    queue = flow.queue(snapshot.queue) if flow is not None and snapshot.queue else None
    wait_end = snapshot.agent_answered_at or snapshot.queue_left_at or now
    return {
        "call_id": snapshot.call_id,
        "caller": snapshot.caller,
        "caller_name": snapshot.caller_name,
        "started_at": snapshot.started_at,
        "ivr_path": ivr_path_labels(flow, snapshot),
        "district_code": district,
        "district_name": names.unit(district) if district else "",
        "queue": queue.name if queue is not None else snapshot.queue,
        "wait_seconds": _seconds(snapshot.queue_joined_at, wait_end),
        "agent_answered_at": snapshot.agent_answered_at,
        "phase": phase,
        "phase_label": PHASE_LABELS.get(phase, ""),
        "repeat_caller": snapshot.variables.get("HOTLINE_REPEAT_CALLER") == "1",
    }
