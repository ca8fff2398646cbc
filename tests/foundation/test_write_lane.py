"""The write lane (hotline.web.write_lane) and no-wait SQLite writes (hotline.database)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from hotline.config import Settings
from hotline.database import READ_ONLY_OPTION, WriterBusy, make_engine, writes_without_waiting
from hotline.web.app import AppState
from hotline.web.write_lane import WriteLane, default_lanes


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / "lane.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield engine, path
    engine.dispose()


def _writer(sessions, body: str, seen: dict | None = None):
    """A handler-like function: one write transaction; records the thread it ran in."""
    def write() -> str:
        if seen is not None:
            seen.setdefault("threads", []).append(threading.get_ident())
        with sessions() as s, s.begin():
            if seen is not None:
                seen["busy_timeout"] = s.connection().exec_driver_sql("PRAGMA busy_timeout").scalar()
            s.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
        return body
    return write


def _bodies(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT body FROM notes ORDER BY id")).scalars())


async def _ticks_while(task: asyncio.Task, seconds: float) -> int:
    """How often a 10 ms ticker ran on the loop during ``seconds`` while ``task`` was pending."""
    ticks = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.01)
        ticks += 1
    assert not task.done(), "the write should still be waiting"
    return ticks


async def test_sqlite_write_runs_on_the_loop_when_the_writer_is_free(sqlite_file):
    engine, _ = sqlite_file
    lane = WriteLane.for_engine(engine)
    seen: dict = {}
    assert await lane.run(_writer(sessionmaker(engine), "一", seen)) == "一"
    assert seen["threads"] == [threading.get_ident()]          # the loop's own thread
    assert (lane.ran_on_loop, lane.ran_in_thread) == (1, 0)
    assert _bodies(engine) == ["一"]
    assert engine.sqlite_writer_queue.acquire(blocking=False)   # released after the commit
    engine.sqlite_writer_queue.release()


async def test_writer_held_in_this_process_sends_the_write_to_a_thread_and_the_loop_keeps_running(sqlite_file):
    engine, _ = sqlite_file
    lane = WriteLane.for_engine(engine)
    seen: dict = {}
    writers = engine.sqlite_writer_queue
    assert writers.acquire(blocking=False)          # e.g. the SLA sweep in its thread
    try:
        task = asyncio.create_task(lane.run(_writer(sessionmaker(engine), "二", seen)))
        assert await _ticks_while(task, 0.3) >= 10
    finally:
        writers.release()
    assert await asyncio.wait_for(task, 10) == "二"
    assert (lane.ran_on_loop, lane.ran_in_thread) == (0, 1)
    assert seen["threads"][-1] != threading.get_ident()
    assert _bodies(engine) == ["二"]                 # written once


async def test_database_locked_by_another_process_does_not_block_the_loop(sqlite_file):
    engine, path = sqlite_file
    lane = WriteLane.for_engine(engine)
    seen: dict = {}
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)   # like another process
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (body) VALUES ('别的进程')")
    try:
        task = asyncio.create_task(lane.run(_writer(sessionmaker(engine), "三", seen)))
        assert await _ticks_while(task, 0.3) >= 10
    finally:
        other.execute("COMMIT")
        other.close()
    assert await asyncio.wait_for(task, 10) == "三"
    assert (lane.ran_on_loop, lane.ran_in_thread) == (0, 1)
    assert seen["threads"][-1] != threading.get_ident()
    assert seen["busy_timeout"] == 30000             # the no-wait BEGIN restored the connection's timeout
    assert _bodies(engine) == ["别的进程", "三"]


async def test_an_error_inside_rolls_back_frees_the_writer_and_is_not_retried(sqlite_file):
    engine, _ = sqlite_file
    lane = WriteLane.for_engine(engine)
    calls = []

    def fail() -> None:
        calls.append(1)
        with sessionmaker(engine)() as s, s.begin():
            s.execute(text("INSERT INTO notes (body) VALUES ('半途')"))
            raise ValueError("诉求内容不能为空")

    with pytest.raises(ValueError, match="诉求内容"):
        await lane.run(fail)
    assert calls == [1] and _bodies(engine) == []
    assert await lane.run(_writer(sessionmaker(engine), "四")) == "四"   # the writer is free again
    assert lane.ran_on_loop == 1


async def test_code_that_swallows_writer_busy_is_still_run_again_in_a_thread(sqlite_file):
    engine, _ = sqlite_file
    lane = WriteLane.for_engine(engine)
    write = _writer(sessionmaker(engine), "五")

    def careless() -> str:
        try:
            return write()
        except Exception:                   # hides the refusal from the lane
            return "swallowed"

    writers = engine.sqlite_writer_queue
    assert writers.acquire(blocking=False)
    threading.Timer(0.2, writers.release).start()
    assert await lane.run(careless) == "五"
    assert lane.ran_in_thread == 1 and _bodies(engine) == ["五"]


def test_no_wait_block_allows_one_write_transaction(sqlite_file):
    engine, _ = sqlite_file
    sessions = sessionmaker(engine)
    with writes_without_waiting() as call:
        _writer(sessions, "甲")()
        assert call.began and not call.busy
        with pytest.raises(RuntimeError, match="one write transaction"):
            _writer(sessions, "乙")()
    assert _bodies(engine) == ["甲"]
    assert engine.sqlite_writer_queue.acquire(blocking=False)
    engine.sqlite_writer_queue.release()


def test_no_wait_begin_refuses_at_once_and_reads_still_work(sqlite_file):
    engine, path = sqlite_file
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with writes_without_waiting() as call:
            started = time.monotonic()
            with pytest.raises(WriterBusy):
                _writer(sessionmaker(engine), "丙")()
            assert time.monotonic() - started < 1.0          # no busy wait (the timeout is 30 s)
            assert call.busy and not call.began
            with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as conn:  # WAL reads never wait
                assert conn.execute(text("SELECT count(*) FROM notes")).scalar() == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert engine.sqlite_writer_queue.acquire(blocking=False)   # not left held by the refusal
    engine.sqlite_writer_queue.release()


async def test_lanes_bound_concurrent_writers_in_threads():
    lane = WriteLane(2)                      # PostgreSQL-like: always in a thread
    running, peak = 0, 0
    guard = threading.Lock()

    def work(i: int) -> int:
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with guard:
            running -= 1
        return i

    assert await asyncio.gather(*(lane.run(work, i) for i in range(6))) == list(range(6))
    assert peak == 2 and lane.ran_in_thread == 6 and lane.ran_on_loop == 0


def test_lane_defaults_and_setting(tmp_path, monkeypatch):
    assert default_lanes("sqlite") == 1 and default_lanes("postgresql") == 2 and default_lanes("sqlite", 4) == 4
    with pytest.raises(ValueError):
        WriteLane(0)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        state = AppState(settings=Settings(var_dir=tmp_path), engine=engine, sessions=sessionmaker(engine))
        assert state.write_lane.lanes == 1 and state.write_lane.on_loop
        monkeypatch.setenv("HOTLINE_WRITE_LANES", "3")
        state = AppState(settings=Settings(var_dir=tmp_path), engine=engine, sessions=sessionmaker(engine))
        assert state.write_lane.lanes == 3
        monkeypatch.setenv("HOTLINE_WRITE_LANES", "-1")
        with pytest.raises(ValueError):
            Settings(var_dir=tmp_path)
    finally:
        engine.dispose()


def test_postgresql_writes_never_run_on_the_loop(engine):
    lane = WriteLane.for_engine(engine)
    assert lane.on_loop == (engine.dialect.name == "sqlite")
    assert lane.lanes == default_lanes(engine.dialect.name)
