"""The report filter form: parse and check the query (dates, district, street, department, queue,
category), keep what the user typed for the re-rendered form, and say in Chinese what a report
covers. Nothing here touches the database: the choices come from the caller.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Mapping
from urllib.parse import urlencode

from hotline.metrics.service import Period, ReportFilter

__all__ = ["FIELDS", "MAX_DAYS", "Choices", "FilterForm", "parse_filter", "parse_month", "month_period",
           "CHANNEL_LABELS", "WEEKDAYS"]

FIELDS = ("from", "to", "district", "street", "department", "queue", "category")
MAX_DAYS = 366
CHANNEL_LABELS = {"phone": "电话", "web": "网站", "open311": "Open311 接口", "exchange": "12345 交换"}
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_CATEGORY = re.compile(r"\d{2}(\d{3})?")


@dataclass(frozen=True)
class Choices:
    """What the selects offer (code, name), from the name book, the rules and the categories."""

    districts: list[tuple[str, str]] = field(default_factory=list)
    streets: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)   # district → streets
    departments: list[tuple[str, str]] = field(default_factory=list)
    queues: list[tuple[str, str]] = field(default_factory=list)
    categories: list[tuple[str, str]] = field(default_factory=list)              # big classes
    category_names: Mapping[str, str] = field(default_factory=dict)              # full codes seen in links

    def name(self, what: str, code: str) -> str:
        options = {"district": self.districts, "department": self.departments, "queue": self.queues,
                   "category": self.categories}.get(what)
        if what == "street":
            for streets in self.streets.values():
                for c, n in streets:
                    if c == code:
                        return n
            return code
        if what == "category" and code in self.category_names:
            return f"{self.category_names[code]}（{code}）"
        return dict(options or ()).get(code, code)


@dataclass
class FilterForm:
    values: dict[str, str]
    errors: dict[str, str]
    filter: ReportFilter | None

    @property
    def valid(self) -> bool:
        return not self.errors

    def query(self, **overrides: str | None) -> str:
        """The query string of this form with some fields replaced (None or "" drops a field)."""
        values = {**self.values, **{k: v for k, v in overrides.items()}}
        return urlencode([(k, values[k]) for k in FIELDS if values.get(k)])

    def describe(self, choices: Choices) -> str:
        """统计期间：2026-11-01 至 2026-11-30；区县：红山区；…"""
        if self.filter is None:
            return ""
        p = self.filter.period
        parts = [f"统计期间：{p.first.isoformat()} 至 {p.last.isoformat()}"]
        for key, label in (("district", "区县"), ("street", "街道"), ("department", "责任部门"),
                           ("queue", "队列"), ("category", "案件类别")):
            value = self.values.get(key)
            if value:
                parts.append(f"{label}：{choices.name(key, value)}")
        if len(parts) == 1:
            parts.append("筛选：全部")
        return "；".join(parts)


def _date(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_filter(params: Mapping[str, str], *, today: date, tz: tzinfo, choices: Choices,
                 default_first: date | None = None) -> FilterForm:
    """Check the query; on errors ``filter`` is None and ``errors`` names each bad field."""
    values = {k: (params.get(k) or "").strip()[:40] for k in FIELDS}
    errors: dict[str, str] = {}
    if not values["from"]:
        values["from"] = (default_first or today.replace(day=1)).isoformat()
    if not values["to"]:
        values["to"] = today.isoformat()
    first, last = _date(values["from"]), _date(values["to"])
    if first is None:
        errors["from"] = f"开始日期“{values['from']}”无效，应为 YYYY-MM-DD 格式的有效日期"
    if last is None:
        errors["to"] = f"结束日期“{values['to']}”无效，应为 YYYY-MM-DD 格式的有效日期"
    if first and last:
        if last < first:
            errors["to"] = "结束日期不能早于开始日期"
        elif (last - first).days + 1 > MAX_DAYS:
            errors["to"] = f"统计期间最长 {MAX_DAYS} 天，请缩短日期范围"
    district = values["district"]
    if district and district not in dict(choices.districts):
        errors["district"] = "没有这个区县"
    street = values["street"]
    if street:
        streets = choices.streets.get(district, []) if district else [s for v in choices.streets.values() for s in v]
        if street not in dict(streets):
            errors["street"] = "没有这个街道（乡镇），或它不属于所选区县"
    if values["department"] and values["department"] not in dict(choices.departments):
        errors["department"] = "没有这个责任部门"
    if values["queue"] and values["queue"] not in dict(choices.queues):
        errors["queue"] = "没有这个队列"
    if values["category"] and not _CATEGORY.fullmatch(values["category"]):
        errors["category"] = "案件类别应为 2 位大类代码或 5 位类别代码"
    if errors:
        return FilterForm(values, errors, None)
    return FilterForm(values, errors, ReportFilter(
        Period(first, last, tz), district_code=district or None, street_code=street or None,
        department_code=values["department"] or None, queue=values["queue"] or None,
        category=values["category"] or None))


def month_period(year: int, month: int, tz: tzinfo) -> Period:
    return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), tz)


def parse_month(value: str | None, today: date) -> tuple[date | None, str | None]:
    """``2026-11`` → its first day; a blank value → the current month. Returns (first day, error)."""
    if not value:
        return today.replace(day=1), None
    m = _MONTH.fullmatch(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
        return None, "月份应为 YYYY-MM 格式，例如 2026-11"
    return date(int(m.group(1)), int(m.group(2)), 1), None

