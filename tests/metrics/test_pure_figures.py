"""The pure parts: one call's counts and one ticket's facts, on hand-made rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from hotline.metrics.call_tally import CallFigures, CallRecord, CallThresholds, CallTally, wait_seconds
from hotline.metrics.ticket_facts import DeadlineRow, EventRow, TicketRow, ticket_facts

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def queued(wait, *, answered=True, disposition="agent", queue="agents", record=True, talk=60.0, transfers=None):
    joined = s(10)
    agent = joined + timedelta(seconds=wait) if answered else None
    end = (agent + timedelta(seconds=talk)) if answered else joined + timedelta(seconds=wait)
    return CallRecord(T0, end, 1, queue, joined, wait if record else None, agent, transfers, disposition)


TH = CallThresholds(service_level_s={"agents": 15}, wrapup_s={"agents": 20}, short_abandon_s=5)


def tally(*calls):
    t = CallTally(TH).add_all(calls)
    return CallFigures.of(t.per_queue(), TH), t


def test_service_level_counts_answers_at_exactly_the_limit():
    fig, _ = tally(queued(15), queued(15.001))
    assert (fig.answered, fig.answered_in_sl) == (2, 1)


def test_short_abandon_is_strictly_shorter_than_the_threshold():
    fig, _ = tally(queued(4.999, answered=False, disposition="abandoned"),
                   queued(5, answered=False, disposition="abandoned"))
    assert (fig.abandoned, fig.short_abandoned) == (2, 1)
    assert fig.abandon_rate == 1.0       # (2 − 1) / (2 − 1)


def test_unanswered_queue_entries_other_than_abandons_are_only_offered():
    fig, _ = tally(queued(30, answered=False, disposition="voicemail"))
    assert (fig.offered, fig.answered, fig.abandoned, fig.voicemail, fig.max_wait) == (1, 0, 0, 1, 30.0)


def test_wait_comes_from_the_timestamps_when_no_hold_time_was_recorded():
    call = queued(12, record=False)
    assert wait_seconds(call) == 12.0
    abandoned = queued(7, answered=False, disposition="abandoned", record=False)
    assert wait_seconds(abandoned) == 7.0        # joined → ended
    assert wait_seconds(CallRecord(T0, s(60), 1, "", None, None, None, None, "self_served")) is None


def test_a_call_still_talking_has_no_talk_time_yet():
    going = queued(5)._replace(ended_at=None)
    fig, _ = tally(going)
    assert (fig.answered, fig.handled, fig.avg_talk, fig.aht) == (1, 0, None, None)


def test_aht_adds_the_queue_wrap_up_to_each_handled_call():
    fig, _ = tally(queued(5, talk=100), queued(5, talk=200))
    assert fig.aht == (100 + 200 + 2 * 20) / 2


def test_transfers_count_per_district_line_and_skip_pending_and_queue_targets():
    transfers = [{"target": "district:150402", "result": "answered"},
                 {"target": "x", "district_code": "150404", "result": "busy"},
                 {"target": "district:150404", "result": "pending"},
                 {"target": "queue:agents", "result": "answered"}]
    _, t = tally(queued(5, transfers=json.dumps(transfers)))          # as SQLite returns JSON text
    per = t.per_district()
    assert set(per) == {"150402", "150404"}
    assert (per["150402"].attempts, per["150402"].answered) == (1, 1)
    assert (per["150404"].attempts, per["150404"].answered) == (1, 0)


def test_containment_counts_self_service_among_calls_that_entered_the_ivr():
    no_ivr = CallRecord(T0, s(30), 0, "", None, None, None, None, "self_served")
    ivr = CallRecord(T0, s(30), 2, "", None, None, None, None, "self_served")
    fig, _ = tally(no_ivr, ivr)
    assert (fig.ivr_entered, fig.self_served, fig.containment_rate) == (1, 1, 1.0)


def test_thresholds_fingerprint_ignores_wrap_up():
    assert TH.fingerprint() == CallThresholds(service_level_s={"agents": 15}, wrapup_s={"agents": 99}).fingerprint()
    assert TH.fingerprint() != CallThresholds(service_level_s={"agents": 20}).fingerprint()


# --- ticket facts ------------------------------------------------------------------------------------

TICKET = TicketRow(1, s(0), "phone", "06001", "私搭乱建", "150402", "150402001", "city-urban", "closed")


def ev(n, at, action, from_state=None, **data):
    return EventRow(n, n, s(at), action, from_state, data)


def stop(stage, due, done):
    return {"deadlines": [{"stage": stage, "due_at": s(due).isoformat(), "completed_at": s(done).isoformat(),
                           "overdue": done > due}]}


def test_closure_is_judged_against_the_verify_deadline_when_there_is_one():
    events = [ev(1, 0, "create"), ev(2, 10, "register", "received"), ev(3, 20, "dispatch", "registered"),
              ev(4, 30, "accept", "dispatched", **stop("签收", 100, 30)),
              ev(5, 40, "feedback", "in_progress", **stop("处置", 50, 40)),
              ev(6, 90, "verify_pass", "resolved", **stop("核查", 100, 90))]
    f = ticket_facts(TICKET, events, [DeadlineRow("核查", s(100), s(90))])
    assert (f.handled_at, f.handle_due_at, f.handle_ref_at) == (s(40), s(50), s(40))
    assert (f.closed_at, f.close_due_at, f.close_ref_at) == (s(90), s(100), s(90))    # 90 > 处置 due 50, ≤ 核查 due 100
    assert (f.intake, f.intake_s, f.accept_s, f.handle_s, f.verify_s, f.total_s) == ("registered", 10, 10, 10, 50, 90)
    assert f.last_event_id == 6


def test_before_feedback_the_current_handle_deadline_counts():
    events = [ev(1, 0, "create"), ev(2, 10, "register", "received"), ev(3, 20, "dispatch", "registered"),
              ev(4, 30, "accept", "dispatched", **stop("签收", 100, 30))]
    f = ticket_facts(TICKET._replace(state="in_progress"), events, [DeadlineRow("处置", s(500), None)])
    assert (f.handled_at, f.handle_due_at, f.handle_ref_at, f.close_ref_at) == (None, s(500), s(500), s(500))


def test_a_voided_ticket_never_becomes_due():
    events = [ev(1, 0, "create"), ev(2, 10, "register", "received"), ev(3, 20, "dispatch", "registered"),
              ev(4, 30, "accept", "dispatched"), ev(5, 40, "void", "in_progress")]
    f = ticket_facts(TICKET._replace(state="voided"), events, [DeadlineRow("处置", s(500), s(40))])
    assert (f.intake, f.handle_due_at, f.handle_ref_at, f.close_ref_at) == ("registered", s(500), None, None)


def test_intake_outcome_is_the_first_decision_on_the_received_ticket():
    merged_later = [ev(1, 0, "create"), ev(2, 10, "register", "received"), ev(3, 20, "merge", "registered")]
    assert ticket_facts(TICKET._replace(state="merged"), merged_later, []).intake == "registered"
    voided = [ev(1, 0, "create"), ev(2, 10, "void", "received")]
    assert ticket_facts(TICKET._replace(state="voided"), voided, []).intake == "voided"
    assert ticket_facts(TICKET._replace(state="received"), [ev(1, 0, "create")], []).intake == "pending"


def test_events_are_replayed_in_sequence_order_and_counted():
    events = [ev(5, 50, "verify_fail", "resolved"), ev(1, 0, "create"), ev(3, 30, "verify_fail", "resolved"),
              ev(2, 20, "return", "in_progress"), ev(4, 40, "reopen", "closed"), ev(6, 60, "approve_extension")]
    f = ticket_facts(TICKET, events, [])
    assert (f.rework_count, f.return_count, f.reopen_count, f.extension_count) == (2, 1, 1, 1)


@pytest.mark.parametrize("state", ["rejected", "answered"])
def test_tickets_ended_at_intake_have_no_due_moments(state):
    f = ticket_facts(TICKET._replace(state=state), [ev(1, 0, "create")], [])
    assert (f.handle_ref_at, f.close_ref_at, f.total_s) == (None, None, None)


def test_an_internal_staff_leg_counts_in_no_call_figure():
    transfers = [{"kind": "district_line", "target": "district:150402", "district_code": "150402",
                  "result": "no_answer"}]
    consult = CallRecord(T0, s(40), 0, "", None, None, None, None, "internal")
    queued_leg = queued(20, answered=False, disposition="internal", transfers=transfers)
    fig, t = tally(queued(3), consult, queued_leg)
    assert (fig.calls, fig.offered, fig.answered, fig.abandoned) == (1, 1, 1, 0)
    assert t.transfers == {}
