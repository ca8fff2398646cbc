"""Simulator end-to-end benchmark: AmiController + CallTracker fed by the PBX simulator over TCP AMI.

Issue "Telephony core", benchmark item 4: calls/s and concurrent calls that the
controller + tracker sustain with event lag p99 < 50 ms (target 100 setups/s,
1,000 concurrent).

What runs where
  * ``--modes separate``: the PBX simulator (``ivr.simulator.PbxSimulator``) and the
    call generator run in a child process (``multiprocessing`` spawn); the benchmark
    process runs only ``AmiClient`` + ``AmiController`` + ``CallTracker`` (+ an
    ``EventBus`` with one counting subscriber, as ``hotline serve`` wires it, minus the DB).
  * ``--modes inproc``: everything on one asyncio loop (as ``hotline serve`` does in
    simulator mode).
  Both connect over real TCP AMI on 127.0.0.1 (ephemeral port).

Event lag
  The harness (not the simulator module) replaces the PBX listener ``AmiServer.broadcast``
  by a wrapper that appends ``BenchTS: <time.monotonic_ns()>`` as the last header of
  every event when the PBX emits it; the tracker's ``feed`` is wrapped so that after
  the tracker has processed an event, ``monotonic_ns() - BenchTS`` is recorded.
  CLOCK_MONOTONIC is system-wide on Linux, so the figure is valid across processes.
  Lag = encode + socket + client read/parse/route + dispatch queue + tracker work.

Phases
  * ramp: IVR calls (``ivr-12319``: menu, caller presses 3 after 1 s, info branch,
    ~31 AMI events and ~14 KB per call, ~4.5 s long) at each rate for ``--step-seconds``.
  * plateau: fill N calls that stay up (``bench-hold``: Answer, Wait(3600)) at
    ``--fill-rate``, then ``--churn-rate`` IVR calls/s on top of the N for
    ``--step-seconds``, then hang all up at once (teardown burst, informative).

    .venv/bin/python benchmarks/sim_e2e_bench.py --out benchmarks/results/sim_e2e.md

Bounded: every wait has a timeout and ``--max-seconds`` aborts the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER, SECRET = "hotline", "bench-secret"
STAMP = "BenchTS"
BENCH_CONTEXT = """
[bench-hold]
exten => s,1,Answer()
 same => n,Wait(3600)
 same => n,Hangup()
"""


# ----------------------------------------------------------------------------- PBX side
def bench_dialplan() -> str:
    """The simulator's default dialplan, FastAGI step off (nothing listens on 4573), plus bench-hold."""
    from ivr.simulator import DATA

    text = (DATA / "extensions.conf").read_text(encoding="utf-8")
    text = text.replace("IVR_USE_AGI = yes", "IVR_USE_AGI = no")
    return text + BENCH_CONTEXT


def stamp_events(sim) -> None:
    """Wrap the simulator's broadcast listener: append BenchTS (monotonic ns) to every PBX event."""
    bcast = sim.ami.broadcast
    now = time.monotonic_ns

    def stamped(cls, msg):
        msg.headers.append((STAMP, str(now())))
        bcast(cls, msg)

    sim.pbx.listeners[:] = [stamped if lst == bcast else lst for lst in sim.pbx.listeners]


class PbxDriver:
    """The simulator plus a paced call generator (runs in whichever process hosts the PBX)."""

    def __init__(self) -> None:
        from ivr.simulator import PbxSimulator

        self.sim = PbxSimulator(ami_port=0, username=USER, secret=SECRET, dialplan=bench_dialplan(), speed=1.0)
        stamp_events(self.sim)
        self.seq = 0
        self.prof: cProfile.Profile | None = None

    async def start(self) -> int:
        await self.sim.start()
        return self.sim.bound_port

    async def stop(self) -> None:
        await self.sim.stop()

    async def place(self, scenario: str) -> None:
        from ivr.simulator import CallerScript

        self.seq += 1
        caller = f"139{self.seq:08d}"
        if scenario == "ivr":
            await self.sim.place_call(caller, "12319", CallerScript().wait(1.0).press("3"), context="ivr-12319")
        elif scenario == "hold":
            await self.sim.place_call(caller, "s", None, context="bench-hold")
        else:
            raise ValueError(scenario)

    async def drive(self, scenario: str, rate: float, count: int) -> dict:
        """Place ``count`` calls at ``rate``/s on an absolute schedule (late calls are caught up)."""
        t0 = time.monotonic()
        placed, max_late = 0, 0.0
        while placed < count:
            due = t0 + placed / rate
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            max_late = max(max_late, now - due)
            await self.place(scenario)
            placed += 1
            if placed % 20 == 0:
                await asyncio.sleep(0)
        t_last = time.monotonic()
        span = (t_last - t0) + 1.0 / rate  # n calls occupy n intervals
        return {"placed": placed, "span_s": span, "achieved": placed / span, "max_late_ms": max_late * 1000,
                "active": self.sim.active_calls()}

    def hangup_all(self) -> dict:
        n = self.sim.active_calls()
        t = time.monotonic()
        self.sim.pbx.hangup_all(16)
        return {"hung_up": n, "hangup_all_ms": (time.monotonic() - t) * 1000}

    def active(self) -> int:
        return len(self.sim.pbx.channels)

    def profile(self, on: bool) -> str:
        if on:
            self.prof = cProfile.Profile()
            self.prof.enable()
            return ""
        if self.prof is None:
            return ""
        self.prof.disable()
        text = profile_report(self.prof)
        self.prof = None
        return text


