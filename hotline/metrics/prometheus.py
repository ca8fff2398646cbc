"""``/metrics`` for Prometheus: telephony gauges, SLA and SMS backlog from the database, and the
latency of every HTTP request.

Metrics (all prefixed ``hotline_``)::

  calls_in_progress                       gauge    calls the tracker follows now
  queue_waiting_calls{queue}              gauge    callers waiting in a queue now
  agents{state}                           gauge    agents per state (idle, ringing, talking, wrapup, paused)
  ami_connected                           gauge    1 while logged in to the AMI
  ami_reconnects_total                    counter  AMI logins after the first one
  fastagi_sessions_active                 gauge    FastAGI sessions running now
  fastagi_sessions_total / _failed_total  counter  FastAGI sessions started / ended in an error
  sla_overdue_stages{stage}               gauge    running stage clocks past their deadline
  sms_outbox{status}                      gauge    notification outbox rows pending / failed
  sms_outbox_oldest_pending_seconds       gauge    age of the oldest pending notification
  http_request_duration_seconds{method,route,status}  histogram (route = the route's path template)

Telephony figures come from :class:`TelephonyGauges`. When a telephony service runs in this
process (``hotline serve``), every scrape first reads it (:meth:`TelephonyGauges.sample`); a
telephony side elsewhere, or the agent states the console tracks, report through the setters —
the interface the lead's telephony code calls (``docs/metrics.md``).

Access (:class:`MetricsAccess`): a request passes with ``Authorization: Bearer <token>`` when
``HOTLINE_METRICS_TOKEN`` is set, or when it comes from a network in ``HOTLINE_METRICS_ALLOW``
(default: this machine only). Behind a reverse proxy every request comes from the proxy: set a
token then.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select

from hotline.cases.models import TicketDeadline
from hotline.notify.models import Notification

log = logging.getLogger(__name__)

__all__ = ["AGENT_STATES", "TelephonyGauges", "MetricsAccess", "MetricsRuntime", "RequestMetrics",
           "install_metrics", "runtime_of", "metrics_response"]

#: Agent states as Asterisk queues see them (console.md): 签入空闲, 振铃, 通话中, 话后整理, 示忙.
AGENT_STATES = ("idle", "ringing", "talking", "wrapup", "paused")
#: Latency buckets (seconds): pages and API answers are expected well under a second.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Long-lived or self-referential routes left out of the latency histogram.
UNTIMED = frozenset({"/live", "/metrics"})


# The agent board's states (ivr.events.AgentState values) → the metric's label; signed-out seats are not counted.
_AGENT_STATE_NAMES = {"idle": "idle", "ringing": "ringing", "on_call": "talking", "wrap_up": "wrapup",
                      "paused": "paused"}


class TelephonyGauges:
    """The telephony figures ``/metrics`` exposes. Thread-safe: call from any thread or loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls_in_progress: int | None = None
        self.waiting: dict[str, int] = {}
        self.agents: dict[str, int] = {}
        self.ami_connected: bool | None = None
        self.ami_reconnects = 0
        self.agi_active: int | None = None
        self.agi_started = 0
        self.agi_failed = 0

    # -- the interface the telephony side calls ---------------------------------------------
    def set_calls_in_progress(self, count: int) -> None:
        with self._lock:
            self.calls_in_progress = max(0, int(count))

    def set_queue_waiting(self, waiting: Mapping[str, int]) -> None:
        """Callers waiting now, per queue id (queues not named are set to 0)."""
        with self._lock:
            self.waiting = {**{q: 0 for q in self.waiting}, **{str(q): max(0, int(n)) for q, n in waiting.items()}}

    def set_agents(self, per_state: Mapping[str, int]) -> None:
        """Agents per state (:data:`AGENT_STATES`; other names are kept as given)."""
        with self._lock:
            self.agents = {**{s: 0 for s in AGENT_STATES}, **{str(s): max(0, int(n)) for s, n in per_state.items()}}

    def set_ami_connected(self, connected: bool) -> None:
        with self._lock:
            self.ami_connected = bool(connected)

    def ami_reconnected(self) -> None:
        with self._lock:
            self.ami_reconnects += 1

    def set_agi_sessions(self, active: int, *, started: int | None = None, failed: int | None = None) -> None:
        with self._lock:
            self.agi_active = max(0, int(active))
            if started is not None:
                self.agi_started = int(started)
            if failed is not None:
                self.agi_failed = int(failed)

    # -- reading a telephony service of this process -----------------------------------------
    def sample(self, service: Any) -> None:
        """Read a running :class:`hotline.telephony.TelephonyService` (AMI client counters,
        FastAGI server counters, the call tracker's live calls)."""
        controller = getattr(service, "controller", None)
        client = getattr(controller, "client", None)
        if client is not None:
            with self._lock:
                self.ami_connected = bool(client.connected)
                self.ami_reconnects = max(0, int(client.stats.get("connects", 0)) - 1)
        agi = getattr(service, "agi", None)
        if agi is not None:
            self.set_agi_sessions(agi.active_sessions, started=agi.sessions_started, failed=agi.sessions_failed)
        tracker = getattr(service, "tracker", None)
        if tracker is not None:
            live = tracker.live_snapshots()
            waiting: dict[str, int] = {}
            for snap in live:
                if snap.queue and snap.queue_joined_at is not None and snap.agent_answered_at is None:
                    waiting[snap.queue] = waiting.get(snap.queue, 0) + 1
            self.set_calls_in_progress(len(live))
            self.set_queue_waiting(waiting)
        board = getattr(service, "agents", None)
        if board is not None:
            per_state: dict[str, int] = {}
            for snap in board.snapshots():
                name = _AGENT_STATE_NAMES.get(getattr(snap.state, "value", snap.state))
                if name is not None:
                    per_state[name] = per_state.get(name, 0) + 1
            self.set_agents(per_state)

    def families(self) -> Iterable[Any]:
        with self._lock:
            calls, waiting, agents = self.calls_in_progress, dict(self.waiting), dict(self.agents)
            ami, reconnects = self.ami_connected, self.ami_reconnects
            agi_active, agi_started, agi_failed = self.agi_active, self.agi_started, self.agi_failed
        g = GaugeMetricFamily("hotline_calls_in_progress", "Calls the call tracker follows now")
        if calls is not None:
            g.add_metric([], calls)
        yield g
        g = GaugeMetricFamily("hotline_queue_waiting_calls", "Callers waiting in a queue now", labels=["queue"])
        for queue, n in sorted(waiting.items()):
            g.add_metric([queue], n)
        yield g
        g = GaugeMetricFamily("hotline_agents", "Agents per state", labels=["state"])
        for state, n in sorted(agents.items()):
            g.add_metric([state], n)
        yield g
        g = GaugeMetricFamily("hotline_ami_connected", "1 while logged in to the Asterisk Manager Interface")
        if ami is not None:
            g.add_metric([], 1 if ami else 0)
        yield g
        yield CounterMetricFamily("hotline_ami_reconnects", "AMI logins after the first one", value=reconnects)
        g = GaugeMetricFamily("hotline_fastagi_sessions_active", "FastAGI sessions running now")
        if agi_active is not None:
            g.add_metric([], agi_active)
        yield g
        yield CounterMetricFamily("hotline_fastagi_sessions", "FastAGI sessions started", value=agi_started)
        yield CounterMetricFamily("hotline_fastagi_sessions_failed", "FastAGI sessions ended in an error",
                                  value=agi_failed)


