"""Tickets (工单, becoming grid cases 案卷 once registered), their append-only event log,
stage deadlines and the per-day number sequence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, false, text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from hotline.database import Base, UTCDateTime, utcnow


_DEPARTMENT_HOLDS = "department_code IS NOT NULL"
_MERGED = "parent_id IS NOT NULL"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # duplicate proposals at intake: same category, inside a small lat/lon box (an index range
        # scan instead of every ticket of the category); also serves category_code look-ups, so
        # the column has no index of its own (one index less to write per ticket)
        Index("ix_tickets_category_position", "category_code", "lat", "lon"),
        # the responsible unit's tickets (decision 0009), by state (the inbox tabs, the states an
        # officer sees) and creation time: a district officer's are the district's without a
        # department, a department officer's the department's. They replace the plain district and
        # department indexes and serve every look-up by those columns; both are chosen by SQLite
        # without ANALYZE statistics too (a deployed SQLite file has none). 1M tickets: an
        # officer's list and inbox 0.4–1.4 s → tens of ms (benchmarks/results/console_pages.md).
        Index("ix_tickets_district_department_state", "district_code", "department_code", "state", "created_at"),
        # by state (work lists, the sweep's and callbacks' look-ups), then district: a report's
        # drill-down (红山区 + 处置中) is an index range, not a scan of the district's history
        Index("ix_tickets_state_district", "state", "district_code", "created_at"),
        Index("ix_tickets_department_state", "department_code", "state", "created_at",
              postgresql_where=text(_DEPARTMENT_HOLDS), sqlite_where=text(_DEPARTMENT_HOLDS)),
        # the tickets merged into one (the ticket page's merge links): few, so a partial index
        # (1M tickets: the ticket page 0.6 s → a few ms)
        Index("ix_tickets_parent", "parent_id", postgresql_where=text(_MERGED), sqlite_where=text(_MERGED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # 12319-YYYYMMDD-NNNNN
    channel: Mapped[str] = mapped_column(String(20), default="phone")  # phone, web, open311, exchange
    state: Mapped[str] = mapped_column(String(30))   # ix_tickets_state_district
    source_key: Mapped[str | None] = mapped_column(String(120), unique=True)  # idempotency (e.g. call:<linkedid>)

    caller_number: Mapped[str] = mapped_column(String(40), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(80), default="")
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)

    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    category_ref: Mapped[str] = mapped_column(String(40), default="")   # snapshot: standard_ref
    category_kind: Mapped[str] = mapped_column(String(10), default="")
    category_code: Mapped[str] = mapped_column(String(20), default="")
    category_name: Mapped[str] = mapped_column(String(100), default="")

    description: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    # speech transcription of the ticket's recording (hotline.cases.transcripts): "" (none asked),
    # pending, done, failed; the suggestion is only shown to the agent, never applied by itself
    transcript_status: Mapped[str] = mapped_column(String(10), default="", index=True)
    transcript_suggestion: Mapped[dict | None] = mapped_column(JSON)
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    district_code: Mapped[str | None] = mapped_column(String(6))   # ix_tickets_district_department_state
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12))

    priority: Mapped[str] = mapped_column(String(10), default="normal")  # normal, high, urgent
    department_code: Mapped[str | None] = mapped_column(String(40))   # indexed by ix_tickets_department_state
    routing: Mapped[dict | None] = mapped_column(JSON)  # routing decision with its explanation
    satisfaction: Mapped[str | None] = mapped_column(String(30))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))  # 并案: duplicate of

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    events: Mapped[list["TicketEvent"]] = relationship(
        back_populates="ticket", order_by="TicketEvent.seq", cascade="save-update, merge"
    )
    deadlines: Mapped[list["TicketDeadline"]] = relationship(back_populates="ticket", cascade="all, delete-orphan")

    # optimistic concurrency: two dispatchers acting on the same ticket → the second gets StaleDataError
    __mapper_args__ = {"version_id_col": version}


class TicketEvent(Base):
    """Append-only log of everything that happened to a ticket (who, when, from, to, note)."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        UniqueConstraint("ticket_id", "seq", name="uq_ticket_events_ticket_seq"),
        # the SLA sweep looks up approved extensions of the tickets it marks
        Index("ix_ticket_events_extension_approvals", "ticket_id",
              postgresql_where=text("action = 'approve_extension'"),
              sqlite_where=text("action = 'approve_extension'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(80), default="")  # display name or "system"/"ivr"
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


_running = "completed_at IS NULL AND paused_at IS NULL"
_unmarked = _running + " AND warned_at IS NULL AND overdue_at IS NULL"
_open_provisional = "provisional AND completed_at IS NULL"


class TicketDeadline(Base):
    """One SLA stage clock of a ticket; the database is the source of truth for deadlines."""

    __tablename__ = "ticket_deadlines"
    __table_args__ = (
        UniqueConstraint("ticket_id", "stage", name="uq_ticket_deadlines_ticket_stage"),
        # SLA sweep: running clocks by deadline, and not-yet-warned ones by (unit, amount, due_at)
        # so "80 % used" thresholds are index range scans (1M open stages: 7.6 s → 0.3 s).
        Index("ix_ticket_deadlines_running_due", "due_at",
              postgresql_where=text(_running), sqlite_where=text(_running)),
        Index("ix_ticket_deadlines_unwarned", "unit", "amount", "due_at",
              postgresql_where=text(_unmarked), sqlite_where=text(_unmarked)),
        # deadlines to recompute when an official holiday schedule arrives
        Index("ix_ticket_deadlines_provisional", "ticket_id",
              postgresql_where=text(_open_provisional), sqlite_where=text(_open_provisional)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))       # 签收, 处置, 回访, …
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))        # natural_hours, working_hours, working_days
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # computed across a year whose holiday schedule is estimated (预计): recomputed once it is official
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    ticket: Mapped[Ticket] = relationship(back_populates="deadlines")


class TicketAttachment(Base):
    """A photo of a ticket (处置前后照片), stored under the attachments directory with a random name."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (
        # the same picture twice on one ticket (a double submit, a second upload) is stored once
        UniqueConstraint("ticket_id", "sha256", name="uq_ticket_attachments_ticket_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="photo")
    label: Mapped[str] = mapped_column(String(20), default="")        # before 处置前 / after 处置后
    content_type: Mapped[str] = mapped_column(String(40))             # from the bytes, never the name
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)  # relative path, random
    original_name: Mapped[str] = mapped_column(String(120), default="")  # shown only, never a path
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploader: Mapped[str] = mapped_column(String(80), default="")
    event_seq: Mapped[int | None] = mapped_column(Integer)            # the ticket event it came with


class TicketNumberSequence(Base):
    """Last number handed out per day (``YYYYMMDD`` in the hotline's time zone)."""

    __tablename__ = "ticket_number_sequences"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class TicketSubscription(Base):
    """A caller who wants the outcome of a ticket (its own, or a parent it was merged into)."""

    __tablename__ = "ticket_subscriptions"
    __table_args__ = (UniqueConstraint("ticket_id", "phone", name="uq_ticket_subscriptions_ticket_phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    phone: Mapped[str] = mapped_column(String(40))
    via_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))  # the merged child
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppendOnlyViolation(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _ticket_events_are_append_only(session: Session, _ctx, _instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TicketEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyViolation("ticket events are append-only; add a new event instead")
