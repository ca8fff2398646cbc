"""The report pages, downloads and the wallboard API against a full server state (sample grid,
shipped rules) holding the hand-computed week of tests/metrics/metrics_fixture.py."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook

import metrics_fixture as mf
from html_tables import by_label, tables

WEEK = "from=2026-11-02&to=2026-11-08"


@pytest.fixture
def week(api_state):
    with api_state.sessions() as s:
        mf.write_calls(s)
        return mf.write_tickets(s)


@pytest.fixture
def sup(client_for, week):
    return client_for("sup1")


def page(client, url, status=200):
    r = client.get(url, headers={"Accept": "text/html"})
    assert r.status_code == status, r.text[:2000]
    return r.text


def test_overview_shows_districts_by_name_with_their_figures(sup):
    html = page(sup, f"/reports?{WEEK}")
    t = tables(html)
    districts = by_label(t["districts"])
    assert set(districts) == {"红山区", "松山区"}                    # names, never 150402
    assert districts["红山区"]["受理数"] == "8" and districts["红山区"]["立案率"] == "66.7%"
    assert districts["松山区"]["按期处置率"] == "100.0%" and districts["松山区"]["按期结案率"] == "0.0%"
    assert t["districts"]["total"][:3] == ["合计", "12", "8"]
    queues = by_label(t["queues"])
    assert queues["12319人工坐席"]["人工接通率"] == "62.5%"            # 5 of 8 (agents)
    assert queues["蒙古语坐席"]["平均应答时长"] == "22秒"               # (18 + 25) / 2 = 21.5 → 22 秒
    assert t["queues"]["total"][0] == "合计"
    assert 'id="report-charts"' in html and "/static/vendor/echarts.min.js" in html
    assert "统计期间：2026-11-02 至 2026-11-08" in html


def test_a_district_drills_down_to_its_streets_and_the_ticket_list(sup):
    html = page(sup, f"/reports?{WEEK}")
    t = tables(html)
    row = [r[0] for r in t["districts"]["rows"]].index("红山区")
    drill = t["districts"]["links"][row][0]
    assert urlsplit(drill).path == "/reports/district/150402"
    html = page(sup, drill)
    streets = tables(html)["streets"]
    rows = by_label(streets)
    assert rows["西屯街道"]["受理数"] == "4" and rows["三中街街道"]["受理数"] == "3"
    assert rows["未定位到街道"]["受理数"] == "1"                        # T6 has no street
    link = streets["links"][[r[0] for r in streets["rows"]].index("西屯街道")][0]
    url = urlsplit(link)
    assert url.path == "/tickets"
    assert parse_qs(url.query) == {"district": ["150402"], "street": ["150402001"], "from": ["2026-11-02"],
                                   "to": ["2026-11-08"]}
    assert "红山区案件报表" in html


def test_category_rows_show_name_with_code_and_link_to_tickets(sup, week):
    cases_week = week
    t = tables(page(sup, f"/reports/cases?{WEEK}&district=150402"))
    cats = t["categories"]
    names = {r[0]: r[1] for r in cats["rows"]}
    assert names == {"私搭乱建": "06001", "供水井盖异常": "01001"}     # a shared code shows the matter's name
    link = cats["links"][0][0]
    assert parse_qs(urlsplit(link).query)["category"] == ["06001"]
    assert parse_qs(urlsplit(link).query)["district"] == ["150402"]
    overdue = t["overdue"]
    assert [(r[0], r[2], r[3], r[5]) for r in overdue["rows"]] == [
        (cases_week["T3"].number, "红山区", "三中街街道", "处置时限")]       # 松山区's T8 is filtered out
    assert overdue["links"][0][0] == f"/tickets/{cases_week['T3'].number}"


def test_time_per_stage_per_district_and_department(sup):
    t = tables(page(sup, f"/reports/cases?{WEEK}"))
    districts = by_label(t["stages_by_district"])
    # 红山区 派遣→签收: T1 40 min, T2 2 h 50 min, T3 50 min, T10 10 min → 67.5 min
    assert districts["红山区"]["平均签收时长"] == "1时07分30秒"
    # 松山区 签收→反馈: T4 47.5 h, T13 25.5 h → 36.5 h
    assert districts["松山区"]["平均处置时长"] == "36时30分00秒"
    assert t["stages_by_district"]["total"][0] == "合计"
    departments = by_label(t["stages_by_department"])
    assert departments["赤峰市供水公司"]["受理数"] == "4" and departments["赤峰市供水公司"]["平均办结时长"] == "49时00分00秒"
    streets = by_label(tables(page(sup, f"/reports/district/150402?{WEEK}"))["stages_by_street"])
    assert streets["三中街街道"]["平均受理时长"] == "5分00秒"          # T3 (T5 and T11 were not registered)


def test_calls_page_has_every_call_table(sup):
    t = tables(page(sup, f"/reports/calls?{WEEK}"))
    assert {"queues", "ivr", "transfers", "callbacks", "days", "hours", "weekdays"} <= set(t)
    ivr = by_label(t["ivr"])["全部来电"]
    assert (ivr["呼入量"], ivr["自助服务完成"], ivr["IVR 自助率"]) == ("16", "1", "6.7%")
    transfers = by_label(t["transfers"])
    assert transfers["红山区"]["转接成功率"] == "50.0%" and transfers["元宝山区"]["转接成功率"] == "0.0%"
    assert by_label(t["weekdays"])["周一"]["呼入量"] == "8"
    days = by_label(t["days"])
    assert list(days) == [f"2026-11-0{d}" for d in range(2, 9)]           # days without calls too
    assert (days["2026-11-02"]["呼入量"], days["2026-11-06"]["呼入量"]) == ("8", "0")
    assert by_label(t["hours"])["09:00–10:00"]["呼入量"] == "7"
    callbacks = t["callbacks"]["total"]
    assert callbacks[:4] == ["合计", "6", "2", "4"]


def test_queue_filter_limits_the_call_figures(sup):
    t = tables(page(sup, f"/reports/calls?{WEEK}&queue=mongolian"))
    assert [r[0] for r in t["queues"]["rows"]] == ["蒙古语坐席"]
    assert by_label(t["weekdays"])["周四"]["进入人工队列"] == "2"


def test_assessment_ranks_districts(sup):
    t = tables(page(sup, f"/reports/assessment?{WEEK}"))
    ranked = t["rank_districts"]["rows"]
    assert [(r[0], r[1], r[2], r[3]) for r in ranked] == [("1", "松山区", "65.00", "合格"), ("2", "红山区", "58.33", "不合格")]
    streets = by_label({"head": t["rank_streets"]["head"], "rows": [r[1:] for r in t["rank_streets"]["rows"]]})
    assert "振兴街道（松山区）" in streets


def test_bad_filters_come_back_with_field_errors_and_the_values_typed(sup):
    html = page(sup, "/reports?from=2026-13-45&to=2026-11-08&district=999999", status=422)
    assert "开始日期“2026-13-45”无效，应为 YYYY-MM-DD 格式的有效日期" in html and "没有这个区县" in html
    assert 'value="2026-13-45"' in html
    html = page(sup, "/reports/cases?from=2026-11-08&to=2026-11-02", status=422)
    assert "结束日期不能早于开始日期" in html
    html = page(sup, "/reports?from=2024-01-01&to=2026-11-08", status=422)
    assert "统计期间最长 366 天" in html
    html = page(sup, f"/reports?{WEEK}&category=%3Cscript%3E", status=422)
    assert "<script>" not in html.split('id="report-charts"')[0].split("<main>")[1]
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("username", ["agent1", "disp1", "hs", "water"])
def test_reports_are_for_supervisors_and_admins_only(client_for, week, username):
    client = client_for(username)
    assert client.get(f"/reports?{WEEK}", headers={"Accept": "text/html"}).status_code == 403
    assert client.get(f"/reports/export/districts.csv?{WEEK}").status_code == 403
    assert client.get("/reports/monthly/150402/export.xlsx?month=2026-11").status_code == 403
    assert client.get("/api/metrics/today").status_code == 403


def test_admins_see_reports_and_anonymous_visitors_log_in(client_for, week):
    assert client_for("admin1").get(f"/reports?{WEEK}", headers={"Accept": "text/html"}).status_code == 200
    anonymous = client_for(None)
    r = anonymous.get(f"/reports?{WEEK}", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code in (302, 303, 307) and "/login" in r.headers["location"]
    assert anonymous.get("/api/metrics/today").status_code == 401


def test_csv_export_has_a_title_the_period_and_chinese_headers(sup):
    r = sup.get(f"/reports/export/districts.csv?{WEEK}&department=city-urban")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["赤峰市12319城建服务热线 · 区县案件指标"]
    assert rows[1] == ["统计期间：2026-11-02 至 2026-11-08；责任部门：赤峰市城市管理综合执法局"]
    assert rows[2][0].startswith("生成时间：2026-11-27 10:00")
    assert rows[3][:4] == ["区县", "受理数", "立案数", "立案率"]
    body = {row[0]: row for row in rows[4:]}
    # 城管 in 红山区: T1 T2 T5 T7 T10 received (T9 before the week); 松山区: T8 T13
    assert body["红山区"][1] == "5" and body["松山区"][1] == "2" and body["合计"][1] == "7"


def test_xlsx_export_opens_with_typed_cells(sup):
    r = sup.get(f"/reports/export/districts.xlsx?{WEEK}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.active
    assert sheet["A1"].value == "赤峰市12319城建服务热线 · 区县案件指标"
    assert sheet["A2"].value == "统计期间：2026-11-02 至 2026-11-08；筛选：全部"
    header = [c.value for c in sheet[4]]
    assert header[:4] == ["区县", "受理数", "立案数", "立案率"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=5, values_only=True)}
    hongshan = dict(zip(header, rows["红山区"]))
    assert hongshan["受理数"] == 8 and hongshan["立案率"] == pytest.approx(4 / 6)
    rate_cell = sheet.cell(row=5, column=header.index("立案率") + 1)
    assert rate_cell.number_format == "0.0%"
    assert dict(zip(header, rows["合计"]))["受理数"] == 12


def test_durations_export_as_excel_times(sup):
    r = sup.get(f"/reports/export/stages.xlsx?{WEEK}")
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = {row[0]: row for row in sheet.iter_rows(min_row=5, values_only=True)}
    assert rows["受理 → 立案"][1] == timedelta(minutes=6, seconds=15)      # an Excel duration, read back as one
    assert sheet.cell(row=5, column=2).number_format == "[h]:mm:ss"


def test_unknown_exports_and_bad_filters_are_refused(sup):
    assert sup.get(f"/reports/export/nothing.csv?{WEEK}").status_code == 404
    assert sup.get(f"/reports/export/districts.pdf?{WEEK}").status_code == 404
    r = sup.get("/reports/export/districts.csv?from=2026-11-08&to=2026-11-01")
    assert r.status_code == 422 and "结束日期不能早于开始日期" in r.text


def test_monthly_assessment_report_and_its_workbook(sup):
    html = page(sup, "/reports/monthly/150402?month=2026-11")
    t = tables(html)
    summary = t["summary"]["rows"]
    assert [r[0] for r in summary] == ["红山区", "全市"]
    assert summary[0][1] == "9" and summary[1][1] == "13"     # received in November: T9 counts now
    ranked = t["rank_districts"]["rows"]
    assert {r[1] for r in ranked} == {"红山区", "松山区"}
    assert {"rank_streets", "rank_departments", "callbacks", "overdue"} <= set(t)
    r = sup.get("/reports/monthly/150402/export.xlsx?month=2026-11")
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames[:3] == ["主要指标", "区县考核排名", "红山区街道（乡镇）考核排名"]
    assert book["主要指标"]["A1"].value.endswith("红山区2026年11月考核报告 · 主要指标")
    assert page(sup, "/reports/monthly/150402?month=2026-13", status=422).count("月份应为 YYYY-MM 格式") == 1
    assert sup.get("/reports/monthly/999999?month=2026-11", headers={"Accept": "text/html"}).status_code == 404
    index = page(sup, "/reports/monthly?month=2026-11")
    assert 'href="/reports/monthly/150402?month=2026-11"' in index


def test_today_api_for_the_wallboard(sup):
    data = sup.get("/api/metrics/today").json()
    # the API clock is 2026-11-27 10:00: no calls that day; T3, T8, T11 open, T3 and T8 overdue
    assert data["calls"]["offered"] == 0 and data["calls"]["answer_rate"] is None
    assert data["tickets"] == {"open": 3, "overdue": 2, "overdue_by_stage": {"处置": 1, "签收": 1}}
