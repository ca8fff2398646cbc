"""Router.route: rules of every kind, both doctrines, every place fallback, overrides, errors."""

from __future__ import annotations

import json
from pathlib import Path
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.grid.lookup import GridIndex
from hotline.routing import CategoryInfo, NoTerritoryError, Router, RoutingError
from hotline.rules.schema import Routing

from routing_cells import Cell, square

TZ = ZoneInfo("Asia/Shanghai")
FRIDAY_10 = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)       # a working day
FRIDAY_23 = datetime(2026, 11, 27, 23, 0, tzinfo=TZ)
SATURDAY_02 = datetime(2026, 11, 28, 2, 0, tzinfo=TZ)
NATIONAL_DAY = datetime(2026, 10, 1, 10, 0, tzinfo=TZ)     # statutory holiday (a Thursday)

XITUN_HEPING = (118.955556, 42.269585)                      # centre of 红山区 西屯街道 和平社区
BEIJING = (116.397, 39.909)


@pytest.fixture(scope="module")
def router(shipped_rules, sample_index, categories):
    return Router(shipped_rules, sample_index, categories)


def inline(shipped_rules, sample_index, rules, *, categories=None, fallback=None, defaults=None):
    """A router over the shipped departments and time limits with a hand-written rule list."""
    routing = Routing.model_validate({
        "defaults": defaults or {"component": "owner", "matter": "territory"},
        "rules": rules,
        "fallback": fallback or {"department": "city-housing", "lead": "territory", "time_limits": "standard"},
    })
    cats = categories or [
        CategoryInfo("01001", "component", "供水井盖", None),
        CategoryInfo("01001", "matter", "供水井盖异常", None),
        CategoryInfo("05009", "component", "文物古迹", None),
        CategoryInfo("05010", "component", "有主部件", "util-heat"),
        CategoryInfo("06001", "matter", "私搭乱建", None),
        CategoryInfo("06002", "matter", "有主事项", "city-ecology"),
    ]
    return Router(shipped_rules.model_copy(update={"routing": routing}), sample_index, cats)


def rule(rule_id, match, department="city-urban", **extra):
    return {"id": rule_id, "name": f"规则{rule_id}", "match": match, "department": department,
            "time_limits": "standard", **extra}


# --- shipped rules: rule kinds ------------------------------------------------------------------------


def test_category_code_rule_matter_goes_to_the_street_first(router):
    d = router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10)
    assert d.rule_id == "illegal-building" and d.rule_index == 22
    assert (d.district.code, d.street.code, d.community.code) == ("150402", "150402001", "150402001001")
    assert d.place_source == "point"
    assert d.department.code == "city-urban" and d.department.name == "赤峰市城市管理综合执法局"
    assert d.lead == "territory"
    assert d.lead_unit.code == "150402001" and d.co_unit.code == "city-urban"
    assert d.responsible_street.name == "西屯街道"
    assert d.time_limit_set == "illegal-building"
    assert [s.stage for s in d.stages] == ["签收", "停工", "处罚", "拆除", "回访"]
    assert d.fallbacks == ()
    text = "\n".join(d.explanation)
    assert "命中第23条规则「私搭乱建 → 街道 + 城市管理综合执法局」（illegal-building）" in text
    assert "落入网格：红山区 › 西屯街道 › 和平社区（150402001001）" in text
    assert "事项先属地、后属主：由西屯街道牵头处置，赤峰市城市管理综合执法局配合" in text


def test_category_code_rule_component_goes_to_the_owner_first(router):
    d = router.route("01001", kind="component", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10)
    assert d.kind == "component" and d.category_name == "供水井盖"
    assert d.rule_id == "water-facilities"
    assert d.lead == "owner"
    assert d.lead_unit.code == "util-water" and d.co_unit.code == "150402001"
    assert "部件先属主、后属地：由赤峰市供水公司负责处置，西屯街道作为属地兜底" in d.explanation


def test_category_prefix_rule(router):
    d = router.route("02006", district_code="150404", at=FRIDAY_10)
    assert d.rule_id == "municipal-other"
    assert any("分类编码以 02 开头" in s for s in d.explanation)
    assert d.department.code == "city-municipal"


