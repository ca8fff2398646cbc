"""Every definition on the hand-computed week (tests/metrics/metrics_fixture.py), on SQLite and
PostgreSQL. Expected figures are worked out by hand in the comments, from the fixture's table."""

from __future__ import annotations

from datetime import date

import pytest

import metrics_fixture as mf
from hotline.metrics import rollups, service
from hotline.metrics.call_tally import CallFigures, TransferFigures
from hotline.metrics.service import Period, ReportFilter

WEEK = ReportFilter(Period(date(2026, 11, 2), date(2026, 11, 8), mf.TZ))


@pytest.fixture
def week(db_factory, engine):
    from hotline.database import read_session_factory

    with db_factory() as s:
        mf.write_calls(s)
        tickets = mf.write_tickets(s)
    rollups.refresh(db_factory, read_session_factory(engine), mf.NOW, mf.THRESHOLDS)
    return tickets


def calls(session, f=WEEK):
    report = service.call_report(session, f, mf.NOW, mf.THRESHOLDS)
    return report, CallFigures.of(report.per_queue, mf.THRESHOLDS)


# --- calls ------------------------------------------------------------------------------------------

def test_call_counts_of_the_week(db_session, week):
    _, fig = calls(db_session)
    # calls 1–16 (17 is after the week, 18 before it)
    assert fig.calls == 16
    assert fig.ivr_entered == 15            # all but 15 (never connected)
    assert fig.self_served == 1             # 6
    assert (fig.voicemail, fig.transferred, fig.failed) == (1, 1, 1)   # 12, 8, 15
    assert fig.offered == 10                # 1–5, 9, 11, 16 (agents) + 13, 14 (mongolian)
    assert fig.answered == 7                # 1, 2, 3, 9, 16, 13, 14
    assert fig.abandoned == 3               # 4, 5, 11 (7 and 10 never reached a queue)
    assert fig.short_abandoned == 1         # 4: 3 s < 5 s
    assert fig.answered_in_sl == 5          # agents ≤ 15 s: 1 (8), 2 (15), 9 (10), 16 (12); mongolian ≤ 20 s: 13 (18)
    assert fig.max_wait_s == 40.0           # 5


def test_call_rates_of_the_week(db_session, week):
    _, fig = calls(db_session)
    assert fig.answer_rate == pytest.approx(7 / 10)
    assert fig.abandon_rate == pytest.approx((3 - 1) / (10 - 1))
    assert fig.service_level == pytest.approx(5 / (10 - 1))
    assert fig.answered_in_time_rate == pytest.approx(5 / 7)
    # waits of the answered: 8 + 15 + 16 + 10 + 12 (from timestamps) + 18 + 25 = 104
    assert fig.asa == pytest.approx(104 / 7)
    # talk: 120 + 200 + 100 + 60 + 30 + 300 + 240 = 1050; wrap-up 5 × 15 s (agents) + 2 × 10 s (mongolian)
    assert fig.avg_talk == pytest.approx(150.0)
    assert fig.aht == pytest.approx((1050 + 75 + 20) / 7)
    assert fig.containment_rate == pytest.approx(1 / 15)


def test_calls_per_queue_and_the_queue_filter(db_session, week):
    report, _ = calls(db_session)
    agents, mongolian, none = report.per_queue["agents"], report.per_queue["mongolian"], report.per_queue[""]
    assert (agents.offered, agents.answered, agents.answered_in_sl, agents.abandoned) == (8, 5, 4, 3)
    assert (mongolian.offered, mongolian.answered, mongolian.answered_in_sl) == (2, 2, 1)
    assert none.calls == 6                  # 6, 7, 8, 10, 12, 15
    _, only = calls(db_session, ReportFilter(WEEK.period, queue="mongolian"))
    assert (only.offered, only.answered, only.asa, only.max_wait) == (2, 2, pytest.approx(21.5), 25.0)
    assert only.aht == pytest.approx((300 + 240 + 2 * 10) / 2)


def test_calls_per_local_hour_and_weekday(db_session, week):
    report, _ = calls(db_session)
    per_hour = {h: c.calls for h, c in enumerate(report.by_hour) if c.calls}
    # 9h: 1–5, 13, 14; 10h: 6, 7, 8; 11h: 15; 14h: 9, 10; 15h: 11; 20h: 12; 23h: 16
    assert per_hour == {9: 7, 10: 3, 11: 1, 14: 2, 15: 1, 20: 1, 23: 1}
    # Monday 1–8, Tuesday 9–11, Wednesday 12, Thursday 13–15, Sunday 16
    assert [c.calls for c in report.by_weekday] == [8, 3, 1, 3, 0, 0, 1]
    assert {d.isoformat(): c.calls for d, c in report.by_day.items()} == {
        "2026-11-02": 8, "2026-11-03": 3, "2026-11-04": 1, "2026-11-05": 3, "2026-11-08": 1}


