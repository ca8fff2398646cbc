"""审计日志 (``/admin/audit``): who did what, when, from which address — for administrators,
filtered by user, kind, date range (Asia/Shanghai days) and address, with paging."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from hotline.audit.service import KINDS, list_entries
from hotline.users.roles import ROLE_LABELS
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _day(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = "日期格式应为 2026-12-07"
        return None


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, user_name: str = "", kind: str = "", start: str = "", end: str = "",
               address: str = "", page: int = 1, user: CurrentUser = Depends(page_roles())):
    state = request.app.state.hotline
    errors: dict[str, str] = {}
    tz = state.now().tzinfo
    first, last = _day(start[:10], "start", errors), _day(end[:10], "end", errors)
    if kind and kind not in KINDS:
        errors["kind"] = "未知的类型"
    if first and last and last < first:
        errors["end"] = "结束日期不能早于开始日期"
    filters = {"user_name": user_name[:64], "kind": kind, "start": start[:10], "end": end[:10],
               "address": address[:64]}
    state.audit.flush()                    # what was just done shows at once
    result = None
    if not errors:
        with state.read_sessions() as s:
            result = list_entries(
                s, username=filters["user_name"] or None, kind=kind or None,
                start=datetime.combine(first, time(), tz) if first else None,
                end=datetime.combine(last + timedelta(days=1), time(), tz) if last else None,
                address=filters["address"] or None, page=max(1, min(page, 100000)), page_size=50)
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "admin/audit.html", {"result": result, "filters": filters, "errors": errors,
                                                "kinds": KINDS, "query": query, "role_labels": ROLE_LABELS},
                  user=user, active="audit", crumbs=[Crumb("系统管理", "/admin"), Crumb("审计日志")],
                  status_code=422 if errors else 200)
