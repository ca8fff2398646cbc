"""IVR benchmark: answer-to-agent time with the shipped menu vs menu-less, and IVR containment.

Issue "IVR", measurements. Everything is the real stack of ``hotline serve`` in simulator
mode: ``hotline.telephony.TelephonyService`` renders the dialplan from the rules, the PBX
simulator runs it, the REAL FastAGI scripts (``ivr.scripts``) answer through
``SqlDirectory`` from a migrated SQLite database holding real tickets, the AMI controller
and call tracker follow every call over TCP and the recorder stores each ``Call`` row —
the figures are computed from those rows.

Prompt durations are the durations of the real prompt audio (``ivr.prompts.build_prompts``:
espeak-ng ``cmn`` → 8 kHz WAV); ``SAY DIGITS`` takes 0.5 s a digit (simulator).

Simulated callers (seeded), with think times:
  * they listen until the menu prompt has announced their option, then react after a
    log-normal delay (median 1.2 s, σ 0.5); 8 % press a wrong key first, 4 % stay silent
    (timeouts → agent after the retries);
  * goals (mixed workload): report a problem (key 1) 48 %, an agent (0) 10 %, their district's
    line (2 → district key) 18 %, ticket status (3) 14 % — 75 % of them key an existing
    ticket's 13 digits (≈ 0.3 s per digit), listen to the read-back and state and hang up, 25 % key
    a wrong number, hear "not found" and ask for an agent via the retry limit —, Mongolian
    seat (9) 2 %, plus the 8 % confused callers spread over the goals;
  * menu-less mode: same callers, straight to the agent queue after the welcome prompt.

Agents: plenty (the queue never waits for a free agent), ringing ``--agent-ring`` seconds, so
answer→agent measures the IVR itself. District lines: answer 80 %, busy 10 %, no answer 10 %
(busy / no answer fall back to the agent queue).

Times are simulated seconds on the accelerated clock (``--speed``). Real processing
latency (AGI round trips, SQL) is scaled up by the speed factor, so it is over-counted:
at speed 10 a 5 ms AGI exchange shows as 0.05 s. Keep the concurrency low: event-loop lag
is real time too and would be multiplied the same way (``--verbose`` lists every call).

    .venv/bin/python benchmarks/ivr_bench.py --calls 200 --speed 10 --concurrency 6 --out benchmarks/results/ivr.md
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import math
import random
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline.calls.models import Call  # noqa: E402
from hotline.cases.service import create_ticket  # noqa: E402
from hotline.config import Settings  # noqa: E402
from hotline.database import make_engine, session_factory, transaction  # noqa: E402
from hotline.migrate import upgrade  # noqa: E402
from hotline.rules import parse_rules  # noqa: E402
from hotline.telephony import RandomEndpoint, TelephonyService  # noqa: E402
from ivr.flow import flow_from_rules  # noqa: E402
from ivr.scripts import digits_for_ticket  # noqa: E402
from ivr.simulator import CallerScript, Endpoint  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
OPEN_AT = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
GOALS = {"report": 0.48, "agent": 0.10, "district": 0.18, "status": 0.14, "mongolian": 0.02}
CONFUSED, SILENT = 0.08, 0.04


@dataclass
class Timing:
    welcome: float
    menus: dict[str, tuple[float, str]]   # menu id -> (prompt seconds, prompt text)


def prompt_audio_seconds(flow, out_dir: Path) -> dict[str, float]:
    from ivr.prompts import build_prompts

    build_prompts(flow, out_dir)
    out = {}
    for p in flow.prompts():
        with wave.open(str(out_dir / f"{p.file}.wav")) as w:
            out[f"hl12319/{p.file}"] = w.getnframes() / w.getframerate()
    return out


def option_heard_at(seconds: float, text: str, key: str) -> float:
    """When the prompt has announced ``key`` (…请按<key>): the share of its characters."""
    spoken = {"*": "星号", "#": "井号"}.get(key, key)
    idx = text.find("按" + spoken)
    if idx < 0:
        return seconds
    return seconds * (idx + 1 + len(spoken)) / len(text)


def reaction(rng: random.Random) -> float:
    return rng.lognormvariate(math.log(1.2), 0.5)


def caller_script(rng: random.Random, goal: str, menu_less: bool, timing: Timing, districts: str,
                  known: list[str]) -> tuple[CallerScript, str]:
    """The caller's script and its kind (goal with variant)."""
    s = CallerScript(digit_gap=0.3)
    if menu_less:
        return s.wait(900).hangup(), goal  # waits for the agent (who ends the talk)
    main_s, main_text = timing.menus["main"]
    kind = goal
    s = s.until_app("Background")
    if rng.random() < SILENT:
        return s.wait(900).hangup(), "silent"
    key = {"report": "1", "agent": "0", "district": "2", "status": "3", "mongolian": "9"}[goal]
    if rng.random() < CONFUSED:
        s = s.wait(option_heard_at(main_s, main_text, "9") * 0.5 + reaction(rng)).press("7") \
            .wait(1).until_app("Background")
        kind += "+invalid"
    s = s.wait(option_heard_at(main_s, main_text, key) + reaction(rng)).press(key)
    if goal == "district":
        sub_s, sub_text = timing.menus["districts"]
        d = rng.choice(districts)
        s = s.wait(1).until_app("Background").wait(option_heard_at(sub_s, sub_text, d) + reaction(rng)).press(d)
        return s.wait(900).hangup(), kind
    if goal == "status":
        if rng.random() < 0.75:
            digits = rng.choice(known)
            s = s.wait(0.5).until_app("Read").wait(reaction(rng) + 1.0).press(digits + "#")
            # read-back + state prompt, then the menu again: the caller is done
            return s.wait(1).until_app("Background").wait(reaction(rng)).hangup(), kind + ":found"
        bad = "20261127" + f"{rng.randint(50000, 99999):05d}"
        for _ in range(3):  # not found, not found, not found → an agent
            s = s.wait(0.5).until_app("Read").wait(reaction(rng) + 1.0).press(bad + "#").wait(1)
        return s.wait(900).hangup(), kind + ":not_found"
    return s.wait(900).hangup(), kind


