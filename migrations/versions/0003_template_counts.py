"""Template counters: exact unfiltered totals kept by triggers, so page mode need not COUNT.

`template_totals` (one row, id 1: every template, the approved ones) and
`owner_template_counts` (each owner's templates awaiting moderation), filled from the existing
templates, then kept by triggers on `templates`: row by row on SQLite and MySQL/MariaDB, per
statement from transition tables on PostgreSQL. meme_api/counts.py explains the design; the
SQL lives here alone (the tests build their schema by running the migrations too).

On PostgreSQL the fill is exact even while the service writes: the table is locked against
writers from the count until the triggers exist (the migration is one transaction). MySQL and
MariaDB commit each DDL statement, so a template written during this migration may be missed
there: run `flask --app meme_api recount` afterwards if the service was writing.

Revision ID: 0003_template_counts
Revises: 0002_collection_indexes
Create Date: 2026-11-21 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_template_counts'
down_revision = '0002_collection_indexes'
branch_labels = None
depends_on = None

# No colons or percent signs below: op.execute() reads a string as text(), where `:name` is a
# bound parameter.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER templates_count_insert AFTER INSERT ON templates
BEGIN
    UPDATE template_totals
    SET templates = templates + 1,
        approved = approved + (CASE WHEN NEW.approved THEN 1 ELSE 0 END)
    WHERE id = 1;
    INSERT INTO owner_template_counts (owner_id, unapproved)
    SELECT NEW.owner_id, 1 WHERE NEW.owner_id IS NOT NULL AND NOT NEW.approved
    ON CONFLICT (owner_id) DO UPDATE SET unapproved = unapproved + 1;
END""",
    """CREATE TRIGGER templates_count_update AFTER UPDATE OF approved, owner_id ON templates
WHEN OLD.approved IS NOT NEW.approved OR OLD.owner_id IS NOT NEW.owner_id
BEGIN
    UPDATE template_totals
    SET approved = approved + (CASE WHEN NEW.approved THEN 1 ELSE 0 END)
                            - (CASE WHEN OLD.approved THEN 1 ELSE 0 END)
    WHERE id = 1 AND OLD.approved IS NOT NEW.approved;
    UPDATE owner_template_counts SET unapproved = unapproved - 1
    WHERE owner_id = OLD.owner_id AND NOT OLD.approved;
    INSERT INTO owner_template_counts (owner_id, unapproved)
    SELECT NEW.owner_id, 1 WHERE NEW.owner_id IS NOT NULL AND NOT NEW.approved
    ON CONFLICT (owner_id) DO UPDATE SET unapproved = unapproved + 1;
END""",
    """CREATE TRIGGER templates_count_delete AFTER DELETE ON templates
BEGIN
    UPDATE template_totals
    SET templates = templates - 1,
        approved = approved - (CASE WHEN OLD.approved THEN 1 ELSE 0 END)
    WHERE id = 1;
    UPDATE owner_template_counts SET unapproved = unapproved - 1
    WHERE owner_id = OLD.owner_id AND NOT OLD.approved;
END""",
)

MYSQL_TRIGGERS = (
    """CREATE TRIGGER templates_count_insert AFTER INSERT ON templates FOR EACH ROW
BEGIN
    UPDATE template_totals
    SET templates = templates + 1,
        approved = approved + (CASE WHEN NEW.approved THEN 1 ELSE 0 END)
    WHERE id = 1;
    IF NEW.owner_id IS NOT NULL AND NOT NEW.approved THEN
        INSERT INTO owner_template_counts (owner_id, unapproved) VALUES (NEW.owner_id, 1)
        ON DUPLICATE KEY UPDATE unapproved = unapproved + 1;
    END IF;
END""",
    """CREATE TRIGGER templates_count_update AFTER UPDATE ON templates FOR EACH ROW
BEGIN
    IF NOT (OLD.approved <=> NEW.approved) THEN
        UPDATE template_totals
        SET approved = approved + (CASE WHEN NEW.approved THEN 1 ELSE 0 END)
                                - (CASE WHEN OLD.approved THEN 1 ELSE 0 END)
        WHERE id = 1;
    END IF;
    IF NOT (OLD.approved <=> NEW.approved AND OLD.owner_id <=> NEW.owner_id) THEN
        IF OLD.owner_id IS NOT NULL AND NOT OLD.approved THEN
            UPDATE owner_template_counts SET unapproved = unapproved - 1
            WHERE owner_id = OLD.owner_id;
        END IF;
        IF NEW.owner_id IS NOT NULL AND NOT NEW.approved THEN
            INSERT INTO owner_template_counts (owner_id, unapproved) VALUES (NEW.owner_id, 1)
            ON DUPLICATE KEY UPDATE unapproved = unapproved + 1;
        END IF;
    END IF;
END""",
    """CREATE TRIGGER templates_count_delete AFTER DELETE ON templates FOR EACH ROW
BEGIN
    UPDATE template_totals
    SET templates = templates - 1,
        approved = approved - (CASE WHEN OLD.approved THEN 1 ELSE 0 END)
    WHERE id = 1;
    IF OLD.owner_id IS NOT NULL AND NOT OLD.approved THEN
        UPDATE owner_template_counts SET unapproved = unapproved - 1
        WHERE owner_id = OLD.owner_id;
    END IF;
END""",
)

