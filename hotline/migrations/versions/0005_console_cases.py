"""console case pages: ticket_attachments (处置前后照片), the indexes of the ticket list and the
officers' inbox, and of merged tickets (decision 0009, benchmarks/console_pages_bench.py)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from hotline.database import UTCDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_DEPARTMENT_HOLDS = 'department_code IS NOT NULL'
_MERGED = 'parent_id IS NOT NULL'


def upgrade() -> None:
    op.create_table(
        'ticket_attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('label', sa.String(length=20), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=80), nullable=False),
        sa.Column('original_name', sa.String(length=120), nullable=False),
        sa.Column('uploaded_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('uploaded_by', sa.Integer(), nullable=True),
        sa.Column('uploader', sa.String(length=80), nullable=False),
        sa.Column('event_seq', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
        sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('storage_key'),
        sa.UniqueConstraint('ticket_id', 'sha256', name='uq_ticket_attachments_ticket_sha256'),
    )
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_attachments_ticket_id'), ['ticket_id'], unique=False)
    # the responsible unit's tickets (decision 0009): replace the plain district, department and
    # state indexes by (district, department, state, created_at), (department, state, created_at)
    # over the tickets that have one, and (state, district, created_at); merged tickets by parent
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_district_department_state',
                              ['district_code', 'department_code', 'state', 'created_at'], unique=False)
        batch_op.create_index('ix_tickets_department_state', ['department_code', 'state', 'created_at'],
                              unique=False, postgresql_where=sa.text(_DEPARTMENT_HOLDS),
                              sqlite_where=sa.text(_DEPARTMENT_HOLDS))
        batch_op.create_index('ix_tickets_parent', ['parent_id'], unique=False,
                              postgresql_where=sa.text(_MERGED), sqlite_where=sa.text(_MERGED))
        batch_op.create_index('ix_tickets_state_district', ['state', 'district_code', 'created_at'], unique=False)
        batch_op.drop_index('ix_tickets_district_code')
        batch_op.drop_index('ix_tickets_department_code')
        batch_op.drop_index('ix_tickets_state')


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_department_code', ['department_code'], unique=False)
        batch_op.create_index('ix_tickets_district_code', ['district_code'], unique=False)
        batch_op.create_index('ix_tickets_state', ['state'], unique=False)
        batch_op.drop_index('ix_tickets_state_district')
        batch_op.drop_index('ix_tickets_parent', postgresql_where=sa.text(_MERGED), sqlite_where=sa.text(_MERGED))
        batch_op.drop_index('ix_tickets_department_state', postgresql_where=sa.text(_DEPARTMENT_HOLDS),
                            sqlite_where=sa.text(_DEPARTMENT_HOLDS))
        batch_op.drop_index('ix_tickets_district_department_state')
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_attachments_ticket_id'))
    op.drop_table('ticket_attachments')
