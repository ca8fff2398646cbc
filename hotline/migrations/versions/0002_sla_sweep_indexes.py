"""sla sweep indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 19:04:52.085528
"""
from alembic import op
import sqlalchemy as sa
import hotline.database


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ticket_deadlines', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_deadlines_running_due', ['due_at'], unique=False, postgresql_where=sa.text('completed_at IS NULL AND paused_at IS NULL'), sqlite_where=sa.text('completed_at IS NULL AND paused_at IS NULL'))
        batch_op.create_index('ix_ticket_deadlines_unwarned', ['unit', 'amount', 'due_at'], unique=False, postgresql_where=sa.text('completed_at IS NULL AND paused_at IS NULL AND warned_at IS NULL AND overdue_at IS NULL'), sqlite_where=sa.text('completed_at IS NULL AND paused_at IS NULL AND warned_at IS NULL AND overdue_at IS NULL'))

    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_extension_approvals', ['ticket_id'], unique=False, postgresql_where=sa.text("action = 'approve_extension'"), sqlite_where=sa.text("action = 'approve_extension'"))



def downgrade() -> None:
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_extension_approvals', postgresql_where=sa.text("action = 'approve_extension'"), sqlite_where=sa.text("action = 'approve_extension'"))

    with op.batch_alter_table('ticket_deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_deadlines_unwarned', postgresql_where=sa.text('completed_at IS NULL AND paused_at IS NULL AND warned_at IS NULL AND overdue_at IS NULL'), sqlite_where=sa.text('completed_at IS NULL AND paused_at IS NULL AND warned_at IS NULL AND overdue_at IS NULL'))
        batch_op.drop_index('ix_ticket_deadlines_running_due', postgresql_where=sa.text('completed_at IS NULL AND paused_at IS NULL'), sqlite_where=sa.text('completed_at IS NULL AND paused_at IS NULL'))

