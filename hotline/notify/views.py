"""Notice API (``/api/notices``): a user's console notices, marking them read."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from hotline.notify.notices import page_of, push_unread, read_all, read_one
from hotline.web.api import ApiRoute, app_state, jsonable
from hotline.web.security import CurrentUser, current_user

__all__ = ["router"]

router = APIRouter(prefix="/api/notices", tags=["通知"], route_class=ApiRoute)


@router.get("", summary="我的通知（未读在前，分页）")
def notices_api(request: Request, user: CurrentUser = Depends(current_user),
                page: int = Query(1, ge=1, le=100000), page_size: int = Query(20, ge=1, le=100),
                unread: bool = Query(False, description="只看未读")) -> dict:
    result = page_of(app_state(request), user, page, page_size, unread)
    return {"items": [jsonable({"id": n.id, "title": n.title, "body": n.body, "ticket": n.ticket_number,
                                "created_at": n.created_at, "read_at": n.read_at}) for n in result.items],
            "total": result.total, "unread": result.unread, "page": result.page, "page_size": page_size}


@router.post("/{notice_id}/read", summary="标记一条通知为已读")
async def read_api(request: Request, notice_id: int = Path(..., ge=1, le=2**63 - 1), user: CurrentUser = Depends(current_user)) -> dict:
    state = app_state(request)
    count = await state.write_lane.run(read_one, state, user, notice_id)
    if count is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="通知不存在 (no such notice)")
    push_unread(state, user, count)
    return {"unread": count}


@router.post("/read-all", summary="全部标为已读")
async def read_all_api(request: Request, user: CurrentUser = Depends(current_user)) -> dict:
    state = app_state(request)
    count = await state.write_lane.run(read_all, state, user)
    push_unread(state, user, count)
    return {"unread": count}
