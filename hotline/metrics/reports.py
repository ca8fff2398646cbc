"""The report tables and charts: what each report page shows and each export writes.

A :class:`ReportContext` holds one request's filter, clock and names, and runs each query
once (the case figures of every grouping the page shows, the call report); every table of
:data:`TABLES` is built from it, so a page and the download of one of its tables always agree. Links: a district drills down to its
streets (``/reports/district/<code>``); counts lead to the ticket list with the same filters
(``/tickets?district=…&street=…&category=…&from=…&to=…``); overdue tickets to their page.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session

from hotline.metrics import service
from hotline.metrics.assessment import assess
from hotline.metrics.call_tally import CallCounts, CallFigures, CallThresholds, TransferCounts, TransferFigures
from hotline.metrics.definitions import DEFINITIONS, Unit
from hotline.metrics.filters import CHANNEL_LABELS, WEEKDAYS, Choices, FilterForm
from hotline.metrics.service import STAGES, CaseFigures, ReportFilter
from hotline.metrics.tables import Column, Row, Table, cell_text, col, text_col
from hotline.web.pages import local_time

__all__ = ["ReportContext", "TABLES", "CASE_COLUMNS", "table", "charts_overview", "charts_calls",
           "charts_cases", "charts_district", "charts_assessment", "kpis"]

CASE_COLUMNS = ("received", "registered", "register_rate", "due_handle", "handled_on_time", "on_time_handle_rate",
                "overdue", "due_close", "closed_on_time", "on_time_close_rate", "close_rate", "rework_rate",
                "satisfaction_rate", "open_now", "overdue_now")
CALL_QUEUE_COLUMNS = ("offered", "answered", "answer_rate", "abandoned", "short_abandoned", "abandon_rate",
                      "service_level", "answered_in_time_rate", "asa", "max_wait", "aht", "avg_talk")
RANK_COLUMNS = ("on_time_handle_rate", "on_time_close_rate", "satisfaction_rate", "close_rate", "rework_rate",
                "due_handle", "overdue", "received")
CALLBACK_COLUMNS = ("callback_calls", "callback_unreached", "callbacks", "callback_reach_rate", "satisfied",
                    "basically_satisfied", "dissatisfied", "satisfaction_rate", "callback_on_time_rate")
STAGE_LABELS = {"intake": ("受理 → 立案", "avg_intake"), "accept": ("派遣 → 签收", "avg_accept"),
                "handle": ("签收 → 反馈（处置）", "avg_handle"), "verify": ("反馈 → 结案（核查）", "avg_verify"),
                "callback": ("结案 → 回访", "avg_callback"), "total": ("受理 → 结案（全程）", "avg_total")}
UNKNOWN = "未指定"


@dataclass
class ReportContext:
    session: Session
    form: FilterForm
    now: datetime
    thresholds: CallThresholds
    names: Any                       # hotline.web.names.NameBook
    choices: Choices
    queue_names: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()        # the groupings the page shows: computed together
    _cases: dict = field(default_factory=dict)
    _calls: service.CallReport | None = None
    _categories: dict[str, str] | None = None

    @property
    def filter(self) -> ReportFilter:
        assert self.form.filter is not None
        return self.form.filter

    def cases(self, group: str | None) -> dict[Any, CaseFigures]:
        """Case figures per value of ``group`` (None: the total, keyed None); the page's groups
        are computed in one go the first time any of them is asked for."""
        if group not in self._cases:
            wanted = [group] if self._cases else [*self.groups, group]
            self._cases.update(service.case_groups(self.session, self.filter, self.now, wanted, with_now=True))
        return self._cases[group]

    def calls(self) -> service.CallReport:
        if self._calls is None:
            self._calls = service.call_report(self.session, self.filter, self.now, self.thresholds)
        return self._calls

    def category_name(self, code: str) -> str:
        if self._categories is None:
            self._categories = dict(service.category_names(
                self.session, [code for code in self.cases("category") if code] + [self.filter.category or ""]))
        return self._categories.get(code, code)

    # -- links ---------------------------------------------------------------------------------
    def tickets_link(self, *, district: str | None = None, street: str | None = None,
                     category: str | None = None) -> str:
        """The ticket list with this report's filters (the parameters /tickets understands)."""
        f = self.filter
        params = {"district": district or f.district_code, "street": street or f.street_code,
                  "category": category or f.category, "from": f.period.first.isoformat(),
                  "to": f.period.last.isoformat()}
        return "/tickets?" + urlencode([(k, v) for k, v in params.items() if v])

    def drill_link(self, district: str) -> str:
        return f"/reports/district/{quote(district)}?{self.form.query(district=None, street=None)}"

    def ticket_page(self, number: str) -> str:
        return f"/tickets/{quote(number)}"


