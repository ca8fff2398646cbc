"""Routing lookup throughput: GridIndex.locate_point vs a bare shapely STRtree query, same run.

Synthetic square grid: ``side × side`` communities, 10 × 10 communities per street, 10 × 10
streets per district (so the index holds communities + streets + districts, as the real grid).
Each round looks up the same seeded random points (95 % inside the grid, 5 % outside).

Baselines (same points, same process), each building the ``Point`` and querying, nothing more:
  * ``bare within``: ``STRtree`` over exactly the polygons the index holds,
    ``tree.query(Point(lon, lat), predicate="within")``;
  * ``bare intersects``: the same with ``predicate="intersects"`` — the predicate the index uses
    (boundary points count), so the strictest floor for our own work;
  * ``bare within, cells only``: ``within`` over the leaf cells only.
The target is ``locate_point`` ≥ 0.7 × ``bare within``; we also report the ratio to
``bare intersects``.

Run:  .venv/bin/python benchmarks/routing_bench.py [--cells 10000 100000] [--points 20000] [--write]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely import STRtree
from shapely.geometry import shape

from hotline.grid.lookup import GridIndex

RESULTS = Path(__file__).resolve().parent / "results" / "routing.md"
CELL = 0.002          # degrees, ~200 m
ORIGIN = (118.0, 41.5)


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: int
    parent_code: str | None
    kind: str
    geometry: dict[str, Any]


def _square(x0: float, y0: float, size: float) -> dict[str, Any]:
    x1, y1 = x0 + size, y0 + size
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def synthetic_grid(cells: int) -> tuple[list[Unit], int]:
    """About ``cells`` communities (rounded up to a multiple of 100 per side), with streets and districts."""
    side = math.ceil(math.sqrt(cells) / 10) * 10
    units: list[Unit] = []
    ox, oy = ORIGIN
    for dx in range(0, side, 100):
        for dy in range(0, side, 100):
            dcode = f"9{dx // 100:02d}{dy // 100:03d}"
            size = min(100, side - dx), min(100, side - dy)
            units.append(Unit(dcode, f"区{dcode}", 1, None, "district",
                              _rect(ox + dx * CELL, oy + dy * CELL, size[0] * CELL, size[1] * CELL)))
            for sx in range(dx, dx + size[0], 10):
                for sy in range(dy, dy + size[1], 10):
                    scode = f"{dcode}{(sx - dx) // 10}{(sy - dy) // 10:02d}"
                    units.append(Unit(scode, f"街道{scode}", 2, dcode, "street",
                                      _square(ox + sx * CELL, oy + sy * CELL, 10 * CELL)))
                    for cx in range(sx, sx + 10):
                        for cy in range(sy, sy + 10):
                            ccode = f"{scode}{cx - sx}{cy - sy:02d}"
                            units.append(Unit(ccode, f"社区{ccode}", 3, scode, "community",
                                              _square(ox + cx * CELL, oy + cy * CELL, CELL)))
    return units, side


def _rect(x0: float, y0: float, w: float, h: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h], [x0, y0]]]}


def sample_points(side: int, n: int, seed: int = 12319) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    ox, oy = ORIGIN
    extent = side * CELL
    pts = []
    for i in range(n):
        if i % 20 == 19:   # 5 % outside the grid
            pts.append((ox - 1 - rng.random(), oy - 1 - rng.random()))
        else:
            pts.append((ox + rng.random() * extent, oy + rng.random() * extent))
    return pts


def best_rate(fn, points, rounds: int) -> float:
    """Best lookups/s over ``rounds`` passes of ``fn`` over ``points``."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        fn(points)
        elapsed = time.perf_counter() - start
        best = max(best, len(points) / elapsed)
    return best