async def run_mode(menu_less: bool, args, rules_data: dict, audio: dict[str, float], workdir: Path) -> list[dict]:
    data = copy.deepcopy(rules_data)
    data["ivr"]["menu_less"] = menu_less
    rules, issues = parse_rules(yaml.safe_dump(data, allow_unicode=True))
    assert rules is not None, issues
    flow = flow_from_rules(rules)
    db = workdir / ("menuless.sqlite3" if menu_less else "menu.sqlite3")
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    sessions = session_factory(engine)
    known = []
    with transaction(sessions) as s:
        for i in range(40):
            t = create_ticket(s, channel="phone", caller_number=f"139{i:08d}", category=None,
                              description="路面破损", district_code="150402", actor=None, actor_name="bench",
                              at=OPEN_AT, tz=TZ)
            known.append(digits_for_ticket(t.number))
    agents = [("agents", f"PJSIP/agent-{1000 + i}", f"坐席{1000 + i}") for i in range(args.agents)]
    agents += [("mongolian", f"PJSIP/agent-{2000 + i}", f"蒙古语坐席{2000 + i}") for i in range(4)]
    settings = Settings(var_dir=workdir / ("var-ml" if menu_less else "var-menu"), demo_call_rate=0,
                        ami_host="", agi_port=0)
    svc = TelephonyService(settings, sessions, sim_speed=args.speed, rules=rules, clock=lambda: OPEN_AT,
                           sim_agents=agents, demo_seed=args.seed)
    await svc.start()
    sim = svc.simulator
    sim.interp.sound_seconds.update(audio)
    rng = random.Random(args.seed)
    for _, iface, _ in agents:
        sim.add_endpoint(iface.partition("/")[2], Endpoint("answer", answer_after=args.agent_ring,
                                                            talk_time=args.talk))
    for d in flow.districts:
        sim.add_endpoint(d.number, RandomEndpoint(rng, busy=0.1, noanswer=0.1, answer_after=(3.0, 3.0),
                                                  talk_time=(args.talk, args.talk)))
    timing = Timing(audio["hl12319/welcome"],
                    {m.id: (audio[f"hl12319/{m.prompt.file}"], m.prompt.text) for m in flow.menus})
    districts = "".join(o.key for m in flow.menus for o in m.options
                        if getattr(o.action, "value", "") == "district_transfer")
    crng = random.Random(args.seed + 1)
    goals, weights = zip(*GOALS.items())
    plan = []
    for _ in range(args.calls):
        goal = crng.choices(goals, weights)[0]
        plan.append(caller_script(crng, goal, menu_less, timing, districts or "1234", known))
    sem = asyncio.Semaphore(args.concurrency)
    kinds: dict[str, str] = {}

    async def one(i: int, script: CallerScript, kind: str) -> None:
        async with sem:
            h = await sim.place_call(caller=f"1380000{i:04d}", dialed="12319", script=script)
            kinds[h.linkedid] = kind
            await h.wait_ended(timeout=args.talk * 20 + 900)

    # warm-up (excluded): first AGI connections, SQL statements and imports cost real time,
    # which the accelerated clock would multiply
    for i in range(args.warmup):
        await one(9000 + i, CallerScript().until_app("Queue" if menu_less else "Background").wait(1).hangup(),
                  "warmup")
    started = time.monotonic()
    await asyncio.gather(*(one(i, sc, k) for i, (sc, k) in enumerate(plan)))
    await asyncio.sleep(0.2)
    await svc.bus.drain()
    wall = time.monotonic() - started
    await svc.stop()
    with sessions() as s:
        calls = list(s.scalars(select(Call)))
    engine.dispose()
    rows = []
    for c in calls:
        if kinds.get(c.call_id) == "warmup":
            continue
        wait = ((c.agent_answered_at - c.answered_at).total_seconds()
                if c.agent_answered_at and c.answered_at else None)
        rows.append({"kind": kinds.get(c.call_id, "?"), "disposition": c.disposition, "to_agent": wait,
                     "ticket_state": (c.variables or {}).get("HOTLINE_TICKET_STATE", ""),
                     "transfers": c.transfers, "answered": c.answered_at is not None})
    print(f"{'menu-less' if menu_less else 'menu'}: {len(rows)} calls in {wall:.1f} s real", file=sys.stderr)
    if args.verbose:
        for r in rows:
            print(r["kind"], r["disposition"], r["to_agent"], r["ticket_state"],
                  [t.get("result") for t in r["transfers"]], file=sys.stderr)
    return rows


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarise(rows: list[dict]) -> dict:
    to_agent = [r["to_agent"] for r in rows if r["to_agent"] is not None]
    entered = [r for r in rows if r["answered"]]
    self_served = [r for r in entered if r["disposition"] == "self_served" and r["ticket_state"]
                   and r["to_agent"] is None]
    district_ok = [r for r in entered if r["disposition"] == "transferred"]
    by_disp: dict[str, int] = {}
    for r in rows:
        by_disp[r["disposition"] or "-"] = by_disp.get(r["disposition"] or "-", 0) + 1
    return {"calls": len(rows), "entered": len(entered), "agent_calls": len(to_agent),
            "median": statistics.median(to_agent) if to_agent else float("nan"), "p95": pct(to_agent, 0.95),
            "containment": len(self_served) / len(entered) if entered else float("nan"),
            "self_served": len(self_served), "district_answered": len(district_ok),
            "tracker_self_served": by_disp.get("self_served", 0), "dispositions": by_disp}