POSTGRESQL_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION templates_count_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE template_totals AS totals
    SET templates = totals.templates + added.templates,
        approved = totals.approved + added.approved
    FROM (SELECT count(*) AS templates, count(*) FILTER (WHERE approved) AS approved
          FROM new_templates) AS added
    WHERE totals.id = 1 AND added.templates > 0;
    INSERT INTO owner_template_counts (owner_id, unapproved)
    SELECT owner_id, count(*) FROM new_templates
    WHERE owner_id IS NOT NULL AND NOT approved
    GROUP BY owner_id ORDER BY owner_id
    ON CONFLICT (owner_id)
    DO UPDATE SET unapproved = owner_template_counts.unapproved + EXCLUDED.unapproved;
    RETURN NULL;
END
$$""",
    """CREATE OR REPLACE FUNCTION templates_count_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE template_totals AS totals
    SET approved = totals.approved + moved.approved
    FROM (SELECT (SELECT count(*) FROM new_templates WHERE approved)
               - (SELECT count(*) FROM old_templates WHERE approved) AS approved) AS moved
    WHERE totals.id = 1 AND moved.approved <> 0;
    WITH moved AS (
        SELECT owner_id, sum(change) AS change
        FROM (SELECT owner_id, 1 AS change FROM new_templates
              WHERE owner_id IS NOT NULL AND NOT approved
              UNION ALL
              SELECT owner_id, -1 AS change FROM old_templates
              WHERE owner_id IS NOT NULL AND NOT approved) AS changes
        GROUP BY owner_id
    ), decreased AS (
        UPDATE owner_template_counts AS counts
        SET unapproved = counts.unapproved + moved.change
        FROM moved
        WHERE counts.owner_id = moved.owner_id AND moved.change < 0
    )
    INSERT INTO owner_template_counts (owner_id, unapproved)
    SELECT owner_id, change FROM moved WHERE change > 0 ORDER BY owner_id
    ON CONFLICT (owner_id)
    DO UPDATE SET unapproved = owner_template_counts.unapproved + EXCLUDED.unapproved;
    RETURN NULL;
END
$$""",
    """CREATE OR REPLACE FUNCTION templates_count_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE template_totals AS totals
    SET templates = totals.templates - removed.templates,
        approved = totals.approved - removed.approved
    FROM (SELECT count(*) AS templates, count(*) FILTER (WHERE approved) AS approved
          FROM old_templates) AS removed
    WHERE totals.id = 1 AND removed.templates > 0;
    UPDATE owner_template_counts AS counts
    SET unapproved = counts.unapproved - removed.unapproved
    FROM (SELECT owner_id, count(*) AS unapproved FROM old_templates
          WHERE owner_id IS NOT NULL AND NOT approved
          GROUP BY owner_id) AS removed
    WHERE counts.owner_id = removed.owner_id;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER templates_count_insert AFTER INSERT ON templates
REFERENCING NEW TABLE AS new_templates
FOR EACH STATEMENT EXECUTE FUNCTION templates_count_insert()""",
    """CREATE TRIGGER templates_count_update AFTER UPDATE ON templates
REFERENCING OLD TABLE AS old_templates NEW TABLE AS new_templates
FOR EACH STATEMENT EXECUTE FUNCTION templates_count_update()""",
    """CREATE TRIGGER templates_count_delete AFTER DELETE ON templates
REFERENCING OLD TABLE AS old_templates
FOR EACH STATEMENT EXECUTE FUNCTION templates_count_delete()""",
)

FILL = (
    """INSERT INTO template_totals (id, templates, approved)
SELECT 1, count(*), count(CASE WHEN approved THEN 1 END) FROM templates""",
    """INSERT INTO owner_template_counts (owner_id, unapproved)
SELECT owner_id, count(*) FROM templates
WHERE owner_id IS NOT NULL AND NOT approved
GROUP BY owner_id""",
)
TRIGGERS = {'sqlite': SQLITE_TRIGGERS, 'mysql': MYSQL_TRIGGERS, 'mariadb': MYSQL_TRIGGERS,
            'postgresql': POSTGRESQL_TRIGGERS}
TRIGGER_NAMES = ('templates_count_insert', 'templates_count_update', 'templates_count_delete')


def upgrade():
    op.create_table('template_totals',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('templates', sa.Integer(), nullable=False),
    sa.Column('approved', sa.Integer(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_template_totals_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_totals')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    op.create_table('owner_template_counts',
    sa.Column('owner_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('unapproved', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_owner_template_counts_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('owner_id', name=op.f('pk_owner_template_counts')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    backend = op.get_context().dialect.name
    if backend == 'postgresql':
        # Writers wait from the count until this transaction commits with the triggers in place.
        op.execute('LOCK TABLE templates IN SHARE MODE')
    for statement in FILL + TRIGGERS[backend]:
        op.execute(statement)


def downgrade():
    # The triggers first: on SQLite a trigger whose tables are gone breaks every template write.
    backend = op.get_context().dialect.name
    for name in TRIGGER_NAMES:
        if backend == 'postgresql':
            op.execute(f'DROP TRIGGER IF EXISTS {name} ON templates')
            op.execute(f'DROP FUNCTION IF EXISTS {name}()')
        else:
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    op.drop_table('owner_template_counts')
    op.drop_table('template_totals')