def _case_values(fig: CaseFigures, label: str, **extra: Any) -> dict[str, Any]:
    return {"label": label, **extra, **{k: fig.value(k) for k in CASE_COLUMNS}}


def _case_table(ctx: ReportContext, key: str, title: str, group: str, label: str,
                rows: list[tuple[Any, str]], link: Callable[[Any], dict[str, str]] | None = None,
                code_column: bool = False) -> Table:
    columns = [text_col("label", label)]
    if code_column:
        columns.append(text_col("code", "代码", small=True))
    columns += [col(k) for k in CASE_COLUMNS]
    t = Table(key, title, columns)
    by = ctx.cases(group)
    for value, name in rows:
        fig = by.get(value)
        if fig is None:
            continue
        t.add(_case_values(fig, name, code=value or ""), link(value) if link else None)
    t.total = Row(_case_values(ctx.cases(None)[None], "合计"))
    return t


def districts_table(ctx: ReportContext) -> Table:
    by = ctx.cases("district")
    rows = [(code, name) for code, name in ctx.choices.districts if code in by]
    rows += [(code, ctx.names.unit(code) or UNKNOWN) for code in by if code not in dict(ctx.choices.districts)]
    return _case_table(ctx, "districts", "区县案件指标", "district", "区县", rows,
                       lambda code: {"label": ctx.drill_link(code), "received": ctx.tickets_link(district=code)}
                       if code else {})


def streets_table(ctx: ReportContext) -> Table:
    district = ctx.filter.district_code
    by = ctx.cases("street")
    known = ctx.choices.streets.get(district or "", [])
    rows = [(code, name) for code, name in known if code in by]
    rows += sorted(((code, ctx.names.unit(code) if code else "未定位到街道") for code in by if code not in dict(known)),
                   key=lambda r: (r[0] is None, r[0] or ""))
    title = f"{ctx.names.unit(district)}各街道（乡镇）案件指标" if district else "街道（乡镇）案件指标"
    return _case_table(ctx, "streets", title, "street", "街道（乡镇）", rows,
                       lambda code: {"label": ctx.tickets_link(street=code), "received": ctx.tickets_link(street=code)}
                       if code else {})


def departments_table(ctx: ReportContext) -> Table:
    by = ctx.cases("department")
    rows = sorted(((code, ctx.names.department(code) if code else UNKNOWN) for code in by),
                  key=lambda r: (-by[r[0]].received, r[1]))
    return _case_table(ctx, "departments", "责任部门案件指标", "department", "责任部门", rows)


def categories_table(ctx: ReportContext) -> Table:
    by = ctx.cases("category")
    rows = sorted(((code, ctx.category_name(code) if code else UNKNOWN) for code in by),
                  key=lambda r: (-by[r[0]].received, r[0] or ""))
    return _case_table(ctx, "categories", "案件类别指标", "category", "案件类别", rows,
                       lambda code: {"label": ctx.tickets_link(category=code), "received": ctx.tickets_link(category=code)}
                       if code else {}, code_column=True)


def channels_table(ctx: ReportContext) -> Table:
    by = ctx.cases("channel")
    order = list(CHANNEL_LABELS) + sorted(k for k in by if k not in CHANNEL_LABELS)
    rows = [(k, CHANNEL_LABELS.get(k, k)) for k in order if k in by]
    return _case_table(ctx, "channels", "受理渠道", "channel", "受理渠道", rows)


