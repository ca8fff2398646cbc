"""Rendering the flow as an Asterisk dialplan (ivr.dialplan + dialplans/*.j2)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.ivrconfig import render_dialplan_from_rules_file as render_from_rules_file
from ivr.dialplan import render_dialplan
from ivr.flow import flow_from_rules
from ivr.prompts import SOUNDS

from .confparse import Dialplan, goto_targets, parse, referenced_prompts, resolve, split_args
from .conftest import RULES_FILE

GOLDEN = Path(__file__).parent / "golden"

# asterisklint findings that are expected, with the reason.
LINT_WHITELIST = {
    # The rendered file is a fragment meant to be #include'd into the host's extensions.conf,
    # which owns [general] and [globals]; a fragment must not redefine them.
    "H_DP_GENERAL_MISPLACED": "fragment for #include: the host file has [general]",
    "H_DP_GLOBALS_MISPLACED": "fragment for #include: the host file has [globals]",
}


def _asterisklint() -> str | None:
    local = Path(sys.executable).with_name("asterisklint")
    return str(local) if local.exists() else shutil.which("asterisklint")


def lint(conf: Path) -> list[str]:
    exe = _asterisklint()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("asterisklint is not installed (pip install '.[lint]')")
        pytest.skip("asterisklint is not installed (pip install '.[lint]'); CI installs it")
    proc = subprocess.run([exe, "dialplan-check", str(conf)], capture_output=True, text=True, timeout=120)
    findings = [ln for ln in (proc.stdout + proc.stderr).splitlines() if re.search(r"\b[EWHI]_[A-Z_]+:", ln)]
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not findings):
        pytest.fail(f"asterisklint failed: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return findings


def unexplained(findings: list[str]) -> list[str]:
    return [f for f in findings if re.search(r"\b([EWHI]_[A-Z_]+):", f).group(1) not in LINT_WHITELIST]


def render(flow, tmp_path, **kw) -> tuple[Path, Dialplan]:
    paths = render_dialplan(flow, out_dir=tmp_path, **kw)
    ext = paths[0]
    assert ext.name == "extensions.conf"
    return ext, parse(ext.read_text(encoding="utf-8"))


@pytest.fixture
def shipped(shipped_rules, tmp_path):
    flow = flow_from_rules(shipped_rules)
    ext, dp = render(flow, tmp_path)
    return flow, ext, dp


def follow(dp: Dialplan, ctx: str, exten: str) -> tuple[list, tuple[str, str, int]]:
    """Steps from (ctx, exten, 1) up to the first unconditional Goto, and where it lands."""
    steps = dp.steps(ctx, exten)
    for i, st in enumerate(steps):
        if st.app == "Goto":
            return steps[: i + 1], resolve(dp, ctx, exten, st.args)
    raise AssertionError(f"{ctx},{exten} has no Goto")


# --- asterisklint ---------------------------------------------------------------------------------

def test_shipped_dialplan_passes_asterisklint(shipped):
    _, ext, _ = shipped
    assert unexplained(lint(ext)) == []


@pytest.mark.parametrize("variant", ["menu_less", "always_open", "no_messages"])
def test_variants_pass_asterisklint(variant, make_rules, tmp_path):
    edits = {
        "menu_less": lambda d: d["ivr"].update(menu_less=True),
        "always_open": lambda d: d.update(business_hours={"mode": "always"}),
        "no_messages": lambda d: d["ivr"]["after_hours"].update(leave_message=False),
    }
    ext, _ = render(flow_from_rules(make_rules(edits[variant])), tmp_path)
    assert unexplained(lint(ext)) == []


def test_asterisklint_gate_catches_a_broken_dialplan(shipped, tmp_path):
    _, ext, _ = shipped
    broken = tmp_path / "broken.conf"
    text = ext.read_text(encoding="utf-8")
    text = text.replace("Playback(hl12319/welcome)", "Playbak(hl12319/welcome)", 1)
    text = text.replace("Goto(hl12319-menu-districts,s,1)", "Goto(hl12319-menu-nowhere,s,1)", 1)
    broken.write_text(text, encoding="utf-8")
    found = " ".join(unexplained(lint(broken)))
    assert "E_APP_MISSING" in found and "E_DP_GOTO_NOCONTEXT" in found


# --- golden files ---------------------------------------------------------------------------------

def test_golden_files_for_the_shipped_rules(tmp_path):
    """Pin the rendered output; regenerate with UPDATE_GOLDEN=1 after an intended change."""
    paths = render_from_rules_file(RULES_FILE, tmp_path)
    assert [p.name for p in paths] == ["extensions.conf", "queues.conf", "manager.conf.example"]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        for p in paths:
            shutil.copyfile(p, GOLDEN / p.name)
    for p in paths:
        golden = GOLDEN / p.name
        assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1"
        assert p.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8"), (
            f"{p.name} differs from {golden}; if intended, run UPDATE_GOLDEN=1 pytest tests/dialplan")


def test_rendering_is_deterministic(shipped_rules, tmp_path):
    flow = flow_from_rules(shipped_rules)
    a = [p.read_bytes() for p in render_dialplan(flow, out_dir=tmp_path / "a")]
    b = [p.read_bytes() for p in render_dialplan(flow, out_dir=tmp_path / "b")]
    assert a == b


# --- structure ------------------------------------------------------------------------------------

def test_every_context_is_prefixed(shipped_rules, tmp_path):
    _, dp = render(flow_from_rules(shipped_rules), tmp_path, context_prefix="cf12319")
    assert dp.contexts and all(c.startswith("cf12319-") for c in dp.contexts)
    for ctx, exten, st in dp.apps():
        for target in goto_targets(st):
            parts = target.split(",")
            if len(parts) == 3:
                assert parts[0].startswith("cf12319-"), (ctx, exten, st)


def test_every_goto_target_exists(shipped):
    _, _, dp = shipped
    checked = 0
    for ctx, exten, st in dp.apps():
        for target in goto_targets(st):
            resolve(dp, ctx, exten, target)  # raises KeyError when missing
            checked += 1
    assert checked > 30


def test_each_menu_key_leads_where_the_rules_say(shipped, shipped_rules):
    flow, _, dp = shipped
    for rmenu in shipped_rules.ivr.menus:
        ctx = f"hl12319-menu-{rmenu.id}"
        assert set(dp.contexts[ctx]) >= {o.digit for o in rmenu.options} | {"s", "i", "t"}
        for ropt in rmenu.options:
            steps, (tctx, texten, tidx) = follow(dp, ctx, ropt.digit)
            marks = [s.args for s in steps if s.app == "UserEvent"]
            assert marks and marks[0].startswith(f"IVRChoice,Menu: {ctx},Digit: {ropt.digit},")
            action = ropt.action.value
            if action == "submenu":
                assert (tctx, texten, tidx) == (f"hl12319-menu-{ropt.menu}", "s", 0)
            elif action == "queue":
                assert (tctx, texten, tidx) == ("hl12319-queue", ropt.queue, 0)
                queue_apps = [s for s in dp.steps(tctx, texten) if s.app == "Queue"]
                assert split_args(queue_apps[0].args)[0] == ropt.queue
                if ropt.language:
                    assert f"Set(CHANNEL(language)={ropt.language})" in [f"{s.app}({s.args})" for s in steps]
            elif action == "district_transfer":
                assert (tctx, texten, tidx) == ("hl12319-district", ropt.district, 0)
                district = shipped_rules.district(ropt.district)
                dial = next(s for s in dp.steps(tctx, texten) if s.app == "Dial")
                number = district.line.replace("-", "")
                assert split_args(dial.args)[0] == f"PJSIP/{number}@{district.trunk}"
            elif action == "ticket_status":
                assert (tctx, texten) == ("hl12319-ticket", f"{rmenu.id}-{ropt.digit}")
                apps = [s.app for s in dp.steps(tctx, texten)]
                assert apps.index("Read") < apps.index("AGI")
            elif action == "repeat":
                landing = dp.steps(tctx, texten)[tidx]
                assert (tctx, texten, landing.label, landing.app) == (ctx, "s", "prompt", "Background")
                assert landing.args == f"hl12319/menu-{rmenu.id}"
            else:  # pragma: no cover - the shipped rules use the actions above
                pytest.fail(f"unchecked action {action}")


def test_invalid_and_timeout_count_retries_then_agent(shipped, shipped_rules):
    _, _, dp = shipped
    for rmenu in shipped_rules.ivr.menus:
        ctx = f"hl12319-menu-{rmenu.id}"
        for special, counter, prompt in (("i", "HOTLINE_INVALID", "invalid"), ("t", "HOTLINE_TIMEOUTS", "timeout")):
            steps = dp.steps(ctx, special)
            calls = [f"{s.app}({s.args})" for s in steps]
            assert calls[0] == f"Set({counter}=$[${{{counter}}} + 1])"
            check = next(s for s in steps if s.app == "GotoIf")
            assert check.args == f"$[${{{counter}}} > {rmenu.max_retries}]?retries,1"
            assert f"Playback(hl12319/menu-{rmenu.id}-{prompt})" in calls
            assert calls[-1] == "Goto(s,prompt)"
        _, landing = follow(dp, ctx, "retries")
        assert landing == ("hl12319-queue", shipped_rules.ivr.agent_queue, 0)
        # the counters start at zero each time the menu is entered, not on a repeat
        s_steps = dp.steps(ctx, "s")
        prompt_at = dp.find(ctx, "s", "prompt")
        assert {f"{x.app}({x.args})" for x in s_steps[:prompt_at]} >= {"Set(HOTLINE_INVALID=0)",
                                                                       "Set(HOTLINE_TIMEOUTS=0)"}
        wait = s_steps[prompt_at + 1]
        assert (wait.app, wait.args) == ("WaitExten", str(rmenu.timeout_seconds))


def test_business_hours_agi_with_gotoiftime_fallback(shipped):
    _, _, dp = shipped
    steps = dp.steps("hl12319-entry", "s")
    calls = [f"{s.app}({s.args})" for s in steps]
    agi = calls.index("AGI(agi://127.0.0.1:4573/business_hours)")
    assert calls[agi + 1] == 'GotoIf($["${AGISTATUS}" != "SUCCESS"]?schedule)'
    assert 'GotoIf($["${HOTLINE_OPEN}" = "1"]?open)' in calls
    assert 'GotoIf($["${HOTLINE_OPEN}" = "0"]?closed)' in calls
    sched = dp.find("hl12319-entry", "s", "schedule")
    assert "GotoIfTime(08:00-19:59,*,*,*,Asia/Shanghai?open)" in calls[sched:]
    closed = steps[dp.find("hl12319-entry", "s", "closed")]
    assert (closed.app, closed.args) == ("Goto", "hl12319-message,closed,1")
    after = [f"{s.app}({s.args})" for s in dp.steps("hl12319-message", "closed")]
    assert "Playback(hl12319/after-hours)" in after and after[-1] == "Goto(record,1)"
    assert any(c.startswith("AGI(agi://127.0.0.1:4573/caller_lookup,") for c in calls[:agi])


def test_working_days_and_always_open(make_rules, tmp_path):
    def working(d):
        d["business_hours"] = {"mode": "scheduled", "hours": ["08:30-12:00", "14:30-24:00"], "days": "working_days"}

    _, dp = render(flow_from_rules(make_rules(working)), tmp_path / "w")
    calls = [f"{s.app}({s.args})" for s in dp.steps("hl12319-entry", "s")]
    assert "GotoIfTime(08:30-11:59,mon-fri,*,*,Asia/Shanghai?open)" in calls
    assert "GotoIfTime(14:30-23:59,mon-fri,*,*,Asia/Shanghai?open)" in calls

    _, dp = render(flow_from_rules(make_rules(lambda d: d.update(business_hours={"mode": "always"}))),
                   tmp_path / "a")
    calls = [f"{s.app}({s.args})" for s in dp.steps("hl12319-entry", "s")]
    assert not any("business_hours" in c or c.startswith("GotoIfTime") for c in calls)
    assert "closed" not in dp.contexts["hl12319-message"]


def test_menu_less_goes_straight_to_the_agent_queue(make_rules, tmp_path):
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(menu_less=True)))
    _, dp = render(flow, tmp_path)
    assert not [c for c in dp.contexts if "-menu-" in c]
    assert "hl12319-ticket" not in dp.contexts
    steps = dp.steps("hl12319-entry", "s")
    open_at = dp.find("hl12319-entry", "s", "open")
    assert [(s.app, s.args) for s in steps[open_at:]] == [
        ("Playback", "hl12319/welcome"), ("Goto", "hl12319-queue,agents,1")]


def test_district_dial_status_handling(shipped, shipped_rules, tmp_path):
    flow, _, dp = shipped
    for d in shipped_rules.districts:
        steps = dp.steps("hl12319-district", d.code)
        calls = [f"{s.app}({s.args})" for s in steps]
        assert calls[0] == f"Set(HOTLINE_DISTRICT={d.code})"
        assert calls[1].startswith(f"UserEvent(HotlineDistrict,District: {d.code},")
        dial = next(s for s in steps if s.app == "Dial")
        assert split_args(dial.args)[1] == str(shipped_rules.ivr.transfer_failed.dial_timeout_seconds)
        # only ANSWER (and the caller's own CANCEL) end the call here; all else is a failed transfer
        assert 'GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)' in calls
        assert calls[calls.index("Goto(failed,1)") - 1] == 'GotoIf($["${DIALSTATUS}" = "CANCEL"]?done)'
    failed = [f"{s.app}({s.args})" for s in dp.steps("hl12319-district", "failed")]
    assert failed[0] == "Set(HOTLINE_TRANSFER_FAILED=${HOTLINE_DISTRICT})"
    assert failed[1] == "UserEvent(HotlineTransferFailed,District: ${HOTLINE_DISTRICT},DialStatus: ${DIALSTATUS})"
    assert "Playback(hl12319/transfer-failed)" in failed
    assert failed[-1] == f"Goto(hl12319-queue,{shipped_rules.ivr.transfer_failed.queue},1)"
    # the trunk can be overridden for every district
    _, dp2 = render(flow, tmp_path / "t", trunk="city-trunk", dial_technology="SIP")
    dial = next(s for s in dp2.steps("hl12319-district", "150402") if s.app == "Dial")
    assert split_args(dial.args)[0] == "SIP/04768312319@city-trunk"


def test_queue_recording_and_status_handling(shipped, shipped_rules, tmp_path):
    _, ext, dp = shipped
    for q in shipped_rules.queues:
        calls = [f"{s.app}({s.args})" for s in dp.steps("hl12319-queue", q.id)]
        mix = next(i for i, c in enumerate(calls) if c.startswith("MixMonitor("))
        queue = calls.index(f"Queue({q.id},t,,,{q.max_wait_seconds})")
        assert mix < queue and calls[mix] == "MixMonitor(${HOTLINE_RECORDING},b)"
        assert calls[queue + 1] == "Set(HOTLINE_QUEUE_STATUS=${QUEUESTATUS})"
        assert f"Set(CHANNEL(language)={q.language})" in calls
        fallback = calls[calls.index("Hangup()") - 1]
        if q.id == shipped_rules.ivr.agent_queue:
            assert fallback == "Goto(hl12319-message,busy,1)"
        else:
            assert fallback == f"Goto(hl12319-queue,{shipped_rules.ivr.agent_queue},1)"
    queues = (ext.parent / "queues.conf").read_text(encoding="utf-8")
    sections = re.findall(r"^\[([^\]]+)\]", queues, re.M)
    assert sections == [q.id for q in shipped_rules.queues]
    assert "strategy = rrmemory" in queues and "strategy = ringall" in queues
    assert "wrapuptime = 15" in queues and "servicelevel = 15" in queues


def test_messages_are_recorded_and_reported_from_h(shipped, make_rules, tmp_path):
    _, _, dp = shipped
    rec = [s for s in dp.steps("hl12319-message", "record") if s.app == "Record"][0]
    args = split_args(rec.args)
    assert args[0] == "${HOTLINE_MESSAGE_FILE}.wav" and args[2] == "120" and "k" in args[3]
    h = [f"{s.app}({s.args})" for s in dp.steps("hl12319-message", "h")]
    assert any(c.startswith("UserEvent(HotlineMessage,File: ${HOTLINE_MESSAGE_FILE}.wav,") for c in h)

    _, dp2 = render(flow_from_rules(make_rules(lambda d: d["ivr"]["after_hours"].update(leave_message=False))),
                    tmp_path / "n")
    assert not [s for _, _, s in dp2.apps() if s.app == "Record"]
    assert [f"{s.app}({s.args})" for s in dp2.steps("hl12319-message", "closed")][-1] == "Hangup()"


def test_ticket_status_branch(shipped, shipped_rules):
    flow, _, dp = shipped
    steps = dp.steps("hl12319-ticket", "main-3")
    calls = [f"{s.app}({s.args})" for s in steps]
    assert calls[1] == "Read(HOTLINE_TICKET_NO,hl12319/option-main-3,20,,1,10)"
    assert "AGI(agi://127.0.0.1:4573/ticket_status,${HOTLINE_TICKET_NO})" in calls
    assert 'GotoIf($["${AGISTATUS}" != "SUCCESS"]?unavailable,1)' in calls
    for state, prompt in flow.ticket_state_prompts:
        i = calls.index(f'GotoIf($["${{HOTLINE_TICKET_STATE}}" = "{state}"]?st-{state.replace("_", "-")})')
        j = dp.find("hl12319-ticket", "main-3", f"st-{state.replace('_', '-')}")
        assert calls[j] == f"Playback(hl12319/{prompt.file})" and calls[j + 1] == "Goto(hl12319-menu-main,s,1)"
        assert i < j
    _, landing = follow(dp, "hl12319-ticket", "unavailable")
    assert landing == ("hl12319-queue", "agents", 0)


def test_user_events_are_those_the_call_tracker_consumes(shipped):
    _, _, dp = shipped
    names = set()
    for ctx, exten, st in dp.apps():
        if st.app != "UserEvent":
            continue
        name, *fields = split_args(st.args)
        names.add(name)
        assert name.startswith("IVR") or name in {"HotlineDistrict", "HotlineMessage", "HotlineSelfServed",
                                                  "HotlineTransferFailed"}, name
        headers = dict(f.split(": ", 1) for f in fields)
        if name.startswith("IVR"):
            # Menu must be the context so the mark merges with the step Newexten derived
            assert headers["Menu"] == ctx
    assert {"IVRStart", "IVRChoice", "IVRInvalid", "IVRTimeout", "HotlineDistrict", "HotlineMessage",
            "HotlineSelfServed"} <= names


def test_manager_conf_example(shipped):
    _, ext, _ = shipped
    text = (ext.parent / "manager.conf.example").read_text(encoding="utf-8")
    read = re.search(r"^read = (.*)$", text, re.M).group(1).split(",")
    assert {"call", "agent", "user", "dialplan", "dtmf"} <= set(read)
    assert "secret = CHANGE_ME" in text and "[hotline]" in text


def test_bad_settings_are_refused(shipped_rules, tmp_path):
    flow = flow_from_rules(shipped_rules)
    with pytest.raises(ValueError, match="context_prefix"):
        render_dialplan(flow, out_dir=tmp_path, context_prefix="Bad Prefix")
    with pytest.raises(ValueError, match="prompts_dir"):
        render_dialplan(flow, out_dir=tmp_path, prompts_dir="../etc")
    with pytest.raises(ValueError, match="agi_host"):
        render_dialplan(flow, out_dir=tmp_path, agi_host="app;rm")


def test_prompts_referenced_are_exactly_the_flow_prompts(shipped, make_rules, tmp_path):
    cases = [shipped[:2]]
    for i, edit in enumerate([lambda d: d["ivr"].update(menu_less=True),
                              lambda d: d["ivr"]["after_hours"].update(leave_message=False)]):
        flow = flow_from_rules(make_rules(edit))
        ext, _ = render(flow, tmp_path / str(i))
        cases.append((flow, ext))
    for flow, ext in cases:
        # the flow's prompts, and the generated sounds (ivr.prompts.SOUNDS: the tone before a message)
        assert referenced_prompts(parse(ext.read_text(encoding="utf-8")), "hl12319") - set(SOUNDS) == {
            p.file for p in flow.prompts()}



def test_missing_templates_are_reported(shipped_rules, tmp_path):
    with pytest.raises(FileNotFoundError, match="dialplan templates not found"):
        render_dialplan(flow_from_rules(shipped_rules), out_dir=tmp_path / "o", templates_dir=tmp_path)


def test_templates_dir_can_be_given(shipped_rules, tmp_path):
    """A copy of dialplans/ elsewhere (e.g. an operator's customised templates) is used as given."""
    custom = tmp_path / "t"
    shutil.copytree(Path(__file__).resolve().parents[2] / "dialplans", custom)
    (custom / "manager.conf.j2").write_text("; custom {{ s.ami_user }}\n", encoding="utf-8")
    paths = render_dialplan(flow_from_rules(shipped_rules), out_dir=tmp_path / "o", templates_dir=custom)
    assert paths[2].read_text(encoding="utf-8") == "; custom hotline\n"


# --- the district offer to repeat callers ---------------------------------------------------------

_COND = re.compile(r'^\$\["\$\{(\w+)\}" (=|!=) "([^"]*)"\]$')


def walk(dp: Dialplan, start: tuple[str, str], variables: dict[str, str], keys: list[str],
         stop=("Dial", "Queue", "Record", "Hangup")) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Run the rendered dialplan from ``start`` the way Asterisk would for these channel
    ``variables``: Set stores, GotoIf tests ``$["${VAR}" = "value"]``, Goto jumps, and each
    WaitExten takes the next of ``keys`` (``t`` = silence; a key without an extension → ``i``).
    Returns the (context, app, args) executed up to the first app of ``stop``, and the variables."""
    variables = dict(variables)
    keys = list(keys)
    ctx, exten = start
    i = 0
    trace: list[tuple[str, str, str]] = []
    for _ in range(500):
        st = dp.steps(ctx, exten)[i]
        trace.append((ctx, st.app, st.args))
        if st.app in stop:
            return trace, variables
        if st.app == "Set":
            name, _, value = st.args.partition("=")
            variables[name] = value
        elif st.app == "GotoIf":
            cond, _, dests = st.args.partition("?")
            m = _COND.match(cond)
            assert m, f"condition the walker does not know: {cond}"
            var, op, value = m.groups()
            if (variables.get(var, "") == value) == (op == "="):
                ctx, exten, i = resolve(dp, ctx, exten, dests.split(":")[0])
                continue
        elif st.app == "Goto":
            ctx, exten, i = resolve(dp, ctx, exten, st.args)
            continue
        elif st.app == "WaitExten":
            key = keys.pop(0)
            exten, i = (key if key in dp.contexts[ctx] else "i"), 0
            continue
        i += 1
    raise AssertionError(f"no {stop} reached: {trace[-10:]}")


def heard(trace) -> list[str]:
    return [args for _, app, args in trace if app in ("Background", "Playback")]


def marks(trace) -> list[str]:
    return [args for _, app, args in trace if app == "UserEvent"]


@pytest.mark.parametrize("code", ["150402", "150403", "150404", "150428"])
def test_district_branch_offers_the_open_tickets_district_and_1_dials_it(shipped, shipped_rules, code):
    _, _, dp = shipped
    trace, variables = walk(dp, ("hl12319-menu-main", "2"), {"HOTLINE_OFFERED_DISTRICT": code}, ["1"])
    assert heard(trace) == [f"hl12319/offer-district-{code}"]
    assert marks(trace) == [
        "IVRChoice,Menu: hl12319-menu-main,Digit: 2,Branch: submenu",
        f"IVRStart,Menu: hl12319-offer-districts,Value: {code},Channel: ${{CHANNEL}},Uniqueid: ${{UNIQUEID}}",
        "IVRChoice,Menu: hl12319-offer-districts,Digit: 1,Branch: district_transfer",
        f"HotlineDistrict,District: {code},Number: {shipped_rules.district(code).line.replace('-', '')}"]
    # the same district context as a menu choice: DIALSTATUS handling and the failed mark follow Dial
    ctx, app, args = trace[-1]
    district = shipped_rules.district(code)
    assert (ctx, app) == ("hl12319-district", "Dial")
    assert split_args(args)[0] == f"PJSIP/{district.line.replace('-', '')}@{district.trunk}"
    assert (variables["HOTLINE_OFFER"], variables["HOTLINE_DISTRICT"]) == (code, code)


def test_offer_2_opens_the_district_menu_and_0_reaches_an_agent(shipped):
    _, _, dp = shipped
    offered = {"HOTLINE_OFFERED_DISTRICT": "150402"}
    trace, _ = walk(dp, ("hl12319-menu-main", "2"), offered, ["2", "3"])
    assert heard(trace) == ["hl12319/offer-district-150402", "hl12319/menu-districts"]
    assert trace[-1][:2] == ("hl12319-district", "Dial") and "04765812319@" in trace[-1][2]
    assert "IVRChoice,Menu: hl12319-menu-districts,Digit: 3,Branch: district_transfer" in marks(trace)

    trace, _ = walk(dp, ("hl12319-menu-main", "2"), offered, ["0"])
    assert heard(trace) == ["hl12319/offer-district-150402"]
    assert trace[-1] == ("hl12319-queue", "Queue", "agents,t,,,300")


@pytest.mark.parametrize("key, prompt, mark", [
    ("7", "hl12319/menu-districts-invalid", "IVRInvalid,Menu: hl12319-offer-districts,Digit: ${INVALID_EXTEN},Count: 1"),
    ("t", "hl12319/menu-districts-timeout", "IVRTimeout,Menu: hl12319-offer-districts,Count: 1")])
def test_invalid_or_silent_offer_falls_back_to_the_district_menu(shipped, key, prompt, mark):
    _, _, dp = shipped
    trace, _ = walk(dp, ("hl12319-menu-main", "2"), {"HOTLINE_OFFERED_DISTRICT": "150404"}, [key, "1"])
    assert heard(trace) == ["hl12319/offer-district-150404", prompt, "hl12319/menu-districts"]
    assert mark in marks(trace)
    # the district menu starts afresh (its retry counters reset), and its 1 is 红山区
    assert trace[-1][:2] == ("hl12319-district", "Dial") and "04768312319@" in trace[-1][2]


@pytest.mark.parametrize("offered", ["", "150499", "15040"])
def test_no_offer_without_a_known_district(shipped, offered):
    _, _, dp = shipped
    trace, variables = walk(dp, ("hl12319-menu-main", "2"), {"HOTLINE_OFFERED_DISTRICT": offered}, ["1"])
    assert heard(trace) == ["hl12319/menu-districts"]
    assert not any(ctx.startswith("hl12319-offer-") for ctx, _, _ in trace)
    assert "HOTLINE_OFFER" not in variables
    assert trace[-1][:2] == ("hl12319-district", "Dial") and "04768312319@" in trace[-1][2]


def test_offer_before_a_district_menu_that_is_the_entry(make_rules, tmp_path):
    """Only the districts the menu transfers to are offered; an entry district menu gets it too."""
    def edit(d):
        d.update(business_hours={"mode": "always"})
        districts = next(m for m in d["ivr"]["menus"] if m["id"] == "districts")
        districts["options"] = [o for o in districts["options"] if o["digit"] in ("1", "3", "0")]
        d["ivr"]["menus"] = [districts]
        d["ivr"]["entry"] = "districts"

    flow = flow_from_rules(make_rules(edit))
    ext, dp = render(flow, tmp_path)
    assert unexplained(lint(ext)) == []
    assert set(dp.contexts["hl12319-offer-districts"]) == {"d150402", "d150404", "1", "2", "0", "i", "t"}
    trace, _ = walk(dp, ("hl12319-entry", "s"), {"HOTLINE_OFFERED_DISTRICT": "150404"}, ["1"])
    assert heard(trace) == ["hl12319/welcome", "hl12319/offer-district-150404"]
    assert trace[-1][:2] == ("hl12319-district", "Dial") and "04765812319@" in trace[-1][2]
    # 元宝山区 is a configured district but not in this menu: no offer
    trace, _ = walk(dp, ("hl12319-entry", "s"), {"HOTLINE_OFFERED_DISTRICT": "150403"}, ["1"])
    assert heard(trace) == ["hl12319/welcome", "hl12319/menu-districts"]
    assert trace[-1][:2] == ("hl12319-district", "Dial") and "04768312319@" in trace[-1][2]
    assert referenced_prompts(dp, "hl12319") - set(SOUNDS) == {p.file for p in flow.prompts()}
