"""What the notice pages and the notice API share: reading a user's notices and marking them read
(in the write lane), and telling the user's other open pages the new unread count."""

from __future__ import annotations

from typing import Any

from hotline.notify.console import NoticePage, list_notices, mark_all_read, mark_read, unread_count
from hotline.users.identity import CurrentUser

__all__ = ["page_of", "read_one", "read_all", "push_unread"]


def page_of(state: Any, user: CurrentUser, page: int, page_size: int = 20, unread_only: bool = False) -> NoticePage:
    with state.read_sessions() as s:
        result = list_notices(s, user.id, page=page, page_size=page_size, unread_only=unread_only)
        if page > result.pages and result.total:      # past the end (notices read meanwhile): the last page
            result = list_notices(s, user.id, page=result.pages, page_size=page_size, unread_only=unread_only)
        return result


def read_one(state: Any, user: CurrentUser, notice_id: int) -> int | None:
    """Mark one notice read; the new unread count, or None when it is not the user's."""
    with state.sessions() as s, s.begin():
        if not mark_read(s, user.id, notice_id, state.now()):
            return None
        return unread_count(s, user.id)


def read_all(state: Any, user: CurrentUser) -> int:
    with state.sessions() as s, s.begin():
        mark_all_read(s, user.id, state.now())
    return 0


def push_unread(state: Any, user: CurrentUser, count: int) -> None:
    from hotline.web.live import Audience, LiveEvent   # web imports domains; this edge is the other way

    state.live.publish(LiveEvent("unread", {"count": count}, Audience.users(user.id)))