def stages_table(ctx: ReportContext) -> Table:
    t = Table("stages", "各环节平均办理时长", [text_col("label", "环节"), Column("avg", "平均时长", Unit.SECONDS),
                                          Column("n", "件数", Unit.COUNT)],
              note="统计期内受理的工单，各环节首次办理")
    total = ctx.cases(None)[None]
    for stage in STAGES:
        label, key = STAGE_LABELS[stage]
        t.add({"label": label, "avg": total.value(key), "n": total.stage_counts.get(stage, 0)})
    return t


STAGE_AVERAGES = ("avg_intake", "avg_accept", "avg_handle", "avg_verify", "avg_callback", "avg_total")


def _stage_average_table(ctx: ReportContext, key: str, title: str, group: str, label: str,
                         rows: list[tuple[Any, str]]) -> Table:
    t = Table(key, title, [text_col("label", label), *[col(k) for k in STAGE_AVERAGES], col("received")],
              note="统计期内受理的工单，各环节首次办理")
    by = ctx.cases(group)
    for value, name in rows:
        fig = by.get(value)
        if fig is not None and fig.received:
            t.add({"label": name, **{k: fig.value(k) for k in STAGE_AVERAGES}, "received": fig.received})
    total = ctx.cases(None)[None]
    t.total = Row({"label": "合计", **{k: total.value(k) for k in STAGE_AVERAGES}, "received": total.received})
    return t


def stages_by_district_table(ctx: ReportContext) -> Table:
    return _stage_average_table(ctx, "stages_by_district", "各区县各环节平均时长", "district", "区县",
                                list(ctx.choices.districts))


def stages_by_street_table(ctx: ReportContext) -> Table:
    by = ctx.cases("street")
    known = ctx.choices.streets.get(ctx.filter.district_code or "", [])
    rows = [(c, n) for c, n in known if c in by] + [(c, ctx.names.unit(c) if c else "未定位到街道")
                                                   for c in by if c not in dict(known)]
    return _stage_average_table(ctx, "stages_by_street", "各街道（乡镇）各环节平均时长", "street", "街道（乡镇）", rows)


def stages_by_department_table(ctx: ReportContext) -> Table:
    by = ctx.cases("department")
    rows = sorted(((c, ctx.names.department(c) if c else UNKNOWN) for c in by), key=lambda r: (-by[r[0]].received, r[1]))
    return _stage_average_table(ctx, "stages_by_department", "责任部门各环节平均时长", "department", "责任部门", rows)


def overdue_table(ctx: ReportContext) -> Table:
    t = Table("overdue", "当前超时工单", [
        text_col("number", "工单号", mono=True), text_col("category", "案件类别"), text_col("district", "区县"),
        text_col("street", "街道（乡镇）"), text_col("responsible", "责任单位"), text_col("stage", "超时环节"),
        text_col("due", "截止时间"), Column("overdue_s", "已超时", Unit.SECONDS)],
        note="当前仍在办的工单（不受统计期间限制），超时最久的在前，最多 100 件")
    for o in service.overdue_tickets(ctx.session, ctx.filter, ctx.now, limit=100):
        t.add({"number": o.number, "category": o.category_name or o.category_code,
               "district": ctx.names.unit(o.district_code), "street": ctx.names.unit(o.street_code),
               "responsible": ctx.names.responsible(o.district_code, o.department_code), "stage": f"{o.stage}时限",
               "due": local_time(o.due_at, tz=ctx.filter.period.tz), "overdue_s": o.overdue_s},
              {"number": ctx.ticket_page(o.number)})
    return t


# --- calls ------------------------------------------------------------------------------------------

def _call_values(fig: CallFigures, label: str, **extra: Any) -> dict[str, Any]:
    return {"label": label, **extra, **{k: fig.value(k) for k in CALL_QUEUE_COLUMNS}}


