"""Supervisor metrics: call-centre figures, case indicators (考核), reports, exports, Prometheus.

Rooms (decision 0001) and concepts:

* :mod:`~hotline.metrics.definitions` — every figure's name, formula and standard in one place;
* :mod:`~hotline.metrics.call_tally` — call figures from ``calls`` rows (pure);
* :mod:`~hotline.metrics.ticket_facts` — one ticket's closed-loop facts from its event log (pure);
* :mod:`~hotline.metrics.models` / :mod:`~hotline.metrics.rollups` — the pre-aggregations and
  how they are kept up to date from the calls table and the ticket log;
* :mod:`~hotline.metrics.service` — report queries (calls, cases, districts, streets, departments);
* :mod:`~hotline.metrics.assessment` — 综合得分, 评价等级 and 排名 for 考核 (pure);
* :mod:`~hotline.metrics.today` — cheap "today so far" figures for the live wallboard;
* :mod:`~hotline.metrics.filters` / :mod:`~hotline.metrics.tables` / :mod:`~hotline.metrics.exports`
  — report filters, the tables pages and exports share, CSV and XLSX;
* :mod:`~hotline.metrics.prometheus` — ``/metrics`` for Prometheus, request latency, telephony gauges;
* :mod:`~hotline.metrics.pages` / :mod:`~hotline.metrics.views` — the report pages and the JSON API.

Definitions and standards: ``docs/metrics.md``; decisions: ``docs/decisions/0011-metrics-rollups-and-exports.md``.
"""