def runq_wait_s(pid: int | str = "self") -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return float("nan")
    return total / 1e9


def psi_some_s() -> float:
    """Machine-wide CPU pressure: seconds during which some runnable task waited (/proc/pressure/cpu)."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().split("total=")[1]) / 1e6
    except (OSError, ValueError, IndexError):
        return float("nan")


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def child_main(conn) -> None:
    """The separate PBX process: serve commands from the pipe until 'stop'."""
    sys.path.insert(0, str(ROOT))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue = asyncio.Queue()
        loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
        drv = PbxDriver()
        port = await drv.start()
        conn.send({"port": port, "pid": os.getpid()})
        while True:
            cmd, args = await inbox.get()
            if cmd == "stop":
                break
            try:
                if cmd == "drive":
                    res = await drv.drive(*args)
                elif cmd == "hangup_all":
                    res = drv.hangup_all()
                elif cmd == "cpu":
                    res = {"cpu": cpu_s(), "active": drv.active()}
                elif cmd == "profile":
                    res = {"text": drv.profile(*args)}
                else:
                    res = {"error": f"unknown {cmd}"}
            except Exception as exc:  # noqa: BLE001 - report to the parent
                res = {"error": repr(exc)}
            conn.send(res)
        loop.remove_reader(conn.fileno())
        await drv.stop()
        conn.send({"stopped": True})

    asyncio.run(run())


class ChildPbx:
    """Parent-side proxy of the PBX process; same methods as :class:`InprocPbx`."""

    separate = True

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=child_main, args=(child,), daemon=True, name="pbx-sim")
        self._fut: asyncio.Future | None = None

    async def start(self) -> int:
        self.proc.start()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._on_reply)
        hello = await self._wait(60)
        self.pid = hello["pid"]
        return hello["port"]

    def _on_reply(self) -> None:
        msg = self.conn.recv()
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(msg)

    async def _wait(self, timeout: float) -> dict:
        self._fut = asyncio.get_running_loop().create_future()
        res = await asyncio.wait_for(self._fut, timeout)
        if "error" in res:
            raise RuntimeError(f"PBX process: {res['error']}")
        return res

    async def call(self, cmd: str, *args, timeout: float = 120) -> dict:
        self._fut = asyncio.get_running_loop().create_future()
        self.conn.send((cmd, args))
        res = await asyncio.wait_for(self._fut, timeout)
        if "error" in res:
            raise RuntimeError(f"PBX process: {res['error']}")
        return res

    async def drive(self, scenario: str, rate: float, count: int) -> dict:
        return await self.call("drive", scenario, rate, count, timeout=count / rate * 5 + 60)

    async def hangup_all(self) -> dict:
        return await self.call("hangup_all")

    async def cpu(self) -> tuple[float, int]:
        r = await self.call("cpu")
        return r["cpu"], r["active"]

    async def profile(self, on: bool) -> str:
        return (await self.call("profile", on))["text"]

    async def stop(self) -> None:
        try:
            if self.proc.is_alive():
                await self.call("stop", timeout=15)
        except Exception:  # noqa: BLE001
            pass
        finally:
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(5)


class InprocPbx:
    separate = False

    def __init__(self) -> None:
        self.drv = PbxDriver()

    async def start(self) -> int:
        return await self.drv.start()

    async def drive(self, scenario: str, rate: float, count: int) -> dict:
        return await self.drv.drive(scenario, rate, count)

    async def hangup_all(self) -> dict:
        return self.drv.hangup_all()

    async def cpu(self) -> tuple[float, int]:
        return 0.0, self.drv.active()

    async def profile(self, on: bool) -> str:
        return ""  # the parent profile covers the PBX too

    async def stop(self) -> None:
        await self.drv.stop()


# ----------------------------------------------------------------------------- controller side
class Probe:
    """Wraps tracker.feed: records the lag of every stamped event after the tracker processed it."""

    def __init__(self, tracker) -> None:
        self.lags: list[int] = []
        self.events = 0
        self.last_event = time.monotonic()
        orig = tracker.feed
        now = time.monotonic_ns
        lags = self.lags

        def feed(msg):
            orig(msg)
            h = msg.headers
            if h and h[-1][0] == STAMP:
                lags.append(now() - int(h[-1][1]))
            self.events += 1

        tracker.feed = feed  # instance attribute: AmiController registers this wrapper

    def take(self) -> tuple[list[int], int]:
        lags, n = self.lags[:], self.events
        self.lags.clear()
        self.events = 0
        return lags, n


def pct(sorted_ns: list[int], q: float) -> float:
    if not sorted_ns:
        return float("nan")
    i = min(len(sorted_ns) - 1, max(0, int(round(q * (len(sorted_ns) - 1)))))
    return sorted_ns[i] / 1e6


@dataclass
class Step:
    mode: str
    phase: str
    target_rate: float
    live_before: int
    placed: int = 0
    achieved: float = 0.0
    window_s: float = 0.0
    events: int = 0
    events_per_s: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    tracker_max: int = 0
    pbx_active: int = 0
    cpu_ctrl: float = 0.0   # % of one core, benchmark (controller) process
    cpu_pbx: float = 0.0    # % of one core, PBX process (separate mode)
    loop_lag_max_ms: float = 0.0
    runq_ctrl: float = 0.0  # % of wall time the controller's threads waited for a CPU
    runq_pbx: float = 0.0
    psi_some: float = 0.0   # % of wall time some task on the machine waited for a CPU
    gc_max_ms: float = 0.0
    gc_total_ms: float = 0.0
    gen_late_ms: float = 0.0
    disconnects: int = 0
    errors: int = 0
    started: int = 0
    ended: int = 0
    load1: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.p99 < 50.0 and self.disconnects == 0


class Bench:
    def __init__(self, mode: str, args: argparse.Namespace) -> None:
        self.mode = mode
        self.args = args
        self.pbx = ChildPbx() if mode == "separate" else InprocPbx()
        self.steps: list[Step] = []
        self.profiles: dict[str, str] = {}

    async def setup(self) -> None:
        from ivr.ami.client import AmiClient
        from ivr.bus import EventBus
        from ivr.calls import CallTracker
        from ivr.controller import AmiController
        from ivr.events import CallEnded, CallStarted

        port = await self.pbx.start()
        self.bus = EventBus()
        self.bus.start()
        self.counts = {"started": 0, "ended": 0}

        def count(ev):
            if isinstance(ev, CallStarted):
                self.counts["started"] += 1
            elif isinstance(ev, CallEnded):
                self.counts["ended"] += 1

        self.bus.subscribe(count)
        self.tracker = CallTracker(self.bus)
        self.probe = Probe(self.tracker)
        self.client = AmiClient("127.0.0.1", port, USER, SECRET, events=True)
        self.controller = AmiController(self.client, self.tracker)
        await self.controller.start()
        self._restore = apply_whatif(getattr(self.args, "whatif_live", "") or "")
        if not getattr(self.args, "default_gc", False):
            from hotline.runtime import tune_gc

            tune_gc()  # as `hotline serve` runs the controller
        elif getattr(self.args, "gc_freeze", False) or getattr(self.args, "gc_threshold0", 0):
            # what-if (controller process only): GC tuning proposed for `hotline serve`
            gc.collect()
            if self.args.gc_freeze:
                gc.freeze()
            if self.args.gc_threshold0:
                t = gc.get_threshold()
                gc.set_threshold(self.args.gc_threshold0, t[1], t[2])

    async def teardown(self) -> None:
        getattr(self, "_restore", lambda: None)()
        try:
            await self.controller.stop()
        finally:
            await self.pbx.stop()
            await self.bus.close()

    async def _sampler(self, stop: asyncio.Event, out: dict) -> None:
        period = 0.05
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(period)
            out["loop_lag"] = max(out.get("loop_lag", 0.0), time.monotonic() - t - period)
            out["tracker_max"] = max(out.get("tracker_max", 0), len(self.tracker))

    async def settle(self, live: int, timeout: float) -> bool:
        """Until the tracker holds ``live`` calls and no event arrived for 0.3 s."""
        deadline = time.monotonic() + timeout
        last_n, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            n = self.probe.events
            if n != last_n:
                last_n, quiet_since = n, time.monotonic()
            if len(self.tracker) <= live and time.monotonic() - quiet_since > 0.3:
                return True
        return False

    async def measure(self, phase: str, rate: float, action, settle_live: int, settle_timeout: float,
                      profile: bool = False) -> Step:
        st = Step(self.mode, phase, rate, len(self.tracker))
        self.probe.take()
        c0 = dict(self.counts)
        disc0 = self.client.stats["disconnects"]
        err0 = self.tracker.errors
        pbx_cpu0, _ = await self.pbx.cpu()
        pbx_pid = getattr(self.pbx, "pid", None)
        rq0, prq0, psi0 = runq_wait_s(), runq_wait_s(pbx_pid) if pbx_pid else 0.0, psi_some_s()
        cpu0, t0 = cpu_s(), time.monotonic()
        gc_info = {"n": 0, "total": 0.0, "max": 0.0, "t": 0.0}

        def gc_cb(phase, info):
            if phase == "start":
                gc_info["t"] = time.thread_time()
            else:
                d = time.thread_time() - gc_info["t"]
                gc_info["n"] += 1
                gc_info["total"] += d
                gc_info["max"] = max(gc_info["max"], d)

        gc.callbacks.append(gc_cb)
        stop, samp = asyncio.Event(), {}
        sampler = asyncio.create_task(self._sampler(stop, samp))
        prof = None
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            await self.pbx.profile(True)
        res = await action()
        st.pbx_active = res.get("active", res.get("hung_up", 0))
        settled = await self.settle(settle_live, settle_timeout)
        if prof is not None:
            prof.disable()
            self.profiles[f"{self.mode} {phase} controller process"] = profile_report(prof)
            if self.pbx.separate:
                self.profiles[f"{self.mode} {phase} PBX process"] = await self.pbx.profile(False)
        stop.set()
        await sampler
        gc.callbacks.remove(gc_cb)
        st.gc_max_ms = gc_info["max"] * 1000
        st.gc_total_ms = gc_info["total"] * 1000
        wall = time.monotonic() - t0
        cpu1 = cpu_s()
        st.runq_ctrl = 100 * (runq_wait_s() - rq0) / wall
        st.runq_pbx = 100 * (runq_wait_s(pbx_pid) - prq0) / wall if pbx_pid else float("nan")
        st.psi_some = 100 * (psi_some_s() - psi0) / wall
        pbx_cpu1, _ = await self.pbx.cpu()
        lags, nev = self.probe.take()
        lags.sort()
        st.placed = res.get("placed", res.get("hung_up", 0))
        st.achieved = res.get("achieved", 0.0)
        st.gen_late_ms = res.get("max_late_ms", 0.0)
        st.window_s = wall
        st.events = nev
        st.events_per_s = nev / wall
        st.p50, st.p95, st.p99, st.max = pct(lags, .50), pct(lags, .95), pct(lags, .99), pct(lags, 1.0)
        st.tracker_max = max(samp.get("tracker_max", 0), st.live_before)
        st.cpu_ctrl = 100 * (cpu1 - cpu0) / wall
        st.cpu_pbx = 100 * (pbx_cpu1 - pbx_cpu0) / wall if self.pbx.separate else float("nan")
        st.loop_lag_max_ms = samp.get("loop_lag", 0.0) * 1000
        st.disconnects = self.client.stats["disconnects"] - disc0
        st.errors = self.tracker.errors - err0
        st.started = self.counts["started"] - c0["started"]
        st.ended = self.counts["ended"] - c0["ended"]
        st.load1 = os.getloadavg()[0]
        if not settled:
            st.extra["not_settled"] = len(self.tracker)
        if "hangup_all_ms" in res:
            st.extra["hangup_all_ms"] = round(res["hangup_all_ms"], 1)
        self.steps.append(st)
        print(fmt_row(st), flush=True)
        return st

    async def ramp(self) -> None:
        a = self.args
        for rate in a.rates:
            count = max(1, int(rate * a.step_seconds))
            await self.measure(f"ramp ivr {rate:g}/s", rate,
                               lambda r=rate, c=count: self.pbx.drive("ivr", r, c), 0, 60,
                               profile=self.wants_profile(f"ramp ivr {rate:g}/s"))

    async def plateau(self) -> None:
        a = self.args
        for n in a.plateau:
            base = len(self.tracker)
            await self.measure(f"fill hold to {n}", a.fill_rate,
                               lambda n=n, b=base: self.pbx.drive("hold", a.fill_rate, n - b), n, 60,
                               profile=self.wants_profile(f"fill hold to {n}"))
            count = int(a.churn_rate * a.step_seconds)
            await self.measure(f"{n} up + ivr {a.churn_rate:g}/s", a.churn_rate,
                               lambda: self.pbx.drive("ivr", a.churn_rate, count), n, 60,
                               profile=self.wants_profile(f"{n} up + ivr {a.churn_rate:g}/s"))
            await self.measure(f"teardown {n} at once", 0, self.pbx.hangup_all, 0, 120,
                               profile=self.wants_profile(f"teardown {n} at once"))

    def wants_profile(self, phase: str) -> bool:
        return any(f"{self.mode}:{phase}" == want or phase == want for want in self.args.profile)


def profile_report(prof: cProfile.Profile, top: int = 25) -> str:
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values()) or 1e-9  # tottime sum
    groups: dict[str, float] = {}
    for (fn, _line, _name), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        groups[_group(fn)] = groups.get(_group(fn), 0.0) + tt
    lines = [f"total profiled self-time {total:.2f} s; self-time share by module:"]
    for g, t in sorted(groups.items(), key=lambda kv: -kv[1])[:14]:
        lines.append(f"  {100 * t / total:5.1f}%  {g}")
    lines.append(f"top {top} functions by self time (tottime share, cumtime share):")
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (fn, line, name), (_cc, nc, tt, ct, _c) in rows:
        lines.append(f"  {100 * tt / total:5.1f}% {100 * ct / total:6.1f}%  {nc:>8} calls  {_short(fn)}:{line}({name})")
    return "\n".join(lines)


def _short(fn: str) -> str:
    for marker in ("/work/main/", "/lib/python3.11/"):
        if marker in fn:
            return fn.split(marker, 1)[1]
    return fn


def _group(fn: str) -> str:
    s = _short(fn)
    if s.startswith("ivr/") or s.startswith("benchmarks/"):
        return s
    if s.startswith("asyncio/"):
        return "asyncio (stdlib)"
    if s.startswith("~") or s.startswith("<"):
        return "builtins (C)"
    return "other stdlib: " + s.split("/")[0]


# ----------------------------------------------------------------------------- offline replay (CPU cost per layer)
async def capture(n_ivr: int, rate: float, n_hold: int) -> list[bytes]:
    """The encoded AMI events of ``n_hold`` held calls then ``n_ivr`` IVR calls, as the controller receives them."""
    drv = PbxDriver()
    out: list[bytes] = []
    drv.sim.pbx.listeners.append(lambda cls, msg: out.append(msg.encode()))
    await drv.start()
    try:
        if n_hold:
            await drv.drive("hold", 500.0, n_hold)
        mark = len(out)
        await drv.drive("ivr", rate, n_ivr)
        deadline = time.monotonic() + 60
        while len(drv.sim.pbx.channels) > n_hold and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        result = out[:] + [b"MARK" + str(mark).encode()]
    finally:
        await drv.stop()
    return result


def _fast_message_class():
    """Proposed fix 1 (what-if only): Message.get through a lazily built lower-case index (first value wins)."""
    from ivr.ami.messages import Message

    class IndexedMessage(Message):
        __slots__ = ("_idx",)

        def __init__(self, headers=None):
            super().__init__(headers if headers is not None else [])
            self._idx = None

        def get(self, key, default=None):
            idx = self._idx
            if idx is None:
                idx = {}
                for k, v in self.headers:
                    idx.setdefault(k.lower(), v)
                self._idx = idx
            return idx.get(key.lower(), default)

    return IndexedMessage


def apply_whatif(whatif: str):
    """Monkeypatch proposed fixes into THIS process (never into the modules' files); returns ``restore()``.

    ``index``: Message.get via a lazily built dict (messages created by AmiParser);
    ``ptcache``: lru_cache on ivr.calls.parse_pbx_time; ``nodeepcopy``: ivr.calls uses no deepcopy (the
    ended call's snapshot is handed over as is)."""
    import copy as _copy
    import functools

    import ivr.ami.protocol as protocol
    import ivr.calls as calls

    if "ptcache" in whatif or "nodeepcopy" in whatif:
        # they patched names of the one-module ivr/calls.py; the package (issue 15 §6) imports them
        # per family module, so patching ivr.calls would change nothing: refuse rather than mislead
        raise SystemExit("what-ifs ptcache and nodeepcopy measured the one-module ivr/calls.py "
                         "(results in benchmarks/results/sim_e2e.md); they no longer apply")
    saved = (protocol.Message, calls.parse_pbx_time, calls.copy)
    if "index" in whatif:
        protocol.Message = _fast_message_class()
    if "ptcache" in whatif:
        calls.parse_pbx_time = functools.lru_cache(maxsize=256)(saved[1])
    if "nodeepcopy" in whatif:
        class _NoDeep:
            copy = staticmethod(_copy.copy)
            deepcopy = staticmethod(lambda x: x)
        calls.copy = _NoDeep

    def restore() -> None:
        protocol.Message, calls.parse_pbx_time, calls.copy = saved

    return restore


def replay_costs(raw: list[bytes], mark: int, repeat: int = 7, whatif: str = "") -> dict:
    """CPU µs per event of ``AmiParser.feed`` (64 KB reads) and ``CallTracker.feed`` over captured events,
    measured with ``time.process_time`` (min of ``repeat`` runs: less sensitive to other load than wall time).

    ``whatif``: comma-separated proposed fixes monkeypatched into this process only for the measurement
    (``index`` = Message.get via dict, ``ptcache`` = lru_cache on parse_pbx_time, ``nodeepcopy`` = the
    ended call's snapshot handed over without deepcopy); everything is restored afterwards."""
    import ivr.ami.protocol as protocol
    import ivr.calls as calls
    from ivr.bus import EventBus

    restore = apply_whatif(whatif)
    try:
        pre, body = b"".join(raw[:mark]), b"".join(raw[mark:])
        best = {"parse": 1e9, "track": 1e9}
        n = errors = 0
        for _ in range(repeat):
            p = protocol.AmiParser(expect_banner=False)
            t = time.process_time()
            msgs = []
            for i in range(0, len(body), 65536):
                msgs += p.feed(body[i:i + 65536])
            best["parse"] = min(best["parse"], time.process_time() - t)
            n = len(msgs)
            tracker = calls.CallTracker(EventBus())  # no loop running: the bus only queues
            for m in protocol.AmiParser(expect_banner=False).feed(pre):
                tracker.feed(m)
            t = time.process_time()
            for m in msgs:
                tracker.feed(m)
            best["track"] = min(best["track"], time.process_time() - t)
            errors = tracker.errors
        prof_text = ""
        if not whatif:
            prof = cProfile.Profile()
            tracker = calls.CallTracker(EventBus())
            for m in protocol.AmiParser(expect_banner=False).feed(pre):
                tracker.feed(m)
            msgs = protocol.AmiParser(expect_banner=False).feed(body)
            prof.enable()
            for m in msgs:
                tracker.feed(m)
            prof.disable()
            prof_text = profile_report(prof, top=15)
    finally:
        restore()
    return {"events": n, "bytes_per_event": len(body) / max(1, n), "parse_us": best["parse"] / max(1, n) * 1e6,
            "track_us": best["track"] / max(1, n) * 1e6, "errors": errors, "profile": prof_text}


def replay_phase(args: argparse.Namespace) -> tuple[list[dict], dict[str, str]]:
    rows, profiles = [], {}
    for held in args.replay_held:
        raw = asyncio.run(capture(args.replay_calls, 100.0, held))
        mark = int(raw.pop()[4:])
        for whatif in ["", "index"] if args.whatif else [""]:
            r = replay_costs(raw, mark, whatif=whatif)
            prof = r.pop("profile")
            if prof:
                profiles[f"replay: CallTracker.feed, {args.replay_calls} IVR calls, {held} held calls"] = prof
            r.update(held=held, calls=args.replay_calls, variant=whatif or "as is")
            rows.append(r)
            print(json.dumps(r), flush=True)
    return rows, profiles


async def pbx_teardown_cost(n: int) -> dict:
    """PBX side alone (no AMI client): CPU to hang up ``n`` held calls at once, and the share of the
    per-channel linkedid scan in ``Pbx.destroy`` (pbx.py ``any(c.linkedid == ...)``) in a cProfile of it."""
    drv = PbxDriver()
    await drv.start()
    try:
        await drv.drive("hold", 1000.0, n)
        await asyncio.sleep(0.5)
        prof = cProfile.Profile()
        c0 = time.process_time()
        prof.enable()
        drv.hangup_all()
        deadline = time.monotonic() + 120
        while drv.sim.pbx.channels and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        prof.disable()
        cpu = time.process_time() - c0
    finally:
        await drv.stop()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values()) or 1e-9
    scan = sum(v[2] for k, v in st.stats.items() if k[0].endswith("simulator/pbx.py") and k[2] == "<genexpr>")
    return {"calls": n, "cpu_s_profiled": cpu, "pbx_genexpr_share": 100 * scan / total}


# ----------------------------------------------------------------------------- reporting
HEADER = ("| mode | phase | live before | calls placed | achieved setups/s | events/s | lag p50 ms | p95 ms | "
          "p99 ms | max ms | tracker max calls | ctrl CPU % | ctrl CPU µs/event | PBX CPU % | ctrl / PBX run-queue wait % | CPU pressure % | loop stall max ms | GC CPU max/total ms | gen late ms | "
          "disc | errors | started/ended | load 1m | p99<50 |")
SEP = "|" + "---|" * (HEADER.count("|") - 1)


def fmt_row(s: Step) -> str:
    def num(x: float, fmt: str = ".0f") -> str:
        return "-" if x != x else format(x, fmt)

    note = " " + json.dumps(s.extra) if s.extra else ""
    us_per_event = s.cpu_ctrl * s.window_s * 1e4 / max(1, s.events)
    return (f"| {s.mode} | {s.phase} | {s.live_before} | {s.placed} | {s.achieved:.1f} | {s.events_per_s:.0f} | "
            f"{s.p50:.1f} | {s.p95:.1f} | {s.p99:.1f} | {s.max:.1f} | {s.tracker_max} | {s.cpu_ctrl:.0f} | "
            f"{us_per_event:.0f} | {num(s.cpu_pbx)} | {num(s.runq_ctrl)} / {num(s.runq_pbx)} | {num(s.psi_some)} | "
            f"{s.loop_lag_max_ms:.0f} | {s.gc_max_ms:.0f}/{s.gc_total_ms:.0f} | {s.gen_late_ms:.0f} | "
            f"{s.disconnects} | {s.errors} | {s.started}/{s.ended} | {s.load1:.2f} | {'yes' if s.ok else 'NO'}{note} |")


def machine() -> dict:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return "?"

    return {"nproc": sh("nproc"), "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
            "uptime": sh("uptime"), "date": sh("date -u +%FT%TZ"),
            "commit": sh(f"git -C {ROOT} rev-parse --short HEAD")}


def summary(steps: list[Step]) -> list[str]:
    out = []
    for mode in dict.fromkeys(s.mode for s in steps):
        ramp = [s for s in steps if s.mode == mode and s.phase.startswith("ramp")]
        good = [s for s in ramp if s.ok]
        best = max(good, key=lambda s: s.achieved, default=None)
        first_bad = next((s for s in ramp if not s.ok), None)
        plat = [s for s in steps if s.mode == mode and " up + ivr" in s.phase]
        fills = {s.phase.split()[-1]: s for s in steps if s.mode == mode and s.phase.startswith("fill")}
        good_plat = [s for s in plat if s.ok and fills.get(s.phase.split()[0], s).ok]
        bestp = max(good_plat, key=lambda s: s.live_before, default=None)
        out.append(
            f"* **{mode}**: highest ramp step with p99 < 50 ms: "
            + (f"{best.achieved:.0f} setups/s (p99 {best.p99:.1f} ms, tracker up to {best.tracker_max} calls)"
               if best else "none")
            + (f"; first failing step {first_bad.phase} (achieved {first_bad.achieved:.0f}/s, p99 {first_bad.p99:.0f} ms)"
               if first_bad else "; no ramp step failed")
            + "; highest concurrency with fill and churn p99 < 50 ms: "
            + (f"{bestp.live_before} calls" if bestp else "none")
        )
    return out


def write_md(path: Path, args: argparse.Namespace, argv: list[str], steps: list[Step], m0: dict, m1: dict,
             profiles: dict[str, str], replay: list[dict]) -> None:
    cmd = ".venv/bin/python benchmarks/sim_e2e_bench.py " + " ".join(argv)
    lines = [
        "# Simulator end-to-end: AMI controller + call tracker under simulated load",
        "",
        "Issue \"Telephony core\", benchmark item 4. Target: 100 call setups/s and 1,000 concurrent calls with",
        "event lag p99 < 50 ms. Event lag = PBX emits the event (harness-stamped `BenchTS`, monotonic ns) ->",
        "`CallTracker.feed` has processed it in the controller process (TCP AMI on 127.0.0.1, real `AmiClient`,",
        "`AmiController`, `CallTracker`, `EventBus`). See the module docstring for the scenarios.",
        "",
        "Command (from the repository root):",
        "",
        f"    {cmd}",
        "",
        f"Machine: {m0['nproc']} CPUs ({m0['cpu']}), Python {m0['python']}, {m0['platform']}, commit {m0['commit']}.",
        f"Start {m0['date']} `{m0['uptime']}`; end {m1['date']} `{m1['uptime']}`.",
        "The machine is shared with other engineers' jobs (see load 1m per step): figures are under that load.",
        "",
        "Columns: *achieved setups/s* = calls placed / generator span; *events/s* = events the tracker processed",
        "per second of the step window (generation + drain until quiet); *ctrl CPU %* = benchmark process",
        "(controller, plus the PBX in `inproc` mode), *PBX CPU %* = simulator process (separate mode), both in % of",
        "one core over the step window; *ctrl CPU µs/event* = benchmark-process CPU time / events processed (less",
        "sensitive to other load than wall-clock lag);",
        "*run-queue wait %* = time the process was runnable but had no CPU (/proc/<pid>/task/*/schedstat), in % of",
        "the step's wall time; *CPU pressure %* = machine-wide PSI `some` (/proc/pressure/cpu): share of time at least",
        "one task waited for a CPU; *loop stall* = worst overshoot of a 50 ms sleep on the controller loop;",
        "*GC CPU* = CPU time inside cyclic GC in the controller process (max / sum); *gen late* = worst lateness",
        "of the call generator against its schedule (PBX loop saturated when large); *disc* = AMI disconnects",
        "(the simulator drops a client with a 16 MB backlog); *started/ended* = CallStarted/CallEnded published.",
        "",
        HEADER,
        SEP,
        *[fmt_row(s) for s in steps],
        "",
        "## Result",
        "",
        *summary(steps),
        "",
    ]
    if replay:
        lines += [
            "## CPU cost per event (offline replay, no network, `time.process_time`, min of 7)",
            "",
            "The AMI bytes of N IVR calls (optionally on top of held calls) captured from the simulator, then",
            "parsed by `AmiParser.feed` in 64 KB reads and applied to a fresh `CallTracker` (held calls fed",
            "first). Variants monkeypatch proposed fixes into the benchmark process only (see `replay_costs`).",
            "",
            "| held calls | IVR calls | events | bytes/event | variant | parse µs/event | tracker µs/event | tracker errors |",
            "|---|---|---|---|---|---|---|---|",
            *[f"| {r['held']} | {r['calls']} | {r['events']} | {r['bytes_per_event']:.0f} | {r['variant']} | "
              f"{r['parse_us']:.1f} | {r['track_us']:.1f} | {r['errors']} |" for r in replay],
            "",
        ]
    if profiles:
        lines += ["## Profiles (cProfile, self time; cProfile overhead inflates Python-call-heavy code)", ""]
        for k, v in profiles.items():
            lines += [f"### {k}", "", "```", v, "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


async def main_async(args: argparse.Namespace) -> tuple[list[Step], dict]:
    steps: list[Step] = []
    profiles: dict[str, str] = {}
    for mode in args.modes:
        b = Bench(mode, args)
        await b.setup()
        try:
            if "ramp" in args.phases:
                await b.ramp()
            if "plateau" in args.phases:
                await b.plateau()
        finally:
            steps += b.steps
            profiles.update(b.profiles)
            await b.teardown()
    return steps, profiles


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", type=lambda s: s.split(","), default=["separate", "inproc"])
    p.add_argument("--phases", type=lambda s: s.split(","), default=["replay", "ramp", "plateau"])
    p.add_argument("--replay-calls", type=int, default=300)
    p.add_argument("--replay-held", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1000])
    p.add_argument("--whatif", action="store_true", help="replay also with proposed fixes monkeypatched")
    p.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[10, 25, 50, 100, 150, 200])
    p.add_argument("--step-seconds", type=float, default=10.0)
    p.add_argument("--plateau", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500, 1000])
    p.add_argument("--fill-rate", type=float, default=100.0)
    p.add_argument("--churn-rate", type=float, default=20.0)
    p.add_argument("--profile", action="append", default=[],
                   help="cProfile this step (exact phase name, e.g. 'ramp ivr 100/s', optionally 'separate:...')")
    p.add_argument("--max-seconds", type=float, default=1200.0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--whatif-live", default="", help="what-if in the controller process: index,ptcache,nodeepcopy")
    p.add_argument("--default-gc", action="store_true",
                   help="leave CPython's GC defaults in the controller (default: hotline.runtime.tune_gc, as serve does)")
    p.add_argument("--gc-freeze", action="store_true", help="what-if (with --default-gc): gc.freeze() in the controller after start")
    p.add_argument("--gc-threshold0", type=int, default=0, help="what-if: gen-0 GC threshold in the controller")
    p.add_argument("--render", type=Path, default=None,
                   help="only re-write --out from a --json file of an earlier run (its command is kept)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.render:
        data = json.loads(args.render.read_text())
        steps = [Step(**d) for d in data["steps"]]
        write_md(args.out, args, data.get("argv", argv), steps, data["machine"][0], data["machine"][1],
                 data.get("profiles", {}), data.get("replay", []))
        return
    m0 = machine()
    print(m0, flush=True)
    replay, rprof = replay_phase(args) if "replay" in args.phases else ([], {})
    if "pbxteardown" in args.phases:
        for n in args.plateau:
            print(json.dumps(asyncio.run(pbx_teardown_cost(n))), flush=True)
        if set(args.phases) <= {"pbxteardown", "replay"}:
            return
    print(HEADER, flush=True)
    steps, profiles = asyncio.run(asyncio.wait_for(main_async(args), args.max_seconds))
    profiles = {**rprof, **profiles}
    m1 = machine()
    for line in summary(steps):
        print(line)
    for k, v in profiles.items():
        print(f"--- {k}\n{v}")
    if args.out:
        write_md(args.out, args, argv, steps, m0, m1, profiles, replay)
    if args.json:
        args.json.write_text(json.dumps({"argv": argv, "machine": [m0, m1], "steps": [asdict(s) for s in steps],
                                         "replay": replay, "profiles": profiles}, indent=1))


if __name__ == "__main__":
    main()
