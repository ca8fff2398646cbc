"""The IVR flow model built from the rules (ivr.flow)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ivr.flow import MenuAction, AfterHours, FlowError, QueueSpec, TransferFailed, IvrFlow, Menu, Option, Prompt, TICKET_STATE_PROMPTS, flow_from_rules


def test_shipped_rules_give_nested_menus(shipped_rules):
    flow = flow_from_rules(shipped_rules)
    assert flow.entry is not None and flow.entry.id == "main"
    assert [m.id for m in flow.menus] == ["main", "districts"]
    two = flow.entry.option("2")
    assert two.action is MenuAction.SUBMENU and two.submenu is flow.menu("districts")
    red = two.submenu.option("1")
    assert red.action is MenuAction.DISTRICT_TRANSFER and red.district == "150402"
    assert flow.district("150402").number == "04768312319"
    assert flow.district("150402").trunk == "district-trunk"


def test_every_menu_has_agent_on_zero(shipped_rules):
    flow = flow_from_rules(shipped_rules)
    for menu in flow.menus:
        zero = menu.option("0")
        assert zero.action is MenuAction.QUEUE and zero.queue == flow.agent_queue == "agents"


def test_timeouts_retries_prompts_and_keywords(shipped_rules):
    flow = flow_from_rules(shipped_rules)
    main = flow.entry
    assert (main.timeout_seconds, main.max_retries) == (6, 2)
    assert main.prompt.id == "menu-main" and main.prompt.text.startswith("反映问题请按1；人工服务请按0")
    assert main.invalid_prompt.id == "menu-main-invalid" and "有误" in main.invalid_prompt.text
    assert main.timeout_prompt.id == "menu-main-timeout"
    assert main.option("3").prompt == Prompt("option-main-3", "请输入工单编号中的数字，以井号键结束。")
    assert flow.keywords()["投诉"] == [("main", "1")]
    assert flow.keywords()["重听"] == [("districts", "*")]


def test_language_choice_and_mongolian_seat(shipped_rules):
    flow = flow_from_rules(shipped_rules)
    nine = flow.entry.option("9")
    assert (nine.action, nine.queue, nine.language) == (MenuAction.QUEUE, "mongolian", "mn")
    assert flow.queue("mongolian").language == "mn"
    assert flow.language == "zh"


def test_after_hours_and_transfer_failed(shipped_rules):
    flow = flow_from_rules(shipped_rules)
    assert flow.after_hours.leave_message and flow.after_hours.max_message_seconds == 120
    assert flow.after_hours.prompt.id == "after-hours"
    assert flow.transfer_failed.queue == "agents" and flow.transfer_failed.dial_timeout_seconds == 30
    bh = flow.business_hours
    assert (bh.mode, bh.spans, bh.days, bh.timezone) == ("scheduled", ("08:00-20:00",), "every_day", "Asia/Shanghai")


def test_prompt_ids_are_stable_and_unique(shipped_rules, make_rules):
    ids = [p.id for p in flow_from_rules(shipped_rules).prompts()]
    assert len(ids) == len(set(ids))
    # changing the text keeps the id (file names derive from the place, not the text)

    def edit(d):
        d["ivr"]["menus"][0]["prompt"] = "新的菜单提示。人工服务请按0。"

    changed = flow_from_rules(make_rules(edit))
    assert [p.id for p in changed.prompts()] == ids
    assert changed.entry.prompt.text == "新的菜单提示。人工服务请按0。"


def test_menu_less_has_no_menus(make_rules):
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(menu_less=True)))
    assert flow.menu_less and flow.menus == () and flow.entry is None
    ids = {p.id for p in flow.prompts()}
    assert "welcome" in ids and not any(i.startswith("menu-") or i.startswith("ticket-") for i in ids)


def test_recording_takes_the_rules_name(make_rules):
    def edit(d):
        d["ivr"]["menus"][0]["recording"] = "hotline/main"
        d["ivr"]["welcome_recording"] = "hotline/welcome"

    flow = flow_from_rules(make_rules(edit))
    assert flow.entry.prompt.recording == "hotline/main"
    assert flow.welcome.recording == "hotline/welcome"
    assert flow.entry.prompt.file == "menu-main"


def _option(d, menu_id, digit):
    menu = next(m for m in d["ivr"]["menus"] if m["id"] == menu_id)
    return next(o for o in menu["options"] if str(o["digit"]) == digit)


def test_unknown_submenu_names_menu_and_option(make_rules):
    rules = make_rules(lambda d: _option(d, "main", "2").update(menu="nowhere"), checked=False)
    with pytest.raises(FlowError) as err:
        flow_from_rules(rules)
    assert any("menu 'main' option '2'" in p and "'nowhere'" in p for p in err.value.problems)


def test_submenu_cycle_is_refused(make_rules):
    def edit(d):
        _option(d, "districts", "*").update(action="submenu", menu="main")

    with pytest.raises(FlowError) as err:
        flow_from_rules(make_rules(edit, checked=False))
    assert any("menu 'districts' option '*'" in p and "cycle" in p for p in err.value.problems)


def test_zero_must_reach_the_agent_queue(make_rules):
    rules = make_rules(lambda d: _option(d, "districts", "0").update(queue="mongolian"), checked=False)
    with pytest.raises(FlowError) as err:
        flow_from_rules(rules)
    assert any("menu 'districts' option '0'" in p and "'agents'" in p for p in err.value.problems)


def test_unknown_queue_and_district_are_named(make_rules):
    def edit(d):
        _option(d, "main", "1").update(queue="ghosts")
        _option(d, "districts", "3").update(district="150499")

    with pytest.raises(FlowError) as err:
        flow_from_rules(make_rules(edit, checked=False))
    text = "\n".join(err.value.problems)
    assert "menu 'main' option '1' (反映问题): queue 'ghosts' is not defined" in text
    assert "menu 'districts' option '3' (松山区): district '150499' is not defined" in text


def test_hand_built_flow_validation():
    p = Prompt("x", "x")
    menu = Menu("m", p, p, p, 5, 1, (Option("1", "one", MenuAction.QUEUE, queue="agents"),
                                      Option("1", "again", MenuAction.REPEAT)))
    flow = IvrFlow(welcome=p, agent_queue="agents", queues=(QueueSpec("agents", "坐席"),), districts=(),
                   after_hours=AfterHours(p), transfer_failed=TransferFailed(p, "agents"), entry=menu)
    with pytest.raises(FlowError) as err:
        flow.validate()
    assert err.value.problems == ["menu 'm': key '1' is used twice",
                                  "menu 'm': has no option '0'; 0 must lead to an agent in every menu"]


def test_ticket_states_cover_the_case_workflow():
    """The ticket_status AGI reports a TicketState code; each needs a read-back prompt."""
    from hotline.cases.workflow import TicketState

    assert {s.value for s in TicketState} <= set(TICKET_STATE_PROMPTS)


def test_flow_module_does_not_import_hotline():
    root = Path(__file__).resolve().parents[2]
    for name in ("ivr/flow.py", "ivr/dialplan.py", "ivr/prompts.py"):
        path = root / name
        if not path.exists():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in top:
            mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            assert not (mod or "").startswith("hotline"), f"{name} imports {mod} at module level"


def test_district_menus_get_one_offer_prompt_per_district(shipped_rules, make_rules):
    flow = flow_from_rules(shipped_rules)
    [offer] = flow.district_offers
    assert offer.id == "districts" and flow.district_offer("main") is None
    assert [(d.code, p.id) for d, p in offer.districts] == [
        ("150402", "offer-district-150402"), ("150403", "offer-district-150403"),
        ("150404", "offer-district-150404"), ("150428", "offer-district-150428")]
    hongshan = dict((d.code, p) for d, p in offer.districts)["150402"]
    assert hongshan.text == "您有未办结的工单属于红山区，转接红山区受理电话请按1，选择其他区县请按2。"
    prompts = {p.id: p for p in flow.prompts()}
    assert all(prompts[p.id] == p for _, p in offer.districts)

    # a renamed district keeps its file name; a district no menu transfers to gets no prompt
    def edit(d):
        d["districts"][0]["name"] = "红山"
        districts = next(m for m in d["ivr"]["menus"] if m["id"] == "districts")
        districts["options"] = [o for o in districts["options"] if o["digit"] != "2"]

    changed = flow_from_rules(make_rules(edit))
    ids = [p.id for p in changed.prompts()]
    assert "offer-district-150402" in ids and "offer-district-150403" not in ids
    assert changed.district_offer("districts").districts[0][1].text.startswith("您有未办结的工单属于红山，")


def test_menu_less_has_no_offer(make_rules):
    flow = flow_from_rules(make_rules(lambda d: d["ivr"].update(menu_less=True)))
    assert flow.district_offers == ()
    assert not any(p.id.startswith("offer-") for p in flow.prompts())
