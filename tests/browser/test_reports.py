"""The supervisor's reports in a real browser: filter by district and dates, a chart drawn with
the vendored ECharts, drill down to the district's streets, download an XLSX and read it back.

The hand-computed week of tests/metrics/metrics_fixture.py is written into the server's
database with the project's own services (``upsert_call``, ``create_ticket``, ``perform``): calls
come from the telephony side, which no page or API can create, and the ticket history needs
past timestamps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

import metrics_fixture as mf
from hotline.database import make_engine, session_factory
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def week(server, tmp_path_factory):
    """The week written once into the running server's SQLite database."""
    # the server fixture's var dir (one per session; pytest also links it as "servecurrent")
    [database] = {p.resolve() for p in tmp_path_factory.getbasetemp().glob("serve*/hotline.sqlite3")}
    engine = make_engine(f"sqlite:///{database}")
    try:
        with session_factory(engine)() as s:
            mf.write_calls(s)
            return mf.write_tickets(s)
    finally:
        engine.dispose()


def test_supervisor_filters_sees_a_chart_drills_down_and_downloads(page_for, server, week, tmp_path):
    page = page_for("supervisor")
    page.click("nav.menu >> text=报表")
    page.wait_for_url("**/reports")
    page.fill("input[name=from]", "2026-11-02")
    page.fill("input[name=to]", "2026-11-08")
    page.select_option("select[name=district]", label="红山区")
    page.click("form.report-filters button[type=submit]")
    page.wait_for_url("**/reports?*district=150402*")
    page.wait_for_selector("#chart-days canvas")
    page.wait_for_selector("#chart-districts canvas")
    assert "统计期间：2026-11-02 至 2026-11-08；区县：红山区" in page.locator(".scope").inner_text()
    rows = page.locator("#t-districts tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").first.inner_text() == "红山区"
    assert rows.first.locator("td").nth(1).inner_text() == "8"
    screenshot(page, "reports")

    rows.first.locator("td a").first.click()
    page.wait_for_url("**/reports/district/150402?*")
    page.wait_for_selector("#chart-streets canvas")
    assert page.locator("h1").inner_text() == "红山区案件报表"
    streets = {r.locator("td").first.inner_text(): r for r in page.locator("#t-streets tbody tr").all()}
    assert {"西屯街道", "三中街街道", "未定位到街道"} <= set(streets)
    link = streets["西屯街道"].locator("td a").first.get_attribute("href")
    assert link == "/tickets?district=150402&street=150402001&from=2026-11-02&to=2026-11-08"
    screenshot(page, "reports-district")

    with page.expect_download() as download:
        page.click("#t-streets a:has-text('Excel')")
    target = Path(tmp_path) / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name == "红山区各街道（乡镇）案件指标_2026-11-02_2026-11-08.xlsx"
    sheet = load_workbook(target).active
    assert sheet["A2"].value == "统计期间：2026-11-02 至 2026-11-08；区县：红山区"
    header = [c.value for c in sheet[4]]
    rows = {row[0]: dict(zip(header, row)) for row in sheet.iter_rows(min_row=5, values_only=True)}
    # 西屯街道: T1 T2 T7 T10 received, T1 T2 T9 T10 due for disposal (T2 late); 三中街街道: T3 T5 T11
    assert (rows["西屯街道"]["受理数"], rows["西屯街道"]["应处置数"], rows["西屯街道"]["按期处置数"]) == (4, 4, 3)
    assert (rows["三中街街道"]["受理数"], rows["三中街街道"]["超期件数"]) == (3, 1)
    assert rows["未定位到街道"]["受理数"] == 1
    assert rows["合计"]["受理数"] == 8
