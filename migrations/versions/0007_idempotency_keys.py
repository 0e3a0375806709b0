"""Idempotency keys: creates sent with `Idempotency-Key` and their kept answers (contract §12).

Revision ID: 0007_idempotency_keys
Revises: 0006_session_details
Create Date: 2026-12-05 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_idempotency_keys'
down_revision = '0006_session_details'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'idempotency_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('caller', sa.String(length=64), nullable=False),
        sa.Column('request_key', sa.String(length=255), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('location', sa.String(length=2048), nullable=True),
        sa.Column('created', sa.DateTime(), nullable=False),
        sa.Column('expires', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
        mysql_charset='utf8mb4',
        mysql_collate='utf8mb4_bin',
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('uq_idempotency_keys_caller_request_key',
                              ['caller', 'request_key'], unique=True)
        batch_op.create_index('ix_idempotency_keys_expires', ['expires'], unique=False)


def downgrade():
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_expires')
        batch_op.drop_index('uq_idempotency_keys_caller_request_key')
    op.drop_table('idempotency_keys')
