"""Access logs without citizens' numbers or secrets."""

from __future__ import annotations

import logging

import pytest

from hotline.web.access_log import PrivateAccessLog, scrub_target


@pytest.mark.parametrize("target, expected", [
    ("/api/callers/13800001234/history", "/api/callers/138****1234/history"),
    ("/api/tickets?q=13912345678&page=2", "/api/tickets?q=139****5678&page=2"),
    ("/api/tickets?q=%2B8613912345678", "/api/tickets?q=+86139****5678"),
    ("/api/callers/0476-8312319/history", "/api/callers/0476-***2319/history"),
    ("/open311/v2/requests.json?api_key=SECRET-123456789", "/open311/v2/requests.json?api_key=***"),
    ("/x?API_KEY=a&b=1&password=hunter2", "/x?API_KEY=***&b=1&password=***"),
    # not phone numbers: ticket numbers, call ids, dates
    ("/tickets/12319-20261207-00042", "/tickets/12319-20261207-00042"),
    ("/api/calls/1795799243.5/transfer", "/api/calls/1795799243.5/transfer"),
    ("/tickets?from=2026-12-01&to=2026-12-07", "/tickets?from=2026-12-01&to=2026-12-07"),
])
def test_scrub(target, expected):
    assert scrub_target(target) == expected


def test_the_filter_rewrites_uvicorn_access_records():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/callers/13800001234/history", "1.1", 200), None)
    assert PrivateAccessLog().filter(record)
    line = record.getMessage()
    assert "13800001234" not in line and "138****1234" in line and line.endswith(" 200")
