"""通知中心 (``/notices``): every role's notices, unread first, marking read, opening the ticket."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hotline.notify.notices import page_of, push_unread, read_all, read_one
from hotline.web.pages import Crumb, render
from hotline.web.security import CurrentUser, current_user

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/notices", response_class=HTMLResponse)
def notices_page(request: Request, page: int = 1, unread: int = 0, user: CurrentUser = Depends(current_user)):
    page = max(1, min(page, 100000))
    result = page_of(request.app.state.hotline, user, page, 20, bool(unread))
    return render(request, "notify/notices.html", {"result": result, "unread_only": bool(unread)},
                  user=user, active="notices", crumbs=[Crumb("通知中心")])


def _back(next_url: str, default: str = "/notices") -> str:
    return next_url if next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url else default


@router.post("/notices/{notice_id}/read")
async def read_page(request: Request, notice_id: int, next: str = Form("/notices", max_length=300),
                    user: CurrentUser = Depends(current_user)):
    state = request.app.state.hotline
    count = await state.write_lane.run(read_one, state, user, notice_id)
    if count is not None:
        push_unread(state, user, count)
    return RedirectResponse(_back(next), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/notices/read-all")
async def read_all_page(request: Request, user: CurrentUser = Depends(current_user)):
    state = request.app.state.hotline
    count = await state.write_lane.run(read_all, state, user)
    push_unread(state, user, count)
    return RedirectResponse("/notices", status_code=status.HTTP_303_SEE_OTHER)
