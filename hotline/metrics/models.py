"""Tables the metrics domain owns: pre-aggregations derived from the calls table and the ticket
log, never edited by hand and always rebuildable from them (:mod:`hotline.metrics.rollups`).

* ``metrics_ticket_facts`` — one row per ticket: the moments and deadlines of its closed loop
  as its append-only event log records them (first 立案, first 签收, first 反馈 and the deadline
  it was judged against, first 结案, 返工 count, …), and durations per stage. Reports aggregate
  these rows instead of replaying millions of events.
* ``metrics_call_hours`` / ``metrics_transfer_hours`` — the call figures of every *complete*
  hour (every call that started in it has ended), per queue and per district line. Hours still
  changing are counted live from the calls table.
* ``metrics_callback_facts`` — the 回访 records of the ticket log (results and unanswered calls),
  one row per event, as the day sums counted them (decision 0017).
* ``metrics_intake_days``, ``metrics_disposal_days``, ``metrics_closure_days``,
  ``metrics_callback_days`` — the ticket facts summed per local day and per month and per cell of a
  few dimension sets (:mod:`hotline.metrics.day_rollups`, decision 0017).
* ``metrics_rollup_state`` — how far each rollup has got (watermarks) and the settings it was
  built with.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Date, Float, ForeignKey, Index, Integer, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.cases.models import Ticket, TicketEvent
from hotline.cases.workflow import OPEN_STATES
from hotline.database import Base, UTCDateTime, utcnow

#: Callback results and unanswered callback calls by time (the 回访 figures read them straight
#: from the ticket log). Declared here, on the cases table, because only the metrics need it.
CALLBACK_ACTIONS = ("callback", "callback_attempt")
_CALLBACK_EVENTS = "action IN ('callback', 'callback_attempt')"
Index("ix_ticket_events_callbacks_at", TicketEvent.at,
      postgresql_where=text(_CALLBACK_EVENTS), sqlite_where=text(_CALLBACK_EVENTS))
#: Open tickets (a few thousand among millions) for the "now" figures. A query uses it only
#: when it names the states literally (:data:`OPEN_TICKETS`): SQLite's planner cannot tell that
#: ``state IN (?, …)`` selects few rows, and walks the whole table.
OPEN_TICKETS = "state IN (" + ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES, key=lambda s: s.value)) + ")"
Index("ix_tickets_open", Ticket.state, postgresql_where=text(OPEN_TICKETS), sqlite_where=text(OPEN_TICKETS))


class TicketFact(Base):
    """What reports need to know about one ticket, derived from its event log and deadlines."""

    __tablename__ = "metrics_ticket_facts"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True, autoincrement=False)
    # dimensions (as the ticket holds them now)
    channel: Mapped[str] = mapped_column(String(20), default="")
    category_code: Mapped[str] = mapped_column(String(20), default="")
    category_name: Mapped[str] = mapped_column(String(100), default="")
    district_code: Mapped[str | None] = mapped_column(String(6))
    street_code: Mapped[str | None] = mapped_column(String(9))
    department_code: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(30), default="")
    # 受理 → 立案
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    intake: Mapped[str] = mapped_column(String(20), default="pending")   # pending/registered/rejected/answered/merged/voided
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 签收: the first acceptance and the 签收 deadline of that dispatch
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accept_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 处置: the first feedback (反馈) and the 处置 deadline it was judged against
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handle_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handle_ref_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # when it counts as 应处置
    # 结案: the first 核查通过 and its deadline
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_ref_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)   # when it counts as 应结案
    first_callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)     # 返工 (核查不通过)
    return_count: Mapped[int] = mapped_column(Integer, default=0)     # 退回
    extension_count: Mapped[int] = mapped_column(Integer, default=0)  # 批准延期
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)     # 重办
    # seconds spent per stage (first pass), None when the stage has not ended
    intake_s: Mapped[float | None] = mapped_column(Float)     # 受理 → 立案
    accept_s: Mapped[float | None] = mapped_column(Float)     # 派遣 → 签收
    handle_s: Mapped[float | None] = mapped_column(Float)     # 签收 → 反馈
    verify_s: Mapped[float | None] = mapped_column(Float)     # 反馈 → 结案
    callback_s: Mapped[float | None] = mapped_column(Float)   # 结案 → 回访
    total_s: Mapped[float | None] = mapped_column(Float)      # 受理 → 结案
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)


class CallbackFact(Base):
    """One 回访 record of the ticket log (a result or an unanswered call) with the figures it adds;
    the ticket's cell comes from its facts row."""

    __tablename__ = "metrics_callback_facts"

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ticket_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    unreached: Mapped[int] = mapped_column(Integer, default=0)       # 回访未接通
    callbacks: Mapped[int] = mapped_column(Integer, default=0)       # 回访结果
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    basically: Mapped[int] = mapped_column(Integer, default=0)
    dissatisfied: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)         # result within its 回访 deadline


