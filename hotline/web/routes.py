"""Every router of the application in one place (as Netflix Dispatch's ``api.py``): the JSON
API of each domain, Open311, the console pages of each domain, live events, the vendored
browser libraries and the offline API documentation."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from hotline.web.security import CurrentUser, current_user

__all__ = ["api_routers", "page_routers", "register"]


def api_routers() -> list[APIRouter]:
    """The JSON APIs (``/api/…``) and Open311 (``/open311/v2/…``)."""
    from hotline.calls.views import router as calls
    from hotline.cases.views import router as tickets
    from hotline.categories.views import router as categories
    from hotline.grid.views import router as grid
    from hotline.open311.views import router as open311
    from hotline.routing.views import router as routing
    from hotline.users.views import router as users

    return [users, tickets, grid, categories, routing, calls, open311]


def page_routers() -> list[APIRouter]:
    """The console: HTML pages of each domain, live events, assets."""
    from hotline.calls.pages import router as agent_pages
    from hotline.calls.twilio_voice import router as twilio_voice
    from hotline.metrics.routes import router as metrics
    from hotline.cases.pages import router as case_pages
    from hotline.users.pages import router as user_pages
    from hotline.web.assets import router as assets
    from hotline.web.live import router as live

    from hotline.web.admin_routes import notify_admin_routers

    return [user_pages, case_pages, agent_pages, metrics, live, assets, docs_router, twilio_voice, *notify_admin_routers()]


docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/api/openapi.json")
def openapi_json(request: Request, _user: CurrentUser = Depends(current_user)) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs_router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request, user: CurrentUser = Depends(current_user)):
    """Swagger UI from the vendored files (works without internet)."""
    from hotline.web.pages import Crumb, render

    return render(request, "api_docs.html", user=user, crumbs=[Crumb("接口文档")])


def register(app: FastAPI) -> None:
    for router in api_routers() + page_routers():
        app.include_router(router)
