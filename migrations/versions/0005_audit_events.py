"""Audit events (contract §11): an append-only table, with the indexes investigators filter by.

Each index ends in `id`, the default order (newest first) and the tie-breaker of every
ordering, so cursor pages are range scans whatever the filter.

Revision ID: 0005_audit_events
Revises: 0004_roles
Create Date: 2026-12-05 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_audit_events'
down_revision = '0004_roles'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('time', sa.DateTime(), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('actor', sa.String(length=36), nullable=True),
        sa.Column('actor_username', sa.String(length=64), nullable=True),
        sa.Column('app', sa.String(length=64), nullable=True),
        sa.Column('target_type', sa.String(length=32), nullable=True),
        sa.Column('target_id', sa.String(length=64), nullable=True),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('request_id', sa.String(length=128), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
        mysql_charset='utf8mb4', mysql_collate='utf8mb4_bin',
    )
    op.create_index('ix_audit_events_action', 'audit_events', ['action', 'id'])
    op.create_index('ix_audit_events_actor', 'audit_events', ['actor', 'id'])
    op.create_index('ix_audit_events_target', 'audit_events', ['target_type', 'target_id', 'id'])
    op.create_index('ix_audit_events_time', 'audit_events', ['time', 'id'])


def downgrade():
    op.drop_table('audit_events')