def test_district_rule_picks_the_district_bureau(router):
    hongshan = router.route("08002", district_code="150402", at=FRIDAY_10)
    yuanbaoshan = router.route("08002", district_code="150403", at=FRIDAY_10)
    assert (hongshan.rule_id, hongshan.department.code) == ("construction-hongshan", "hs-housing")
    assert (yuanbaoshan.rule_id, yuanbaoshan.department.code) == ("construction-yuanbaoshan", "ybs-housing")
    assert any("区县为 元宝山区" in s for s in yuanbaoshan.explanation)


def test_keyword_rule_wins_whatever_the_category(router):
    d = router.route("08002", district_code="150402", description="楼道里有很浓的 燃气味 ，请快来", at=FRIDAY_10)
    assert d.rule_id == "gas-smell" and d.rule_index == 0
    assert d.department.code == "util-gas" and d.priority == "urgent" and d.priority_label == "紧急"
    assert any("描述含关键词「燃气味」" in s for s in d.explanation)
    assert router.route("08002", district_code="150402", description="燃 气 管道", at=FRIDAY_10).rule_id \
        == "construction-hongshan"


@pytest.mark.parametrize("at,rule_id,priority", [
    (FRIDAY_23, "night-construction", "urgent"),
    (SATURDAY_02, "night-construction", "urgent"),      # the span wraps past midnight
    (FRIDAY_10, "construction-hongshan", "normal"),
    (datetime(2026, 11, 27, 14, 0, tzinfo=ZoneInfo("UTC")), "night-construction", "urgent"),   # 22:00 local
])
def test_time_window_rule(router, at, rule_id, priority):
    d = router.route("08001", district_code="150402", at=at)
    assert (d.rule_id, d.priority) == (rule_id, priority)
    if rule_id == "night-construction":
        assert d.time_limit_set == "construction"
        assert [(s.stage, s.amount, s.unit) for s in d.stages][:2] == [("签收", 1, "natural_hours"),
                                                                         ("处置", 2, "natural_hours")]


# --- inline rule sets: kind, street, days, order --------------------------------------------------------


def test_kind_rule_and_ambiguous_code_defaults_to_component(shipped_rules, sample_index):
    r = inline(shipped_rules, sample_index, [
        rule("matters", {"category": "01001", "kind": "matter"}, "city-ecology"),
        rule("components", {"category": "01001", "kind": "component"}, "util-water"),
    ])
    assert r.route("01001", kind="matter", district_code="150402").rule_id == "matters"
    d = r.route("01001", district_code="150402")
    assert d.rule_id == "components" and d.kind == "component"
    assert "分类编码 01001 同时是部件和事项，未指定类型，按部件处理" in d.explanation


def test_street_rule_and_street_override(shipped_rules, sample_index):
    r = inline(shipped_rules, sample_index, [
        rule("xitun", {"streets": ["150402001"]}, "hs-urban", street="150402002", priority="high"),
    ])
    d = r.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10)
    assert d.rule_id == "xitun" and d.department.code == "hs-urban" and d.priority == "high"
    assert d.street.code == "150402001"                         # where the place is
    assert d.responsible_street.code == "150402002"             # who is responsible
    assert d.lead_unit == d.responsible_street and d.lead_unit.name == "三中街街道"
    assert "规则指定责任街道：三中街街道（150402002）" in d.explanation
    other = r.route("06001", street_code="150402003", at=FRIDAY_10)
    assert other.rule_id is None


@pytest.mark.parametrize("at,expected", [(FRIDAY_10, "weekday"), (NATIONAL_DAY, "holiday"),
                                         (datetime(2026, 11, 28, 10, 0, tzinfo=TZ), "holiday")])
def test_working_day_windows_follow_the_chinese_calendar(shipped_rules, sample_index, at, expected):
    r = inline(shipped_rules, sample_index, [
        rule("weekday", {"category": "06001", "time": {"days": "working_days"}}),
        rule("holiday", {"category": "06001", "time": {"days": "non_working_days", "hours": ["08:00-18:00"]}}),
    ])
    assert r.route("06001", district_code="150402", at=at).rule_id == expected


