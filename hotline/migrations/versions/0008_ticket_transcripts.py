"""ticket transcripts: transcription status and the category/district suggestion (decision 0013)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('transcript_status', sa.String(length=10), nullable=False, server_default=''))
        batch.add_column(sa.Column('transcript_suggestion', sa.JSON(), nullable=True))
        batch.create_index('ix_tickets_transcript_status', ['transcript_status'])


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.drop_index('ix_tickets_transcript_status')
        batch.drop_column('transcript_suggestion')
        batch.drop_column('transcript_status')
