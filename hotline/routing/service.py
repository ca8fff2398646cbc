"""Case routing: category + place → street office + department, with a Chinese explanation.

Order of work in :meth:`Router.route`:

1. Category: the code must be known; a code that is both a component (部件) and a matter (事项)
   is taken as the component unless ``kind`` says otherwise.
2. Place: point → grid polygon; else address text → unit names; else the district/street codes
   the caller chose. An agent ``override`` wins and is recorded. No district at all → error.
3. Rules: ``routing.rules`` in order, the first whose every condition holds wins.
   No rule → the category's default owner, else ``routing.fallback``.
4. Doctrine: components 先属主、后属地 (the department leads, the street office is the territorial
   fallback); matters 先属地、后属主 (the street office leads, the department assists).
   Unknown ownership → 属地管理.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline.grid.lookup import GridIndex, GridLookupError, Placement, UnitRef
from hotline.rules.schema import Kind, Lead, Priority, Rules, RoutingRule, TimeUnit, TimeWindow
from hotline.sla.calendar import CalendarNotCovered, WorkCalendar

from .decision import NoTerritoryError, RoutingDecision, RoutingError, StageLimit, OrgUnit

KIND_LABEL = {"component": "部件", "matter": "事项"}
LEVEL_LABEL = {1: "区县", 2: "街道（乡镇）", 3: "社区（村）", 4: "单元网格"}
OVERRIDE_KEYS = frozenset({"district_code", "street_code", "community_code", "department", "priority",
                           "reason", "agent"})


@dataclass(frozen=True)
class CategoryInfo:
    code: str
    kind: str                       # component | matter
    name: str
    default_department: str | None  # owner department code (属主), if registered


@dataclass(frozen=True)
class _Place:
    placement: Placement
    source: str                     # override | point | address | street | district | community


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _unit(ref: UnitRef | None) -> OrgUnit | None:
    return None if ref is None else OrgUnit(ref.code, ref.name)


class Router:
    """Routes cases with one set of :class:`Rules`, a :class:`GridIndex` and the categories.

    ``categories`` are records with ``code``, ``kind``, ``name`` and optionally
    ``default_department`` (``CategoryRecord`` from the sample data or ``Category`` rows).
    ``grid_index`` may be ``None``: then only district/street codes locate a case.
    """

    def __init__(self, rules: Rules, grid_index: GridIndex | None, categories: Iterable[Any],
                 *, calendar: WorkCalendar | None = None):
        self.rules = rules
        self.grid = grid_index
        self.tz = ZoneInfo(rules.calendar.timezone)
        self._by_code: dict[str, dict[str, CategoryInfo]] = {}
        for record in categories:
            info = CategoryInfo(str(record.code), str(record.kind), str(record.name),
                                getattr(record, "default_department", None) or None)
            if info.kind not in KIND_LABEL:
                raise RoutingError(f"分类 {info.code} 的类型 {info.kind!r} 无效，应为 component 或 matter")
            if info.default_department and rules.department(info.default_department) is None:
                raise RoutingError(f"分类 {info.code}（{info.name}）的默认权属单位 {info.default_department!r} "
                                   f"未在 routing_rules.yaml 的 departments 中定义")
            self._by_code.setdefault(info.code, {})[info.kind] = info
        if not self._by_code:
            raise RoutingError("没有任何分类：无法路由")
        self._check_references(rules)
        if calendar is None and rules.calendar.holiday_source != "none":
            calendar = WorkCalendar(rules.calendar.timezone, local_years=rules.calendar.local_years,
                                    extra_holidays=rules.calendar.extra_holidays,
                                    extra_workdays=rules.calendar.extra_workdays)
        self.calendar = calendar
        self._keywords = {rule.id: [(k, _norm(k)) for k in rule.match.keywords] for rule in rules.routing.rules}
        # Per category code, the rules whose category condition it meets, in order: the scan
        # below then only looks at those (same first match, far fewer rules).
        indexed = list(enumerate(rules.routing.rules))
        self._candidates = {code: tuple((i, r) for i, r in indexed if r.match.category_matches(code))
                            for code in self._by_code}

    @classmethod
    def from_files(cls, rules_path: Any = "routing_rules.yaml", *, grid_index: GridIndex | None = None,
                   categories: Iterable[Any] | None = None) -> Router:
        """A router from a rules file, checked against the categories and grid it will route with.

        Without ``grid_index``/``categories`` the packaged sample grid and categories are used
        (what ``hotline route`` needs when no database is configured).
        """
        from hotline.grid.sample import load_categories, load_sample_grid
        from hotline.rules import load_rules

        cats = list(load_categories() if categories is None else categories)
        grid = GridIndex.from_units(load_sample_grid()) if grid_index is None else grid_index
        rules = load_rules(rules_path, categories={str(c.code) for c in cats})
        return cls(rules, grid, cats)

    @staticmethod
    def _check_references(rules: Rules) -> None:
        """Rules built in code skip the loader's checks; refuse dangling names here."""
        targets = [(f"routing.rules[{i}]（{r.id}）", r.department, r.time_limits)
                   for i, r in enumerate(rules.routing.rules)]
        targets.append(("routing.fallback", rules.routing.fallback.department, rules.routing.fallback.time_limits))
        for where, department, limits in targets:
            if rules.department(department) is None:
                raise RoutingError(f"{where} 引用的部门 {department!r} 未在 departments 中定义")
            if limits not in rules.time_limits:
                raise RoutingError(f"{where} 引用的时限 {limits!r} 未在 time_limits 中定义")

    # --- public ---------------------------------------------------------------------------------

    def route(self, category_code: str, *, kind: str | Kind | None = None,
              lon: float | None = None, lat: float | None = None, address: str | None = None,
              district_code: str | None = None, street_code: str | None = None,
              description: str = "", at: datetime | None = None,
              override: Mapping[str, Any] | None = None) -> RoutingDecision:
        """Route one case; raises :class:`RoutingError` for bad input or when no territory is known."""
        steps: list[str] = []
        fallbacks: list[str] = []
        category = self._category(category_code, kind, steps)
        if not isinstance(description, str):
            raise RoutingError("问题描述必须是文本")
        moment = self._moment(at)
        override = self._check_override(override)

        place: _Place | None = None
        problem: RoutingError | None = None
        place_override = bool(override) and any(k in override for k in ("district_code", "street_code",
                                                                           "community_code"))
        try:
            place = self._locate(lon, lat, address, district_code, street_code, steps, fallbacks)
        except NoTerritoryError as exc:
            if not place_override:
                raise
            problem = exc
        if place_override:
            chosen = self._from_codes(override.get("district_code"), override.get("street_code"),
                                      override.get("community_code"), source="override")
            before = place.placement.label() if place else f"无（{problem}）"
            steps.append(f"坐席指定地点：{chosen.placement.label()}，覆盖自动定位结果（原为：{before}）")
            fallbacks.append("override_place")
            place = chosen
        placement = place.placement
        district_ref = placement.district
        if district_ref is None or self.rules.district(district_ref.code) is None:
            where = district_ref.name if district_ref else placement.label()
            raise NoTerritoryError(f"无法确定属地：{where} 不在本热线服务的区县范围内（routing_rules.yaml districts）")
        street_ref = placement.street
        if street_ref is None:
            fallbacks.append("no_street")

        # Rules, first match wins.
        rule, index, reasons = self._match(category, placement, description, moment)
        defaults = self.rules.routing.defaults
        doctrine = defaults.component if category.kind == "component" else defaults.matter
        if rule is not None:
            steps.append(f"命中第{index + 1}条规则「{rule.name}」（{rule.id}）：{'；'.join(reasons)}")
            department_code, priority, limits_name = rule.department, rule.priority, rule.time_limits
            lead = rule.lead or doctrine
            if rule.lead is None:
                steps.append(f"规则未指定牵头方式，按{KIND_LABEL[category.kind]}的默认原则处理")
        else:
            fallback = self.rules.routing.fallback
            fallbacks.append("no_rule")
            priority, limits_name = fallback.priority, fallback.time_limits
            if category.default_department:
                department_code, lead = category.default_department, doctrine
                steps.append("没有规则命中，按分类登记的默认权属单位处理")
            else:
                department_code, lead = fallback.department, fallback.lead
                steps.append("没有规则命中，按兜底规则（routing.fallback）处理")
                if category.kind == "component" and lead is Lead.TERRITORY:
                    fallbacks.append("ownership_unknown")
                    steps.append("部件权属不明，按属地管理")

        responsible_street = _unit(street_ref)
        if rule is not None and rule.street is not None:
            responsible_street = self._street_unit(rule.street)
            steps.append(f"规则指定责任街道：{responsible_street.name}（{responsible_street.code}）")

        if override and override.get("department"):
            code = override["department"]
            old = self.rules.department(department_code)
            steps.append(f"坐席改派责任部门：{old.name if old else department_code} → "
                         f"{self.rules.department(code).name}")
            fallbacks.append("override_department")
            department_code = code
        if override and override.get("priority"):
            new = Priority(override["priority"])
            steps.append(f"坐席调整紧急程度：{priority.label} → {new.label}")
            fallbacks.append("override_priority")
            priority = new
        if override and (override.get("reason") or override.get("agent")):
            who = f"坐席 {override['agent']}" if override.get("agent") else "坐席"
            steps.append(f"{who}的改派原因：{override.get('reason') or '未填写'}")

        department = self.rules.department(department_code)   # checked in __init__ / _check_override
        dept_unit = OrgUnit(department.code, department.name)
        district_unit = OrgUnit(district_ref.code, district_ref.name)
        if department.district is not None and department.district != district_ref.code:
            home = self.rules.district(department.district)
            steps.append(f"注意：{department.name}属于{home.name if home else department.district}，"
                         f"与属地{district_unit.name}不一致")
            fallbacks.append("department_outside_district")
        territory = responsible_street or district_unit
        if lead is Lead.OWNER:
            lead_unit, co_unit = dept_unit, territory
            steps.append(f"部件先属主、后属地：由{dept_unit.name}负责处置，{territory.name}作为属地兜底"
                         if category.kind == "component" else
                         f"按规则由责任部门牵头：{dept_unit.name}负责处置，{territory.name}作为属地配合")
        else:
            lead_unit, co_unit = territory, dept_unit
            steps.append(f"{'事项先属地、后属主' if category.kind == 'matter' else '按属地管理'}："
                         f"由{territory.name}牵头处置，{dept_unit.name}配合")
            if responsible_street is None:
                steps.append(f"未能确定街道（乡镇），由{district_unit.name}属地负责")

        limits = self.rules.time_limits[limits_name]
        stages = tuple(StageLimit(s.stage, s.amount, s.unit.value) for s in limits.for_priority(priority))
        steps.append(f"紧急程度：{priority.label}；处置时限：{limits.label}（"
                     + "，".join(f"{s.stage}{TimeUnit(s.unit).amount_text(s.amount)}" for s in stages) + "）")

        return RoutingDecision(
            category_code=category.code, category_name=category.name, kind=category.kind,  # type: ignore[arg-type]
            district=district_unit, street=_unit(street_ref), community=_unit(placement.community),
            place_source=place.source, responsible_street=responsible_street, department=dept_unit,
            lead=lead.value, lead_unit=lead_unit, co_unit=co_unit,  # type: ignore[arg-type]
            priority=priority.value, priority_label=priority.label,
            time_limit_set=limits_name, time_limit_label=limits.label, stages=stages,
            rule_id=rule.id if rule else None, rule_index=index, rule_name=rule.name if rule else None,
            override=dict(override) if override else None,
            fallbacks=tuple(dict.fromkeys(fallbacks)), explanation=tuple(steps),
        )

    # --- category, time, override ------------------------------------------------------------------

    def _category(self, code: Any, kind: str | Kind | None, steps: list[str]) -> CategoryInfo:
        if not isinstance(code, str) or not code.strip():
            raise RoutingError("分类编码不能为空")
        code = code.strip()
        found = self._by_code.get(code)
        if not found:
            raise RoutingError(f"未知的分类编码 {code!r}：分类目录中没有这个编码")
        if kind is not None:
            kind = kind.value if isinstance(kind, Kind) else str(kind)
            if kind not in KIND_LABEL:
                raise RoutingError(f"分类类型 {kind!r} 无效，应为 component（部件）或 matter（事项）")
            if kind not in found:
                raise RoutingError(f"分类编码 {code} 没有{KIND_LABEL[kind]}类（只有"
                                   f"{'、'.join(KIND_LABEL[k] for k in found)}）")
            info = found[kind]
        elif len(found) == 1:
            info = next(iter(found.values()))
        else:
            info = found["component"]
            steps.append(f"分类编码 {code} 同时是部件和事项，未指定类型，按部件处理")
        steps.append(f"分类：{info.code} {info.name}（{KIND_LABEL[info.kind]}）")
        return info

    def _moment(self, at: datetime | None) -> datetime:
        if at is None:
            return datetime.now(self.tz)
        if not isinstance(at, datetime):
            raise RoutingError(f"受理时间必须是 datetime，收到 {type(at).__name__}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise RoutingError("受理时间必须带时区（例如 Asia/Shanghai）")
        return at.astimezone(self.tz)

    def _check_override(self, override: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if override is None:
            return None
        if not isinstance(override, Mapping):
            raise RoutingError("override 必须是字典")
        unknown = sorted(set(override) - OVERRIDE_KEYS)
        if unknown:
            raise RoutingError(f"override 含未知字段 {', '.join(unknown)}；允许：{', '.join(sorted(OVERRIDE_KEYS))}")
        clean = {k: v for k, v in override.items() if v not in (None, "")}
        for key, value in clean.items():
            if not isinstance(value, str):
                raise RoutingError(f"override 字段 {key} 必须是文本")
        if "department" in clean and self.rules.department(clean["department"]) is None:
            raise RoutingError(f"改派的部门 {clean['department']!r} 未在 routing_rules.yaml 的 departments 中定义")
        if "priority" in clean and clean["priority"] not in {p.value for p in Priority}:
            raise RoutingError(f"紧急程度 {clean['priority']!r} 无效，应为 normal、high 或 urgent")
        return clean or None

    # --- place --------------------------------------------------------------------------------------

    def _locate(self, lon: float | None, lat: float | None, address: str | None, district_code: str | None,
                street_code: str | None, steps: list[str], fallbacks: list[str]) -> _Place:
        found: list[_Place] = []
        first_step = len(steps)
        if (lon is None) != (lat is None):
            raise RoutingError("经度和纬度必须同时提供")
        if lon is not None:
            if self.grid is None:
                steps.append("未加载网格，忽略定位点")
                fallbacks.append("no_grid")
            else:
                try:
                    hit = self.grid.locate_point(lon, lat)
                except GridLookupError:
                    raise RoutingError(f"经纬度无效：经度 {lon!r}，纬度 {lat!r}（应为 WGS-84 度数）") from None
                if hit is not None:
                    steps.append(f"定位点（{lon}, {lat}）落入网格：{hit.label()}")
                    found.append(_Place(hit, "point"))
                else:
                    steps.append(f"地点未落入任何网格（定位点 {lon}, {lat}）")
                    fallbacks.append("point_outside_grid")
        if address is not None and not isinstance(address, str):
            raise RoutingError("地址必须是文本")
        if address and address.strip():
            if self.grid is None:
                steps.append("未加载网格，无法按地址定位")
                fallbacks.append("no_grid")
            else:
                match = self.grid.locate_address(address)
                if match.status == "matched":
                    steps.append(f"地址「{address}」匹配到网格：{match.placement.label()}")
                    found.append(_Place(match.placement, "address"))
                elif match.status == "ambiguous":
                    names = "、".join(c.label() for c in match.candidates[:5])
                    more = f"等{len(match.candidates)}处" if len(match.candidates) > 5 else ""
                    steps.append(f"地址「{address}」匹配到多个网格：{names}{more}，无法确定唯一网格")
                    fallbacks.append("address_ambiguous")
                    common = _common(match.candidates)
                    if common is not None:
                        steps.append(f"这些网格同属{common.label()}，按其处理")
                        found.append(_Place(common, "address"))
                else:
                    steps.append(f"地址「{address}」未匹配到任何网格")
                    fallbacks.append("address_unmatched")
        if street_code or district_code:
            given = self._from_codes(district_code, street_code, None, source="street" if street_code else "district")
            found.append(given)
        if not found:
            tried = "；".join(steps[first_step:]) or "没有提供定位点、地址或区县"
            raise NoTerritoryError(f"无法确定属地：{tried}。请确认地点或选择区县")
        chosen = found[0]
        if chosen.source in ("street", "district"):
            what = "来电所选街道" if chosen.source == "street" else "来电所选区县"
            if lon is None and not (address and address.strip()):
                steps.append(f"未提供定位点和地址，按{what}处理：{chosen.placement.label()}")
                fallbacks.append("no_location")
            else:
                steps.append(f"按{what}处理：{chosen.placement.label()}")
        for later in found[1:]:
            if chosen.placement.contains(later.placement):
                if later.placement.unit.level > chosen.placement.unit.level and chosen.placement.unit.level < 2:
                    steps.append(f"{_source_label(chosen.source)}只确定到{LEVEL_LABEL[chosen.placement.unit.level]}，"
                                 f"按{_source_label(later.source)}细化为：{later.placement.label()}")
                    chosen = _Place(later.placement, chosen.source + "+" + later.source)
            elif not later.placement.contains(chosen.placement):
                steps.append(f"{_source_label(later.source)}指向{later.placement.label()}，与"
                             f"{_source_label(chosen.source)}不一致，以{_source_label(chosen.source)}为准")
                fallbacks.append(f"{later.source}_conflict")
        return chosen

    def _from_codes(self, district_code: str | None, street_code: str | None, community_code: str | None,
                    *, source: str) -> _Place:
        codes = [(c, n) for c, n in ((district_code, 1), (street_code, 2), (community_code, 3)) if c]
        for code, level in codes:
            if not isinstance(code, str) or not code.isdigit() or len(code) != {1: 6, 2: 9, 3: 12}[level]:
                raise RoutingError(f"{LEVEL_LABEL[level]}编码 {code!r} 格式无效（应为 {({1: 6, 2: 9, 3: 12})[level]} 位数字）")
        code, level = codes[-1]
        for upper, upper_level in codes[:-1]:
            if not code.startswith(upper):
                raise RoutingError(f"{LEVEL_LABEL[level]}编码 {code} 不属于{LEVEL_LABEL[upper_level]} {upper}")
        placement = self.grid.unit(code) if self.grid is not None else None
        if placement is None:
            if level == 1 and self.rules.district(code) is not None:
                placement = Placement((UnitRef(code, self.rules.district(code).name, 1, "district"),))
            elif level == 2 and self.grid is None and self.rules.district(code[:6]) is not None:
                district = self.rules.district(code[:6])
                placement = Placement((UnitRef(district.code, district.name, 1, "district"),
                                       UnitRef(code, code, 2, "street")))
            else:
                raise RoutingError(f"未知的{LEVEL_LABEL[level]}编码 {code}")
        if placement.unit.level != level:
            raise RoutingError(f"编码 {code} 是{LEVEL_LABEL[placement.unit.level]}，不是{LEVEL_LABEL[level]}")
        return _Place(placement, source)

    def _street_unit(self, code: str) -> OrgUnit:
        placement = self.grid.unit(code) if self.grid is not None else None
        return OrgUnit(code, placement.unit.name if placement else code)

    # --- rules --------------------------------------------------------------------------------------

    def _match(self, category: CategoryInfo, placement: Placement, description: str,
               moment: datetime) -> tuple[RoutingRule | None, int | None, list[str]]:
        text = _norm(description) if description else ""
        district = placement.district.code if placement.district else None
        street = placement.street.code if placement.street else None
        for index, rule in self._candidates[category.code]:
            m = rule.match
            reasons: list[str] = []
            if m.category or m.category_prefix:
                if category.code in m.category:
                    reasons.append(f"分类编码为 {category.code}")
                elif category.code.startswith(m.category_prefix):
                    prefix = next(p for p in m.category_prefix if category.code.startswith(p))
                    reasons.append(f"分类编码以 {prefix} 开头")
                else:
                    continue
            if m.kind is not None:
                if m.kind.value != category.kind:
                    continue
                reasons.append(f"类型为{KIND_LABEL[category.kind]}")
            if m.districts:
                if district not in m.districts:
                    continue
                reasons.append(f"区县为 {placement.district.name}")
            if m.streets:
                if street not in m.streets:
                    continue
                reasons.append(f"街道为 {placement.street.name}")
            if m.keywords:
                said = [k for k, n in self._keywords[rule.id] if n and n in text]
                if not said:
                    continue
                reasons.append("描述含关键词" + "、".join(f"「{k}」" for k in said))
            if m.time is not None:
                why = self._in_window(m.time, moment)
                if why is None:
                    continue
                reasons.append(why)
            return rule, index, reasons
        return None, None, []

    def _in_window(self, window: TimeWindow, moment: datetime) -> str | None:
        """Why ``moment`` (local time) lies in the window, or ``None`` when it does not."""
        parts = []
        if window.hours is not None:
            span = next((s for s in window.hours if s.contains(moment.time())), None)
            if span is None:
                return None
            parts.append(f"时段 {span}")
        if window.days != "any":
            workday = self._is_workday(moment.date())
            if workday != (window.days == "working_days"):
                return None
            parts.append("工作日" if workday else "非工作日")
        return f"受理时间 {moment:%Y-%m-%d %H:%M} 在" + "、".join(parts) + "内"

    def _is_workday(self, day: date) -> bool:
        if self.calendar is None:   # holiday_source: none
            cal = self.rules.calendar
            if day in cal.extra_workdays:
                return True
            return day not in cal.extra_holidays and day.weekday() < 5
        try:
            return self.calendar.is_workday(day)
        except CalendarNotCovered as exc:
            raise RoutingError(f"节假日数据不包含 {day.year} 年，无法判断是否工作日：{exc}") from None


_SOURCE_LABEL = {"point": "定位点", "address": "地址", "street": "来电所选街道", "district": "来电所选区县",
                 "override": "坐席指定地点"}


def _source_label(source: str) -> str:
    return _SOURCE_LABEL[source.split("+")[0]]




def _common(candidates: Iterable[Placement]) -> Placement | None:
    """The deepest unit that contains every candidate, if any."""
    chains = [c.chain for c in candidates]
    if not chains:
        return None
    common = []
    for refs in zip(*chains):
        if any(r != refs[0] for r in refs):
            break
        common.append(refs[0])
    return Placement(tuple(common)) if common else None