def test_first_matching_rule_wins(shipped_rules, sample_index):
    a = rule("a", {"category_prefix": "06"}, "city-ecology")
    b = rule("b", {"category": "06001"}, "city-urban")
    assert inline(shipped_rules, sample_index, [a, b]).route("06001", district_code="150402").rule_id == "a"
    assert inline(shipped_rules, sample_index, [b, a]).route("06001", district_code="150402").rule_id == "b"


def test_rule_without_lead_follows_the_doctrine_of_the_kind(shipped_rules, sample_index):
    r = inline(shipped_rules, sample_index, [rule("any", {"category": ["05009", "06001"]}, "city-housing")])
    component = r.route("05009", street_code="150402001")
    matter = r.route("06001", street_code="150402001")
    assert (component.lead, component.lead_unit.code) == ("owner", "city-housing")
    assert (matter.lead, matter.lead_unit.code) == ("territory", "150402001")
    flipped = inline(shipped_rules, sample_index, [rule("any", {"category": ["05009"]}, "city-housing")],
                     defaults={"component": "territory", "matter": "territory"})
    assert flipped.route("05009", street_code="150402001").lead == "territory"


def test_a_rule_lead_overrides_the_doctrine_of_the_kind(shipped_rules, sample_index):
    """``lead`` on a rule wins over routing.defaults: a matter led by its department, a component
    led by the street office, each with the explanation that says so."""
    r = inline(shipped_rules, sample_index, [rule("dept-leads", {"category": ["06001"]}, "city-urban", lead="owner"),
                                             rule("street-leads", {"category": ["05009"]}, "city-housing",
                                                  lead="territory")])
    matter = r.route("06001", street_code="150402001")
    assert (matter.lead, matter.lead_unit.code, matter.co_unit.code) == ("owner", "city-urban", "150402001")
    assert "按规则由责任部门牵头：赤峰市城市管理综合执法局负责处置，西屯街道作为属地配合" in matter.explanation
    component = r.route("05009", street_code="150402001")
    assert (component.lead, component.lead_unit.code, component.co_unit.code) == \
        ("territory", "150402001", "city-housing")
    assert "按属地管理：由西屯街道牵头处置，赤峰市住房和城乡建设局配合" in component.explanation


# --- doctrine when no rule matches --------------------------------------------------------------------


def test_no_rule_component_with_registered_owner_goes_to_the_owner(shipped_rules, sample_index):
    d = inline(shipped_rules, sample_index, []).route("05010", street_code="150402001")
    assert d.rule_id is None and d.rule_index is None and "no_rule" in d.fallbacks
    assert (d.department.code, d.lead, d.lead_unit.code) == ("util-heat", "owner", "util-heat")
    assert d.co_unit.code == "150402001"


def test_no_rule_component_without_owner_is_managed_by_territory(shipped_rules, sample_index):
    d = inline(shipped_rules, sample_index, []).route("05009", street_code="150402001")
    assert d.lead == "territory" and d.lead_unit.code == "150402001"
    assert d.department.code == "city-housing"                  # routing.fallback
    assert "ownership_unknown" in d.fallbacks
    assert "部件权属不明，按属地管理" in d.explanation


def test_no_rule_matter_with_registered_owner_still_goes_to_the_street_first(shipped_rules, sample_index):
    d = inline(shipped_rules, sample_index, []).route("06002", street_code="150402001")
    assert (d.department.code, d.lead, d.lead_unit.code, d.co_unit.code) == \
        ("city-ecology", "territory", "150402001", "city-ecology")


def test_matter_without_street_is_led_by_the_district(router):
    d = router.route("06001", district_code="150403", at=FRIDAY_10)
    assert d.street is None and d.responsible_street is None
    assert d.lead == "territory" and d.lead_unit.code == "150403" and d.lead_unit.name == "元宝山区"
    assert "no_street" in d.fallbacks
    assert "未能确定街道（乡镇），由元宝山区属地负责" in d.explanation


# --- place fallbacks ----------------------------------------------------------------------------------


def test_no_point_no_address_uses_the_chosen_district(router):
    d = router.route("06001", district_code="150402", at=FRIDAY_10)
    assert d.place_source == "district" and d.district.name == "红山区"
    assert "no_location" in d.fallbacks
    assert "未提供定位点和地址，按来电所选区县处理：红山区（150402）" in d.explanation


