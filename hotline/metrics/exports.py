"""CSV and XLSX exports of report tables, with Chinese headers and a title row naming the
period and the filters.

* CSV: UTF-8 with a byte-order mark (Excel on a Chinese Windows desk opens it correctly), the
  title lines first, then the header and the rows as the page shows them (``95.2%``, ``2分05秒``).
* XLSX (XlsxWriter, decision 0011): one sheet per table, the title merged across the columns,
  typed cells — counts as numbers, rates as fractions formatted ``0.0%``, durations as Excel
  times ``[h]:mm:ss`` — so the figures can be summed and charted in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterable

import xlsxwriter

from hotline.metrics.definitions import Unit
from hotline.metrics.tables import Table, cell_text

__all__ = ["Heading", "to_csv", "to_xlsx", "XLSX_TYPE", "CSV_TYPE", "download_name"]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Heading:
    """The lines above every exported table."""

    report: str          # e.g. 赤峰市12319城建服务热线 · 案件报表
    scope: str           # 统计期间：2026-11-01 至 2026-11-30；区县：红山区；…
    generated: str       # 生成时间：2026-12-07 14:30


def to_csv(table: Table, heading: Heading) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([f"{heading.report} · {table.title}"])
    w.writerow([heading.scope])
    w.writerow([heading.generated + (f"；{table.note}" if table.note else "")])
    w.writerow([c.label for c in table.columns])
    for row in table.all_rows():
        w.writerow([cell_text(row[c.key], c.unit) for c in table.columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(title: str, used: set[str]) -> str:
    base = _SHEET_BAD.sub("", title)[:28] or "报表"
    name, n = base, 2
    while name in used:
        name = f"{base[:26]}{n}"
        n += 1
    used.add(name)
    return name


def to_xlsx(tables: Iterable[Table], heading: Heading) -> bytes:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_urls": False})
    title_fmt = book.add_format({"bold": True, "font_size": 13})
    note_fmt = book.add_format({"font_color": "#555555"})
    head_fmt = book.add_format({"bold": True, "bg_color": "#E6EEF6", "border": 1, "text_wrap": True,
                                "valign": "vcenter"})
    number_formats = {Unit.COUNT: "0", Unit.RATE: "0.0%", Unit.SECONDS: "[h]:mm:ss", Unit.SCORE: "0.00", Unit.TEXT: None}
    formats, bold = {}, {}
    for unit, number_format in number_formats.items():
        spec = {"border": 1, **({"num_format": number_format} if number_format else {})}
        formats[unit] = book.add_format(spec)
        bold[unit] = book.add_format({**spec, "bold": True})
    used: set[str] = set()
    for table in tables:
        sheet = book.add_worksheet(_sheet_name(table.title, used))
        width = max(len(table.columns), 1)
        sheet.merge_range(0, 0, 0, width - 1, f"{heading.report} · {table.title}", title_fmt)
        sheet.merge_range(1, 0, 1, width - 1, heading.scope, note_fmt)
        sheet.merge_range(2, 0, 2, width - 1, heading.generated + (f"；{table.note}" if table.note else ""), note_fmt)
        for c, column in enumerate(table.columns):
            sheet.write_string(3, c, column.label, head_fmt)
            sheet.set_column(c, c, max(8, min(28, len(column.label) * 2 + 2)) if column.numeric else 16)
        r = 4
        for row in table.all_rows():
            styles = bold if row is table.total else formats
            for c, column in enumerate(table.columns):
                value = row[column.key]
                fmt = styles[column.unit]
                if value is None or value == "":
                    sheet.write_blank(r, c, None, fmt)
                elif column.unit is Unit.TEXT:
                    sheet.write_string(r, c, str(value), fmt)
                elif column.unit is Unit.SECONDS:
                    sheet.write_number(r, c, float(value) / 86400.0, fmt)
                else:
                    sheet.write_number(r, c, float(value), fmt)
            r += 1
        sheet.freeze_panes(4, 1)
    book.close()
    return buf.getvalue()


def download_name(title: str, first: str, last: str, ext: str) -> str:
    """``案件报表_2026-11-01_2026-11-30.xlsx`` (for Content-Disposition, RFC 5987-encoded by the caller)."""
    return f"{_SHEET_BAD.sub('', title)}_{first}_{last}.{ext}"
