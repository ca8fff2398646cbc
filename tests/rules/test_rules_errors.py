"""Broken rules files: each defect is reported at its line and field path, and nothing loads."""

from __future__ import annotations

import pytest

from hotline.rules import RulesError, check_rules_file, load_rules, parse_rules


def only(issues, path):
    found = [i for i in issues if i.path == path]
    assert found, f"no issue at {path}; got: {[i.format() for i in issues]}"
    return found[0]


def test_malformed_yaml_gives_one_issue_at_the_yaml_error(variant, position):
    path, text = variant("  timezone: Asia/Shanghai\n", "  timezone: Asia: Shanghai\n")
    issues = check_rules_file(path)
    assert len(issues) == 1
    line, _ = position(text, "timezone: Asia: Shanghai")
    assert issues[0].line == line
    assert issues[0].path == ""
    assert "malformed YAML" in issues[0].message
    with pytest.raises(RulesError):
        load_rules(path)


def test_unclosed_flow_mapping_is_malformed(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\ncalendar: {timezone: Asia/Shanghai\nbusiness_hours: x\n", encoding="utf-8")
    [issue] = check_rules_file(path)
    assert issue.line >= 2 and "malformed YAML" in issue.message


def test_wrong_type(variant, position):
    path, text = variant("      timeout_seconds: 6\n      max_retries: 2\n      invalid_prompt: 您的输入有误，请重新选择。\n"
                         "      timeout_prompt: 您没有选择，请重新选择；人工服务请按0。\n      options:\n"
                         "        - {digit: \"1\", label: 反映问题",
                         "      timeout_seconds: 6\n      max_retries: two\n      invalid_prompt: 您的输入有误，请重新选择。\n"
                         "      timeout_prompt: 您没有选择，请重新选择；人工服务请按0。\n      options:\n"
                         "        - {digit: \"1\", label: 反映问题")
    issue = only(check_rules_file(path), "ivr.menus[0].max_retries")
    assert (issue.line, issue.column) == position(text, "max_retries: two")
    assert "integer" in issue.message and "'two'" in issue.message


def test_unknown_field(variant, position):
    path, text = variant('menu_digit: "2"}', 'menu_digit: "2", colour: red}')
    issue = only(check_rules_file(path), "districts[1].colour")
    assert (issue.line, issue.column) == position(text, "colour: red")
    assert "unknown field" in issue.message


def test_unknown_category_code(variant, position, categories, units):
    path, text = variant('match: {category: ["06028"]}', 'match: {category: ["99999"]}')
    issues = check_rules_file(path, categories=categories, units=units)
    assert len(issues) == 1
    [issue] = issues
    assert issue.path.startswith("routing.rules[") and issue.path.endswith("].match.category[0]")
    assert (issue.line, issue.column) == position(text, '"99999"')
    assert issue.message == "unknown category code '99999'"
    assert issue.format() == f"{path}:{issue.line}:{issue.column}: {issue.path}: unknown category code '99999'"
    # without the category list, the code cannot be judged and the file loads
    assert check_rules_file(path, units=units) == []


def test_category_prefix_that_matches_nothing(variant, categories):
    path, _ = variant('match: {category_prefix: ["07"]}', 'match: {category_prefix: ["77"]}')
    issue = next(i for i in check_rules_file(path, categories=categories) if "prefix" in i.path)
    assert issue.path.endswith(".match.category_prefix[0]")
    assert "'77'" in issue.message


def test_unquoted_code_is_explained(variant):
    path, _ = variant('match: {category: ["06028"]}', "match: {category: [6028]}")
    issue = next(i for i in check_rules_file(path) if i.path.endswith(".match.category[0]"))
    assert "quoted string" in issue.message


def test_district_without_a_line(variant, position):
    path, text = variant('name: 松山区,   line: "0476-5812319", ', "name: 松山区, ")
    issue = only(check_rules_file(path), "districts[2].line")
    assert issue.message == "required field is missing"
    line, _ = position(text, "name: 松山区, ")
    assert issue.line == line


def test_duplicate_ivr_digit(variant, position):
    path, text = variant('- {digit: "4", label: 喀喇沁旗', '- {digit: "3", label: 喀喇沁旗')
    issues = check_rules_file(path)
    issue = next(i for i in issues if "duplicate digit" in i.message)
    assert issue.path == "ivr.menus[1].options[3].digit"
    line, _ = position(text, 'label: 喀喇沁旗')
    assert issue.line == line
    assert "'3'" in issue.message


def test_missing_submenu(variant, position):
    path, text = variant("action: submenu, menu: districts,", "action: submenu, menu: district,")
    issues = check_rules_file(path)
    issue = only(issues, "ivr.menus[0].options[1].menu")
    assert (issue.line, issue.column) == position(text, "menu: district,")
    assert "'district' is not defined" in issue.message
    # the now-orphaned menu is reported too
    assert any("cannot be reached" in i.message and i.path == "ivr.menus[1].id" for i in issues)


def test_submenu_cycle(variant):
    path, _ = variant('- {digit: "*", label: 重听,     action: repeat, keywords: [重听, 再说一遍]}',
                      '- {digit: "*", label: 返回, action: submenu, menu: main}')
    issue = next(i for i in check_rules_file(path) if "cycle" in i.message)
    assert issue.path == "ivr.menus[1].options[4].menu"
    assert "districts → main" in issue.message


def test_bad_time_unit(variant, position):
    old = "  standard:\n    label: 一般诉求\n    normal: [{stage: 签收, amount: 1, unit: working_days}"
    path, text = variant(old, old.replace("unit: working_days", "unit: workdays"))
    issue = only(check_rules_file(path), "time_limits.standard.normal[0].unit")
    assert (issue.line, issue.column) == position(text, "unit: workdays")
    assert "natural_hours" in issue.message and "'workdays'" in issue.message


def test_undefined_department_and_time_limit_set(variant, position):
    path, text = variant("department: city-ecology\n      time_limits: standard\n    - id: water-pollution",
                         "department: city-noise\n      time_limits: loud\n    - id: water-pollution")
    issues = check_rules_file(path)
    dept = next(i for i in issues if i.path.endswith(".department"))
    assert "'city-noise' is not defined" in dept.message
    assert (dept.line, dept.column) == position(text, "department: city-noise")
    limits = next(i for i in issues if i.path.endswith(".time_limits"))
    assert "'loud'" in limits.message


def test_zero_must_reach_the_agent_queue(variant):
    path, _ = variant('- {digit: "0", label: 人工服务, action: queue, queue: agents, keywords: [人工, 客服]}',
                      '- {digit: "0", label: 人工服务, action: repeat}')
    issue = next(i for i in check_rules_file(path) if "option '0'" in i.message)
    assert issue.path == "ivr.menus[1].options[5].action"


def test_menu_without_zero(variant):
    path, _ = variant('        - {digit: "0", label: 人工服务, action: queue, queue: agents, keywords: [人工, 客服]}\n', "")
    issue = next(i for i in check_rules_file(path) if "no option '0'" in i.message)
    assert issue.path == "ivr.menus[1].options"


def test_unknown_street_and_district_codes_with_units(variant, units):
    path, _ = variant('match: {category: ["06028"]}', 'match: {category: ["06028"], streets: ["150402099"]}')
    issue = next(i for i in check_rules_file(path, units=units) if "streets" in i.path)
    assert issue.message == "unknown street code '150402099'"
    path, _ = variant('match: {category_prefix: ["08"], districts: ["150402"]}',
                      'match: {category_prefix: ["08"], districts: ["150429"]}', name="second.yaml")
    issue = next(i for i in check_rules_file(path, units=units) if "districts" in i.path)
    assert "'150429' is not defined in 'districts'" in issue.message


def test_duplicate_yaml_key_is_refused(variant, position):
    path, text = variant("  mode: scheduled\n", "  mode: scheduled\n  mode: always\n")
    issue = only(check_rules_file(path), "business_hours.mode")
    assert "appears twice" in issue.message


def test_unsupported_version_and_empty_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("version: 2\ncalendar: {}\n", encoding="utf-8")
    [issue] = check_rules_file(path)
    assert (issue.line, issue.path) == (1, "version") and "unsupported schema version 2" in issue.message
    path.write_text("# nothing yet\n", encoding="utf-8")
    [issue] = check_rules_file(path)
    assert issue.message == "the file is empty"
    [issue] = check_rules_file(tmp_path / "missing.yaml")
    assert "cannot read" in issue.message


def test_a_broken_file_never_half_loads(variant):
    """Several independent defects: all reported at once, no Rules object comes out."""
    path, text = variant('menu_digit: "2"}', 'menu_digit: "2", colour: red}')
    text = text.replace("max_wait_seconds: 300, wrapup_seconds: 15}\n  - {id: mongolian",
                        "max_wait_seconds: -1, wrapup_seconds: 15}\n  - {id: mongolian")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    paths = {i.path for i in caught.value.issues}
    assert {"districts[1].colour", "queues[0].max_wait_seconds"} <= paths
    assert str(path) in str(caught.value)
    rules, issues = parse_rules(text)
    assert rules is None and len(issues) == len(caught.value.issues)


def test_reference_errors_also_block_loading(variant, categories):
    path, _ = variant('match: {category: ["06028"]}', 'match: {category: ["99999"]}')
    load_rules(path)                      # shape is fine without outside knowledge
    with pytest.raises(RulesError) as caught:
        load_rules(path, categories=categories)
    assert [i.message for i in caught.value.issues] == ["unknown category code '99999'"]


def test_missing_section_is_named(variant):
    start = "callbacks:\n  due: {amount: 1, unit: working_days}\n  max_attempts: 3\n"
    path, _ = variant(start, "")
    issue = only(check_rules_file(path), "callbacks")
    assert issue.message == "required field is missing"