def test_point_outside_every_unit_falls_back_to_the_chosen_district(router):
    d = router.route("06001", lon=BEIJING[0], lat=BEIJING[1], district_code="150404", at=FRIDAY_10)
    assert d.place_source == "district" and d.district.code == "150404"
    assert "point_outside_grid" in d.fallbacks
    text = "\n".join(d.explanation)
    assert "地点未落入任何网格" in text and "按来电所选区县处理：松山区（150404）" in text


def test_point_outside_with_nothing_else_cannot_be_routed(router):
    with pytest.raises(NoTerritoryError, match="无法确定属地.*地点未落入任何网格"):
        router.route("06001", lon=BEIJING[0], lat=BEIJING[1])


def test_address_used_when_there_is_no_point(router):
    d = router.route("06001", address="红山区西屯街道和平社区5号楼", at=FRIDAY_10)
    assert d.place_source == "address" and d.community.code == "150402001001"


def test_ambiguous_address_then_district(router):
    d = router.route("06001", address="和平社区", district_code="150428", at=FRIDAY_10)
    assert "address_ambiguous" in d.fallbacks
    # the chosen district narrows nothing by itself: it is the place used
    assert d.place_source == "district" and d.district.code == "150428"
    assert any("匹配到多个网格" in s for s in d.explanation)


def test_ambiguous_address_with_a_common_parent_uses_the_parent(router):
    d = router.route("06001", address="元宝山", at=FRIDAY_10)
    assert "address_ambiguous" in d.fallbacks
    assert d.place_source == "address" and d.district.code == "150403" and d.street is None
    assert "这些网格同属元宝山区（150403），按其处理" in d.explanation


def test_ambiguous_address_alone_cannot_be_routed(router):
    with pytest.raises(NoTerritoryError, match="匹配到多个网格"):
        router.route("06001", address="和平社区")


def test_unmatched_address_then_district(router):
    d = router.route("06001", address="北京市朝阳区", district_code="150402", at=FRIDAY_10)
    assert "address_unmatched" in d.fallbacks and d.district.code == "150402"
    assert "地址「北京市朝阳区」未匹配到任何网格" in d.explanation


def test_point_beats_a_conflicting_address_and_says_so(router):
    d = router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], address="平庄西城街道", at=FRIDAY_10)
    assert d.place_source == "point" and d.street.code == "150402001"
    assert "address_conflict" in d.fallbacks
    assert any("与定位点不一致，以定位点为准" in s for s in d.explanation)


def test_point_beats_a_conflicting_district_or_street_choice_and_says_so(router):
    """The caller chose 松山区 (or one of its streets) in the menu, but the point lies in 红山区."""
    d = router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], district_code="150404", at=FRIDAY_10)
    assert d.place_source == "point" and d.district.code == "150402" and d.fallbacks == ("district_conflict",)
    assert any("来电所选区县指向松山区" in s and "以定位点为准" in s for s in d.explanation)
    d = router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], street_code="150404001", at=FRIDAY_10)
    assert d.place_source == "point" and d.street.code == "150402001" and d.fallbacks == ("street_conflict",)
    assert any("来电所选街道指向松山区 › 振兴街道" in s and "以定位点为准" in s for s in d.explanation)


def test_an_address_naming_only_the_district_is_refined_by_the_chosen_street(router):
    d = router.route("06001", address="红山区某某路", street_code="150402001", at=FRIDAY_10)
    assert d.street.code == "150402001" and d.place_source == "address+street"
    assert "地址只确定到区县，按来电所选街道细化为：红山区 › 西屯街道（150402001）" in d.explanation


def test_street_code_gives_district_and_street(router):
    d = router.route("06001", street_code="150403004", at=FRIDAY_10)
    assert (d.district.name, d.street.name) == ("元宝山区", "平庄西城街道")
    assert d.lead_unit.code == "150403004"


# --- overrides ----------------------------------------------------------------------------------------


def test_override_place_wins_and_is_recorded(router):
    d = router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10,
                     override={"street_code": "150404001", "reason": "来电人更正了地址", "agent": "A017"})
    assert d.place_source == "override" and d.street.code == "150404001" and d.district.code == "150404"
    assert d.override == {"street_code": "150404001", "reason": "来电人更正了地址", "agent": "A017"}
    assert "override_place" in d.fallbacks
    text = "\n".join(d.explanation)
    assert "坐席指定地点：松山区 › 振兴街道（150404001），覆盖自动定位结果（原为：红山区 › 西屯街道 › 和平社区（150402001001））" in text
    assert "坐席 A017的改派原因：来电人更正了地址" in text