def test_transfer_success_per_district_line(db_session, week):
    report, _ = calls(db_session)
    hongshan = TransferFigures("150402", report.transfers["150402"])
    yuanbaoshan = TransferFigures("150403", report.transfers["150403"])
    # 红山区: 8 answered, 11 no answer; 元宝山区: 9 busy, 10 cancelled by the caller
    assert (hongshan.counts.attempts, hongshan.counts.answered, hongshan.success_rate) == (2, 1, 0.5)
    assert (yuanbaoshan.counts.attempts, yuanbaoshan.counts.cancelled, yuanbaoshan.success_rate) == (2, 1, 0.0)
    report, _ = calls(db_session, ReportFilter(WEEK.period, district_code="150402"))
    assert list(report.transfers) == ["150402"]


# --- cases ------------------------------------------------------------------------------------------

def figures(session, group=None, f=WEEK):
    return service.case_figures(session, f, mf.NOW, group, with_now=True)


def test_intake_cohort(db_session, week):
    total = figures(db_session)[None]
    # received in the week: every ticket but T9 (11-01)
    assert total.received == 12
    assert (total.answered_directly, total.rejected, total.merged) == (1, 1, 1)   # T5, T6, T7
    assert total.registered == 8            # T1 T2 T3 T4 T8 T10 T12 T13
    assert total.register_rate == pytest.approx(8 / (12 - 1 - 1))
    assert total.closed == 5                # T1 T2 T4 T10 T13
    assert total.close_rate == pytest.approx(5 / 8)


def test_disposal_attributed_to_its_due_moment(db_session, week):
    total = figures(db_session)[None]
    # due: T1 (fed back 11-02 16:00 on time), T2 (due 11-03 13:00, late), T3 (due 11-04 09:00, never),
    # T4 (11-06 09:00, on time after the extension), T9 (received before the week, fed back 11-02 18:00),
    # T10 (11-07 15:00), T13 (11-03 16:00, before its second cycle's 16:30); T8 was never accepted,
    # T12 was voided
    assert total.due_handle == 7
    assert (total.handled, total.handled_on_time, total.handled_late, total.overdue_unhandled) == (6, 5, 1, 1)
    assert total.handle_rate == pytest.approx(6 / 7)
    assert total.on_time_handle_rate == pytest.approx(5 / 7)
    assert total.rework == 1 and total.rework_rate == pytest.approx(1 / 6)     # T2
    assert total.overdue == 2                                                  # T2 late + T3 never


def test_closure_attributed_to_its_due_moment(db_session, week):
    total = figures(db_session)[None]
    # due to close: the seven above; closed on time only T1 (17:00 ≤ 11-03 10:00) and T10;
    # T4 closed 30 min after its (extended) 处置 deadline, T9 closed after the week but counts here
    assert (total.due_close, total.closed_in_due, total.closed_on_time) == (7, 6, 2)
    assert total.on_time_close_rate == pytest.approx(2 / 7)


def test_callbacks_from_the_ticket_log(db_session, week):
    total = figures(db_session)[None]
    # results in the week: T1 满意, T2 基本满意, T13 满意 (late: due 11-04 17:00), T10 不满意;
    # unanswered: T1 11-03 09:30, T4 11-07 10:00 (T4's second attempt and T10's second callback are after)
    assert (total.callbacks, total.satisfied, total.basically_satisfied, total.dissatisfied) == (4, 2, 1, 1)
    assert total.satisfaction_rate == pytest.approx(3 / 4)
    assert total.callbacks_on_time == 3 and total.callback_on_time_rate == pytest.approx(3 / 4)
    assert total.callback_unreached == 2 and total.callback_calls == 6
    assert total.callback_reach_rate == pytest.approx(4 / 6)


def test_average_time_per_stage(db_session, week):
    total = figures(db_session)[None]
    # 受理→立案: T1 10 min, T8 10 min, the six others 5 min
    assert total.avg_intake == pytest.approx((600 * 2 + 300 * 6) / 8)
    # 派遣→签收: T1 40 min, T2 2 h 50 min, T3 50 min, T4 20 min, T10 10 min, T12 10 min, T13 20 min
    assert total.avg_accept == pytest.approx((2400 + 10200 + 3000 + 1200 + 600 + 600 + 1200) / 7)
    # 签收→反馈: T1 6 h, T2 26 h, T4 47.5 h, T10 5.5 h, T13 25.5 h (from its first 签收)
    assert total.avg_handle == pytest.approx((6 + 26 + 47.5 + 5.5 + 25.5) * 3600 / 5)
    # 反馈→结案: T2 20 h (with its rework), the others 1 h
    assert total.avg_verify == pytest.approx((20 + 4) * 3600 / 5)
    # 结案→回访: T1 17 h, T2 22 h, T10 18 h, T13 40 h
    assert total.avg_callback == pytest.approx((17 + 22 + 18 + 40) * 3600 / 4)
    # 受理→结案: T1 8 h, T2 49 h, T4 49 h, T10 7 h, T13 27 h
    assert total.avg_total == pytest.approx((8 + 49 + 49 + 7 + 27) * 3600 / 5)