def queues_table(ctx: ReportContext) -> Table:
    report = ctx.calls()
    t = Table("queues", "人工队列话务", [text_col("label", "队列"), text_col("sl", "服务水平时限"),
                                     *[col(k) for k in CALL_QUEUE_COLUMNS]],
              note=f"短时放弃（不足 {ctx.thresholds.short_abandon_s:g} 秒）不计入放弃率和服务水平")
    order = [q for q, _ in ctx.choices.queues] + sorted(q for q in report.per_queue if q not in dict(ctx.choices.queues))
    for queue in order:
        counts = report.per_queue.get(queue)
        if not queue or counts is None or not counts.offered:
            continue
        fig = CallFigures.of({queue: counts}, ctx.thresholds)
        t.add(_call_values(fig, ctx.queue_names.get(queue, queue),
                           sl=f"{ctx.thresholds.service_level_for(queue):g}秒"))
    total = CallFigures.of({q: c for q, c in report.per_queue.items() if q}, ctx.thresholds)
    t.total = Row(_call_values(total, "合计", sl=""))
    return t


def ivr_table(ctx: ReportContext) -> Table:
    keys = ("calls", "ivr_entered", "self_served", "containment_rate", "voicemail", "transferred", "failed")
    t = Table("ivr", "呼入与自助服务", [text_col("label", "范围"), *[col(k) for k in keys]])
    fig = CallFigures.of(ctx.calls().per_queue, ctx.thresholds)
    t.add({"label": "全部来电", **{k: fig.value(k) for k in keys}})
    return t


_PERIOD_KEYS = ("calls", "offered", "answered", "abandoned", "answer_rate", "service_level", "asa")


def _period_table(key: str, title: str, label: str, rows: list[tuple[str, Any]], ctx: ReportContext) -> Table:
    t = Table(key, title, [text_col("label", label), *[col(k) for k in _PERIOD_KEYS]])
    for name, counts in rows:
        fig = CallFigures.of({"": counts}, ctx.thresholds)
        t.add({"label": name, **{k: fig.value(k) for k in _PERIOD_KEYS}})
    return t


def hours_table(ctx: ReportContext) -> Table:
    report = ctx.calls()
    return _period_table("hours", "分时段话务", "时段",
                         [(f"{h:02d}:00–{h + 1:02d}:00", c) for h, c in enumerate(report.by_hour)], ctx)


def weekdays_table(ctx: ReportContext) -> Table:
    report = ctx.calls()
    return _period_table("weekdays", "按星期话务", "星期", list(zip(WEEKDAYS, report.by_weekday)), ctx)


def _days(ctx: ReportContext) -> list[tuple[date, CallCounts]]:
    """Every day of the period up to now, with the days without calls."""
    by_day = ctx.calls().by_day
    p = ctx.filter.period
    last = min(p.last, (p.until(ctx.now) - timedelta(microseconds=1)).astimezone(p.tz).date())
    return [(p.first + timedelta(days=i), by_day.get(p.first + timedelta(days=i), CallCounts()))
            for i in range((last - p.first).days + 1)]


def days_table(ctx: ReportContext) -> Table:
    return _period_table("days", "每日话务", "日期", [(d.isoformat(), c) for d, c in _days(ctx)], ctx)


def transfers_table(ctx: ReportContext) -> Table:
    keys = ("transfer_attempts", "transfer_answered", "transfer_cancelled", "transfer_success_rate")
    t = Table("transfers", "转接旗区受理电话", [text_col("label", "旗区受理电话"), *[col(k) for k in keys]])
    report = ctx.calls()
    order = [c for c, _ in ctx.choices.districts] + sorted(c for c in report.transfers if c not in dict(ctx.choices.districts))
    total = TransferCounts()
    for code in order:
        counts = report.transfers.get(code)
        if counts is None:
            continue
        total.add(counts)
        fig = TransferFigures(code, counts)
        t.add({"label": ctx.names.unit(code), "transfer_attempts": counts.attempts,
               "transfer_answered": counts.answered, "transfer_cancelled": counts.cancelled,
               "transfer_success_rate": fig.success_rate})
    fig = TransferFigures("", total)
    t.total = Row({"label": "合计", "transfer_attempts": total.attempts, "transfer_answered": total.answered,
                    "transfer_cancelled": total.cancelled, "transfer_success_rate": fig.success_rate})
    return t


