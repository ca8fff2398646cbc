"""What every JSON API router shares: the route class, the error mapping, JSON helpers and
the request's view of the application state.

Errors: 401 not logged in, 403 role or workflow permission, 404 unknown or outside the
user's scope (existence is never revealed), 409 stale version / illegal transition,
422 bad input (Chinese ``detail``). Nothing is written on a refusal.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator
from urllib.parse import unquote

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline.cases.errors import (
    IllegalTransition, InvalidTicket, MissingField, NotFound, PermissionDenied, StaleTicket, WorkflowError,
)
from hotline.cases.intake import IntakeError
from hotline.cases.workflow import Actor
from hotline.sla.calendar import CalendarNotCovered
from hotline.web.security import CurrentUser
from hotline.times import iso

__all__ = ["ApiError", "ApiRoute", "actor_of", "api_errors", "app_state", "calendar_message", "error_responses",
           "jsonable", "now_for", "validation_detail"]

_FIELD_LABELS = {"body": "请求体", "query": "查询参数", "path": "路径参数"}


def validation_detail(exc: RequestValidationError) -> dict[str, Any]:
    """A Chinese summary plus the field errors, without echoing the input (it may be NaN or huge)."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = _FIELD_LABELS.get(loc[0], loc[0]) + ("：" + ".".join(loc[1:]) if len(loc) > 1 else "") if loc else ""
        errors.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", "")), "where": where})
    summary = "；".join(f"{e['where']} {e['msg']}" for e in errors[:5])
    return {"detail": f"请求参数无效（invalid request）：{summary}", "errors": errors}


def has_nul(request: Request) -> bool:
    """A NUL character in the decoded path or a query value (the database cannot store it)."""
    # the decoded path as the server passed it (``request.url`` would rebuild and re-parse it)
    return "\x00" in unquote(request.scope.get("path", "")) or bool(
        request.scope.get("query_string") and any("\x00" in v for v in request.query_params.values()))


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str
    where: str          # 请求体 / 查询参数 / 路径参数 and the field


class ApiError(BaseModel):
    """Every error of the JSON API: a Chinese ``detail``; ``errors`` names the refused fields."""

    detail: str
    errors: list[FieldError] | None = None


_MEANINGS = {
    401: "未登录", 403: "无权操作（角色、范围，或不是本系统发出的请求）", 404: "不存在，或不在本人的工作范围内",
    409: "冲突：工单已被他人修改、当前状态不允许，或时限无法计算", 413: "请求体过大", 422: "请求参数无效",
    429: "失败次数过多，请稍后再试", 502: "交换机拒绝了该操作", 503: "暂不可用（电话系统或数据未就绪）",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (``@router.post(..., responses=error_responses(409))``)."""
    return {code: {"model": ApiError, "description": _MEANINGS[code]} for code in codes}


class ApiRoute(APIRoute):
    """Documents and shapes the errors of every API route, and turns request validation errors into
    a 422 with a Chinese message (never a 500 on NaN input).

    Every route documents 401, 403 and 422 (:class:`ApiError`), 404 when its path has parameters
    and 413 when it takes a body; a route adds what else it can answer with ``responses=``.
    """

    def __init__(self, path: str, endpoint: Any, **kwargs: Any):
        responses = dict(kwargs.pop("responses", None) or {})
        codes = [401, 403, 422]
        if "{" in path:
            codes.append(404)
        if set(kwargs.get("methods") or ()) & {"POST", "PUT", "PATCH"}:
            codes.append(413)
        for code, spec in error_responses(*codes).items():
            responses.setdefault(code, spec)
        super().__init__(path, endpoint, responses=responses, **kwargs)

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route_handler(request: Request):
            if has_nul(request):
                return JSONResponse({"detail": "请求中含有非法字符 NUL（NUL character not allowed）"},
                                    status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return JSONResponse(validation_detail(exc), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
            except StarletteHTTPException as exc:
                if exc.status_code != 400:
                    raise
                # FastAPI's own "There was an error parsing the body" (e.g. bytes that are not UTF-8)
                return JSONResponse({"detail": "请求体无法解析，应为 UTF-8 编码的 JSON（malformed body）"},
                                    status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

        return route_handler


def app_state(request: Request) -> Any:
    """The :class:`hotline.web.app.AppState` of the application serving ``request``."""
    return request.app.state.hotline


def now_for(state: Any) -> datetime:
    """The current time in the hotline's zone (:meth:`hotline.web.app.AppState.now`)."""
    return state.now()


def actor_of(user: CurrentUser) -> Actor:
    """The workflow's view of the logged-in user."""
    return Actor(user.id, user.role, user.district_code, user.department_code)


def calendar_message(exc: CalendarNotCovered) -> str:
    return (f"{exc.year} 年超出工作日历可计算的范围（{exc.covered[0]}–{exc.covered[1]}），无法计算办理时限"
            f"（calendar cannot compute {exc.year}）")


@contextmanager
def api_errors() -> Iterator[None]:
    """Map service refusals to HTTP errors with the Chinese message as ``detail``."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except StaleTicket as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except PermissionDenied as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from None
    except MissingField as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except WorkflowError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except (IntakeError, InvalidTicket) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    except CalendarNotCovered as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=calendar_message(exc)) from None


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 strings, recursively (the rest is already JSON)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
