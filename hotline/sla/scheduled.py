"""The periodic job: provisional deadlines, SLA sweep, internal-notification resolution, SMS
outbox, due callbacks.

Provisional deadlines (computed on an estimated holiday calendar, decision 0007) are
recomputed by the leader on its first tick and whenever the calendar's data changes (its
fingerprint: package version, official years, local entries), not on every tick: rows created
since were computed on the same calendar.

One APScheduler 3 ``AsyncIOScheduler`` with one interval job, in memory (no job store): the
deadlines live on the rows, so the job is rebuilt from nothing on every start and a restart
loses nothing. Pitfalls avoided (shared/README): ``misfire_grace_time=None`` (a late tick —
event loop busy, machine suspended — still runs instead of being dropped after the default
1 s), ``coalesce=True`` (missed ticks run once), ``max_instances=1`` (never overlapping); and
only the leader (:mod:`hotline.sla.leader`) does any work, so several processes on one
database never double-fire. A follower tries to take the lock on every tick and takes over
when the leader stops or dies.

The database work runs in a worker thread (``asyncio.to_thread``): the event loop that serves
the web console and telephony never blocks on SQL or on the SMS carrier.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.cases.callbacks import due_callbacks
from hotline.cases.deadlines import provisional_summary, recompute_provisional
from hotline.database import utcnow
from hotline.notify.flows import NotificationFlows, ResolveReport, SmsOutboxSender, role_numbers_from_env
from hotline.notify.gateways import SmsGateway
from hotline.notify.service import SendCounts
from hotline.sla.calendar import WorkCalendar
from hotline.sla.leader import LeaderLock, leader_lock_for
from hotline.sla.sweep import SweepReport, sweep

log = logging.getLogger(__name__)

__all__ = ["JOB_ID", "SchedulerService", "TickReport"]

JOB_ID = "hotline-sla-tick"


@dataclass
class TickReport:
    at: datetime
    leader: bool
    recomputed: dict | None = None     # provisional deadlines looked at (only when the calendar changed)
    sweep: SweepReport | None = None
    resolved: ResolveReport | None = None
    sent: SendCounts | None = None
    callbacks_due: int = 0
    errors: list[str] = field(default_factory=list)


class SchedulerService:
    """``start()``/``stop()`` for the app's service list; ``run_once(now)`` does one tick synchronously."""

    def __init__(self, sessions: sessionmaker[Session], engine: Engine, rules, calendar: WorkCalendar,
                 gateway: SmsGateway, interval: float = 60, *,
                 role_numbers: Mapping[str, Sequence[str]] | None = None, lock: LeaderLock | None = None,
                 sweep_batch: int = 500, on_notices: Callable[[list], None] | None = None):
        if interval <= 0:
            raise ValueError("interval must be positive (seconds)")
        self.sessions, self.engine, self.rules, self.calendar = sessions, engine, rules, calendar
        self.interval = interval
        self.sweep_batch = sweep_batch
        self.flows = NotificationFlows(rules, role_numbers=role_numbers if role_numbers is not None
                                       else role_numbers_from_env(), tz=calendar.tz,
                                       on_notices=on_notices)   # console notices pushed live
        self.sender = SmsOutboxSender(sessions, gateway)
        self.lock = lock or leader_lock_for(engine)
        self.last: TickReport | None = None
        self.ticks = 0
        self._scheduler = None
        self._inflight: asyncio.Future | None = None
        self._tick_done: asyncio.Condition | None = None
        self._run_mutex = threading.Lock()
        self._recomputed_with: str | None = None   # calendar fingerprint of the last recompute

    # -- one tick -----------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.lock.held

    def run_once(self, now: datetime | None = None) -> TickReport:
        """Take or confirm the leadership, then sweep, resolve, send and count due callbacks.

        ``now`` fixes the clock for every step (tests); ``None`` = the real time. Errors of one
        step are logged and reported, and the other steps still run.
        """
        with self._run_mutex:
            at = now or utcnow()
            try:
                leader = self.lock.still_held() if self.lock.held else self.lock.try_acquire()
            except Exception as exc:  # database unreachable: not leader this tick, try again next one
                log.warning("scheduler leader lock unavailable: %s", exc)
                return TickReport(at=at, leader=False, errors=[f"leader lock: {exc}"])
            if not leader:
                return TickReport(at=at, leader=False)
            report = TickReport(at=at, leader=True)
            try:
                report.recomputed = self.recompute_if_calendar_changed(at)
            except Exception as exc:
                log.exception("recomputing provisional deadlines failed")
                report.errors.append(f"recompute: {exc}")
            try:
                with self.sessions() as session:
                    report.sweep = sweep(session, now=at, rules=self.rules, calendar=self.calendar,
                                         batch_size=self.sweep_batch)
                report.errors += report.sweep.errors
            except Exception as exc:
                log.exception("SLA sweep failed")
                report.errors.append(f"sweep: {exc}")
            try:
                report.resolved = self.flows.resolve_pending(self.sessions, now=at)
            except Exception as exc:
                log.exception("resolving internal notifications failed")
                report.errors.append(f"notifications: {exc}")
            try:
                report.sent = self.sender.send_due(now)
            except Exception as exc:
                log.exception("SMS outbox failed")
                report.errors.append(f"outbox: {exc}")
            try:
                with self.sessions() as session:
                    report.callbacks_due = len(due_callbacks(
                        session, at, calendar=self.calendar, max_attempts=self.rules.callbacks.max_attempts,
                        limit=1000))
            except Exception as exc:
                log.exception("listing due callbacks failed")
                report.errors.append(f"callbacks: {exc}")
            return report

    def recompute_if_calendar_changed(self, at: datetime) -> dict | None:
        """Recompute provisional deadlines when the calendar differs from the last recompute's."""
        fingerprint = self.calendar.coverage(at).fingerprint
        if fingerprint == self._recomputed_with:
            return None
        with self.sessions() as session, session.begin():
            results = recompute_provisional(session, self.calendar, at)
        if not any(r.why == "busy" for r in results):   # else: again on the next tick
            self._recomputed_with = fingerprint
        summary = provisional_summary(results)
        if results:
            log.info("provisional deadlines recomputed: %s", summary)
        return summary

    def apply_rules(self, rules, calendar: WorkCalendar) -> None:
        """New rules (:mod:`hotline.rules.reload`): the next tick sweeps and notifies with them."""
        self.rules, self.calendar = rules, calendar
        self.flows.rules = rules

    # -- the scheduler --------------------------------------------------------------------------

    async def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        if self._scheduler is not None:
            return
        self._tick_done = asyncio.Condition()
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        scheduler.add_job(self._tick, IntervalTrigger(seconds=self.interval, timezone=timezone.utc), id=JOB_ID,
                          name="SLA sweep, notifications, callbacks", misfire_grace_time=None, coalesce=True,
                          max_instances=1, next_run_time=utcnow(), replace_existing=True)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: every %ss (leader lock %s)", self.interval, type(self.lock).__name__)

    async def _tick(self) -> None:
        self._inflight = asyncio.ensure_future(asyncio.to_thread(self.run_once))
        try:
            report = await asyncio.shield(self._inflight)
        except asyncio.CancelledError:
            raise
        except Exception:  # run_once reports its own errors; this is a bug guard
            log.exception("scheduler tick failed")
            return
        self.last = report
        self.ticks += 1
        if report.leader and report.sweep is not None:
            s = report.sweep
            log.info("SLA tick: %d warned, %d overdue, escalations %s, %d SMS sent, %d callbacks due",
                     s.warned, s.overdue, s.escalations, report.sent.sent if report.sent else 0,
                     report.callbacks_due)
        async with self._tick_done:
            self._tick_done.notify_all()

    async def wait_for_ticks(self, count: int, timeout: float = 30) -> TickReport | None:
        """Wait until ``count`` ticks have completed since start (tests, health checks)."""
        if self._tick_done is None:
            raise RuntimeError("scheduler not started")

        async def wait() -> None:
            async with self._tick_done:
                await self._tick_done.wait_for(lambda: self.ticks >= count)

        await asyncio.wait_for(wait(), timeout)
        return self.last

    def job(self):
        """The APScheduler job (None when stopped)."""
        return self._scheduler.get_job(JOB_ID) if self._scheduler is not None else None

    async def stop(self) -> None:
        """Stop ticking, let a tick in progress finish, then give up the leadership."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        inflight, self._inflight = self._inflight, None
        if inflight is not None and not inflight.done():
            try:
                await inflight
            except Exception:
                log.exception("scheduler tick failed while stopping")
        await asyncio.to_thread(self.lock.release)
        log.info("scheduler stopped")
