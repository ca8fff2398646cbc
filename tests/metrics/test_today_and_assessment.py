"""The wallboard's "today so far" and the 考核 scores and ranks."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

import metrics_fixture as mf
from hotline.database import read_session_factory
from hotline.metrics import rollups, service
from hotline.metrics.assessment import assess, rating, score
from hotline.metrics.service import Period, ReportFilter
from hotline.metrics.today import today_so_far


def test_today_so_far_counts_todays_calls_up_to_now(db_session):
    mf.write_calls(db_session)
    today = today_so_far(db_session, mf.at(11, 2, 10, 20), mf.THRESHOLDS)
    c = today.calls
    # calls 1–7 started on 11-02 before 10:20 (8 starts at 10:30); 18 was the day before
    assert (c.calls, c.offered, c.answered, c.abandoned, c.short_abandoned) == (7, 5, 3, 2, 1)
    assert c.service_level == pytest.approx(2 / 4)          # 8 s and 15 s within 15 s; 4 was short
    assert c.asa == pytest.approx((8 + 15 + 16) / 3)
    assert c.max_wait == 40.0
    assert set(today.queues) == {"agents", ""} and today.queues["agents"].offered == 5
    data = today.as_dict()
    assert data["calls"]["offered"] == 5 and data["queues"]["agents"]["answered"] == 3 and "" not in data["queues"]


def test_tickets_open_and_overdue_now(db_session):
    mf.write_tickets(db_session)
    today = today_so_far(db_session, mf.NOW, mf.THRESHOLDS)
    # open: T3 (处置 due 11-04 09:00), T8 (签收 due 11-06 11:20), T11 (received, no deadline);
    # T4 and T9 are closed with their 回访 overdue: closed is not open
    assert (today.open_tickets, today.overdue_tickets, today.overdue_by_stage) == (3, 2, {"处置": 1, "签收": 1})


def fig(**rates):
    base = dict(on_time_handle_rate=None, on_time_close_rate=None, satisfaction_rate=None, close_rate=None,
                rework_rate=None)
    base.update(rates)
    return SimpleNamespace(**base)


def test_score_is_a_weighted_mean_over_the_indicators_with_data():
    a = fig(on_time_handle_rate=1.0, on_time_close_rate=0.5, satisfaction_rate=0.75, close_rate=0.5, rework_rate=0.25)
    assert score(a) == 72.5                        # 30 + 15 + 15 + 5 + 7.5
    b = fig(on_time_handle_rate=0.9, on_time_close_rate=0.9, close_rate=1.0, rework_rate=0.0)
    assert score(b) == 92.5                        # (27 + 27 + 10 + 10) / 80 × 100
    assert score(fig()) is None
    assert [rating(p) for p in (95, 90, 89.99, 80, 60, 59.9, None)] == ["优秀", "优秀", "良好", "良好", "合格", "不合格", "—"]


def test_ranks_share_places_on_equal_scores_and_leave_out_units_without_data():
    a = fig(on_time_handle_rate=1.0, on_time_close_rate=0.5, satisfaction_rate=0.75, close_rate=0.5, rework_rate=0.25)
    b = fig(on_time_handle_rate=0.9, on_time_close_rate=0.9, close_rate=1.0, rework_rate=0.0)
    ranked = assess({"A": a, "B": b, "C": a, "D": fig()})
    assert [(r.key, r.score, r.rank, r.rating) for r in ranked] == [
        ("B", 92.5, 1, "优秀"), ("A", 72.5, 2, "合格"), ("C", 72.5, 2, "合格"), ("D", None, None, "—")]


def test_districts_of_the_week_ranked(db_factory, engine):
    with db_factory() as s:
        mf.write_tickets(s)
    rollups.refresh(db_factory, read_session_factory(engine), mf.NOW, mf.THRESHOLDS)
    with db_factory() as s:
        week = ReportFilter(Period(date(2026, 11, 2), date(2026, 11, 8), mf.TZ))
        ranked = assess(service.case_figures(s, week, mf.NOW, "district"))
    # 红山区: 按期处置 3/5, 按期结案 2/5, 满意 2/3, 结案率 3/4, 返工 1/4 → 18 + 12 + 13.33 + 7.5 + 7.5
    # 松山区: 2/2, 0/2, 1/1, 2/4, 0/2 → 30 + 0 + 20 + 5 + 10
    assert [(r.key, r.score, r.rank) for r in ranked] == [("150404", 65.0, 1), ("150402", 58.33, 2)]
