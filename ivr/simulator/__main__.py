"""Run the PBX simulator standalone: ``python -m ivr.simulator --port 5038``.

With ``--dialplan`` / ``--queues`` it runs the files ``hotline dialplan render`` wrote, as
``hotline serve`` does in simulator mode: calls enter the rendered entry context
(``<prefix>-entry``, found in the file; ``--context`` overrides it), every district line the
dialplan dials answers (``--lines``), ``--agents N`` agents per queue answer the queue calls,
and ``--demo-calls`` places citizen calls that wait for the menu and press one of its keys.
Without them the fixture dialplan of ``shared/fixtures/asterisk-20`` is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import signal
from pathlib import Path

from . import CallerScript, Endpoint, PbxSimulator
from .conf import Dialplan

_DIALLED_LINE = re.compile(r"Dial\((?:PJSIP|SIP|IAX2)/([0-9]{3,20})@")


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
    p.add_argument("--context", help="context inbound calls enter (default: the dialplan's *-entry context, "
                                     "else sip-guest)")
    p.add_argument("--lines", choices=("answer", "busy", "noanswer", "off"), default="answer",
                   help="what the district lines the dialplan dials do (default: answer)")
    p.add_argument("--agents", type=int, default=2, help="simulated agents signed into each queue (default 2)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--demo-calls", type=int, default=0, help="place this many random citizen calls")
    p.add_argument("--demo-interval", type=float, default=5.0, help="simulated seconds between demo calls")
    return p


def entry_context(dialplan: Dialplan) -> str:
    """The context a rendered dialplan receives calls in (``<prefix>-entry``), else ``sip-guest``."""
    entries = sorted(name for name in dialplan.contexts if name.endswith("-entry"))
    return entries[0] if entries else "sip-guest"


def menu_keys(dialplan: Dialplan, entry: str) -> str:
    """The keys of the first menu after the entry (``<prefix>-menu-main``), else ``1234``."""
    prefix = entry[: -len("-entry")] if entry.endswith("-entry") else ""
    menu = dialplan.contexts.get(f"{prefix}-menu-main") if prefix else None
    if menu is None:
        return "1234"
    keys = "".join(sorted(name for name in menu.extensions if re.fullmatch(r"[0-9*#]", name)))
    return keys or "1234"


def dialled_lines(text: str) -> list[str]:
    """Numbers of the lines a dialplan dials over a trunk (the district receiving lines)."""
    return sorted(set(_DIALLED_LINE.findall(text)))


def random_script(rng: random.Random, keys: str = "1234", wait_for_menu: bool = False) -> CallerScript:
    script = CallerScript()
    if wait_for_menu:
        script = script.until_app("Background")
    script = script.wait(rng.uniform(1.5, 4))
    kind = rng.random()
    if kind < 0.1:
        return script.hangup()
    if kind < 0.2:
        return CallerScript()  # silent caller: the menu times out
    return script.press(rng.choice(keys)).wait(rng.uniform(30, 180)).hangup()


async def run(args: argparse.Namespace) -> None:
    text = args.dialplan.read_text(encoding="utf-8") if args.dialplan else None
    sim = PbxSimulator(
        ami_port=args.port,
        agi_address=args.agi,
        username=args.username,
        secret=args.secret,
        dialplan=text,
        queues=args.queues.read_text(encoding="utf-8") if args.queues else None,
        host=args.host,
        speed=args.speed,
    )
    sim.inbound_context = args.context or entry_context(sim.dialplan)
    if text is not None and args.lines != "off":
        for number in dialled_lines(text):
            sim.add_endpoint(number, Endpoint(args.lines, answer_after=3, talk_time=None))
    if text is not None:
        for queue in sim.queues.queues:
            for i in range(1, max(0, args.agents) + 1):
                sim.add_agent(queue, f"sim-{queue}-{i}", Endpoint("answer", answer_after=3, talk_time=120),
                              member_name=f"模拟坐席{i}")
    keys = menu_keys(sim.dialplan, sim.inbound_context)
    wait_for_menu = any(st.app == "Background" for ctx in sim.dialplan.contexts.values()
                        for ext in ctx.extensions.values() for st in ext.steps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    async with sim:
        print(f"AMI listening on {args.host}:{sim.bound_port} (user {args.username}); inbound calls enter "
              f"{sim.inbound_context}", flush=True)
        rng = random.Random()
        for i in range(args.demo_calls):
            if stop.is_set():
                break
            await sim.place_call(f"138{rng.randint(0, 99999999):08d}", "12319",
                                 random_script(rng, keys, wait_for_menu))
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
