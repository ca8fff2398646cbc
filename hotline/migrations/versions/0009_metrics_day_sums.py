"""metrics day sums: the ticket facts summed per local day and month and per cell, and the 回访
records they count (decision 0017). Empty at first: the next rollup refresh builds them from
the facts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 20:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

import hotline.database


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_KEY = (('shape', 4), ('grain', 1), ('day', None), ('district_code', 6), ('street_code', 9),
        ('department_code', 40), ('category_code', 20), ('channel', 20))
_STAGES = ('intake', 'accept', 'handle', 'verify', 'callback', 'total')
_MEASURES = {
    'intake': ('n', 'answered', 'rejected', 'merged', 'registered', 'closed', *[f'{s}_n' for s in _STAGES]),
    'disposal': ('n', 'handled', 'on_time', 'late', 'unhandled', 'rework'),
    'closure': ('n', 'closed', 'on_time'),
    'callback': ('n', 'unreached', 'callbacks', 'satisfied', 'basically', 'dissatisfied', 'on_time'),
}


def upgrade() -> None:
    op.create_table(
        'metrics_callback_facts',
        sa.Column('event_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('at', hotline.database.UTCDateTime(timezone=True), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False)
          for name in ('unreached', 'callbacks', 'satisfied', 'basically', 'dissatisfied', 'on_time')],
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_metrics_callback_facts')),
    )
    with op.batch_alter_table('metrics_callback_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_callback_facts_ticket_id'), ['ticket_id'], unique=False)
    for block, measures in _MEASURES.items():
        table = f'metrics_{block}_days'
        op.create_table(
            table,
            *[sa.Column(name, sa.Date() if length is None else sa.String(length=length), nullable=False)
              for name, length in _KEY],
            *[sa.Column(name, sa.Integer(), nullable=False) for name in measures],
            *[sa.Column(f'{s}_us', sa.BigInteger(), nullable=False) for s in (_STAGES if block == 'intake' else ())],
            sa.PrimaryKeyConstraint(*[name for name, _ in _KEY], name=op.f(f'pk_{table}')),
        )


def downgrade() -> None:
    for block in reversed(list(_MEASURES)):
        op.drop_table(f'metrics_{block}_days')
    with op.batch_alter_table('metrics_callback_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_callback_facts_ticket_id'))
    op.drop_table('metrics_callback_facts')
    op.execute("DELETE FROM metrics_rollup_state WHERE name = 'case_days'")
