"""console notices (通知中心), login sessions that can be ended, agent seats, audit log
(decision 0010)

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-08 09:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

from hotline.database import UTCDateTime


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ACTIVE_SEAT = 'active AND seat IS NOT NULL'


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seat', sa.String(length=80), nullable=True))
        batch_op.create_check_constraint(op.f('ck_users_seat_roles'), "seat IS NULL OR role IN ('agent','supervisor')")
    op.create_index('uq_users_active_seat', 'users', ['seat'], unique=True,
                    sqlite_where=sa.text(_ACTIVE_SEAT), postgresql_where=sa.text(_ACTIVE_SEAT))

    op.create_table(
        'user_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=200), nullable=False),
        sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    )
    op.create_index(op.f('ix_user_sessions_user_id'), 'user_sessions', ['user_id'], unique=False)

    op.create_table(
        'console_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=True),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('ticket_number', sa.String(length=24), nullable=False),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('read_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_console_notices_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                                name=op.f('fk_console_notices_notification_id_notifications')),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_console_notices_ticket_id_tickets')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_notices')),
        sa.UniqueConstraint('notification_id', 'user_id', name='uq_console_notices_source_user'),
    )
    op.create_index('ix_console_notices_user_unread', 'console_notices', ['user_id', 'read_at', 'id'], unique=False)
    op.create_index(op.f('ix_console_notices_ticket_id'), 'console_notices', ['ticket_id'], unique=False)

    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('action', sa.String(length=200), nullable=False),
        sa.Column('target', sa.String(length=120), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_user_at', 'audit_log', ['username', 'at'], unique=False)
    op.create_index('ix_audit_log_kind_at', 'audit_log', ['kind', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('audit_log')
    op.drop_table('console_notices')
    op.drop_table('user_sessions')
    op.drop_index('uq_users_active_seat', 'users')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_seat_roles'), type_='check')
        batch_op.drop_column('seat')
