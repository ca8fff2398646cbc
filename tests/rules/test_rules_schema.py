"""Single-value and single-section rules of the schema."""

from __future__ import annotations

from datetime import date, time

import pytest
from pydantic import ValidationError

from hotline.rules import check_rules_file
from hotline.rules.schema import (
    BusinessHours, Calendar, Department, Escalation, Match, MenuOption, TimeLimitSet, TimeSpan,
)


def test_time_span_parsing_and_wrapping():
    day = TimeSpan.model_validate("08:30-12:00")
    assert (day.start, day.end, day.wraps) == (time(8, 30), time(12, 0), False)
    assert day.contains(time(8, 30)) and not day.contains(time(12, 0))
    night = TimeSpan.model_validate("22:00-06:00")
    assert night.wraps and night.contains(time(23, 15)) and night.contains(time(5, 59))
    assert not night.contains(time(6, 0)) and not night.contains(time(12, 0))
    full = TimeSpan.model_validate("00:00-24:00")
    assert full.contains(time(23, 59, 59)) and str(full) == "00:00-24:00"


@pytest.mark.parametrize("bad", ["8:30-12:00", "08:30-12", "12:00-12:00", "25:00-26:00", "24:30-01:00", 830])
def test_time_span_rejects(bad):
    with pytest.raises(ValidationError):
        TimeSpan.model_validate(bad)


def test_calendar_checks():
    ok = Calendar(office_hours=["08:30-12:00", "14:30-17:30"])
    assert ok.timezone == "Asia/Shanghai" and ok.holiday_source == "holidays"
    # the source's name in earlier versions of the file still loads, as the same source
    assert Calendar(office_hours=["08:30-12:00"], holiday_source="chinese_calendar").holiday_source == "holidays"
    with pytest.raises(ValidationError, match="overlap"):
        Calendar(office_hours=["08:30-12:00", "11:30-17:30"])
    with pytest.raises(ValidationError, match="within one day"):
        Calendar(office_hours=["22:00-06:00"])
    with pytest.raises(ValidationError, match="unknown timezone"):
        Calendar(timezone="Asia/Chifeng", office_hours=["08:30-12:00"])
    with pytest.raises(ValidationError, match="both as an extra holiday"):
        Calendar(office_hours=["08:30-12:00"], extra_holidays=[date(2026, 9, 1)], extra_workdays=[date(2026, 9, 1)])


def test_business_hours_modes():
    assert BusinessHours(mode="always").hours == ()
    with pytest.raises(ValidationError, match="needs 'hours'"):
        BusinessHours(mode="scheduled")
    with pytest.raises(ValidationError, match="takes no 'hours'"):
        BusinessHours(mode="always", hours=["08:00-20:00"])


def test_department_level_and_district():
    Department(code="hs-urban", name="红山区城市管理综合执法局", level="district", district="150402")
    with pytest.raises(ValidationError, match="needs 'district'"):
        Department(code="hs-urban", name="红山区城市管理综合执法局", level="district")
    with pytest.raises(ValidationError, match="takes no 'district'"):
        Department(code="city-urban", name="赤峰市城市管理综合执法局", level="city", district="150402")
    with pytest.raises(ValidationError, match="quoted string"):
        Department(code="hs-urban", name="x", level="district", district=150402)


def test_match_category_condition():
    m = Match(category="01001", category_prefix=["04"])
    assert m.category == ("01001",)
    assert m.category_matches("01001") and m.category_matches("04013")
    assert not m.category_matches("01002")
    assert Match(keywords=["燃气味"]).category_matches("99999")
    with pytest.raises(ValidationError, match="empty match"):
        Match()
    with pytest.raises(ValidationError):
        Match(category=["1001"])


def test_digits_and_stages():
    assert MenuOption(digit=1, label="反映问题", action="repeat").digit == "1"
    with pytest.raises(ValidationError):
        MenuOption(digit="12", label="x", action="repeat")
    with pytest.raises(ValidationError, match="listed twice"):
        TimeLimitSet(label="x", normal=[{"stage": "签收", "amount": 1, "unit": "working_days"},
                                        {"stage": "签收", "amount": 2, "unit": "working_days"}])
    with pytest.raises(ValidationError):
        TimeLimitSet(label="x", normal=[{"stage": "签收", "amount": 0, "unit": "working_days"}])


def test_escalation_must_notify_someone():
    with pytest.raises(ValidationError, match="notify someone"):
        Escalation(level=1, name="催办", after_deadline={"amount": 0, "unit": "working_days"})
    with pytest.raises(ValidationError):
        Escalation(level=1, name="催办", after_deadline={"amount": 0, "unit": "working_days"},
                   notify_roles=["mayor"])


def test_option_fields_must_fit_the_action(variant, position):
    path, text = variant('{digit: "3", label: 松山区,   action: district_transfer, district: "150404"',
                         '{digit: "3", label: 松山区,   action: district_transfer')
    issue = next(i for i in check_rules_file(path) if "needs 'district'" in i.message)
    assert issue.path == "ivr.menus[1].options[2]"
    assert issue.line == position(text, "label: 松山区")[0]


def test_escalation_levels_must_be_ordered(variant):
    path, _ = variant("after_deadline: {amount: 5, unit: working_days}", "after_deadline: {amount: 1, unit: working_days}")
    issue = next(i for i in check_rules_file(path) if i.path.startswith("sla.escalation"))
    assert issue.path == "sla.escalation[2].after_deadline.amount"
    assert "later than the previous" in issue.message


def test_department_parent_loop(variant):
    path, _ = variant("{code: city-police,        name: 赤峰市公安局,                      level: city,",
                      "{code: city-police,        name: 赤峰市公安局,                      level: city, parent: city-police-traffic,")
    issue = next(i for i in check_rules_file(path) if "loops" in i.message)
    assert "city-police → city-police-traffic → city-police" in issue.message


def test_menu_less_switch_still_validates(variant):
    path, _ = variant("  menu_less: false\n", "  menu_less: true\n")
    assert check_rules_file(path) == []