#: The key of every day-sum table: which dimension set (``shape``), ``d`` (a local day) or ``m``
#: (a month, ``day`` = its first day), and the cell ('' = none, '*' = a dimension the shape drops).
DAY_KEY = ("shape", "grain", "day", "district_code", "street_code", "department_code", "category_code", "channel")
#: Counted measures of each block (``n``: facts in the cell) and sums of microseconds.
DAY_MEASURES = {
    "intake": ("n", "answered", "rejected", "merged", "registered", "closed",
               *[f"{s}_n" for s in ("intake", "accept", "handle", "verify", "callback", "total")]),
    "disposal": ("n", "handled", "on_time", "late", "unhandled", "rework"),
    "closure": ("n", "closed", "on_time"),
    "callback": ("n", "unreached", "callbacks", "satisfied", "basically", "dissatisfied", "on_time"),
}
DAY_SUMS = {"intake": tuple(f"{s}_us" for s in ("intake", "accept", "handle", "verify", "callback", "total"))}


def _day_table(block: str) -> Table:
    lengths = {"shape": 4, "grain": 1, "district_code": 6, "street_code": 9, "department_code": 40,
               "category_code": 20, "channel": 20}
    return Table(
        f"metrics_{block}_days", Base.metadata,
        *[Column(k, Date if k == "day" else String(lengths[k]), primary_key=True) for k in DAY_KEY],
        *[Column(m, Integer, nullable=False, default=0) for m in DAY_MEASURES[block]],
        *[Column(m, BigInteger, nullable=False, default=0) for m in DAY_SUMS.get(block, ())],
    )


DAY_TABLES: dict[str, Table] = {block: _day_table(block) for block in DAY_MEASURES}


class CallHour(Base):
    """Call figures of one complete hour (by the hour the call started) and one queue
    (``""``: calls that never joined a queue)."""

    __tablename__ = "metrics_call_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)           # 呼入
    ivr_entered: Mapped[int] = mapped_column(Integer, default=0)     # 进入语音导航
    self_served: Mapped[int] = mapped_column(Integer, default=0)     # 自助服务完成
    voicemail: Mapped[int] = mapped_column(Integer, default=0)       # 非工作时间留言
    transferred: Mapped[int] = mapped_column(Integer, default=0)     # 转旗区受理电话并接通
    failed: Mapped[int] = mapped_column(Integer, default=0)          # 未接通
    offered: Mapped[int] = mapped_column(Integer, default=0)         # 进入人工队列
    answered: Mapped[int] = mapped_column(Integer, default=0)        # 人工接通
    answered_in_sl: Mapped[int] = mapped_column(Integer, default=0)  # 服务水平时限内接通
    abandoned: Mapped[int] = mapped_column(Integer, default=0)       # 排队放弃
    short_abandoned: Mapped[int] = mapped_column(Integer, default=0)  # 短时放弃
    wait_answered_s: Mapped[float] = mapped_column(Float, default=0.0)  # Σ 接通前等待
    max_wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    handled: Mapped[int] = mapped_column(Integer, default=0)         # 接通且已结束（有通话时长）
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)        # Σ 通话时长


class TransferHour(Base):
    """Transfers to one district receiving line in one complete hour."""

    __tablename__ = "metrics_transfer_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)   # the caller hung up while it rang


class RollupState(Base):
    """How far a rollup has got. ``position``: the last ticket event id folded into the facts;
    ``until``: the first hour not yet stored in the call rollups; ``settings``: what the call
    rollups were computed with (thresholds) — a change rebuilds them."""

    __tablename__ = "metrics_rollup_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settings: Mapped[str] = mapped_column(String(400), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
