"""Correctness of the simulator end-to-end benchmark harness (benchmarks/sim_e2e_bench.py).

No timing assertions: only that the stamps reach the tracker, every stamped event is
measured once, the tracker sees the calls the generator placed, and the teardown ends them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sim_e2e_bench", ROOT / "benchmarks" / "sim_e2e_bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sim_e2e_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


async def _until(pred, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def test_dialplan_has_bench_context_and_agi_off(bench):
    from ivr.simulator.conf import parse_extensions_conf

    dp = parse_extensions_conf(bench.bench_dialplan())
    assert dp.exists("bench-hold", "s", 1)
    assert dp.exists("ivr-12319", "s", 1)
    assert dp.globals["IVR_USE_AGI"] == "no"


def test_percentile_edges(bench):
    xs = [i * 1_000_000 for i in range(101)]  # 0..100 ms
    assert bench.pct(xs, 0.5) == 50.0
    assert bench.pct(xs, 0.99) == 99.0
    assert bench.pct(xs, 1.0) == 100.0
    assert bench.pct([], 0.5) != bench.pct([], 0.5)  # NaN


async def test_inproc_hold_calls_are_stamped_tracked_and_torn_down(bench):
    import argparse

    args = argparse.Namespace(profile=[])
    b = bench.Bench("inproc", args)
    await b.setup()
    try:
        await asyncio.sleep(0.2)
        b.probe.take()  # login-time events (FullyBooted, SuccessfulAuth) do not come from the PBX: unstamped
        seen_last = []
        b.client.on(None, lambda m: seen_last.append(m.headers[-1][0]))
        res = await b.pbx.drive("hold", 50.0, 5)
        assert res["placed"] == 5
        await _until(lambda: len(b.tracker) == 5 and b.counts["started"] == 5)
        assert await b.settle(5, 10)
        lags, n = b.probe.take()
        assert n > 0 and len(lags) == n  # every event the tracker got was stamped and measured once
        assert all(lag >= 0 for lag in lags)
        assert set(seen_last) == {bench.STAMP}
        await b.pbx.hangup_all()
        await _until(lambda: len(b.tracker) == 0 and b.counts["ended"] == 5)
        assert b.tracker.errors == 0
        assert b.client.stats["disconnects"] == 0
    finally:
        await b.teardown()


async def test_measure_records_a_step(bench):
    import argparse

    b = bench.Bench("inproc", argparse.Namespace(profile=[]))
    await b.setup()
    try:
        st = await b.measure("fill hold to 3", 50.0, lambda: b.pbx.drive("hold", 50.0, 3), 3, 10)
        assert st.placed == 3 and st.started == 3 and st.tracker_max == 3
        assert st.events > 0 and st.p50 <= st.p99 <= st.max
        st2 = await b.measure("teardown", 0, b.pbx.hangup_all, 0, 10)
        assert st2.ended == 3 and st2.placed == 3
        assert "|" in bench.fmt_row(st2)
    finally:
        await b.teardown()
