"""The FastAPI application: health probes now; console pages and APIs mount here."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.config import Settings

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    rules: Any = None                      # hotline.rules.schema.Rules once loaded
    rules_error: str | None = None
    telephony: str = "off"                 # "asterisk", "simulator" or "off"
    services: list[Any] = field(default_factory=list)  # started with the app, stopped with it


def create_app(state: AppState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for svc in state.services:
            await svc.start()
        try:
            yield
        finally:
            for svc in reversed(state.services):
                try:
                    await svc.stop()
                except Exception:
                    log.exception("stopping %r failed", svc)

    app = FastAPI(title="12319 城建服务热线", version="0.1.0", lifespan=lifespan)
    app.state.hotline = state

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
        ready = checks["database"] == "ok" and checks["rules"] == "ok"
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    return app
