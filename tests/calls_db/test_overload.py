"""Overload (an outside test: a burst of 10,050 events left 217 calls open forever and
``hotline serve`` hung on SIGTERM): the bus never drops silently and never blocks drain(),
the recorder resynchronises from the call tracker, shutdown has a deadline."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from call_helpers import FakeClock, chan, ev
from hotline.calls.models import Call
from hotline.calls.recorder import CallRecorder
from ivr.bus import EventBus
from ivr.calls import CallTracker
from ivr.events import CallEnded, CallStarted
from tests.calls_db.test_recorder import TZ


async def test_a_full_queue_is_counted_logged_once_and_drain_still_returns(caplog):
    bus = EventBus(queue_size=5, log_interval=3600)
    handled, told = [], []
    gate = asyncio.Event()

    async def slow(event):
        await gate.wait()
        handled.append(event)

    sub = bus.subscribe(slow, on_overflow=told.append)
    with caplog.at_level(logging.WARNING, logger="ivr.bus"):
        for i in range(100):                 # published before the subscriber runs at all
            bus.publish(i)
    overflow_logs = [r for r in caplog.records if "overflow" in r.getMessage()]
    assert len(overflow_logs) == 1 and "resynchronises" in overflow_logs[0].getMessage()
    assert sub.dropped == bus.dropped == 95 and len(told) == 95
    assert await bus.drain(timeout=0.2) is False         # the handler is stuck: the deadline holds
    gate.set()
    assert await bus.drain(timeout=5) is True            # before the fix, this waited forever
    assert handled == [95, 96, 97, 98, 99]
    await bus.close()


def _call_messages(i: int) -> list:
    uid = f"pbx-{i}.1"
    channel = chan(f"PJSIP/trunk-{i:08x}", uid, uid, state="6", context="hl12319-entry", exten="12319",
                   cid=f"138{i:08d}")
    return [ev("Newchannel", **channel), ev("Hangup", Cause="16", Cause_txt="Normal Clearing", **channel)]


@pytest.mark.parametrize("remembered", [5_000, 50])
async def test_a_burst_far_beyond_the_queue_leaves_no_call_open(db_factory, remembered):
    """2,000 calls through a bus that buffers 20 events for a recorder writing to a real database;
    with the tracker remembering every ended call they are all stored with their final snapshot,
    and with a short memory the rest are still closed."""
    clock = FakeClock()
    bus = EventBus(queue_size=20, log_interval=3600)
    tracker = CallTracker(bus, clock=clock, ended_snapshots=remembered)
    recorder = CallRecorder(db_factory, TZ, bus, calls=tracker)
    for i in range(2_000):
        for msg in _call_messages(i):
            tracker.feed(msg)
        clock.advance(0.01)
        if i % 500 == 0:
            await asyncio.sleep(0)
    assert bus.dropped > 1_000
    assert await bus.drain(timeout=60)
    await recorder.resync()                    # what the next event or the next start would do
    with db_factory() as session:
        rows = session.scalar(select(func.count()).select_from(Call))
        assert session.scalar(select(func.count()).select_from(Call).where(Call.ended_at.is_(None))) == 0
        stored = session.scalar(select(func.count()).select_from(Call).where(
            Call.disposition != "ended_while_disconnected"))
    assert recorder.resyncs >= 1 and recorder.failures == 0
    if remembered >= 2_000:
        assert rows == stored == 2_000          # every call kept its real outcome
    else:
        # a call whose every event was dropped and that the tracker forgot leaves no trace; what
        # has a row is closed, and every call the tracker remembers is stored
        assert stored >= remembered and rows < 2_000
    await bus.close()


async def test_calls_left_open_by_an_earlier_process_are_closed_at_start(db_factory):
    bus = EventBus()
    first = CallRecorder(db_factory, TZ, bus)
    bus.publish(CallStarted(call_id="old-1", at=FakeClock().now, caller="13800000001", dialed="12319"))
    await bus.drain()
    first.close()
    tracker = CallTracker(bus, clock=FakeClock())           # a new process: it never saw old-1
    live = _call_messages(7)[0]
    tracker.feed(live)                                       # …but sees a live call with no row yet
    recorder = CallRecorder(db_factory, TZ, bus, calls=tracker)
    await bus.drain()
    counts = await recorder.resync()
    assert counts["closed"] == 1
    with db_factory() as session:
        old = session.scalar(select(Call).where(Call.call_id == "old-1"))
        assert old.ended_at is not None and old.disposition == "ended_while_disconnected"
        assert session.scalar(select(Call).where(Call.call_id == "pbx-7.1")).ended_at is None   # live: untouched
    await bus.close()


async def test_the_agent_feed_sends_every_seat_again_after_dropped_agent_events(db_factory):
    """The agent bar must not stay on a state whose change was dropped (decision 0015)."""
    from types import SimpleNamespace

    from hotline.calls.flows import AgentConsoleFeed
    from hotline.database import transaction
    from hotline.users.models import User
    from ivr.agents import AgentBoard
    from ivr.facade import CallFacade

    with transaction(db_factory) as s:
        s.add_all([User(username="a1", display_name="坐席一", password_hash="x", role="agent", seat="PJSIP/agent-1"),
                   User(username="a2", display_name="坐席二", password_hash="x", role="agent", seat="PJSIP/agent-2")])
    with db_factory() as s:
        ids = dict(s.execute(select(User.seat, User.id)).all())
    bus = EventBus(queue_size=1, log_interval=3600)
    board = AgentBoard(bus)
    facade = CallFacade(SimpleNamespace(agents=board), districts=(), queues=("agents",))
    published = []
    feed = AgentConsoleFeed(bus, db_factory, SimpleNamespace(publish=published.append),
                            SimpleNamespace(facade=facade, softphone=lambda seat: None, on_softphone=None))
    for seat in ("PJSIP/agent-1", "PJSIP/agent-2"):          # both sign in while the feed is not running
        board.feed(ev("QueueMemberAdded", Queue="agents", Interface=seat, MemberName=seat, StateInterface=seat,
                      Status="1", Paused="0", Membership="dynamic"))
    assert bus.dropped == 1                                    # the first seat's change was lost
    await bus.drain(timeout=5)
    await asyncio.sleep(0.05)                                  # the overflow's resend runs as a task
    feed.close()
    states = {(e.audience.user_ids, e.data["state"]) for e in published if e.kind == "agent"}
    assert (frozenset({ids["PJSIP/agent-1"]}), "idle") in states
    assert (frozenset({ids["PJSIP/agent-2"]}), "idle") in states
    await bus.close()
