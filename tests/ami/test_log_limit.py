"""Malformed AMI input is logged, but never floods the log."""

from __future__ import annotations

import logging

from ivr.ami.protocol import parse_stream
from ivr.log_limit import RepeatLimit


def test_twelve_thousand_malformed_lines_log_ten(caplog):
    garbage = b"".join(b"Event: X\r\nthis line is not a header %d\r\n\r\n" % i for i in range(12_000))
    with caplog.at_level(logging.WARNING, logger="ivr.ami.protocol"):
        messages = parse_stream(garbage)
    assert len(messages) == 12_000                        # the parser still reads everything
    skipped = [r for r in caplog.records if "not 'Key: value'" in r.getMessage()]
    assert 1 <= len(skipped) <= 10


def test_suppressed_lines_are_counted_in_the_next_window():
    now = [0.0]
    limit = RepeatLimit(burst=2, interval=60, clock=lambda: now[0])
    logger = logging.getLogger("test.repeat_limit")
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger.addHandler(Keep())
    logger.addFilter(limit)
    logger.propagate = False
    def bad_line():
        logger.warning("bad line")                 # one call site

    for _ in range(7):
        bad_line()
    now[0] = 61.0
    bad_line()
    assert records[:2] == ["bad line", "bad line"] and len(records) == 3
    assert records[2] == "bad line (+5 similar line(s) suppressed in the last 60 s)"
