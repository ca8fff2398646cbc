"""The console's case pages, one module per page family: 工单查询 and the ticket page
(:mod:`.tickets`), 我的待办 (:mod:`.inbox`), 派遣待办 (:mod:`.desk`), 核查结案 and 督办
(:mod:`.supervision`), 回访任务 (:mod:`.callbacks`). They call the case services and render
``templates/cases/``; none runs SQL of its own."""

from __future__ import annotations

from fastapi import APIRouter

from hotline.cases.pages import callbacks, desk, inbox, supervision, tickets
from hotline.cases.pages.common import CHANNEL_LABELS, PRIORITY_LABELS
from hotline.cases.schemas import state_label
from hotline.cases.timeline import event_label
from hotline.users.roles import Role
from hotline.web.pages import templates

__all__ = ["router"]

_ACTORS = {"system": "系统", "ivr": "IVR 语音导航"}


def actor_label(actor: str) -> str:
    """Who wrote a ticket event, as staff read it: a name, 系统, IVR, or a role (``agent:3``)."""
    if actor in _ACTORS:
        return _ACTORS[actor]
    role, _, user_id = actor.partition(":")
    if role in Role._value2member_map_ and (not user_id or user_id.isdigit()):
        return Role(role).label
    return actor


# Labels the case templates show for stored codes (names, never codes).
templates.env.filters.setdefault("state_label", state_label)
templates.env.filters.setdefault("event_label", event_label)
templates.env.filters.setdefault("priority_label", lambda v: PRIORITY_LABELS.get(v, v))
templates.env.filters.setdefault("channel_label", lambda v: CHANNEL_LABELS.get(v, v))
templates.env.filters.setdefault("actor_label", actor_label)

router = APIRouter(include_in_schema=False)
for module in (tickets, inbox, desk, supervision, callbacks):
    router.include_router(module.router)
