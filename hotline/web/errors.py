"""Errors as people and programs expect them: Chinese HTML pages (403/404/500 …) for browsers,
JSON ``{"detail": …}`` for the API. A 500 never shows a traceback; it is logged with an id
the page shows, so staff can report it and the log can be searched for it."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline.web.api import validation_detail

log = logging.getLogger(__name__)

__all__ = ["install_error_pages", "wants_html"]

TITLES = {
    400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "页面不存在", 405: "不支持的操作",
    409: "操作冲突", 413: "内容过大", 415: "文件类型不支持", 422: "填写有误", 429: "操作过于频繁",
    500: "系统出错", 502: "电话系统拒绝了该操作", 503: "服务暂不可用",
}


def wants_html(request: Request) -> bool:
    """A browser page request (not the JSON API, Open311 or an htmx fragment request)."""
    path = request.url.path
    if path.startswith(("/api/", "/open311/", "/static/", "/live")):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _page(request: Request, code: int, message: str, *, incident: str | None = None):
    from hotline.web.pages import render
    from hotline.web.security import CurrentUser, optional_user

    user = getattr(request.state, "user", None)
    if not isinstance(user, CurrentUser):
        try:
            user = await optional_user(request)
        except Exception:        # the error page must render even when the database is down
            user = None
    return render(request, "errors/error.html",
                  {"code": code, "title": TITLES.get(code, "出错了"), "message": message, "incident": incident},
                  user=user, status_code=code)


def install_error_pages(app: FastAPI) -> None:
    from hotline.web.security import LoginRequired

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired):
        from urllib.parse import quote

        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if wants_html(request):
            message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
            return await _page(request, exc.status_code, message)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        detail = validation_detail(exc)
        if wants_html(request):
            return await _page(request, 422, detail["detail"])
        return JSONResponse(detail, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        incident = secrets.token_hex(4)
        log.error("unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
        message = f"系统内部错误，请稍后重试；如仍出错请联系管理员并提供编号 {incident}"
        if wants_html(request):
            return await _page(request, 500, message, incident=incident)
        return JSONResponse({"detail": message, "incident": incident}, status_code=500)
