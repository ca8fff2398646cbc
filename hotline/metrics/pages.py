"""Report pages (报表) for supervisors and admins: overview, calls, cases, a district's streets,
考核 rankings, the monthly assessment report per district, and CSV/XLSX downloads of every table.

Each page brings the rollups up to date (:func:`hotline.metrics.rollups.refresh`, a no-op when
nothing changed), checks the filter form (bad input: the form again with the values typed and a
message per field, status 422) and renders the tables of :mod:`hotline.metrics.reports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from hotline.metrics import reports, rollups
from hotline.metrics.call_tally import CallThresholds
from hotline.metrics.exports import CSV_TYPE, XLSX_TYPE, Heading, download_name, to_csv, to_xlsx
from hotline.metrics.filters import Choices, FilterForm, month_period, parse_filter, parse_month
from hotline.metrics.reports import ReportContext
from hotline.metrics.service import big_classes
from hotline.metrics.tables import cell_text
from hotline.users.roles import Role
from hotline.web.pages import Crumb, local_time, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router", "TABS"]

router = APIRouter(include_in_schema=False)
Supervisors = page_roles(Role.SUPERVISOR)
REPORT_TITLE = "赤峰市12319城建服务热线"

#: The report tabs: (key, label, path)
TABS = (("overview", "概览", "/reports"), ("calls", "话务", "/reports/calls"), ("cases", "案件", "/reports/cases"),
        ("assessment", "考核排名", "/reports/assessment"), ("monthly", "月度考核报告", "/reports/monthly"))


@dataclass
class ReportEnv:
    """What every report page needs from the application."""

    state: Any
    tz: ZoneInfo
    thresholds: CallThresholds

    @classmethod
    def of(cls, request: Request) -> "ReportEnv":
        state = request.app.state.hotline
        tz = getattr(state.calendar, "tz", None) or state.settings.tz
        return cls(state, tz, CallThresholds.from_rules(state.rules))

    def refresh(self) -> None:
        rollups.refresh(self.state.sessions, self.state.read_sessions, self.state.now(), self.thresholds)

    def choices(self, session) -> Choices:
        names = self.state.names
        districts = names.districts()
        queues = [(q.id, q.name) for q in self.state.rules.queues] if self.state.rules is not None else []
        return Choices(districts=districts, streets={code: names.streets_of(code) for code, _ in districts},
                       departments=sorted(names.departments.items(), key=lambda kv: kv[1]),
                       queues=queues, categories=big_classes(session))

    def context(self, session, form: FilterForm, choices: Choices, groups: tuple[str, ...] = ()) -> ReportContext:
        return ReportContext(session, form, self.state.now(), self.thresholds, self.state.names, choices,
                             queue_names=dict(choices.queues), groups=groups)


def _report_page(request: Request, user: CurrentUser, *, tab: str, template: str, title: str,
                 build: Callable[[ReportContext], dict[str, Any]], groups: tuple[str, ...] = (),
                 params: dict[str, str] | None = None,
                 crumbs: list[Crumb] | None = None, extra: dict[str, Any] | None = None):
    r = ReportEnv.of(request)
    r.refresh()
    query = dict(request.query_params)
    query.update(params or {})
    with r.state.read_sessions() as session:
        choices = r.choices(session)
        form = parse_filter(query, today=r.state.now().astimezone(r.tz).date(), tz=r.tz, choices=choices)
        ctx: dict[str, Any] = {"form": form, "choices": choices, "tabs": TABS, "tab": tab, "title": title,
                               "scope": form.describe(choices), "charts": [], "cell": cell_text, **(extra or {})}
        if form.valid:
            ctx.update(build(r.context(session, form, choices, groups)))
    return render(request, template, ctx, user=user, active="reports",
                  crumbs=crumbs or [Crumb("报表", "/reports"), Crumb(title)],
                  status_code=status.HTTP_200_OK if form.valid else status.HTTP_422_UNPROCESSABLE_CONTENT)


@router.get("/reports", response_class=HTMLResponse)
def overview(request: Request, user: CurrentUser = Depends(Supervisors)):
    def build(ctx: ReportContext) -> dict[str, Any]:
        return {"kpis": reports.kpis(ctx), "tables": [reports.districts_table(ctx), reports.queues_table(ctx)],
                "charts": reports.charts_overview(ctx)}

    return _report_page(request, user, tab="overview", template="metrics/overview.html", title="报表概览",
                        build=build, groups=("district",), crumbs=[Crumb("报表")])


@router.get("/reports/calls", response_class=HTMLResponse)
def calls(request: Request, user: CurrentUser = Depends(Supervisors)):
    def build(ctx: ReportContext) -> dict[str, Any]:
        return {"tables": [reports.queues_table(ctx), reports.ivr_table(ctx), reports.transfers_table(ctx),
                           reports.callbacks_table(ctx), reports.days_table(ctx), reports.hours_table(ctx),
                           reports.weekdays_table(ctx)],
                "charts": reports.charts_calls(ctx)}

    return _report_page(request, user, tab="calls", template="metrics/report.html", title="话务报表", build=build,
                        groups=("district",))


@router.get("/reports/cases", response_class=HTMLResponse)
def cases(request: Request, user: CurrentUser = Depends(Supervisors)):
    def build(ctx: ReportContext) -> dict[str, Any]:
        return {"tables": [reports.districts_table(ctx), reports.departments_table(ctx),
                           reports.categories_table(ctx), reports.channels_table(ctx), reports.stages_table(ctx),
                           reports.stages_by_district_table(ctx), reports.stages_by_department_table(ctx),
                           reports.overdue_table(ctx)],
                "charts": reports.charts_cases(ctx)}

    return _report_page(request, user, tab="cases", template="metrics/report.html", title="案件报表", build=build,
                        groups=("district", "department", "category", "channel"))


@router.get("/reports/district/{code}", response_class=HTMLResponse)
def district(code: str, request: Request, user: CurrentUser = Depends(Supervisors)):
    names = request.app.state.hotline.names
    if code not in dict(names.districts()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"没有这个区县：{code}")
    name = names.unit(code)

    def build(ctx: ReportContext) -> dict[str, Any]:
        streets = reports.streets_table(ctx)
        return {"tables": [streets, reports.categories_table(ctx), reports.stages_by_street_table(ctx),
                           reports.overdue_table(ctx)],
                "charts": reports.charts_district(ctx, streets),
                "tickets_link": ctx.tickets_link()}

    return _report_page(request, user, tab="cases", template="metrics/report.html", title=f"{name}案件报表",
                        build=build, groups=("street", "category"), params={"district": code},
                        crumbs=[Crumb("报表", "/reports"), Crumb("案件", "/reports/cases"), Crumb(name)],
                        extra={"district": code, "district_name": name})


@router.get("/reports/assessment", response_class=HTMLResponse)
def assessment(request: Request, user: CurrentUser = Depends(Supervisors)):
    def build(ctx: ReportContext) -> dict[str, Any]:
        ranked = reports.rank_districts_table(ctx)
        return {"tables": [ranked, reports.rank_streets_table(ctx), reports.rank_departments_table(ctx)],
                "charts": reports.charts_assessment(ranked)}

    return _report_page(request, user, tab="assessment", template="metrics/report.html", title="考核排名",
                        build=build, groups=("district", "street", "department"))


# --- monthly assessment report ------------------------------------------------------------------

def _month(request: Request, r: ReportEnv) -> tuple[date, str | None, str]:
    raw = request.query_params.get("month", "")
    today = r.state.now().astimezone(r.tz).date()
    first, error = parse_month(raw, today)
    return first or today.replace(day=1), error, raw or today.strftime("%Y-%m")


def _monthly_tables(r: ReportEnv, session, code: str, first: date,
                    choices: Choices) -> tuple[FilterForm, list, dict[str, str]]:
    """The monthly report's tables and the export query of each (the district's, or the city's
    for the ranking of districts)."""
    period = month_period(first.year, first.month, r.tz)
    base = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    today = r.state.now().astimezone(r.tz).date()
    city_form = parse_filter(base, today=today, tz=r.tz, choices=choices)
    form = parse_filter({**base, "district": code}, today=today, tz=r.tz, choices=choices)
    city = r.context(session, city_form, choices, ("district",))
    mine = r.context(session, form, choices, ("street", "department", "district"))
    tables = [reports.summary_table(mine, city.cases(None)[None]), reports.rank_districts_table(city, current=code),
              reports.rank_streets_table(mine), reports.rank_departments_table(mine), reports.callbacks_table(mine),
              reports.overdue_table(mine)]
    queries = {t.key: form.query() for t in tables}
    queries["rank_districts"] = city_form.query()
    return form, tables, queries


@router.get("/reports/monthly", response_class=HTMLResponse)
def monthly_index(request: Request, user: CurrentUser = Depends(Supervisors)):
    r = ReportEnv.of(request)
    first, error, raw = _month(request, r)
    return render(request, "metrics/monthly_index.html",
                  {"tabs": TABS, "tab": "monthly", "districts": r.state.names.districts(), "month": raw,
                   "month_error": error, "title": "月度考核报告"},
                  user=user, active="reports", crumbs=[Crumb("报表", "/reports"), Crumb("月度考核报告")],
                  status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK)


def _monthly_district(request: Request, code: str) -> str:
    names = request.app.state.hotline.names
    if code not in dict(names.districts()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"没有这个区县：{code}")
    return names.unit(code)


@router.get("/reports/monthly/{code}", response_class=HTMLResponse)
def monthly(code: str, request: Request, user: CurrentUser = Depends(Supervisors)):
    name = _monthly_district(request, code)
    r = ReportEnv.of(request)
    first, error, raw = _month(request, r)
    title = f"{name}{first.year}年{first.month}月考核报告"
    ctx: dict[str, Any] = {"tabs": TABS, "tab": "monthly", "title": title, "district": code, "district_name": name,
                           "month": raw, "month_error": error, "tables": [], "charts": [], "cell": cell_text}
    if error is None:
        r.refresh()
        with r.state.read_sessions() as session:
            choices = r.choices(session)
            form, tables, queries = _monthly_tables(r, session, code, first, choices)
            ctx.update(tables=tables, queries=queries, scope=form.describe(choices),
                       charts=reports.charts_assessment(tables[1]), ended=form.filter.period.end <= r.state.now())
    return render(request, "metrics/monthly.html", ctx, user=user, active="reports",
                  crumbs=[Crumb("报表", "/reports"), Crumb("月度考核报告", "/reports/monthly"), Crumb(title)],
                  status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK)


# --- downloads ---------------------------------------------------------------------------------------

def _download(content: bytes, filename: str, media_type: str) -> Response:
    ascii_name = "report." + filename.rsplit(".", 1)[-1]
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


def _heading(r: ReportEnv, scope: str) -> Heading:
    return Heading(REPORT_TITLE, scope, f"生成时间：{local_time(r.state.now(), tz=r.tz)}")


@router.get("/reports/export/{name}")
def export(name: str, request: Request, user: CurrentUser = Depends(Supervisors)):
    key, _, fmt = name.rpartition(".")
    if fmt not in ("csv", "xlsx") or key not in reports.TABLES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"没有这个报表文件：{name}")
    r = ReportEnv.of(request)
    r.refresh()
    with r.state.read_sessions() as session:
        choices = r.choices(session)
        form = parse_filter(dict(request.query_params), today=r.state.now().astimezone(r.tz).date(), tz=r.tz,
                            choices=choices)
        if not form.valid:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                detail="筛选条件有误：" + "；".join(form.errors.values()))
        table = reports.table(r.context(session, form, choices), key)
        heading = _heading(r, form.describe(choices))
    p = form.filter.period
    filename = download_name(table.title, p.first.isoformat(), p.last.isoformat(), fmt)
    if fmt == "csv":
        return _download(to_csv(table, heading), filename, CSV_TYPE)
    return _download(to_xlsx([table], heading), filename, XLSX_TYPE)


@router.get("/reports/monthly/{code}/export.xlsx")
def monthly_export(code: str, request: Request, user: CurrentUser = Depends(Supervisors)):
    name = _monthly_district(request, code)
    r = ReportEnv.of(request)
    first, error, _raw = _month(request, r)
    if error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=error)
    r.refresh()
    with r.state.read_sessions() as session:
        choices = r.choices(session)
        form, tables, _queries = _monthly_tables(r, session, code, first, choices)
        heading = Heading(f"{REPORT_TITLE} · {name}{first.year}年{first.month}月考核报告", form.describe(choices),
                          f"生成时间：{local_time(r.state.now(), tz=r.tz)}")
    filename = f"{name}{first.year}年{first.month:02d}月考核报告.xlsx"
    return _download(to_xlsx(tables, heading), filename, XLSX_TYPE)
