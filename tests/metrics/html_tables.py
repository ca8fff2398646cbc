"""Reads the report tables out of a page (stdlib HTML parser): cell texts and links per row."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._section: str | None = None
        self._table: dict | None = None
        self._row: list | None = None
        self._links: dict | None = None
        self._cell: list[str] | None = None
        self._part = "tbody"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and (a.get("id") or "").startswith("t-"):
            self._section = a["id"][2:]
        elif tag == "table" and self._section:
            self._table = self.tables[self._section] = {"head": [], "rows": [], "links": [], "total": None}
        elif self._table is not None and tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif self._table is not None and tag == "tr":
            self._row, self._links = [], {}
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []
        elif self._cell is not None and tag == "a" and "href" in a:
            self._links[len(self._row)] = a["href"]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self._table
            if self._part == "thead":
                t["head"] = self._row
            elif self._part == "tfoot":
                t["total"] = self._row
            else:
                t["rows"].append(self._row)
                t["links"].append(self._links)
            self._row = None
        elif tag == "table":
            self._table, self._section = None, None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, dict]:
    """``{key: {"head": [...], "rows": [[...]], "links": [{col: href}], "total": [...]}}``."""
    p = _Tables()
    p.feed(html)
    return p.tables


def by_label(table: dict) -> dict[str, dict[str, str]]:
    """Rows keyed by their first cell, each a {header: text} dict."""
    return {row[0]: dict(zip(table["head"], row)) for row in table["rows"]}
