"""The routers of the notification centre, system administration, users and the audit log
(registered by :mod:`hotline.web.routes` with one line)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["notify_admin_routers"]


def notify_admin_routers() -> list[APIRouter]:
    from hotline.audit.pages import router as audit_pages
    from hotline.notify.pages import router as notice_pages
    from hotline.notify.views import router as notice_api
    from hotline.users.admin_pages import router as user_admin
    from hotline.web.system_status import router as status

    return [notice_api, notice_pages, status, user_admin, audit_pages]
