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

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from hotline.audit.requests import AuditRequests
from hotline.audit.writer import AuditWriter
from hotline.config import Settings
from hotline.database import read_session_factory
from hotline.users.throttle import LoginGuard
from hotline.web.csrf import csrf_protect
from hotline.web.hardening import DEFAULT_BODY_LIMITS, BodyLimits, SecurityHeaders, parse_body_limits
from hotline.web.live import LiveHub
from hotline.web.names import NameBook
from hotline.web.write_lane import WriteLane
from hotline.times import zone

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
    login_guard: LoginGuard = field(default_factory=LoginGuard)  # failed-login locks (hotline.users.throttle)
    audit: AuditWriter | None = None       # the audit log's writer (created from ``sessions``)
    notices: Any = None                    # hotline.notify.delivery.NoticeDelivery (console notices now)
    agent_feed: Any = None                 # hotline.calls.flows.AgentConsoleFeed (seat states, screen pops)
    rules_digest: str = ""                 # fingerprint of the rules file in force (hotline.rules.reload)
    wallboard: Any = None                  # hotline.calls.wallboard.WallboardFeed
    reloader: Any = None                   # hotline.rules.reload.RulesReloader
    leadership: Any = None                 # hotline.cluster.TelephonyLeadership (who owns the telephony)

    def __post_init__(self) -> None:
        if self.read_sessions is None:
            self.read_sessions = read_session_factory(self.engine)
        if self.write_lane is None:
            self.write_lane = WriteLane.for_engine(self.engine, self.settings.write_lanes)
        if self.audit is None:
            self.audit = AuditWriter(self.sessions)

    def close(self) -> None:
        """Stop the background writers (audit, console notices) and close the database pool: what
        a process that built this state without serving it (tests, CLI tools) does at the end.
        A writer left running would check a connection out of the pool after it was disposed."""
        self.audit.close()
        if self.notices is not None:
            self.notices.close()
        self.engine.dispose()

    def now(self) -> datetime:
        """The current time in the hotline's zone (:func:`hotline.times.zone`, the rules' calendar
        zone); ``clock`` overrides it in tests."""
        if self.clock is not None:
            return self.clock()
        return datetime.now(zone())

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
            await asyncio.to_thread(state.audit.close)
            if state.notices is not None:
                await asyncio.to_thread(state.notices.close)
            for svc in reversed(state.services):
                try:
                    await svc.stop()
                except Exception:
                    log.exception("stopping %r failed", svc)

    app = FastAPI(title="12319 城建服务热线", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(csrf_protect)])
    app.state.hotline = state
    # Middleware, innermost first: the session, the audit entry of each state change, the body
    # size table, the security headers and Secure cookie, and (when configured) the trusted proxy.
    app.add_middleware(SessionMiddleware, secret_key=state.settings.session_secret_value(),
                       session_cookie="hotline_session", same_site="strict", max_age=12 * 3600)
    app.add_middleware(AuditRequests, writer=lambda: state.audit)
    if state.leadership is not None:    # a follower hands telephony requests to the leader, within the
        from hotline.cluster import ForwardToLeader     # body limits, before its own audit and session

        app.add_middleware(ForwardToLeader, state=state)
    app.add_middleware(BodyLimits, limits=parse_body_limits(state.settings.body_limits) + DEFAULT_BODY_LIMITS)
    app.add_middleware(SecurityHeaders, cookie_secure=state.settings.cookie_secure)
    if state.settings.trusted_proxies.strip():
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[
            h.strip() for h in state.settings.trusted_proxies.split(",") if h.strip()])
    app.mount("/static/app", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    from hotline.metrics.prometheus import install_metrics
    from hotline.web.errors import install_error_pages
    from hotline.web.routes import register

    install_error_pages(app)
    register(app)
    install_metrics(app)      # request latency for /metrics (hotline.metrics.prometheus)
    for router in state.extra_routers:
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready to serve: the database answers, the routing rules are loaded and the telephony
        (Asterisk's AMI or the simulator) is connected; ``telephony`` names the mode."""
        checks: dict[str, str] = {}
        try:
            with state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks["rules"] = "ok" if state.rules is not None else f"error: {state.rules_error or 'not loaded'}"
        if state.rules_digest:
            checks["rules"] += f" ({state.rules_digest})"
        last = getattr(state.reloader, "last", None)
        if last is not None:
            checks["rules_reload"] = last.summary()
        checks["telephony"] = _telephony_check(state)
        checks["calendar"] = _calendar_check(state)
        telephony_ok = checks["telephony"].startswith("ok") or checks["telephony"] == "off"
        ready = checks["database"] == "ok" and checks["rules"].startswith("ok") and telephony_ok
        mode = state.telephony
        svc = state.telephony_service() or next((s for s in state.services if hasattr(s, "role")), None)
        if svc is not None and getattr(svc, "role", "") == "follower":
            mode += " (follower)"
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks, "telephony": mode}
        if state.calendar is not None:
            body["calendar"] = state.calendar.coverage(state.now()).as_dict()
        return JSONResponse(body, status_code=200 if ready else 503)

    return app


def _telephony_check(state: AppState) -> str:
    """``ok`` when the AMI session is up, ``off`` without telephony, else the reason."""
    for svc in state.services:
        readiness = getattr(svc, "readiness", None)
        if readiness is not None:
            return readiness()
    return "off"


def _calendar_check(state: AppState) -> str:
    """``ok``, or a warning when deadlines soon run into a year whose holiday schedule is only
    estimated (readiness does not depend on it: such deadlines are computed and marked 预计)."""
    if state.calendar is None:
        return "not loaded"
    warning = state.calendar_warning()
    return "ok" if warning is None else f"warning: {warning}"
