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
