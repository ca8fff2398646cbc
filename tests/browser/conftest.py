"""Browser tests: a real ``hotline serve`` (SQLite, built-in PBX simulator) driven by Playwright
in Debian's Chromium (``apt install chromium fonts-wqy-microhei``; Playwright's own browser
download is never used).

One server per test session; every role has a user; ``page_for(role)`` logs in through the
login form. Every request a page makes is recorded: a request to another origin, or an asset
the app does not serve, fails the test (the console must work without internet).
Screenshots go to ``$HOTLINE_SCREENSHOTS`` when set (``docs/screenshots`` for the README).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "browser-pass-1"
USERS = {
    "agent": dict(username="agent1", role="agent", display_name="王芳", seat="PJSIP/agent-1102"),
    "dispatcher": dict(username="disp1", role="dispatcher", display_name="张伟"),
    "district_officer": dict(username="hongshan", role="district_officer", district_code="150402",
                             display_name="红山区城管办"),
    "department_officer": dict(username="water", role="department_officer", department_code="util-water",
                               display_name="供水公司调度"),
    "supervisor": dict(username="sup1", role="supervisor", display_name="刘值班"),
    "admin": dict(username="admin1", role="admin", display_name="系统管理员"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser_available() -> str | None:
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (scripts/test installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (the test extra installs it)"
    return None


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A running ``hotline serve`` on a free port; yields its base URL."""
    reason = _browser_available()
    if reason and os.environ.get("CI"):
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)
    var = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = dict(os.environ, HOTLINE_VAR_DIR=str(var), HOTLINE_WEB_PORT=str(port), HOTLINE_AGI_PORT="0",
               HOTLINE_DEMO_CALL_RATE="0", HOTLINE_SESSION_SECRET="b" * 48, HOTLINE_SCHEDULER_INTERVAL="2")
    env.pop("HOTLINE_DATABASE_URL", None)
    log = open(var / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "serve"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hotline serve exited: {(var / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hotline serve did not become ready in 60 s")
            time.sleep(0.2)
        _create_users(var)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _create_users(var: Path) -> None:
    from hotline.database import make_engine, session_factory
    from hotline.users.service import create_user

    engine = make_engine(f"sqlite:///{var / 'hotline.sqlite3'}")
    with session_factory(engine)() as s, s.begin():
        for info in USERS.values():
            create_user(s, password=PASSWORD, **info)
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: Playwright's sync API runs an event loop in this thread
    while it is open, so it must be closed before the asyncio tests of other modules run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        yield b
        b.close()


class Traffic:
    """Every request and response of a page: nothing may leave the app's origin, nothing may fail."""

    def __init__(self, base: str):
        self.origin = urlsplit(base).netloc
        self.foreign: list[str] = []
        self.failed: list[str] = []
        self.console_errors: list[str] = []

    def request(self, req) -> None:
        url = urlsplit(req.url)
        if url.scheme in ("data", "blob", "about"):
            return
        if url.netloc != self.origin:
            self.foreign.append(req.url)

    def response(self, resp) -> None:
        if resp.status >= 400 and "/static/" in resp.url:
            self.failed.append(f"{resp.status} {resp.url}")

    def check(self) -> None:
        assert self.foreign == [], f"requests outside the app: {self.foreign}"
        assert self.failed == [], f"assets the app does not serve: {self.failed}"
        assert self.console_errors == [], f"JavaScript errors: {self.console_errors}"


@pytest.fixture
def page_for(server, browser):
    """``page_for("agent")`` → a Playwright page logged in as that role's user (1366×768)."""
    contexts = []
    traffics = []

    def make(role: str, *, viewport=(1366, 768)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
        contexts.append(context)
        page = context.new_page()
        traffic = Traffic(server)
        traffics.append(traffic)
        page.on("request", traffic.request)
        page.on("response", traffic.response)
        page.on("pageerror", lambda exc: traffic.console_errors.append(str(exc)))
        page.traffic = traffic
        page.set_default_timeout(10_000)
        if role is not None:
            info = USERS[role]
            page.goto(server + "/login")
            page.fill("input[name=username]", info["username"])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield make
    for traffic in traffics:
        traffic.check()
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    """Save a screenshot for the README when ``HOTLINE_SCREENSHOTS`` names a directory."""
    target = os.environ.get("HOTLINE_SCREENSHOTS")
    if target:
        path = Path(target)
        if not path.is_absolute():
            path = ROOT / path
        path.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path / f"{name}.png"), full_page=False)
