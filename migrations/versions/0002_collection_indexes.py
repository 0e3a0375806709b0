"""Collection indexes: composite indexes for what the feed and the lists filter and order by.

Each ends in `id`, the tie-breaker of every ordering, so keyset (cursor) pages are range scans.
They replace the single-column indexes they start with.

Revision ID: 0002_collection_indexes
Revises: 0001_initial
Create Date: 2026-11-21 21:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0002_collection_indexes'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    # Create before dropping: on MySQL/MariaDB an index must back the owner_id foreign key at
    # every moment, and ix_templates_owner_id_posted_id takes over from ix_templates_owner_id.
    op.create_index('ix_templates_approved_posted_id', 'templates', ['approved', 'posted', 'id'])
    op.create_index('ix_templates_posted_id', 'templates', ['posted', 'id'])
    op.create_index('ix_templates_owner_id_posted_id', 'templates', ['owner_id', 'posted', 'id'])
    op.create_index('ix_users_created_id', 'users', ['created', 'id'])
    op.drop_index('ix_templates_approved', table_name='templates')
    op.drop_index('ix_templates_posted', table_name='templates')
    op.drop_index('ix_templates_owner_id', table_name='templates')
    op.drop_index('ix_users_created', table_name='users')


def downgrade():
    # The mirror image, in the same spirit: ix_templates_owner_id comes back before
    # ix_templates_owner_id_posted_id goes, or MySQL/MariaDB refuses to drop the FK's index.
    op.create_index('ix_users_created', 'users', ['created'])
    op.create_index('ix_templates_owner_id', 'templates', ['owner_id'])
    op.create_index('ix_templates_posted', 'templates', ['posted'])
    op.create_index('ix_templates_approved', 'templates', ['approved'])
    op.drop_index('ix_users_created_id', table_name='users')
    op.drop_index('ix_templates_owner_id_posted_id', table_name='templates')
    op.drop_index('ix_templates_posted_id', table_name='templates')
    op.drop_index('ix_templates_approved_posted_id', table_name='templates')
