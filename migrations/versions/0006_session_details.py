"""Session details (contract §10): the application, address and User-Agent of a login, and when
its tokens were last used. Sessions opened before have none of the first three; their
`last_used` starts as their creation time.

Added in place on every backend (no batch rebuild of auth_sessions on SQLite).

Revision ID: 0006_session_details
Revises: 0005_audit_events
Create Date: 2026-12-05 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_session_details'
down_revision = '0005_audit_events'
branch_labels = None
depends_on = None

COLUMNS = ('app', 'ip', 'user_agent', 'last_used')


def upgrade():
    op.add_column('auth_sessions', sa.Column('app', sa.String(length=64), nullable=True))
    op.add_column('auth_sessions', sa.Column('ip', sa.String(length=64), nullable=True))
    op.add_column('auth_sessions', sa.Column('user_agent', sa.String(length=256), nullable=True))
    op.add_column('auth_sessions', sa.Column('last_used', sa.DateTime(), nullable=True))
    op.execute("UPDATE auth_sessions SET last_used = created")


def downgrade():
    for name in reversed(COLUMNS):
        if op.get_bind().dialect.name == 'sqlite':
            op.execute(f"ALTER TABLE auth_sessions DROP COLUMN {name}")  # in place (SQLite 3.35+)
        else:
            op.drop_column('auth_sessions', name)
