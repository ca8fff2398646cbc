"""The SMS a citizen (the caller, and callers of merged tickets) receives for a ticket event:
which template each workflow action uses and the text it renders to. The case service stores
the rendered text in the outbox row, so what is sent is exactly what staff can read there."""

from __future__ import annotations

from typing import Any, Mapping

from hotline.notify.render import RenderError, render

__all__ = ["CITIZEN_TEMPLATES", "citizen_text"]

#: Workflow action → SMS template (hotline/notify/templates/<name>.txt.j2) sent to the caller.
CITIZEN_TEMPLATES = {
    "verify_pass": "ticket_closed",      # 已办结: number, result (the unit's feedback)
    "answer_directly": "ticket_answered",
    "reject": "ticket_rejected",
    "merge": "merged_into",
}


def citizen_text(action: str, context: Mapping[str, Any], *, tz=None) -> tuple[str, str]:
    """(template name, text) for ``action``; :class:`RenderError` when there is no template for it
    or a field is missing."""
    template = CITIZEN_TEMPLATES.get(action)
    if template is None:
        raise RenderError(f"no citizen SMS template for action {action!r}")
    return template, render(template, context, tz=tz)
