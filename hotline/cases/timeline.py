"""The ticket log's vocabulary: every kind of ``TicketEvent`` and the Chinese label staff see.

Workflow actions (:class:`hotline.cases.workflow.Action`) change a ticket's state; the events
below record what happened to a ticket without a state change, written by the system, the IVR
or an agent. One name per kind: modules that write such an event take its value from here.
"""

from __future__ import annotations

from enum import Enum

from hotline.cases.workflow import ACTION_LABELS, Action

__all__ = ["LogEvent", "event_label"]


class LogEvent(str, Enum):
    CREATE = "create"                            # 受理: the ticket's first event
    DEADLINE_RECOMPUTED = "deadline_recomputed"  # a provisional deadline moved (official holidays)
    SLA_WARNING = "sla_warning"                  # 预警
    SLA_OVERDUE = "sla_overdue"                  # 超时
    ESCALATE = "escalate"                        # 催办/督办/通报 (the level's name is in the data)
    CALLBACK_ATTEMPT = "callback_attempt"        # 回访未接通
    TRANSFER_REQUESTED = "transfer_requested"    # an agent asked to transfer the caller
    TRANSFER = "transfer"                        # the result of a transfer to a district line

    @property
    def label(self) -> str:
        return LOG_EVENT_LABELS[self]


LOG_EVENT_LABELS = {
    LogEvent.CREATE: "受理",
    LogEvent.DEADLINE_RECOMPUTED: "时限重算",
    LogEvent.SLA_WARNING: "预警",
    LogEvent.SLA_OVERDUE: "超时",
    LogEvent.ESCALATE: "督办",
    LogEvent.CALLBACK_ATTEMPT: "回访未接通",
    LogEvent.TRANSFER_REQUESTED: "申请转接",
    LogEvent.TRANSFER: "转接结果",
}


def event_label(action: str) -> str:
    """The Chinese label of a ticket event's ``action`` (workflow action or log event)."""
    if action in Action._value2member_map_:
        return ACTION_LABELS[Action(action)]
    if action in LogEvent._value2member_map_:
        return LOG_EVENT_LABELS[LogEvent(action)]
    return action
