"""Reload ``routing_rules.yaml`` without a restart: ``hotline rules reload`` (SIGHUP to the server),
SIGHUP itself, or the file changing on disk (checked every few seconds).

A reload validates the file first: an invalid file keeps the rules in force and says why (the
log, ``/readyz`` ``checks.rules_reload``). A valid one is applied in this order:

1. the database's reference data (districts, departments) is synchronised with the rules;
2. everything derived from the rules is built anew — ticket router, holiday calendar, stage
   policy, names, the IVR flow — while the old ones still serve;
3. the dialplan is rendered again (simulator mode: into ``<var>/dialplan``; with Asterisk: into
   ``HOTLINE_DIALPLAN_DIR`` when the operator set it) and the PBX reloads it over the AMI
   (``dialplan reload``, ``module reload app_queue.so``);
4. the new objects replace the old ones on the event loop, between two requests' awaits, so a
   handler on the loop sees either the old set or the new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["ReloadResult", "RulesReloader", "rules_digest"]


def rules_digest(path: str | os.PathLike[str]) -> str:
    """A short fingerprint of the rules file as it is on disk (shown by ``/readyz``)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return ""


@dataclass
class ReloadResult:
    ok: bool
    digest: str = ""
    problems: list[str] = field(default_factory=list)
    pbx: str = ""                        # what the PBX did with the new dialplan

    def summary(self) -> str:
        if self.ok:
            return f"rules {self.digest} applied" + (f"; {self.pbx}" if self.pbx else "")
        return f"rules not applied ({len(self.problems)} problem(s)); first: {self.problems[0] if self.problems else '?'}"


class RulesReloader:
    """A service of the app: ``reload()`` on demand, on SIGHUP, and when the file changes."""

    def __init__(self, state: Any, *, watch_interval: float = 5.0):
        self.state = state
        self.watch_interval = watch_interval
        self.last: ReloadResult | None = None
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task | None = None
        self._signal = False
        self._mtime = self._file_mtime()

    @property
    def path(self) -> Path:
        return Path(self.state.settings.rules_file)

    def _file_mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    async def reload(self, reason: str = "request") -> ReloadResult:
        async with self._lock:
            result = await self._reload()
        self.last = result
        (log.info if result.ok else log.error)("rules reload (%s): %s", reason, result.summary())
        return result

    async def _reload(self) -> ReloadResult:
        from hotline.rules.catalog import known_codes
        from hotline.rules.issues import RulesError
        from hotline.rules.loader import load_rules

        state = self.state
        digest = rules_digest(self.path)
        try:
            categories, units = await asyncio.to_thread(known_codes)
            rules = await asyncio.to_thread(load_rules, self.path, categories=categories, units=units)
        except RulesError as exc:
            return ReloadResult(False, digest, [i.format() for i in exc.issues] or [str(exc)])
        except OSError as exc:
            return ReloadResult(False, digest, [f"cannot read {self.path}: {exc}"])
        try:
            derived = await asyncio.to_thread(_derive, state, rules)
        except Exception as exc:     # rules that validate but cannot be applied (e.g. an IVR flow problem)
            log.exception("rules reload: building from the new rules failed")
            return ReloadResult(False, digest, [f"{type(exc).__name__}: {exc}"])
        pbx = ""
        telephony = state.telephony_service()
        if telephony is not None:
            try:
                pbx = await telephony.apply_rules(rules, derived["flow"])
            except Exception as exc:
                log.exception("rules reload: the PBX could not take the new dialplan")
                return ReloadResult(False, digest, [f"PBX: {type(exc).__name__}: {exc}"])
        # the swap: no await from here on
        state.rules, state.ticket_router, state.calendar = rules, derived["router"], derived["calendar"]
        state.stage_policy, state.names = derived["stage_policy"], derived["names"]
        state.rules_digest = digest
        for service in state.services:
            apply = getattr(service, "apply_rules", None)
            if apply is not None and service is not telephony:
                apply(rules, derived["calendar"])
        if state.agent_feed is not None:
            state.agent_feed.names = derived["names"]
        return ReloadResult(True, digest, [], pbx)

    # -- triggers ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._signal = True
        except (NotImplementedError, RuntimeError, ValueError):   # not the main thread (tests), or no SIGHUP
            self._signal = False
        self._watcher = asyncio.create_task(self._watch(), name="rules-watcher")

    def _on_sighup(self) -> None:
        asyncio.get_running_loop().create_task(self.reload("SIGHUP"))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            mtime = self._file_mtime()
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                await self.reload("file changed")

    async def stop(self) -> None:
        if self._signal:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal = False
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None


def _derive(state: Any, rules: Any) -> dict[str, Any]:
    """Everything built from the rules, in a worker thread (database reads, grid index)."""
    from hotline.cases.callbacks import callback_stage_policy
    from hotline.directory import work_calendar
    from hotline.routing.factory import router_from_db
    from hotline.rules.sync import sync_rules
    from hotline.sla.policy import stage_policy_from_rules
    from hotline.web.names import NameBook
    from ivr.api import flow_from_rules

    flow = flow_from_rules(rules)              # the IVR must be valid before anything changes
    with state.sessions() as s, s.begin():
        sync_rules(s, rules)
    with state.sessions() as s:
        router = router_from_db(s, rules)
        names = NameBook.build(s, rules)
    return {"flow": flow, "router": router, "names": names, "calendar": work_calendar(rules),
            "stage_policy": callback_stage_policy(stage_policy_from_rules(rules), rules)}
