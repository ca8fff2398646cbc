"""The FastAPI application: state, middleware, error pages, health probes; every router and
page is registered by :mod:`hotline.web.routes`."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from hotline.config import Settings
from hotline.database import read_session_factory
from hotline.web.csrf import csrf_protect
from hotline.web.live import LiveHub
from hotline.web.names import NameBook
from hotline.web.write_lane import WriteLane

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    rules: Any = None                      # hotline.rules.schema.Rules once loaded
    rules_error: str | None = None
    ticket_router: Any = None              # hotline.routing.service.Router (rules + grid + categories)
    calendar: Any = None                   # hotline.sla.calendar.WorkCalendar from the rules
    stage_policy: Any = None               # hotline.sla.policy.StagePolicy from the rules
    bus: Any = None                        # ivr.bus.EventBus shared with telephony
    clock: Callable[[], datetime] | None = None  # "now" for request handlers (tests pin it)
    read_sessions: sessionmaker[Session] | None = None  # read-only work: no write lock on SQLite
    write_lane: WriteLane | None = None    # where handlers that write run (hotline.web.write_lane)
    names: NameBook = field(default_factory=NameBook)  # codes → names for pages
    live: LiveHub = field(default_factory=LiveHub)     # consoles connected to /live
    telephony: str = "off"                 # "asterisk", "simulator" or "off"
    services: list[Any] = field(default_factory=list)  # started with the app, stopped with it
    extra_routers: list[Any] = field(default_factory=list)  # routers beyond hotline.web.routes (tests)

    def __post_init__(self) -> None:
        if self.read_sessions is None:
            self.read_sessions = read_session_factory(self.engine)
        if self.write_lane is None:
            self.write_lane = WriteLane.for_engine(self.engine, self.settings.write_lanes)

    def now(self) -> datetime:
        """The current time in the hotline's zone (the rules' calendar zone, else the settings');
        ``clock`` overrides it in tests."""
        if self.clock is not None:
            return self.clock()
        tz = getattr(getattr(self.rules, "calendar", None), "timezone", None)
        return datetime.now(ZoneInfo(tz) if tz else self.settings.tz)

    def calendar_warning(self) -> str | None:
        """The notice that deadlines soon run into an estimated holiday year (start-up log,
        ``/readyz``, home page), if due."""
        return self.calendar.coverage_warning(self.now()) if self.calendar is not None else None

    def telephony_service(self) -> Any:
        """The running telephony service (the one with a call facade), or None."""
        for svc in self.services:
            if getattr(svc, "facade", None) is not None:
                return svc
        return None


def create_app(state: AppState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.live.attach(asyncio.get_running_loop())
        for svc in state.services:
            await svc.start()
        try:
            yield
        finally:
            await state.live.close()
            for svc in reversed(state.services):
                try:
                    await svc.stop()
                except Exception:
                    log.exception("stopping %r failed", svc)

    app = FastAPI(title="12319 城建服务热线", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(csrf_protect)])
    app.state.hotline = state
    app.add_middleware(SessionMiddleware, secret_key=state.settings.session_secret_value(),
                       session_cookie="hotline_session", same_site="strict", max_age=12 * 3600)
    app.mount("/static/app", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    from hotline.web.errors import install_error_pages
    from hotline.web.routes import register

    install_error_pages(app)
    register(app)
    for router in state.extra_routers:
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready to serve: the database answers and the routing rules are loaded."""
        checks: dict[str, str] = {}
        try:
            with state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks["rules"] = "ok" if state.rules is not None else f"error: {state.rules_error or 'not loaded'}"
        checks["telephony"] = state.telephony
        checks["calendar"] = _calendar_check(state)
        ready = checks["database"] == "ok" and checks["rules"] == "ok"
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if state.calendar is not None:
            body["calendar"] = state.calendar.coverage(state.now()).as_dict()
        return JSONResponse(body, status_code=200 if ready else 503)

    return app


def _calendar_check(state: AppState) -> str:
    """``ok``, or a warning when deadlines soon run into a year whose holiday schedule is only
    estimated (readiness does not depend on it: such deadlines are computed and marked 预计)."""
    if state.calendar is None:
        return "not loaded"
    warning = state.calendar_warning()
    return "ok" if warning is None else f"warning: {warning}"
