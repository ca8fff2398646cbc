"""Demo callers follow a realistic mix in and out of hours (an outside test found the demo
creating ~700 empty tickets an hour after hours: every caller left a message)."""

from __future__ import annotations

import random
import statistics

from ivr.demo import AFTER_HOURS_MESSAGE_SHARE, DemoMix, DemoTraffic, after_hours_script, agent_script


def _leaves_message(script) -> bool:
    return any(step.kind == "until_app" and step.value == "Record" for step in script.steps)


def test_after_hours_only_some_callers_leave_a_message():
    rng = random.Random(7)
    share = sum(_leaves_message(after_hours_script(rng)) for _ in range(2_000)) / 2_000
    assert abs(share - AFTER_HOURS_MESSAGE_SHARE) < 0.04 and AFTER_HOURS_MESSAGE_SHARE < 0.5


def test_after_hours_far_fewer_people_call():
    open_now = [True]
    traffic = DemoTraffic(sim=None, rate=0.2, seed=3, is_open=lambda: open_now[0], after_hours_share=0.15)
    day = statistics.mean(traffic.next_gap() for _ in range(5_000))
    open_now[0] = False
    night = statistics.mean(traffic.next_gap() for _ in range(5_000))
    assert 4.5 < day < 5.5                       # 0.2 calls/s
    assert 30 < night < 37                       # 0.03 calls/s
    # ≈ 0.2 × 0.15 × 3600 × 0.35 ≈ 38 messages an hour instead of 720
    assert 3600 / night * AFTER_HOURS_MESSAGE_SHARE < 45


def test_the_agent_demo_call_presses_the_agent_key():
    mix = DemoMix(agent_key="0", district_key="3", ticket_key="9")
    script = agent_script(random.Random(1), mix, patience=300)
    kinds = [(s.kind, s.value) for s in script.steps]
    assert kinds[0] == ("until_app", "Background") and ("press", "0") in kinds and kinds[-1][0] == "hangup"
