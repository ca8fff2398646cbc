"""provisional deadlines: ticket_deadlines.provisional marks a deadline computed on an estimated
holiday calendar (预计), recomputed once the official schedule is known (decision 0007)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 17:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_OPEN_PROVISIONAL = 'provisional AND completed_at IS NULL'


def upgrade() -> None:
    with op.batch_alter_table('ticket_deadlines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provisional', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_ticket_deadlines_provisional', ['ticket_id'], unique=False,
                              postgresql_where=sa.text(_OPEN_PROVISIONAL), sqlite_where=sa.text(_OPEN_PROVISIONAL))


def downgrade() -> None:
    with op.batch_alter_table('ticket_deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_deadlines_provisional', postgresql_where=sa.text(_OPEN_PROVISIONAL),
                            sqlite_where=sa.text(_OPEN_PROVISIONAL))
        batch_op.drop_column('provisional')
