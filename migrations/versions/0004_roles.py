"""Roles: `users.role` (`user`, `moderator`, `admin`) replaces the `users.admin` flag.

Today's admins become `admin`, everyone else `user`. The `admin` field clients see is derived
from the role (true exactly for `admin`), so the two can never disagree. Down again, `admin`
is true for the admins; moderators become plain users (the old schema has no such role).

No batch mode on SQLite: rebuilding `users` there would drop the table, and the foreign keys
that point at it would delete every session and orphan every template (ON DELETE CASCADE /
SET NULL). SQLite adds and drops these columns in place instead. The values are checked by the
service (contract §3), not by a CHECK constraint, which SQLite could only add by a rebuild.

Revision ID: 0004_roles
Revises: 0003_template_counts
Create Date: 2026-12-05 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_roles'
down_revision = '0003_template_counts'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('role', sa.String(length=16), server_default='user',
                                     nullable=False))
    op.execute("UPDATE users SET role = 'admin' WHERE admin")
    op.create_index('ix_users_role', 'users', ['role'], unique=False)
    op.drop_index('ix_users_admin', table_name='users')
    drop_column('admin')


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    # SQLite adds a NOT NULL column only with a default, and cannot drop the default in place.
    op.add_column('users', sa.Column('admin', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.execute("UPDATE users SET admin = (role = 'admin')")
    if not sqlite:
        op.alter_column('users', 'admin', existing_type=sa.Boolean(), server_default=None)
    op.create_index('ix_users_admin', 'users', ['admin'], unique=False)
    op.drop_index('ix_users_role', table_name='users')
    drop_column('role')


def drop_column(name):
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f"ALTER TABLE users DROP COLUMN {name}")  # in place (SQLite 3.35+)
    else:
        op.drop_column('users', name)
