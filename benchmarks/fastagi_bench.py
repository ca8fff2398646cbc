"""FastAGI server benchmark: ivr.agi.FastAgiServer vs panoramisk.fast_agi.Application.

Each server runs in its own child process with a script that issues 10 AGI commands and
times each round trip (write command -> reply parsed). The parent process plays Asterisk:
N concurrent TCP connections, each sends a real Asterisk 20 environment block and answers
every command at once. Reported: p50/p99/max of the command round trip seen by the script,
wall time of the whole run, sessions and commands per second.

    .venv/bin/python benchmarks/fastagi_bench.py --sessions 1000 --repeat 3 \
        --output benchmarks/results/fastagi.md

Needs ``panoramisk`` (optional dependency group ``bench``) for the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMANDS = 10
ENV_TEMPLATE = (
    "agi_network: yes\nagi_network_script: bench\nagi_request: agi://127.0.0.1:4573/bench\n"
    "agi_channel: Local/s@ivr-12319-{n:08x};2\nagi_language: en\nagi_type: Local\n"
    "agi_uniqueid: hotline-test-1795799337.{n}\nagi_version: 20.20.1\nagi_callerid: 0904{n:06d}\n"
    "agi_calleridname: 张三\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\n"
    "agi_callingtns: 0\nagi_dnid: 12319\nagi_rdnis: unknown\nagi_context: ivr-12319\n"
    "agi_extension: s\nagi_priority: 8\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 140151062636224\nagi_arg_1: 0904{n:06d}\n\n"
)


def _reply(command: bytes) -> bytes:
    if command.startswith(b"GET VARIABLE"):
        return b"200 result=1 (Local/s@ivr-12319-00000014;2)\n"
    if command.startswith(b"STREAM FILE"):
        return b"200 result=0 endpos=8000\n"
    if command.startswith(b"GET DATA"):
        return b"200 result=150402\n"
    return b"200 result=1\n"


# ------------------------------------------------------------------ servers (child process)

PANO_COMMANDS = [
    "ANSWER",
    "GET VARIABLE CHANNEL",
    'STREAM FILE custom/ivr-12319-menu "1234"',
    "GET DATA custom/enter-district 3000 6",
    "SET VARIABLE DISTRICT 150402",
    'VERBOSE "district 150402" 1',
    "GET VARIABLE CALLERID(num)",
    'SET VARIABLE CASE_NOTE "井盖 缺失"',
    "SET CONTEXT ivr-branch-district",
    "NOOP",
]


async def _ours(port_q, ctl, latencies: list[float]) -> None:
    from ivr.agi import AgiSession, FastAgiServer

    async def bench(s: AgiSession) -> None:
        t = time.perf_counter
        for step in (
            s.answer,
            lambda: s.get_variable("CHANNEL"),
            lambda: s.stream_file("custom/ivr-12319-menu", "1234"),
            lambda: s.get_data("custom/enter-district", 3000, 6),
            lambda: s.set_variable("DISTRICT", "150402"),
            lambda: s.verbose("district 150402", 1),
            lambda: s.get_variable("CALLERID(num)"),
            lambda: s.set_variable("CASE_NOTE", "井盖 缺失"),
            lambda: s.set_context("ivr-branch-district"),
            s.noop,
        ):
            t0 = t()
            await step()
            latencies.append(t() - t0)

    server = FastAgiServer("127.0.0.1", 0, {"bench": bench}, backlog=4096)
    await server.start()
    await _serve(server.bound_port, port_q, ctl, latencies)
    await server.stop()


async def _panoramisk(port_q, ctl, latencies: list[float]) -> None:
    from panoramisk.fast_agi import Application

    async def bench(request) -> None:
        t = time.perf_counter
        for command in PANO_COMMANDS:
            t0 = t()
            await request.send_command(command)
            latencies.append(t() - t0)

    app = Application(loop=asyncio.get_running_loop())
    app.add_route("bench", bench)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=4096)
    await _serve(server.sockets[0].getsockname()[1], port_q, ctl, latencies)
    server.close()


async def _serve(port: int, port_q, ctl, latencies: list[float]) -> None:
    port_q.send(port)
    loop = asyncio.get_running_loop()
    while True:
        message = await loop.run_in_executor(None, ctl.recv)
        if message == "stats":
            ctl.send((list(latencies), time.process_time()))
            latencies.clear()
        else:
            return


def _child(kind: str, port_q, ctl) -> None:
    logging.basicConfig(level=logging.WARNING)
    runner = {"ours": _ours, "panoramisk": _panoramisk}[kind]
    asyncio.run(runner(port_q, ctl, []))


# ------------------------------------------------------------------ Asterisk side (parent)


class _AsteriskCall(asyncio.Protocol):
    """One call as Asterisk sees it: send the environment, answer every command line at once.

    A bare Protocol (no streams) keeps the load generator cheaper than the servers it drives.
    """

    def __init__(self, n: int, done: asyncio.Future) -> None:
        self.n, self.done, self.buf, self.answered = n, done, b"", 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(ENV_TEMPLATE.format(n=self.n).encode())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        if lines:
            self.transport.write(b"".join(_reply(line) for line in lines))
            self.answered += len(lines)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.answered)


async def _asterisk_call(port: int, n: int) -> int:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _AsteriskCall(n, done), "127.0.0.1", port)
    answered = await done
    transport.close()
    return answered


async def _round(port: int, sessions: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    answered = await asyncio.gather(*(_asterisk_call(port, n) for n in range(sessions)))
    return time.perf_counter() - t0, sum(answered)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class _Child:
    """A server in its own process; ``stats()`` returns and resets its timings."""

    def __init__(self, kind: str) -> None:
        ctx = mp.get_context("spawn")
        port_parent, port_child = ctx.Pipe()
        self.ctl, ctl_child = ctx.Pipe()
        self.kind = kind
        self.proc = ctx.Process(target=_child, args=(kind, port_child, ctl_child), daemon=True)
        self.proc.start()
        self.port = port_parent.recv()

    def stats(self) -> tuple[list[float], float]:
        """Round-trip timings since the last call, and CPU seconds the server used since then."""
        self.ctl.send("stats")
        latencies, cpu = self.ctl.recv()
        used, self.cpu = cpu - getattr(self, "cpu", 0.0), cpu
        return latencies, used

    def close(self) -> None:
        self.ctl.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


def run(kinds: list[str], sessions: int, repeat: int) -> list[dict]:
    """Runs alternate between servers so that background load hits both alike."""
    children = [_Child(kind) for kind in kinds]
    rows = []
    try:
        for child in children:  # warm-up
            asyncio.run(_round(child.port, min(100, sessions)))
            child.stats()
        for n in range(1, repeat + 1):
            for child in children:
                wall, answered = asyncio.run(_round(child.port, sessions))
                lat, cpu = child.stats()
                expected = sessions * COMMANDS
                if answered != expected or len(lat) != expected:
                    raise SystemExit(f"{child.kind}: {answered} answered, {len(lat)} timed, expected {expected}")
                rows.append(
                    {
                        "server": child.kind,
                        "run": n,
                        "sessions": sessions,
                        "commands": answered,
                        "p50_ms": _pct(lat, 50) * 1000,
                        "p99_ms": _pct(lat, 99) * 1000,
                        "max_ms": max(lat) * 1000,
                        "wall_s": wall,
                        "sessions_per_s": sessions / wall,
                        "commands_per_s": answered / wall,
                        "load": os.getloadavg()[0],
                        "cpu_s": cpu,
                    }
                )
    finally:
        for child in children:
            child.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--servers", default="ours,panoramisk")
    parser.add_argument("--output", type=Path, help="write a Markdown report here")
    args = parser.parse_args(argv)
    rows = run(args.servers.split(","), args.sessions, args.repeat)
    header = "| server | run | sessions | commands | p50 ms | p99 ms | max ms | wall s | sessions/s | commands/s | server CPU s | load 1m |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['server']} | {r['run']} | {r['sessions']} | {r['commands']} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['max_ms']:.2f} | {r['wall_s']:.2f} | {r['sessions_per_s']:.0f} | "
            f"{r['commands_per_s']:.0f} | {r['cpu_s']:.2f} | {r['load']:.2f} |"
        )
    lines += ["", "Median over the runs:", "", "| server | p50 ms | p99 ms | wall s | server CPU s |", "|---|---|---|---|---|"]
    for kind in dict.fromkeys(r["server"] for r in rows):
        mine = [r for r in rows if r["server"] == kind]
        med = {k: statistics.median(r[k] for r in mine) for k in ("p50_ms", "p99_ms", "wall_s", "cpu_s")}
        lines.append(f"| {kind} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} | {med['wall_s']:.2f} | {med['cpu_s']:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.output:
        import panoramisk  # noqa: F401  (version for the report)
        from importlib.metadata import version

        args.output.parent.mkdir(parents=True, exist_ok=True)
        command = "    .venv/bin/python benchmarks/fastagi_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.output.write_text(
            "# FastAGI server benchmark\n\n"
            f"{args.sessions} concurrent FastAGI sessions x {COMMANDS} commands each, per run. Each server runs in\n"
            "its own process; the benchmark process plays Asterisk (real Asterisk 20 environment block, every\n"
            "command answered at once over loopback TCP). Round trip = time the script waits for one command\n"
            "(write, Asterisk side replies, reply parsed), measured inside the script. Wall = first connect to\n"
            "last session closed. One warm-up round of 100 sessions precedes the runs.\n\n"
            f"Command:\n\n{command}\n\n"
            f"Machine: Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
            f"{mp.cpu_count()} CPUs; panoramisk {version('panoramisk')}; default asyncio event loop.\n\n"
            f"{table}\n\n"
            "Reading: with every session open at once, the round trip is dominated by queueing in the\n"
            "event loops (1,000 sessions share one server loop and one load-generator loop), so p50/p99\n"
            "show how long a script waits under that load, not the loopback latency. \"server CPU s\" is\n"
            "the CPU the server process used for the run and is the least noisy figure when the machine\n"
            "is shared (see the load column). ivr.agi does more per command than panoramisk: a\n"
            "per-command deadline (one shared watchdog timer), argument validation and quoting, typed\n"
            "reply parsing, out-of-band HANGUP handling, a per-session lock, and it closes every\n"
            "connection cleanly (panoramisk's handler has no timeouts and blocks its event loop when a\n"
            "peer disconnects before the end of the environment).\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
