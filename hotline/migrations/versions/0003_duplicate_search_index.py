"""duplicate search index: (category_code, lat, lon) replaces the category_code index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 02:00:00.000000
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_category_position', ['category_code', 'lat', 'lon'], unique=False)
        batch_op.drop_index('ix_tickets_category_code')


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_category_code', ['category_code'], unique=False)
        batch_op.drop_index('ix_tickets_category_position')