def callbacks_table(ctx: ReportContext) -> Table:
    t = Table("callbacks", "回访", [text_col("label", "区县"), *[col(k) for k in CALLBACK_COLUMNS]],
              note="回访记录按记录时间归期，来自工单流转记录")
    by = ctx.cases("district")
    for code, name in ctx.choices.districts:
        fig = by.get(code)
        if fig is not None and fig.callback_calls:
            t.add({"label": name, **{k: fig.value(k) for k in CALLBACK_COLUMNS}})
    total = ctx.cases(None)[None]
    t.total = Row({"label": "合计", **{k: total.value(k) for k in CALLBACK_COLUMNS}})
    return t


# --- assessment ---------------------------------------------------------------------------------------

def _rank_table(ctx: ReportContext, key: str, title: str, label: str, group: str,
                name: Callable[[Any], str], keep: Callable[[Any], bool] = lambda _k: True,
                current: str | None = None) -> Table:
    t = Table(key, title, [Column("rank", "排名", Unit.COUNT), text_col("label", label), col("score"), col("rating"),
                           *[col(k) for k in RANK_COLUMNS]],
              note="综合得分 = 按期处置率 30% + 按期结案率 30% + 满意率 20% + 结案率 10% + (1 − 返工率) 10%（本地配置）")
    groups = {k: v for k, v in ctx.cases(group).items() if k is not None and keep(k)}
    for a in assess(groups):
        t.add({"rank": a.rank, "label": name(a.key), "score": a.score, "rating": a.rating,
               **{k: a.figures.value(k) for k in RANK_COLUMNS}}, current=a.key == current)
    return t


def rank_districts_table(ctx: ReportContext, current: str | None = None) -> Table:
    return _rank_table(ctx, "rank_districts", "区县考核排名", "区县", "district", ctx.names.unit,
                       current=current)


def rank_streets_table(ctx: ReportContext) -> Table:
    district = ctx.filter.district_code
    title = f"{ctx.names.unit(district)}街道（乡镇）考核排名" if district else "街道（乡镇）考核排名"
    return _rank_table(ctx, "rank_streets", title, "街道（乡镇）", "street",
                       lambda c: f"{ctx.names.unit(c)}" + ("" if district else f"（{ctx.names.unit(c[:6])}）"))


def rank_departments_table(ctx: ReportContext) -> Table:
    return _rank_table(ctx, "rank_departments", "责任部门考核排名", "责任部门", "department", ctx.names.department)


def summary_table(ctx: ReportContext, city: CaseFigures | None = None) -> Table:
    """The filtered district's indicators beside the whole city's (``city``: the city's total
    when the caller has it already)."""
    district = ctx.filter.district_code
    keys = ("avg_handle", "avg_total")
    t = Table("summary", "主要指标", [text_col("label", "范围"), *[col(k) for k in CASE_COLUMNS], *[col(k) for k in keys]])
    mine = ctx.cases(None)[None]
    t.add({**_case_values(mine, ctx.names.unit(district) if district else "全市"),
           **{k: mine.value(k) for k in keys}}, current=True)
    if district:
        if city is None:
            city_filter = replace(ctx.filter, district_code=None, street_code=None)
            city = service.case_figures(ctx.session, city_filter, ctx.now, with_now=True)[None]
        t.add({**_case_values(city, "全市"), **{k: city.value(k) for k in keys}})
    return t


#: Every exportable table: key → builder.
TABLES: dict[str, Callable[[ReportContext], Table]] = {
    "districts": districts_table, "streets": streets_table, "departments": departments_table,
    "categories": categories_table, "channels": channels_table, "stages": stages_table, "overdue": overdue_table,
    "stages_by_district": stages_by_district_table, "stages_by_street": stages_by_street_table,
    "stages_by_department": stages_by_department_table,
    "queues": queues_table, "ivr": ivr_table, "hours": hours_table, "weekdays": weekdays_table, "days": days_table,
    "transfers": transfers_table, "callbacks": callbacks_table, "rank_districts": rank_districts_table,
    "rank_streets": rank_streets_table, "rank_departments": rank_departments_table, "summary": summary_table,
}


def table(ctx: ReportContext, key: str) -> Table:
    return TABLES[key](ctx)


# --- headline figures and charts ------------------------------------------------------------------