def test_override_place_rescues_an_unlocatable_case(router):
    d = router.route("06001", lon=BEIJING[0], lat=BEIJING[1], override={"district_code": "150402"}, at=FRIDAY_10)
    assert d.district.code == "150402" and d.place_source == "override"


def test_override_department_and_priority(router):
    d = router.route("06028", district_code="150402", at=FRIDAY_10,
                     override={"department": "hs-urban", "priority": "urgent"})
    assert {"override_department", "override_priority"} <= set(d.fallbacks)
    assert d.department.code == "hs-urban" and d.co_unit.code == "hs-urban"
    assert d.priority == "urgent" and [s.amount for s in d.stages][0] == 1 and d.stages[0].unit == "working_hours"
    assert "坐席改派责任部门：赤峰市生态环境局 → 红山区城市管理综合执法局" in d.explanation
    assert "坐席调整紧急程度：一般 → 紧急" in d.explanation
    # a time-limit set without its own urgent stages keeps the normal ones
    plain = router.route("06001", district_code="150402", at=FRIDAY_10, override={"priority": "urgent"})
    assert plain.priority == "urgent" and plain.stages[1].stage == "停工"


def test_a_district_bureau_assigned_outside_its_district_is_flagged(router):
    d = router.route("06028", district_code="150402", at=FRIDAY_10, override={"department": "ybs-urban"})
    assert d.department.code == "ybs-urban" and "department_outside_district" in d.fallbacks
    assert "注意：元宝山区城市管理综合执法局属于元宝山区，与属地红山区不一致" in d.explanation
    fine = router.route("06028", district_code="150402", at=FRIDAY_10, override={"department": "hs-urban"})
    assert "department_outside_district" not in fine.fallbacks


@pytest.mark.parametrize("override,message", [
    ({"team": "x"}, "未知字段 team"),
    ({"department": "nobody"}, "未在 routing_rules.yaml"),
    ({"priority": "asap"}, "紧急程度"),
    ({"street_code": 150402001}, "必须是文本"),
    ({"street_code": "150499001"}, "未知的街道"),
    ("150402", "字典"),
])
def test_bad_overrides_are_refused(router, override, message):
    with pytest.raises(RoutingError, match=message):
        router.route("06001", district_code="150402", override=override, at=FRIDAY_10)


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    ({"category_code": "99999", "district_code": "150402"}, "未知的分类编码 '99999'"),
    ({"category_code": "", "district_code": "150402"}, "分类编码不能为空"),
    ({"category_code": "06001", "kind": "matter?", "district_code": "150402"}, "分类类型"),
    ({"category_code": "06001", "kind": "component", "district_code": "150402"}, "没有部件类"),
    ({"category_code": "06001", "lon": 118.9}, "经度和纬度必须同时提供"),
    ({"category_code": "06001", "lon": 118.9, "lat": 95.0}, "经纬度无效"),
    ({"category_code": "06001", "district_code": "15040"}, "格式无效"),
    ({"category_code": "06001", "district_code": "150402", "street_code": "150403001"}, "不属于区县"),
    ({"category_code": "06001", "street_code": "150402999"}, "未知的街道"),
    ({"category_code": "06001", "district_code": "150402", "at": datetime(2026, 11, 27, 10)}, "时区"),
    ({"category_code": "06001", "district_code": "150402", "description": 5}, "文本"),
    ({"category_code": "06001"}, "无法确定属地"),
])
def test_bad_input_is_refused_with_a_clear_message(router, kwargs, message):
    with pytest.raises(RoutingError, match=message):
        router.route(**kwargs)


def test_a_district_outside_the_rules_cannot_be_routed(shipped_rules, categories):
    grid = GridIndex.from_units([Cell("150499", "外区", 1, None, "district", square(0, 0, 1, 1))])
    with pytest.raises(NoTerritoryError, match="外区 不在本热线服务的区县范围内"):
        Router(shipped_rules, grid, categories).route("06001", lon=0.5, lat=0.5)