class MetricsAccess(BaseSettings):
    """Who may read ``/metrics`` (``HOTLINE_METRICS_TOKEN``, ``HOTLINE_METRICS_ALLOW``)."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_METRICS_", env_file=".env", extra="ignore")

    token: SecretStr = SecretStr("")
    allow: str = Field(default="127.0.0.1/32,::1/128",
                       description="comma-separated networks allowed without the token; empty = token only")

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out = []
        for part in self.allow.split(","):
            part = part.strip()
            if part:
                out.append(ipaddress.ip_network(part, strict=False))
        return out

    def allows(self, authorization: str | None, client_host: str | None) -> bool:
        token = self.token.get_secret_value()
        if token and authorization:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
                return True
        try:
            address = ipaddress.ip_address(client_host or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks())


class _DatabaseCollector(Collector):
    """SLA clocks past their deadline and the SMS outbox, counted at scrape time (indexed)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterable[Any]:
        state = self.state
        overdue = GaugeMetricFamily("hotline_sla_overdue_stages", "Running stage clocks past their deadline",
                                    labels=["stage"])
        outbox = GaugeMetricFamily("hotline_sms_outbox", "Notification outbox rows by status", labels=["status"])
        oldest = GaugeMetricFamily("hotline_sms_outbox_oldest_pending_seconds", "Age of the oldest pending notification")
        up = GaugeMetricFamily("hotline_metrics_database_up", "1 when the scrape could read the database")
        try:
            now: datetime = state.now()
            with state.read_sessions() as s:
                stages = s.execute(select(TicketDeadline.stage, func.count()).where(
                    TicketDeadline.completed_at.is_(None), TicketDeadline.paused_at.is_(None),
                    TicketDeadline.due_at < now).group_by(TicketDeadline.stage)).all()
                statuses = dict(s.execute(select(Notification.status, func.count())
                                          .where(Notification.status.in_(("pending", "failed")))
                                          .group_by(Notification.status)).all())
                first = s.execute(select(func.min(Notification.created_at))
                                  .where(Notification.status == "pending")).scalar()
        except Exception:   # a scrape must answer even when the database does not
            log.warning("metrics: database figures unavailable", exc_info=True)
            up.add_metric([], 0)
            return [up]
        for stage, n in sorted(stages):
            overdue.add_metric([stage], n)
        for status in ("pending", "failed"):
            outbox.add_metric([status], statuses.get(status, 0))
        oldest.add_metric([], max(0.0, (now - first).total_seconds()) if first is not None else 0.0)
        up.add_metric([], 1)
        return [overdue, outbox, oldest, up]