def kpis(ctx: ReportContext) -> list[dict[str, Any]]:
    """The figures at the top of the overview, with the standard's target where one exists."""
    calls = CallFigures.of(ctx.calls().per_queue, ctx.thresholds)
    cases = ctx.cases(None)[None]
    items = [("calls", calls.calls), ("answer_rate", calls.answer_rate), ("service_level", calls.service_level),
             ("asa", calls.asa), ("received", cases.received), ("on_time_handle_rate", cases.on_time_handle_rate),
             ("on_time_close_rate", cases.on_time_close_rate), ("satisfaction_rate", cases.satisfaction_rate),
             ("overdue_now", cases.overdue_now)]
    out = []
    for key, value in items:
        d = DEFINITIONS[key]
        missed = (value is not None and d.target is not None and value < d.target)
        out.append({"key": key, "label": d.label, "text": cell_text(value, d.unit), "hint": d.formula,
                    "target": cell_text(d.target, d.unit) if d.target is not None else "", "missed": missed})
    return out


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def charts_overview(ctx: ReportContext) -> list[dict[str, Any]]:
    days = _days(ctx)
    by = ctx.cases("district")
    districts = [(c, n) for c, n in ctx.choices.districts if c in by]
    return [
        {"id": "chart-days", "title": "每日话务", "type": "bar", "x": [d.strftime("%m-%d") for d, _ in days],
         "series": [{"name": "进入人工队列", "data": [c.offered for _, c in days]},
                    {"name": "人工接通", "data": [c.answered for _, c in days]},
                    {"name": "排队放弃", "data": [c.abandoned for _, c in days]}]},
        {"id": "chart-districts", "title": "各区县按期处置率与按期结案率（%）", "type": "bar", "percent": True,
         "x": [n for _, n in districts],
         "series": [{"name": "按期处置率", "data": [_pct(by[c].on_time_handle_rate) for c, _ in districts]},
                    {"name": "按期结案率", "data": [_pct(by[c].on_time_close_rate) for c, _ in districts]}]},
    ]


def charts_calls(ctx: ReportContext) -> list[dict[str, Any]]:
    report = ctx.calls()
    return [
        {"id": "chart-hours", "title": "分时段来电量", "type": "bar", "x": [f"{h}时" for h in range(24)],
         "series": [{"name": "呼入量", "data": [c.calls for c in report.by_hour]},
                    {"name": "人工接通", "data": [c.answered for c in report.by_hour]}]},
        {"id": "chart-weekdays", "title": "按星期来电量", "type": "bar", "x": list(WEEKDAYS),
         "series": [{"name": "呼入量", "data": [c.calls for c in report.by_weekday]},
                    {"name": "人工接通", "data": [c.answered for c in report.by_weekday]}]},
    ]


def charts_cases(ctx: ReportContext) -> list[dict[str, Any]]:
    by_channel = ctx.cases("channel")
    by = ctx.cases("district")
    districts = [(c, n) for c, n in ctx.choices.districts if c in by]
    return [
        {"id": "chart-channels", "title": "受理渠道", "type": "pie",
         "x": [CHANNEL_LABELS.get(k, k) for k in by_channel],
         "series": [{"name": "受理数", "data": [f.received for f in by_channel.values()]}]},
        {"id": "chart-intake", "title": "各区县受理数", "type": "bar", "x": [n for _, n in districts],
         "series": [{"name": "受理数", "data": [by[c].received for c, _ in districts]},
                    {"name": "立案数", "data": [by[c].registered for c, _ in districts]}]},
    ]


def charts_district(ctx: ReportContext, streets: Table) -> list[dict[str, Any]]:
    return [{"id": "chart-streets", "title": "各街道（乡镇）受理数与超期件数", "type": "bar",
             "x": [r["label"] for r in streets.rows],
             "series": [{"name": "受理数", "data": [r["received"] for r in streets.rows]},
                        {"name": "超期件数", "data": [r["overdue"] for r in streets.rows]}]}]


def charts_assessment(ranked: Table) -> list[dict[str, Any]]:
    return [{"id": "chart-scores", "title": "区县综合得分", "type": "bar", "x": [r["label"] for r in ranked.rows],
             "series": [{"name": "综合得分", "data": [r["score"] for r in ranked.rows]}]}]
