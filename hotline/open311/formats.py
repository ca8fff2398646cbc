"""XML and JSON rendering of Open311 GeoReport v2 documents.

The same Python structure renders to both formats: a document is ``(root, item, rows)``
where ``rows`` are dicts. Values: ``None`` → empty element / ``null``; ``bool`` →
``true``/``false``; nested lists name their children through ``LIST_ITEMS``
(``endpoints`` → ``endpoint``, ``formats`` → ``format``, ``attributes`` → ``attribute``, ``values`` → ``value``).
XML is UTF-8 with a declaration; text is escaped by ElementTree.
"""

from __future__ import annotations

import json
from typing import Any, Iterable
from xml.etree import ElementTree as ET

from fastapi.responses import Response

FORMATS = ("xml", "json")
MEDIA_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
LIST_ITEMS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value",
              "errors": "error", "services": "service", "service_requests": "request"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(el, k, v)
    elif isinstance(value, (list, tuple)):
        child = LIST_ITEMS.get(name, "item")
        for v in value:
            _fill(el, child, v)
    else:
        el.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    """``root`` holding ``value`` (dict → child elements, list → repeated ``LIST_ITEMS[root]``)."""
    holder = ET.Element("holder")
    _fill(holder, root, value)
    body = ET.tostring(holder[0], encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


def render(fmt: str, root: str, value: Any, status_code: int = 200) -> Response:
    """The document in ``fmt``: JSON is ``value`` itself (a list for collections), XML wraps it in ``root``."""
    body = to_xml(root, value) if fmt == "xml" else to_json(value)
    return Response(body, status_code=status_code, media_type=MEDIA_TYPES[fmt])


def errors(fmt: str, status_code: int, items: Iterable[tuple[int, str]]) -> Response:
    """The spec's error body: ``errors/error{code, description}``."""
    return render(fmt if fmt in FORMATS else "xml", "errors",
                  [{"code": code, "description": text} for code, text in items], status_code)
