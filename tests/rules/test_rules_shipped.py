"""The shipped routing_rules.yaml loads and agrees with the shared reference data."""

from __future__ import annotations

from hotline.rules import check_rules_file, load_rules
from hotline.rules.schema import Kind, Lead, Priority, TimeUnit
from ivr.api import MenuAction

import pytest


@pytest.fixture
def rules(rules_path, categories, units):
    return load_rules(rules_path, categories=categories, units=units)


def test_shipped_file_has_no_issues_against_shared_data(rules_path, categories, units):
    assert check_rules_file(rules_path, categories=categories, units=units) == []


def test_four_central_districts_each_with_a_line_and_a_distinct_digit(rules):
    assert {d.code: d.name for d in rules.districts} == {
        "150402": "红山区", "150403": "元宝山区", "150404": "松山区", "150428": "喀喇沁旗"}
    assert all(d.line.startswith("0476-") for d in rules.districts)
    assert sorted(d.menu_digit for d in rules.districts) == ["1", "2", "3", "4"]
    lines = rules.district_lines()
    assert lines[0].district_code == "150402" and "-" not in lines[0].number


def test_every_standard_and_local_category_is_routed_by_a_category_rule(rules, categories):
    """No category falls through to the fallback for lack of a category rule."""
    plain = [r for r in rules.routing.rules
             if (r.match.category or r.match.category_prefix)
             and not (r.match.districts or r.match.streets or r.match.keywords or r.match.time or r.match.kind)]
    unrouted = sorted(c for c in categories if not any(r.match.category_matches(c) for r in plain))
    assert unrouted == []


def test_components_go_owner_first_and_matters_territory_first(rules, category_rows):
    assert rules.routing.defaults.component is Lead.OWNER
    assert rules.routing.defaults.matter is Lead.TERRITORY

    def first_rule(code):
        return next(r for r in rules.routing.rules
                    if r.match.category_matches(code) and not (r.match.keywords or r.match.time))

    for row in category_rows:
        rule = first_rule(row["code"])
        big = row["big_class_code"]
        if big in {"01", "02", "03", "04", "05"}:
            assert rule.lead is Lead.OWNER, (row["code"], rule.id)
        elif big in {"06", "07", "08", "09", "10"}:
            assert rule.lead in (None, Lead.TERRITORY), (row["code"], rule.id)


def test_owner_examples_from_the_seed_plan(rules):

    def department_name(code):
        rule = next(r for r in rules.routing.rules if r.match.category_matches(code) and not r.match.keywords)
        return rules.department(rule.department).name

    assert department_name("01001") == "赤峰市供水公司"          # 供水井盖
    assert department_name("01011") == "赤峰市燃气公司"          # 燃气井盖
    assert department_name("01037") == "赤峰市路灯管理所"        # 路灯
    assert department_name("02014") == "赤峰市公安局交通警察支队"  # 交通信号灯
    assert department_name("06028") == "赤峰市生态环境局"        # 噪声扰民
    assert department_name("07001") == "赤峰市城市管理综合执法局"  # 非法小广告
    assert "住房和城乡建设局" in department_name("08002")         # 施工占道


def test_time_limits_follow_the_research(rules):
    standard = rules.time_limits["standard"]
    normal = {s.stage: (s.amount, s.unit) for s in standard.for_priority(Priority.NORMAL)}
    urgent = {s.stage: (s.amount, s.unit) for s in standard.for_priority(Priority.URGENT)}
    assert normal["签收"] == (1, TimeUnit.WORKING_DAYS)
    assert normal["处置"] == (5, TimeUnit.WORKING_DAYS)
    assert normal["回访"] == (1, TimeUnit.WORKING_DAYS)
    assert urgent["处置"] == (4, TimeUnit.WORKING_HOURS)
    assert rules.callbacks.due.amount == 1 and rules.callbacks.due.unit is TimeUnit.WORKING_DAYS
    # a set without its own urgent list falls back to normal
    consultation = rules.time_limits["consultation"]
    assert consultation.for_priority(Priority.URGENT) == consultation.normal


def test_short_main_menu_with_zero_to_agents_everywhere(rules):
    ivr = rules.ivr
    assert ivr.menu_less is False
    main = rules.menu(ivr.entry)
    actions = {o.digit: o for o in main.options}
    assert sorted(actions) == ["0", "1", "2", "3", "9"]
    assert actions["1"].action is MenuAction.QUEUE and actions["1"].queue == ivr.agent_queue
    assert actions["2"].action is MenuAction.SUBMENU and rules.menu(actions["2"].menu) is not None
    assert actions["3"].action is MenuAction.TICKET_STATUS
    assert rules.queue(actions["9"].queue).language == "mn" and actions["9"].language == "mn"
    for menu in ivr.menus:
        zero = next(o for o in menu.options if o.digit == "0")
        assert zero.action is MenuAction.QUEUE and zero.queue == ivr.agent_queue
    transfers = [o for o in rules.menu(actions["2"].menu).options if o.action is MenuAction.DISTRICT_TRANSFER]
    assert {o.district for o in transfers} == {d.code for d in rules.districts}


def test_service_levels_and_follow_up_values(rules):
    assert all(q.service_level_seconds == 15 for q in rules.queues)
    assert rules.sla.warning_at_percent == 80
    assert [e.name for e in rules.sla.escalation] == ["催办", "督办", "通报"]
    assert rules.duplicates.radius_metres == 250
    assert rules.calendar.timezone == "Asia/Shanghai"
    assert [str(s) for s in rules.calendar.office_hours] == ["08:30-12:00", "14:30-17:30"]


def test_keyword_and_time_window_rules_are_present(rules):
    gas = next(r for r in rules.routing.rules if r.match.keywords)
    assert "燃气味" in gas.match.keywords and gas.priority is Priority.URGENT
    night = next(r for r in rules.routing.rules if r.match.time)
    span = night.match.time.hours[0]
    assert span.wraps and str(span) == "22:00-06:00"
    assert all(r.match.kind in (None, Kind.COMPONENT, Kind.MATTER) for r in rules.routing.rules)