def test_open_and_overdue_now(db_session, week):
    total = figures(db_session)[None]
    assert (total.open_now, total.overdue_now) == (3, 2)       # T3, T8, T11 open; T3 and T8 overdue
    overdue = service.overdue_tickets(db_session, WEEK, mf.NOW)
    assert [(o.number, o.stage) for o in overdue] == [(week["T3"].number, "处置"), (week["T8"].number, "签收")]
    assert overdue[0].overdue_s == (mf.NOW - mf.at(11, 4, 9)).total_seconds()


def test_figures_per_district(db_session, week):
    by = figures(db_session, "district")
    hs, ss = by["150402"], by["150404"]
    # 红山区: T1 T2 T3 T5 T6 T7 T10 T11 received; T9 only in the due blocks
    assert (hs.received, hs.registered, hs.register_rate, hs.closed) == (8, 4, pytest.approx(4 / 6), 3)
    assert (hs.due_handle, hs.handled_on_time, hs.handled_late, hs.overdue_unhandled) == (5, 3, 1, 1)
    assert (hs.due_close, hs.closed_on_time) == (5, 2)
    assert (hs.callbacks, hs.satisfaction_rate, hs.callback_unreached) == (3, pytest.approx(2 / 3), 1)
    assert (hs.open_now, hs.overdue_now) == (2, 1)
    # 松山区: T4 T8 T12 T13
    assert (ss.received, ss.registered, ss.closed, ss.due_handle, ss.handled_on_time) == (4, 4, 2, 2, 2)
    assert (ss.due_close, ss.closed_on_time, ss.callbacks, ss.callbacks_on_time) == (2, 0, 1, 0)
    assert (ss.open_now, ss.overdue_now) == (1, 1)
    assert set(by) == {"150402", "150404"}


def test_figures_per_street_of_a_district(db_session, week):
    f = ReportFilter(WEEK.period, district_code="150402")
    by = figures(db_session, "street", f)
    assert set(by) == {mf.XITUN, mf.SANZHONGJIE, None}          # T6 has no street
    xitun, sanzhong = by[mf.XITUN], by[mf.SANZHONGJIE]
    assert (xitun.received, xitun.merged, xitun.registered, xitun.due_handle, xitun.handled_on_time) == (4, 1, 3, 4, 3)
    assert (sanzhong.received, sanzhong.answered_directly, sanzhong.overdue_unhandled, sanzhong.open_now) == (3, 1, 1, 2)
    assert by[None].rejected == 1


def test_figures_per_department_category_and_channel(db_session, week):
    dept = figures(db_session, "department")
    # 供水: T3 T4 T11 T12 received; T3 and T4 due for disposal
    assert (dept[mf.WATER].received, dept[mf.WATER].due_handle, dept[mf.WATER].handled_on_time) == (4, 2, 1)
    assert (dept[mf.URBAN].received, dept[mf.URBAN].due_handle) == (7, 5)     # T1 T2 T5 T7 T8 T10 T13
    assert dept[None].received == 1                                            # T6
    cat = figures(db_session, "category")
    assert (cat["06001"].received, cat["01001"].received) == (8, 4)
    channel = figures(db_session, "channel")
    assert (channel["web"].received, channel["phone"].received) == (1, 11)


def test_category_filter_is_a_code_prefix(db_session, week):
    assert figures(db_session, f=ReportFilter(WEEK.period, category="06"))[None].received == 8
    assert figures(db_session, f=ReportFilter(WEEK.period, category="01001"))[None].received == 4
    assert figures(db_session, f=ReportFilter(WEEK.period, category="0"))[None].received == 12
    assert figures(db_session, f=ReportFilter(WEEK.period, category="%"))[None].received == 0


def test_an_empty_period_has_no_rates(db_session, week):
    empty = figures(db_session, f=ReportFilter(Period(date(2026, 10, 1), date(2026, 10, 31), mf.TZ)))[None]
    assert (empty.received, empty.register_rate, empty.on_time_handle_rate, empty.satisfaction_rate) == (0, None, None, None)
    _, fig = calls(db_session, ReportFilter(Period(date(2026, 10, 1), date(2026, 10, 31), mf.TZ)))
    assert (fig.calls, fig.answer_rate, fig.asa, fig.max_wait) == (0, None, None, None)
