"""Every router of the metrics domain, for :mod:`hotline.web.routes` (one entry there)."""

from __future__ import annotations

from fastapi import APIRouter

from hotline.metrics.pages import router as pages
from hotline.metrics.views import prometheus_router, router as api

__all__ = ["router"]

router = APIRouter()
router.include_router(pages)
router.include_router(api)
router.include_router(prometheus_router)
