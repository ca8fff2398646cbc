"""metrics rollups: per-ticket facts derived from the ticket log, hourly call and transfer
figures of complete hours, rollup watermarks, an index on callback events by time and one on open tickets
(decision 0011)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import hotline.database


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_CALLBACK_EVENTS = "action IN ('callback', 'callback_attempt')"
_OPEN_TICKETS = ("state IN ('dispatched', 'extension_requested', 'in_progress', 'received', 'registered', "
                 "'resolved', 'returned')")


def upgrade() -> None:
    op.create_table(
        'metrics_ticket_facts',
        sa.Column('ticket_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('category_code', sa.String(length=20), nullable=False),
        sa.Column('category_name', sa.String(length=100), nullable=False),
        sa.Column('district_code', sa.String(length=6), nullable=True),
        sa.Column('street_code', sa.String(length=9), nullable=True),
        sa.Column('department_code', sa.String(length=40), nullable=True),
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('created_at', hotline.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('intake', sa.String(length=20), nullable=False),
        sa.Column('registered_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('dispatched_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('accepted_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('accept_due_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('handled_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('handle_due_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('handle_ref_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('closed_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('close_due_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('close_ref_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('first_callback_at', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('rework_count', sa.Integer(), nullable=False),
        sa.Column('return_count', sa.Integer(), nullable=False),
        sa.Column('extension_count', sa.Integer(), nullable=False),
        sa.Column('reopen_count', sa.Integer(), nullable=False),
        sa.Column('intake_s', sa.Float(), nullable=True),
        sa.Column('accept_s', sa.Float(), nullable=True),
        sa.Column('handle_s', sa.Float(), nullable=True),
        sa.Column('verify_s', sa.Float(), nullable=True),
        sa.Column('callback_s', sa.Float(), nullable=True),
        sa.Column('total_s', sa.Float(), nullable=True),
        sa.Column('last_event_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_metrics_ticket_facts_ticket_id_tickets')),
        sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_metrics_ticket_facts')),
    )
    with op.batch_alter_table('metrics_ticket_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_ticket_facts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_metrics_ticket_facts_handle_ref_at'), ['handle_ref_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_metrics_ticket_facts_close_ref_at'), ['close_ref_at'], unique=False)

    op.create_table(
        'metrics_call_hours',
        sa.Column('hour', hotline.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('queue', sa.String(length=40), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            'calls', 'ivr_entered', 'self_served', 'voicemail', 'transferred', 'failed', 'offered', 'answered',
            'answered_in_sl', 'abandoned', 'short_abandoned')],
        sa.Column('wait_answered_s', sa.Float(), nullable=False),
        sa.Column('max_wait_s', sa.Float(), nullable=False),
        sa.Column('handled', sa.Integer(), nullable=False),
        sa.Column('talk_s', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'queue', name=op.f('pk_metrics_call_hours')),
    )
    op.create_table(
        'metrics_transfer_hours',
        sa.Column('hour', hotline.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('district_code', sa.String(length=6), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.Column('cancelled', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'district_code', name=op.f('pk_metrics_transfer_hours')),
    )
    op.create_table(
        'metrics_rollup_state',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('window_count', sa.Integer(), nullable=False),
        sa.Column('until', hotline.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('settings', sa.String(length=400), nullable=False),
        sa.Column('updated_at', hotline.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_metrics_rollup_state')),
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_callbacks_at', ['at'], unique=False,
                              postgresql_where=sa.text(_CALLBACK_EVENTS), sqlite_where=sa.text(_CALLBACK_EVENTS))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_open', ['state'], unique=False,
                              postgresql_where=sa.text(_OPEN_TICKETS), sqlite_where=sa.text(_OPEN_TICKETS))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_open', postgresql_where=sa.text(_OPEN_TICKETS),
                            sqlite_where=sa.text(_OPEN_TICKETS))
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_callbacks_at', postgresql_where=sa.text(_CALLBACK_EVENTS),
                            sqlite_where=sa.text(_CALLBACK_EVENTS))
    op.drop_table('metrics_rollup_state')
    op.drop_table('metrics_transfer_hours')
    op.drop_table('metrics_call_hours')
    with op.batch_alter_table('metrics_ticket_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_ticket_facts_close_ref_at'))
        batch_op.drop_index(batch_op.f('ix_metrics_ticket_facts_handle_ref_at'))
        batch_op.drop_index(batch_op.f('ix_metrics_ticket_facts_created_at'))
    op.drop_table('metrics_ticket_facts')