class _TelephonyCollector(Collector):
    def __init__(self, state: Any, gauges: TelephonyGauges) -> None:
        self.state, self.gauges = state, gauges

    def collect(self) -> Iterable[Any]:
        service = self.state.telephony_service() if self.state is not None else None
        if service is not None:
            try:
                self.gauges.sample(service)
            except Exception:
                log.warning("metrics: could not read the telephony service", exc_info=True)
        return list(self.gauges.families())


@dataclass
class MetricsRuntime:
    """One application's registry: latency histogram, telephony gauges, database collector."""

    state: Any
    access: MetricsAccess = field(default_factory=MetricsAccess)
    telephony: TelephonyGauges = field(default_factory=TelephonyGauges)
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=False))

    def __post_init__(self) -> None:
        self.latency = Histogram("hotline_http_request_duration_seconds", "HTTP request latency by route",
                                 ["method", "route", "status"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(_TelephonyCollector(self.state, self.telephony))
        self.registry.register(_DatabaseCollector(self.state))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if route not in UNTIMED:
            self.latency.labels(method, route, f"{status // 100}xx").observe(seconds)


class RequestMetrics:
    """ASGI middleware timing every HTTP request by its route's path template (bounded labels:
    unknown paths are ``<unmatched>``)."""

    def __init__(self, app: Any, runtime: MetricsRuntime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_status(message: dict) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            self.runtime.observe(scope.get("method", ""), route, status_code, time.perf_counter() - started)


def install_metrics(app: FastAPI) -> MetricsRuntime:
    """Time every request of ``app`` and keep its registry (``app.state.metrics``). Call before start."""
    runtime = MetricsRuntime(app.state.hotline)
    app.state.metrics = runtime
    app.add_middleware(RequestMetrics, runtime=runtime)
    return runtime


def runtime_of(app: Any) -> MetricsRuntime:
    """The app's runtime (made on first use when :func:`install_metrics` was not called: then
    there are no latency figures)."""
    runtime = getattr(app.state, "metrics", None)
    if runtime is None:
        runtime = app.state.metrics = MetricsRuntime(app.state.hotline)
    return runtime


def metrics_response(request: Request) -> Response:
    runtime = runtime_of(request.app)
    client = request.client.host if request.client else None
    if not runtime.access.allows(request.headers.get("authorization"), client):
        if runtime.access.token.get_secret_value():
            return PlainTextResponse("unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return PlainTextResponse("forbidden: set HOTLINE_METRICS_TOKEN or HOTLINE_METRICS_ALLOW\n", status_code=403)
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
