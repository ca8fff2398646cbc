"""Run the PBX simulator standalone: ``python -m ivr.simulator --port 5038``.

With ``--demo-calls N`` it also places N simulated citizen calls (random menu
choices, some silent, some hanging up early) so a console has traffic to show.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
from pathlib import Path

from . import CallerScript, PbxSimulator


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ivr.simulator", description="Simulated Asterisk 20 (AMI + FastAGI client)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038, help="AMI port (0 = any free port)")
    p.add_argument("--agi", type=_address, default=None, help="FastAGI server host:port overriding the dialplan's URLs")
    p.add_argument("--username", default="hotline")
    p.add_argument("--secret", default="hotline-secret")
    p.add_argument("--dialplan", type=Path, help="extensions.conf to load (default: the fixture dialplan)")
    p.add_argument("--queues", type=Path, help="queues.conf to load")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--demo-calls", type=int, default=0, help="place this many random citizen calls")
    p.add_argument("--demo-interval", type=float, default=5.0, help="simulated seconds between demo calls")
    return p


def random_script(rng: random.Random) -> CallerScript:
    script = CallerScript().wait(rng.uniform(1.5, 4))
    kind = rng.random()
    if kind < 0.1:
        return script.hangup()
    if kind < 0.2:
        return CallerScript()  # silent caller: the menu times out
    return script.press(rng.choice("1234"))


async def run(args: argparse.Namespace) -> None:
    sim = PbxSimulator(
        ami_port=args.port,
        agi_address=args.agi,
        username=args.username,
        secret=args.secret,
        dialplan=args.dialplan.read_text(encoding="utf-8") if args.dialplan else None,
        queues=args.queues.read_text(encoding="utf-8") if args.queues else None,
        host=args.host,
        speed=args.speed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    async with sim:
        print(f"AMI listening on {args.host}:{sim.bound_port} (user {args.username})", flush=True)
        rng = random.Random()
        for i in range(args.demo_calls):
            if stop.is_set():
                break
            await sim.place_call(f"138{rng.randint(0, 99999999):08d}", "12319", random_script(rng))
            try:
                await asyncio.wait_for(stop.wait(), sim.clock.real(args.demo_interval))
            except asyncio.TimeoutError:
                pass
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