def by_kind(rows: list[dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in rows:
        if r["to_agent"] is not None:
            out.setdefault(r["kind"], []).append(r["to_agent"])
    return out


def report(args, menu: dict, less: dict, menu_rows: list[dict], audio: dict[str, float], command: str) -> str:
    lines = [
        "# IVR benchmark: answer → agent, containment", "",
        f"Command: `{command}`", "",
        f"Run: {datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}, {args.calls} calls per mode, "
        f"seed {args.seed}, clock ×{args.speed}, {args.agents} agents (+4 Mongolian), agent ring "
        f"{args.agent_ring} s, talk {args.talk} s, {args.concurrency} callers at a time, {args.warmup} warm-up calls excluded. Real stack: TelephonyService (simulator mode) → rendered "
        "dialplan → FastAGI scripts → SqlDirectory (SQLite) → AMI → tracker → recorder; figures from the "
        "stored Call rows. Times in simulated seconds.", "",
        f"Prompt audio (espeak-ng, real WAV durations): welcome {audio['hl12319/welcome']:.1f} s, main menu "
        f"{audio['hl12319/menu-main']:.1f} s, district menu {audio.get('hl12319/menu-districts', 0):.1f} s.", "",
        "## Answer → agent (calls that reached an agent)", "",
        "| mode | calls reaching an agent | median (s) | p95 (s) |", "|---|---:|---:|---:|",
        f"| shipped menu | {menu['agent_calls']} / {menu['calls']} | {menu['median']:.1f} | {menu['p95']:.1f} |",
        f"| menu-less | {less['agent_calls']} / {less['calls']} | {less['median']:.1f} | {less['p95']:.1f} |", "",
        "Shipped menu, by caller kind:", "", "| caller kind | n | median (s) | p95 (s) |", "|---|---:|---:|---:|",
    ]
    for kind, vals in sorted(by_kind(menu_rows).items()):
        lines.append(f"| {kind} | {len(vals)} | {statistics.median(vals):.1f} | {pct(vals, 0.95):.1f} |")
    lines += [
        "", "## Containment (mixed workload, shipped menu)", "",
        f"* Calls entering the IVR (answered): {menu['entered']}",
        f"* Fully served by self-service (ticket status read back, hung up without an agent): "
        f"{menu['self_served']} → **containment {menu['containment']:.1%}**",
        f"* Handed to a district line that answered (not self-service, but no 12319 agent): "
        f"{menu['district_answered']} ({menu['district_answered'] / max(1, menu['entered']):.1%})",
        f"* Agent-handled calls: {menu['agent_calls']} of {menu['calls']} with the menu vs "
        f"{less['agent_calls']} of {less['calls']} menu-less",
        f"* The tracker's own `self_served` disposition counts {menu['tracker_self_served']} calls "
        "(only calls the dialplan marked as served); containment above counts only read-backs.",
        f"* Dispositions with the menu: {menu['dispositions']}; menu-less: {less['dispositions']}", "",
        "Notes: real AGI/SQL latency is multiplied by the clock factor (over-counted). Queue waits are "
        "excluded by design (ample agents): this is the IVR's own cost, not staffing.",
    ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=6)
    ap.add_argument("--agents", type=int, default=40)
    ap.add_argument("--agent-ring", type=float, default=3.0)
    ap.add_argument("--talk", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=12319)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rules_data = yaml.safe_load((ROOT / "routing_rules.yaml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        work = Path(tmp)
        rules, _ = parse_rules(yaml.safe_dump(rules_data, allow_unicode=True))
        audio = prompt_audio_seconds(flow_from_rules(rules), work / "prompts")
        menu_rows = await run_mode(False, args, rules_data, audio, work)
        less_rows = await run_mode(True, args, rules_data, audio, work)
    menu, less = summarise(menu_rows), summarise(less_rows)
    command = ".venv/bin/python benchmarks/ivr_bench.py " + " ".join(sys.argv[1:])
    text = report(args, menu, less, menu_rows, audio, command)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
