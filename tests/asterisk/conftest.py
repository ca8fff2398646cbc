"""The Asterisk tier (decision 0012): a real Asterisk 20, sipp phones and a real ``hotline serve``.

Skipped — with a warning in the summary — only where the shared Asterisk package is absent
(``$HOTLINE_SHARED_DIR``, default ``<repo>/../shared``); where it is present and sipp or sox is
missing, the tier fails under ``CI=true`` (scripts/test installs them) and is skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hotline.calls.models import Call
from hotline.cases.models import Ticket, TicketEvent
from hotline.database import make_engine
from ivr.ami.client import AmiClient
from ivr.calls import CallTracker
from ivr.controller import AmiController
from ivr.facade import CallFacade

from asterisk_support import (
    AGENT_HOST, AMI_SECRET, ROOT, SEATS, Asterisk, HotlineServe, Ports, Sipp, asterisk_tarball, free_port,
    missing_tools, shared_dir, tier_rules, unpack,
)


def _skip_or_fail() -> None:
    tarball = asterisk_tarball()
    if tarball is None:
        reason = (f"Asterisk tier SKIPPED: no asterisk-*.tar.xz in {shared_dir() / 'asterisk'} "
                  "(set HOTLINE_SHARED_DIR to the shared directory)")
        warnings.warn(pytest.PytestWarning(reason))
        pytest.skip(reason)
    missing = missing_tools()
    if missing:
        reason = f"Asterisk tier needs {', '.join(missing)} (apt-get install -y sip-tester sox; scripts/test does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        warnings.warn(pytest.PytestWarning(reason))
        pytest.skip(reason)


class Tier:
    """Everything of one tier run; see test_live_calls.py for how it is driven."""

    def __init__(self, root: Path, pkg: Path):
        self.root = root
        self.ports = Ports()
        self.open_rules = tier_rules(ROOT / "routing_rules.yaml", root / "rules-open.yaml", open_now=True)
        self.closed_rules = tier_rules(ROOT / "routing_rules.yaml", root / "rules-closed.yaml", open_now=False)
        self.asterisk = Asterisk(pkg, root / "a", self.ports)
        (root / "var").mkdir()
        self.serve = HotlineServe(root / "var", self.ports)
        self.sipp = Sipp(root / "sipp", self.ports.sip)
        self.readiness_before_asterisk: dict | None = None
        self.timings: dict[str, float] = {}

    # -- start -------------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        self.asterisk.configure(self.open_rules)
        self.serve.create_users(self.open_rules)
        # the app first: it must run and say it is not ready until Asterisk is up (issue 14 §2)
        self.serve.start(self.open_rules, wait_telephony=False)
        time.sleep(1.0)
        r = httpx.get(self.serve.base + "/readyz", timeout=5)
        self.readiness_before_asterisk = {"status_code": r.status_code, **r.json(),
                                          "serve_alive": self.serve.proc.poll() is None}
        self.asterisk.start()
        self.sipp.serve_lines(self.ports.lines)
        for seat in SEATS:
            port = free_port(socket.SOCK_DGRAM, AGENT_HOST)
            if self.sipp.register(seat, port) != 0:
                raise RuntimeError(f"seat {seat} did not register: {(self.sipp.work / f'register-{seat}.out').read_text()}")
            self.sipp.serve_agent(seat, port)
        self.sign_in()
        self.serve.wait_ready()
        self.timings["start"] = time.monotonic() - t0

    # -- agents through the call facade (as the console does) ------------------------------------
    def _facade(self, work):
        async def run():
            client = AmiClient("127.0.0.1", self.ports.ami, "hotline", AMI_SECRET, events=False, ping_interval=None)
            controller = AmiController(client, CallTracker())
            await controller.start()
            try:
                facade = CallFacade(controller, districts=["150402", "150403", "150404", "150428"],
                                    queues=["agents", "mongolian"])
                return await work(facade)
            finally:
                await controller.stop()

        return asyncio.run(run())

    def sign_in(self) -> None:
        async def work(facade):
            for seat, queue in SEATS.items():
                await facade.sign_in(f"PJSIP/agent-{seat}", f"坐席{seat}", [queue])
        self._facade(work)

    def sign_out(self) -> None:
        async def work(facade):
            for seat, queue in SEATS.items():
                await facade.sign_out(f"PJSIP/agent-{seat}", [queue])
        self._facade(work)

    # -- the app's records -------------------------------------------------------------------------
    def engine(self):
        return make_engine(f"sqlite:///{self.serve.var / 'hotline.sqlite3'}")

    def calls_by_caller(self, callers: list[str], timeout: float = 30) -> dict:
        """The ended call row of each caller (each tier call has its own number)."""
        engine = self.engine()
        deadline = time.monotonic() + timeout
        try:
            while True:
                with engine.connect() as conn:
                    rows = {r.caller: r for r in conn.execute(select(Call).where(Call.caller.in_(callers)))}
                if all(c in rows and rows[c].ended_at is not None for c in callers):
                    return rows
                if time.monotonic() > deadline:
                    missing = [c for c in callers if c not in rows or rows[c].ended_at is None]
                    raise AssertionError(f"calls not stored as ended: {missing}")
                time.sleep(0.3)
        finally:
            engine.dispose()

    def all_calls(self) -> list:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return list(conn.execute(select(Call)))
        finally:
            engine.dispose()

    def tickets_of(self, call_pk: int) -> list:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                tickets = list(conn.execute(select(Ticket).where(Ticket.call_id == call_pk)))
                events = {t.id: list(conn.execute(select(TicketEvent).where(TicketEvent.ticket_id == t.id)
                                                  .order_by(TicketEvent.seq))) for t in tickets}
            return [(t, events[t.id]) for t in tickets]
        finally:
            engine.dispose()

    def stop(self) -> None:
        self.sipp.stop()
        self.serve.stop()
        self.asterisk.stop()


@pytest.fixture(scope="module")
def tier():
    _skip_or_fail()
    cache = Path(os.environ.get("HOTLINE_ASTERISK_CACHE") or Path(tempfile.gettempdir()) / "hotline-asterisk-cache")
    pkg = unpack(asterisk_tarball(), cache)
    # short: Asterisk's control socket path must stay under ~100 characters
    root = Path(tempfile.mkdtemp(prefix="ast-", dir="/tmp"))
    t = Tier(root, pkg)
    try:
        t.start()
        yield t
    finally:
        t.stop()
        if os.environ.get("HOTLINE_KEEP_TIER"):
            print(f"Asterisk tier kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
