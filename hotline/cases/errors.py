"""Errors of the ticket service layer (the pure workflow has its own in ``workflow``).

``str(error)`` is a Chinese message for the user, with the English in parentheses,
like the workflow errors. Every one of them is raised before anything is written.
"""

from __future__ import annotations

from hotline.cases.workflow import (  # re-exported: callers catch both kinds from one place
    IllegalTransition, IncompleteTicket, InvalidField, MissingField, PermissionDenied, WorkflowError,
)

__all__ = [
    "CaseError", "NotFound", "StaleTicket", "InvalidTicket",
    "WorkflowError", "IllegalTransition", "PermissionDenied", "IncompleteTicket", "MissingField", "InvalidField",
]


class CaseError(Exception):
    """Base of the service-layer refusals."""


class NotFound(CaseError, LookupError):
    """No such ticket, or the actor may not see it (existence is never revealed)."""

    def __init__(self, key: object):
        self.key = key
        super().__init__(f"工单不存在或无权查看：{key}(ticket {key!r} not found)")


class StaleTicket(CaseError):
    """The ticket changed since the user loaded it (optimistic locking)."""

    def __init__(self, number: str, expected: int | None, actual: int | None):
        self.number, self.expected, self.actual = number, expected, actual
        super().__init__(
            f"工单{number}已被他人修改，请刷新后重试"
            f"(ticket {number} is at version {actual}, expected {expected})")


class InvalidTicket(CaseError, ValueError):
    """Bad intake data (create_ticket): names the field and the value."""

    def __init__(self, field_name: str, value: object, message: str):
        self.field, self.value = field_name, value
        super().__init__(f"{message}：{value!r}(invalid ticket field '{field_name}')")
