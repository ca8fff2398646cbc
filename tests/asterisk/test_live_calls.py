"""Real SIP calls through the rendered IVR on a real Asterisk 20, recorded by a real
``hotline serve``, compared with Asterisk's own CDR and queue_log (decision 0012).

Phases (each a module fixture, run once, in this order):

A  open, agents signed in: every menu branch, 19 calls at once, then a burst of 20 concurrent calls;
B  no agent signed in: the caller leaves a message (one speaks, one says nothing);
C  the app restarts into rules that are closed now (rendered and reloaded in Asterisk, as an
   operator does) while a caller talks to an agent: the call is adopted; an after-hours message;
D  the app's FastAGI is unreachable: the dialplan's own schedule decides, the call is still recorded.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from ivr.scripts import digits_for_ticket

from asterisk_records import asterisk_calls, compare
from asterisk_support import free_port
from sipp_scenarios import caller_number

pytestmark = pytest.mark.slow

TZ = ZoneInfo("Asia/Shanghai")
W = 1.5            # the menu listens ~0.5 s after the answer (two AGIs, a 0.3 s welcome)
DISTRICT_KEYS = {"1": "150402", "2": "150403", "3": "150404", "4": "150428"}
NAMES = {"150402": "红山区", "150403": "元宝山区", "150404": "松山区", "150428": "喀喇沁旗"}


def district(key: str, talk: float = 3) -> list[tuple]:
    return [("wait", W), ("dtmf", "2"), ("wait", W), ("dtmf", key), ("wait", talk), ("hangup",)]


class Plan:
    """Named calls with unique caller numbers (the mode digit picks the far ends' behaviour)."""

    def __init__(self, tier, first_seq: int):
        self.tier, self.seq = tier, first_seq
        self.callers: dict[str, str] = {}
        self.sipp: dict[str, object] = {}

    def place(self, name: str, mode: str, steps: list[tuple]) -> None:
        self.seq += 1
        caller = caller_number(mode, self.seq)
        self.callers[name] = caller
        self.sipp[name] = self.tier.sipp.call(caller, steps)

    def finish(self, timeout: float = 150) -> dict:
        """Wait for every sipp call, then for the app's rows; returns name → call row."""
        deadline = time.monotonic() + timeout
        failed = []
        for name, call in self.sipp.items():
            rc = call.wait(max(1.0, deadline - time.monotonic()))
            if rc != 0:
                failed.append(f"{name}: sipp exit {rc}: {_tail(call)}")
        assert not failed, "\n".join(failed)
        rows = self.tier.calls_by_caller(list(self.callers.values()), timeout=90)
        return {name: rows[caller] for name, caller in self.callers.items()}


def _tail(call) -> str:
    err = call.log.with_suffix(".err")
    return (err.read_text(errors="replace")[:1500] if err.exists() else call.log.read_text(errors="replace")[-800:])


def steps(call) -> list[tuple[str, str, str]]:
    return [(s["menu"], s["kind"], s["value"]) for s in call.ivr_path if s["kind"] != "agi"]


def live_call(client: httpx.Client, caller: str, phase: str, timeout: float = 40) -> dict:
    """The caller's entry in /api/calls/live once it is in ``phase``."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        for c in client.get("/api/calls/live").json()["calls"]:
            if c["caller"] == caller:
                seen = c
                if c["phase"] == phase:
                    return c
        time.sleep(0.2)
    raise AssertionError(f"{caller} never in phase {phase}: last seen {seen}")


# -- phase A ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ticket(tier) -> dict:
    """An open ticket of a repeat caller in 松山区, registered through the API as an agent does."""
    with tier.serve.client() as agent:
        r = agent.post("/api/tickets", json={
            "caller_number": caller_number("0", 900), "category_code": "06010", "district_code": "150404",
            "description": "小区门口垃圾堆积三天无人清运"})
        assert r.status_code == 201, r.text
        return r.json()["ticket"]


@pytest.fixture(scope="module")
def phase_a(tier, ticket):
    t0 = time.monotonic()
    plan = Plan(tier, 0)
    plan.place("agent", "0", [("wait", W), ("dtmf", "0"), ("await_bye", 60)])
    plan.place("mongolian", "0", [("wait", W), ("dtmf", "9"), ("await_bye", 60)])
    for key, code in DISTRICT_KEYS.items():
        plan.place(f"district_{code}", "0", district(key))
    plan.place("district_busy", "1", [("wait", W), ("dtmf", "2"), ("wait", W), ("dtmf", "1"), ("await_bye", 80)])
    plan.place("district_noanswer", "2", [("wait", W), ("dtmf", "2"), ("wait", W), ("dtmf", "2"), ("await_bye", 100)])
    plan.place("district_failed", "4", [("wait", W), ("dtmf", "2"), ("wait", W), ("dtmf", "3"), ("wait", 8), ("hangup",)])
    plan.place("repeat", "0", [("wait", W), ("dtmf", "2"), ("wait", W), ("dtmf", "*"), ("wait", W), ("dtmf", "4"),
                               ("wait", 3), ("hangup",)])
    plan.place("invalid", "0", [("wait", W), ("dtmf", "7"), ("wait", W), ("dtmf", "8"), ("wait", W), ("dtmf", "5"),
                                ("await_bye", 80)])
    plan.place("timeout", "0", [("await_bye", 90)])
    plan.place("ticket_found", "0", [("wait", W), ("dtmf", "3"), ("wait", W),
                                     ("dtmf", digits_for_ticket(ticket["number"]) + "#"), ("wait", 10), ("hangup",)])
    plan.place("ticket_not_found", "0", [("wait", W), ("dtmf", "3"), ("wait", W), ("dtmf", "999#"), ("wait", 3),
                                         ("hangup",)])
    plan.callers["offer"] = ticket["caller_number"]
    plan.sipp["offer"] = tier.sipp.call(ticket["caller_number"], district("1"))
    plan.place("console_transfer", "3", [("wait", W), ("dtmf", "0"), ("wait", 24), ("hangup",)])
    plan.place("hangup_welcome", "0", [("wait", 0.2), ("hangup",)])
    plan.place("hangup_menu", "0", [("wait", 2.5), ("hangup",)])
    plan.place("vanish", "4", [("wait", 10), ("dtmf", "9"), ("wait", 1), ("vanish",)])
    # the agent console: transfer the caller who talks to an agent to 元宝山区's line
    observed: dict = {}
    with tier.serve.client() as agent:
        entry = live_call(agent, plan.callers["console_transfer"], "agent")
        r = agent.post(f"/api/calls/{entry['call_id']}/transfer", json={"district_code": "150403"})
        observed["transfer"] = (r.status_code, r.json())
        observed["district_phase"] = live_call(agent, plan.callers["console_transfer"], "district")
    # 20 concurrent calls while the slow branches (30 s ring, queue, vanished caller) go on
    burst = Plan(tier, 100)
    for i in range(20):
        burst.place(f"burst_{i:02d}", "0", district(str(i % 4 + 1), talk=4))
    burst_rows = burst.finish()
    rows = plan.finish()
    tier.timings["phase_a"] = time.monotonic() - t0
    return {"rows": rows, "burst": burst_rows, "observed": observed, "ticket": ticket}


def test_the_app_runs_before_asterisk_and_reports_not_ready(tier):
    seen = tier.readiness_before_asterisk
    assert seen["serve_alive"]                                   # no exit code 3 any more
    assert seen["status_code"] == 503 and seen["status"] == "not ready"
    assert seen["checks"]["telephony"].startswith("error: AMI 127.0.0.1:") and "retrying" in seen["checks"]["telephony"]
    assert seen["telephony"] == "asterisk"
    r = httpx.get(tier.serve.base + "/readyz", timeout=5)      # Asterisk came up: the app attached by itself
    assert r.status_code == 200 and r.json()["checks"]["telephony"] == "ok"


def test_agent_queue_and_mongolian_queue(phase_a):
    rows = phase_a["rows"]
    agent, mongolian = rows["agent"], rows["mongolian"]
    assert (agent.disposition, agent.queue, agent.agent) == ("agent", "agents", agent.agent)
    assert agent.agent.startswith("坐席100") and agent.dialed == "12319"
    assert (mongolian.disposition, mongolian.queue, mongolian.agent) == ("agent", "mongolian", "坐席2001")
    assert steps(mongolian)[-1] == ("hl12319-queue", "enter", "mongolian")


@pytest.mark.parametrize("code", list(NAMES))
def test_each_district_line_answers(phase_a, tier, code):
    call = phase_a["rows"][f"district_{code}"]
    [t] = call.transfers
    assert (t["kind"], t["district_code"], t["result"], t["dial_status"]) == ("district_line", code, "answered", "ANSWER")
    assert call.disposition == "transferred" and tier.tickets_of(call.id) == []


def test_busy_and_unanswered_lines_fall_back_to_an_agent(phase_a):
    busy, noanswer = phase_a["rows"]["district_busy"], phase_a["rows"]["district_noanswer"]
    assert [(t["district_code"], t["result"]) for t in busy.transfers] == [("150402", "busy")]
    assert [(t["district_code"], t["result"]) for t in noanswer.transfers] == [("150403", "no_answer")]
    for call in (busy, noanswer):
        assert call.disposition == "agent" and call.queue == "agents"
        assert call.variables["HOTLINE_TRANSFER_FAILED"] == call.transfers[0]["district_code"]


def test_failed_line_and_nobody_answering_opens_a_ticket_naming_the_district(phase_a, tier):
    call = phase_a["rows"]["district_failed"]
    assert [t["result"] for t in call.transfers] == ["busy"] and call.disposition == "abandoned"
    [(ticket, events)] = tier.tickets_of(call.id)
    assert ticket.district_code == "150404"
    assert ticket.description == "转接松山区受理专线未接通（忙线），请回拨来电人了解诉求。"
    # the MixMonitor header of the unanswered queue call is not attached
    assert events[0].data["recordings"] == []


def test_star_repeats_the_menu(phase_a):
    call = phase_a["rows"]["repeat"]
    choices = [s for s in steps(call) if s[1] == "choice"]
    assert choices == [("hl12319-menu-main", "choice", "2"), ("hl12319-menu-districts", "choice", "*"),
                       ("hl12319-menu-districts", "choice", "4")]
    assert [t["district_code"] for t in call.transfers] == ["150428"]


def test_invalid_keys_and_silence_end_at_an_agent(phase_a):
    invalid, timeout = phase_a["rows"]["invalid"], phase_a["rows"]["timeout"]
    assert [s[1] for s in steps(invalid) if s[0] == "hl12319-menu-main"].count("invalid") == 3
    assert [s[1] for s in steps(timeout) if s[0] == "hl12319-menu-main"].count("timeout") == 3
    assert [s[2] for s in steps(invalid) if s[1] == "invalid"] == ["7", "8", "5"]
    for call in (invalid, timeout):      # more than max_retries (2): an agent takes the call
        assert steps(call)[-2:] == [("hl12319-menu-main", "maxretries", ""), ("hl12319-queue", "enter", "agents")]
        assert call.disposition == "agent" and call.queue == "agents"


def test_ticket_status_found_and_not_found(phase_a, tier):
    found, missing = phase_a["rows"]["ticket_found"], phase_a["rows"]["ticket_not_found"]
    assert found.variables["HOTLINE_TICKET_STATE"] == "received"
    assert found.variables["HOTLINE_TICKET_NUMBER"] == phase_a["ticket"]["number"]
    assert found.disposition == "self_served"
    assert missing.variables.get("HOTLINE_TICKET_STATE", "") == "" and missing.variables["HOTLINE_TICKET_TRIES"] == "1"
    assert missing.disposition == "abandoned"
    # the number was read back with the generated Chinese digits, not English or silence
    log = (tier.asterisk.work / "log" / "full").read_text(errors="replace")
    assert re.search(r"Playing 'digits/\d\.slin' \(language 'zh'\)", log)
    assert not re.search(r"digits/\d.*does not exist", log)


def test_a_repeat_caller_is_offered_the_district_of_the_open_ticket(phase_a):
    call = phase_a["rows"]["offer"]
    assert call.variables["HOTLINE_OFFERED_DISTRICT"] == "150404" and call.variables["HOTLINE_OFFER"] == "150404"
    assert [(t["district_code"], t["result"]) for t in call.transfers] == [("150404", "answered")]


def test_agent_console_transfer_to_a_district_line(phase_a):
    status, body = phase_a["observed"]["transfer"]
    assert status == 202 and body["target"] == "district:150403"
    live = phase_a["observed"]["district_phase"]                # was "ivr" before (issue 14)
    assert live["phase"] == "district" and live["transfers"][-1]["result"] == "answered"
    call = phase_a["rows"]["console_transfer"]
    assert call.agent and call.disposition == "transferred"
    assert [(t["district_code"], t["result"]) for t in call.transfers] == [("150403", "answered")]


def test_hang_ups_in_the_welcome_and_in_the_menu(phase_a):
    welcome, menu = phase_a["rows"]["hangup_welcome"], phase_a["rows"]["hangup_menu"]
    assert welcome.disposition == menu.disposition == "abandoned"
    assert {s[0] for s in steps(welcome)} <= {"from-trunk", "hl12319-entry"}     # never reached the menu
    assert steps(menu)[-1] == ("hl12319-menu-main", "enter", "")


def test_a_caller_who_vanishes_without_bye_is_hung_up_by_rtp_timeout(phase_a, tier):
    call = phase_a["rows"]["vanish"]
    held = (call.ended_at - call.started_at).total_seconds()
    assert 60 <= held < 90, held                                 # rtp_timeout = 60, not the 1,800 s session timer
    assert call.disposition == "abandoned" and call.queue == "mongolian"
    log = (tier.asterisk.work / "log" / "full").read_text(errors="replace")
    assert re.search(r"Disconnecting channel .* for lack of \w* ?RTP activity in 60 seconds", log)


def test_twenty_concurrent_calls(phase_a):
    burst = phase_a["burst"]
    assert len(burst) == 20
    assert {c.disposition for c in burst.values()} == {"transferred"}
    assert sorted(c.transfers[0]["district_code"] for c in burst.values()) == sorted(
        DISTRICT_KEYS[str(i % 4 + 1)] for i in range(20))


def test_queue_callers_hear_the_generated_hold_music(phase_a, tier):
    log = (tier.asterisk.work / "log" / "full").read_text(errors="replace")
    assert "Started music on hold, class 'hl12319'" in log
    assert "Unable to start music on hold" not in log


# -- phase B: nobody signed in ----------------------------------------------------------------
@pytest.fixture(scope="module")
def phase_b(tier, phase_a):
    t0 = time.monotonic()
    tier.sign_out()
    plan = Plan(tier, 200)
    plan.place("message", "0", [("wait", W), ("dtmf", "0"), ("wait", 1.0), ("speak",), ("hangup",)])
    plan.place("silent", "0", [("wait", W), ("dtmf", "0"), ("wait", 1.2), ("hangup",)])
    rows = plan.finish()
    tier.sign_in()
    tier.timings["phase_b"] = time.monotonic() - t0
    return rows


def test_no_agent_signed_in_the_caller_leaves_a_message(phase_b, tier):
    call = phase_b["message"]
    assert call.variables["HOTLINE_QUEUE_STATUS"] == "JOINEMPTY"
    assert call.variables["HOTLINE_MESSAGE_REASON"] == "queue_unavailable" and call.disposition == "voicemail"
    [(ticket, events)] = tier.tickets_of(call.id)
    assert ticket.description.startswith("人工坐席无人接听")            # not 非工作时间 (issue 14)
    [message] = events[0].data["recordings"]                          # the queue's empty MixMonitor file is not
    assert message.startswith(str(tier.asterisk.messages_dir))
    assert os.path.getsize(message) > 16000 * 3                       # seconds of speech, not a header


def test_a_caller_who_says_nothing_gets_a_ticket_without_a_recording(phase_b, tier):
    call = phase_b["silent"]
    assert call.disposition == "voicemail" and int(call.variables["HOTLINE_MESSAGE_BYTES"]) <= 44
    [(ticket, events)] = tier.tickets_of(call.id)
    assert "未录到留言内容" in ticket.description and events[0].data["recordings"] == []


# -- phase C: restart into closed rules with a caller on the line --------------------------------
@pytest.fixture(scope="module")
def phase_c(tier, phase_b):
    t0 = time.monotonic()
    plan = Plan(tier, 300)
    plan.place("adopted", "3", [("wait", W), ("dtmf", "0"), ("await_bye", 90)])
    with tier.serve.client() as agent:
        before = live_call(agent, plan.callers["adopted"], "agent")
    tier.serve.stop()
    tier.asterisk.reload_dialplan(tier.closed_rules)          # the operator's rules change
    tier.serve.start(tier.closed_rules)
    with tier.serve.client() as agent:
        after = live_call(agent, plan.callers["adopted"], "agent")
    plan.place("after_hours", "0", [("wait", 1.0), ("speak",), ("hangup",)])
    rows = plan.finish()
    tier.timings["phase_c"] = time.monotonic() - t0
    return {"rows": rows, "before": before, "after": after}


def test_a_call_adopted_after_a_restart_keeps_its_number_answer_time_and_agent(phase_c):
    after, call = phase_c["after"], phase_c["rows"]["adopted"]
    assert after["call_id"] == phase_c["before"]["call_id"]
    assert after["dialed"] == "12319"                           # was "s"
    assert after["answered_at"] is not None                     # was none
    answered = datetime.fromisoformat(after["answered_at"])
    assert abs((answered - datetime.fromisoformat(phase_c["before"]["answered_at"])).total_seconds()) < 1.5
    assert call.dialed == "12319" and call.disposition == "agent" and call.agent == phase_c["before"]["agent"]


def test_after_hours_message(phase_c, tier):
    call = phase_c["rows"]["after_hours"]
    assert call.variables["HOTLINE_OPEN"] == "0" and call.variables["HOTLINE_MESSAGE_REASON"] == "after_hours"
    [(ticket, events)] = tier.tickets_of(call.id)
    assert ticket.description == "非工作时间来电留言，请听取录音后补录诉求内容并回复来电人。"
    [message] = events[0].data["recordings"]
    assert os.path.getsize(message) > 16000 * 3


# -- phase D: the app's AGI is down ---------------------------------------------------------------
@pytest.fixture(scope="module")
def phase_d(tier, phase_c):
    t0 = time.monotonic()
    tier.serve.stop()
    tier.serve.start(tier.closed_rules, agi_port=free_port())  # the dialplan's AGI port: nobody listens
    plan = Plan(tier, 400)
    plan.place("agi_down", "0", [("wait", 1.0), ("speak",), ("hangup",)])
    rows = plan.finish()
    tier.timings["phase_d"] = time.monotonic() - t0
    return rows


def test_with_the_agi_down_the_dialplan_schedule_decides_and_the_call_is_recorded(phase_d, tier):
    call = phase_d["agi_down"]
    assert call.variables["HOTLINE_HOURS_SOURCE"] == "schedule" and call.variables.get("HOTLINE_OPEN", "") == ""
    assert "HOTLINE_OPEN_TICKETS" not in call.variables       # caller_lookup failed too
    assert call.disposition == "voicemail"
    [(ticket, _)] = tier.tickets_of(call.id)
    assert ticket.description.startswith("非工作时间来电留言")


# -- everything against Asterisk's own records ---------------------------------------------------
def test_every_call_matches_asterisks_cdr_and_queue_log(tier, phase_a, phase_b, phase_c, phase_d):
    time.sleep(1.0)                                             # the last CDRs are written at hang-up
    ours = {c.call_id: c for c in tier.all_calls()}
    theirs = asterisk_calls(tier.asterisk.cdr(), tier.asterisk.queue_log())
    assert set(ours) == set(theirs), (set(ours) ^ set(theirs))
    adopted = {phase_c["rows"]["adopted"].call_id}
    problems = {cid: p for cid, call in ours.items() if (p := compare(call, theirs[cid], adopted=cid in adopted))}
    assert problems == {}
    n = len(ours)
    assert n >= 43                                               # every call of phases A–D
    tier.timings["calls"] = n
    print(f"\nAsterisk tier: {n} calls compared, timings {tier.timings}")
