"""Browser libraries the console serves itself: no CDN, no download at run time (政务外网).

They are pinned in ``hotline/web/assets/package-lock.json`` and installed with ``npm ci`` by
``scripts/_assets.sh`` (run by ``scripts/serve`` and ``scripts/test``) into
``hotline/web/assets/node_modules``. :data:`VENDOR` lists the files the console uses; the app
serves exactly those under ``/static/vendor/`` (a listed directory with everything in it).
Without them (npm missing) the server still starts: forms work as plain HTML, the map and the
charts do not, and the start-up log says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

log = logging.getLogger(__name__)

__all__ = ["NODE_MODULES", "VENDOR", "missing_assets", "router", "vendor_url"]

NODE_MODULES = Path(__file__).parent / "assets" / "node_modules"

#: URL path under /static/vendor/ → path under node_modules (a trailing "/" serves a directory).
VENDOR: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet/images/": "leaflet/dist/images/",
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}

router = APIRouter(include_in_schema=False)


def vendor_url(name: str) -> str:
    """The URL of a listed asset (a template helper: ``{{ vendor('htmx.min.js') }}``)."""
    if name not in VENDOR:
        raise KeyError(f"{name!r} is not a vendored asset (hotline/web/assets.py VENDOR)")
    return f"/static/vendor/{name}"


def _resolve(path: str) -> Path | None:
    target = VENDOR.get(path)
    if target is None:
        for prefix, directory in VENDOR.items():
            if prefix.endswith("/") and path.startswith(prefix):
                rest = path[len(prefix):]
                if not rest or "/" in rest or rest.startswith("."):
                    return None
                target = directory + rest
                break
    if target is None or target.endswith("/"):
        return None
    return NODE_MODULES / target


def missing_assets() -> list[str]:
    """Listed files that are not installed (empty when ``npm ci`` has run)."""
    missing = []
    for name, target in VENDOR.items():
        if not (NODE_MODULES / target).exists():
            missing.append(name)
    return missing


@router.get("/static/vendor/{path:path}")
def vendor_file(path: str) -> FileResponse:
    file = _resolve(path)
    if file is None or not file.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"没有这个静态资源：{path}")
    return FileResponse(file, media_type=_TYPES.get(file.suffix, "application/octet-stream"),
                        headers={"Cache-Control": "public, max-age=86400"})