def test_categories_must_name_known_owner_departments(shipped_rules, sample_index):
    with pytest.raises(RoutingError, match="默认权属单位 'ghost'"):
        Router(shipped_rules, sample_index, [CategoryInfo("06001", "matter", "私搭乱建", "ghost")])


def test_without_a_grid_codes_still_route(shipped_rules, categories):
    d = Router(shipped_rules, None, categories).route("06001", street_code="150402001", lon=1.0, lat=1.0,
                                                      at=FRIDAY_10)
    assert d.district.name == "红山区" and d.street.code == "150402001" and "no_grid" in d.fallbacks
    by_address = Router(shipped_rules, None, categories).route("06001", address="和平路12号", district_code="150402",
                                                               at=FRIDAY_10)
    assert by_address.district.code == "150402" and "no_grid" in by_address.fallbacks
    assert "未加载网格，无法按地址定位" in by_address.explanation


# --- output -------------------------------------------------------------------------------------------


def test_to_json_round_trips_and_keeps_chinese_readable(router):
    d = router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10)
    text = d.to_json()
    assert "西屯街道" in text and "\\u" not in text
    data = json.loads(text)
    assert data == json.loads(json.dumps(d.to_dict(), ensure_ascii=False))
    assert data["department"] == {"code": "city-urban", "name": "赤峰市城市管理综合执法局"}
    assert data["explanation"] == list(d.explanation)
    assert data["stages"][0] == {"stage": "签收", "amount": 1.0, "unit": "working_days"}


def test_every_shipped_category_routes_somewhere_in_every_district(router, categories, shipped_rules):
    """Smoke over the real data: no category of the catalogue makes the router fail."""
    for district in shipped_rules.districts:
        for c in categories:
            d = router.route(c.code, kind=c.kind, district_code=district.code, at=FRIDAY_10)
            assert d.rule_id is not None, (c.code, c.kind)
            assert d.lead in ("owner", "territory")


def test_keywords_ignore_spaces_and_width(router):
    d = router.route("06001", district_code="150402", description="家里 燃 气 味 很大", at=FRIDAY_10)
    assert d.rule_id == "gas-smell"


def test_kind_may_be_given_as_the_schema_enum_and_at_defaults_to_now(router):
    from hotline.rules.schema import Kind
    d = router.route("01001", kind=Kind.MATTER, district_code="150402")
    assert d.kind == "matter" and d.category_name == "供水井盖异常"


@pytest.mark.parametrize("change,message", [
    ({"department": "ghost"}, "引用的部门 'ghost'"),
    ({"time_limits": "never"}, "引用的时限 'never'"),
])
def test_rules_built_in_code_with_dangling_names_are_refused(shipped_rules, sample_index, categories,
                                                             change, message):
    bad = shipped_rules.model_copy(update={"routing": Routing.model_validate({
        "rules": [rule("x", {"category": "06001"}) | change],
        "fallback": {"department": "city-housing", "time_limits": "standard"}})})
    with pytest.raises(RoutingError, match=message):
        Router(bad, sample_index, categories)


def test_router_from_the_shipped_files():
    r = Router.from_files(Path(__file__).resolve().parents[2] / "routing_rules.yaml")
    d = r.route("90011", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10)
    assert (d.rule_id, d.department.name, d.community.name) == ("lights-out", "赤峰市路灯管理所", "和平社区")


def test_to_dict_is_dataclasses_asdict(router):
    """``to_dict`` is hand-written for speed; it must stay exactly ``asdict`` (keys, order, values)."""
    from dataclasses import asdict

    decisions = [
        router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10),
        router.route("06001", lon=XITUN_HEPING[0], lat=XITUN_HEPING[1], at=FRIDAY_10,
                     override={"street_code": "150404001", "reason": "来电人更正了地址", "agent": "A017"}),
        router.route("06001", district_code="150402", at=FRIDAY_10, override={"priority": "urgent"}),
    ]
    for d in decisions:
        out = d.to_dict()
        assert out == asdict(d)
        assert list(out) == list(asdict(d))
        assert json.dumps(out, ensure_ascii=False) == json.dumps(asdict(d), ensure_ascii=False)
        if d.override is not None:
            assert out["override"] is not d.override        # a copy, as asdict makes
