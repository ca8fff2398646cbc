"""``python -m ivr.simulator`` runs a standalone PBX and stops cleanly on SIGINT."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

from sim_driver import AmiTap


async def test_standalone_simulator_serves_ami_and_stops_on_sigint() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.simulator", "--port", "0", "--speed", "20", "--demo-calls", "2",
        "--demo-interval", "1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        port = None
        while port is None:  # skip any log lines before the banner
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "simulator exited before listening"
            m = re.search(r"AMI listening on [\d.]+:(\d+) ", line)
            port = int(m.group(1)) if m else None
        async with AmiTap(port) as tap:
            await tap.wait_for(lambda m: m.name == "Newchannel", timeout=10)
            pong = await tap.action("Ping")
            assert pong.get("Ping") == "Pong"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_the_rendered_dialplan_is_recognised(tmp_path):
    """The operator's files: entry context, the district lines to answer, the menu's keys."""
    from hotline.config import PROJECT_ROOT
    from hotline.rules.loader import load_rules
    from ivr.dialplan import render_dialplan
    from ivr.flow import flow_from_rules
    from ivr.simulator.__main__ import dialled_lines, entry_context, menu_keys
    from ivr.simulator.conf import parse_extensions_conf

    rules = load_rules(PROJECT_ROOT / "routing_rules.yaml")
    render_dialplan(flow_from_rules(rules), out_dir=tmp_path)
    text = (tmp_path / "extensions.conf").read_text(encoding="utf-8")
    dialplan = parse_extensions_conf(text)
    assert entry_context(dialplan) == "hl12319-entry"
    assert dialled_lines(text) == sorted(d.line.replace("-", "") for d in rules.districts)
    assert set(menu_keys(dialplan, "hl12319-entry")) >= {"0", "1"}


async def test_standalone_simulator_runs_the_rendered_dialplan(tmp_path) -> None:
    """An outside test found every call failing: the entry context was hard-coded and no agents
    or lines existed. Calls now walk the rendered IVR (its AGI absent: the static schedule
    decides) into the menu or the after-hours message, and agents sit in the queues."""
    from hotline.config import PROJECT_ROOT
    from hotline.rules.loader import load_rules
    from ivr.dialplan import render_dialplan
    from ivr.flow import flow_from_rules

    render_dialplan(flow_from_rules(load_rules(PROJECT_ROOT / "routing_rules.yaml")), out_dir=tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.simulator", "--port", "0", "--speed", "30", "--demo-calls", "3",
        "--demo-interval", "2", "--dialplan", str(tmp_path / "extensions.conf"),
        "--queues", str(tmp_path / "queues.conf"), "--agents", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        port = None
        while port is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "simulator exited before listening"
            m = re.search(r"AMI listening on [\d.]+:(\d+) .*enter hl12319-entry", line)
            port = int(m.group(1)) if m else None
        async with AmiTap(port) as tap:
            await tap.action("QueueStatus")
            await tap.wait_for(lambda m: m.name == "QueueStatusComplete", timeout=5)
            members = {(m.get("Queue"), m.get("Name")) for m in tap.events("QueueMember")}
            await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Context") in (
                "hl12319-menu-main", "hl12319-message"), timeout=20)
        assert ("agents", "模拟坐席1") in members and ("mongolian", "模拟坐席1") in members
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
