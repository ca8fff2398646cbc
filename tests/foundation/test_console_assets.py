"""The console serves every asset it references itself (no CDN: 政务外网 has no internet)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hotline.config import Settings
from hotline.server import build_state
from hotline.web.app import create_app
from hotline.web.assets import VENDOR, missing_assets

TEMPLATES = Path(__file__).resolve().parents[2] / "hotline" / "web" / "templates"
STATIC = Path(__file__).resolve().parents[2] / "hotline" / "web" / "static"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    if missing_assets():
        if os.environ.get("CI"):
            pytest.fail(f"console assets not installed (scripts/_assets.sh): {missing_assets()}")
        pytest.skip("console assets not installed: run scripts/_assets.sh")
    state = build_state(Settings(var_dir=tmp_path_factory.mktemp("assets"), demo_call_rate=0, session_secret="a" * 40))
    state.services.clear()
    with TestClient(create_app(state)) as c:
        yield c
    state.close()


def _referenced() -> set[str]:
    """Every /static URL and vendor() name written in a template or script."""
    urls: set[str] = set()
    for file in list(TEMPLATES.rglob("*.html")) + list(STATIC.rglob("*.js")) + list(STATIC.rglob("*.css")):
        text = file.read_text(encoding="utf-8")
        urls.update(re.findall(r"""["'(](/static/[^"')?#\s]+)""", text))
        urls.update(f"/static/vendor/{name}" for name in re.findall(r"vendor\(['\"]([^'\"]+)['\"]\)", text))
    return urls


def test_every_referenced_asset_is_served(client):
    referenced = _referenced()
    assert "/static/vendor/htmx.min.js" in referenced and "/static/app/app.js" in referenced
    for url in sorted(referenced):
        r = client.get(url)
        assert r.status_code == 200, url


def test_every_vendored_file_is_served_with_its_type(client):
    for name in VENDOR:
        if name.endswith("/"):
            continue
        r = client.get(f"/static/vendor/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "text/css"), name
    assert client.get("/static/vendor/leaflet/images/marker-icon.png").headers["content-type"] == "image/png"


@pytest.mark.parametrize("path", ["../package.json", "leaflet/images/../../package.json", "not-listed.js",
                                  "leaflet/images/", "leaflet/images/.hidden"])
def test_only_listed_files_are_served(client, path):
    assert client.get(f"/static/vendor/{path}").status_code == 404


def test_no_template_loads_from_another_site():
    for file in TEMPLATES.rglob("*.html"):
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), file