def run(cells: int, n_points: int, rounds: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    units, side = synthetic_grid(cells)
    index = GridIndex.from_units(units)
    build_s = time.perf_counter() - t0
    geoms_all = [shape(u.geometry) for u in units]
    geoms_leaf = [g for g, u in zip(geoms_all, units) if u.level == 3]
    shapely.prepare(geoms_all)
    shapely.prepare(geoms_leaf)
    tree_all, tree_leaf = STRtree(geoms_all), STRtree(geoms_leaf)
    points = sample_points(side, n_points)
    Point = shapely.Point

    def ours(pts):
        locate = index.locate_point
        for lon, lat in pts:
            locate(lon, lat)

    def bare_all(pts):
        query = tree_all.query
        for lon, lat in pts:
            query(Point(lon, lat), predicate="within")

    def bare_all_intersects(pts):
        query = tree_all.query
        for lon, lat in pts:
            query(Point(lon, lat), predicate="intersects")

    def bare_leaf(pts):
        query = tree_leaf.query
        for lon, lat in pts:
            query(Point(lon, lat), predicate="within")

    # correctness check before timing: ours agrees with the leaf tree on every point
    for lon, lat in points[:2000]:
        hit = index.locate_point(lon, lat)
        leaf = tree_leaf.query(Point(lon, lat), predicate="intersects")
        if len(leaf) == 0:
            assert hit is None or hit.unit.level < 3
        else:
            assert hit is not None and hit.unit.level == 3
    fns = {"ours": ours, "bare_all": bare_all, "bare_all_intersects": bare_all_intersects, "bare_leaf": bare_leaf}
    for fn in fns.values():       # warm up
        fn(points[:1000])
    names = list(fns)
    chunks = [points[i:i + 500] for i in range(0, len(points), 500)]
    per_round: list[dict[str, float]] = []
    for r in range(rounds):
        # Interleave in chunks of 500 points, rotating the order, so load changes on a shared
        # machine hit every contender alike; a round's rate is points / summed time.
        spent = dict.fromkeys(names, 0.0)
        for c, chunk in enumerate(chunks):
            shift = (r + c) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                fns[name](chunk)
                spent[name] += time.perf_counter() - start
        per_round.append({k: len(points) / v for k, v in spent.items()})
    best = {k: max(rd[k] for rd in per_round) for k in names}

    def median_ratio(base: str) -> float:
        return statistics.median(rd["ours"] / rd[base] for rd in per_round)

    return {"cells": side * side, "units": len(units), "build_s": build_s, **best,
            "ratio": median_ratio("bare_all"), "ratio_intersects": median_ratio("bare_all_intersects"),
            "ratio_leaf": median_ratio("bare_leaf")}


def route_rate(n_points: int, rounds: int) -> dict[str, float]:
    """Whole ``Router.route`` (point → place → shipped rules → decision) on the sample grid."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hotline.grid.sample import load_categories, load_sample_grid
    from hotline.routing import Router
    from hotline.rules import load_rules

    units = load_sample_grid()
    router = Router(load_rules(Path(__file__).resolve().parents[1] / "routing_rules.yaml"),
                    GridIndex.from_units(units), load_categories())
    communities = [u for u in units if u.level == 3]
    rng = random.Random(12319)
    picks = [(rng.choice(communities), rng.choice(["06001", "08001", "01006", "90011", "09009"]))
             for _ in range(n_points)]
    at = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

    def go(items):
        for unit, code in items:
            router.route(code, lon=unit.center_lon, lat=unit.center_lat, at=at)

    by_code = {u.code: u for u in units}
    addresses = [f"赤峰市{by_code[by_code[u.parent_code].parent_code].name}{by_code[u.parent_code].name}"
                 f"{u.name}幸福路18号院3号楼" for u, _ in picks]

    def addr(items):
        for text in items:
            router.grid.locate_address(text)

    go(picks[:200])
    return {"route": best_rate(go, picks, rounds), "locate": best_rate(
        lambda items: [router.grid.locate_point(u.center_lon, u.center_lat) for u, _ in items], picks, rounds),
        "address": best_rate(addr, addresses, rounds)}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(results: list[dict[str, Any]], command: str, n_points: int, rounds: int,
           load: tuple[float, float], routed: dict[str, float] | None) -> str:
    lines = [
        "# Routing lookup benchmark",
        "",
        "`GridIndex.locate_point` (smallest covering unit, deterministic on boundaries, returns the",
        "district → street → community chain) against a bare shapely `STRtree` query in the same run.",
        "Target: ours ≥ 0.7 × bare `within` over the same polygons (all levels in one tree). The index keeps",
        "one tree per level and queries the deepest first with `intersects` (boundary points count), so",
        "`bare within, cells only` (one query on the leaf tree, nothing else) is the closest bare analogue",
        "of its common path; all three ratios are given.",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {_cpu()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}.",
        f"{n_points} seeded random points per round (5 % outside the grid), {rounds} rounds; within a round the",
        "contenders alternate every 500 points in rotating order. Rates: best round; ratios: median over",
        "rounds of the per-round ratio.",
        f"Load average before/after: {load[0]:.2f} / {load[1]:.2f} (shared 2-CPU machine: absolute rates are",
        "noisy; the ratios, measured interleaved, are the figures to compare).",
        "",
        "| communities | units in index | index build (s) | ours (lookups/s) | bare within (/s) "
        "| bare intersects (/s) | bare within, cells only (/s) | ours / bare within | ours / bare intersects "
        "| ours / bare cells only |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['cells']:,} | {r['units']:,} | {r['build_s']:.2f} | {r['ours']:,.0f} | "
                     f"{r['bare_all']:,.0f} | {r['bare_all_intersects']:,.0f} | {r['bare_leaf']:,.0f} | "
                     f"{r['ratio']:.2f} | {r['ratio_intersects']:.2f} | {r['ratio_leaf']:.2f} |")
    ok = all(r["ratio"] >= 0.7 for r in results)
    lines += ["", f"Target met: {'yes' if ok else 'NO'}."]
    if routed:
        lines += ["", "Whole pipeline on the shipped sample grid (276 units) and `routing_rules.yaml`:",
                  f"`Router.route(code, lon=, lat=)` {routed['route']:,.0f} decisions/s "
                  f"(`locate_point` alone on the same points: {routed['locate']:,.0f}/s). A decision's time goes",
                  "mostly to the ordered rule scan (first match wins, ~60 shipped rules) and to building the",
                  "explanation; the grid lookup is a minor part (profile with cProfile to check).",
                  f"`locate_address` on full addresses (e.g. 赤峰市红山区西屯街道和平社区幸福路18号院3号楼): "
                  f"{routed['address']:,.0f}/s; its cost grows with the text length, not the grid size."]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true", help=f"write the table to {RESULTS}")
    parser.add_argument("--no-route", action="store_true", help="skip the whole-pipeline Router.route figure")
    args = parser.parse_args(argv)
    results = []
    load_before = os.getloadavg()[0]
    for cells in args.cells:
        r = run(cells, args.points, args.rounds)
        print(f"{r['cells']:>8,} cells {r['units']:>8,} units  ours {r['ours']:>9,.0f}/s  "
              f"bare within {r['bare_all']:>9,.0f}/s  bare intersects {r['bare_all_intersects']:>9,.0f}/s  "
              f"bare within cells {r['bare_leaf']:>9,.0f}/s  ratio {r['ratio']:.2f} / {r['ratio_intersects']:.2f} / {r['ratio_leaf']:.2f}", flush=True)
        results.append(r)
    command = ".venv/bin/python benchmarks/routing_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    routed = None if args.no_route else route_rate(min(args.points, 5000), args.rounds)
    if routed:
        print(f"Router.route on the sample grid: {routed['route']:,.0f}/s (locate_point {routed['locate']:,.0f}/s)")
    text = report(results, command.strip(), args.points, args.rounds, (load_before, os.getloadavg()[0]), routed)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS}")
    return 0 if all(r["ratio"] >= 0.7 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
