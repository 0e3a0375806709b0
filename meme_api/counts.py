"""Exact template totals in O(1): counters that the database keeps with triggers on `templates`.

Page mode reports an exact `total`. A COUNT over the visible rows grows with the table (190 ms
at 1,000,000 templates on PostgreSQL); these counters make the unfiltered totals one
primary-key read. `template_totals` (one row, id 1) holds every template and the approved ones;
`owner_template_counts` holds each owner's templates awaiting moderation (no row means none).
What a viewer sees then adds up without counting:

- an admin's `/template`: every template, `templates`;
- anyone else's `/template`, and everyone's feed `/`: `approved OR owner_id = viewer`, which is
  `approved` plus the viewer's unapproved ones.

The triggers fire on INSERT, UPDATE and DELETE of `templates`, raw SQL included. SQLite and
MySQL/MariaDB count row by row; PostgreSQL counts per statement from transition tables, so a
bulk insert of 1,000 rows writes the hot `template_totals` row once, not 1,000 times. A write
that changes neither `approved` nor `owner_id` (a title edit) writes, and so locks, no counter
row. Decrements are plain UPDATEs, never upserts: when a user is deleted the foreign key sets
their templates' owner to NULL, and an upsert there could bring back the counter row the
cascade deletes. MySQL/InnoDB fires no triggers for foreign-key actions; that needs nothing,
since the owner's row goes by its own cascade and the global counts do not depend on the owner.

TRUNCATE fires no triggers: after bulk SQL of that kind, `flask recount` recomputes both tables.
The same SQL is frozen in migrations/versions/0003_template_counts.py; a test checks that
`create_all` and the migration make identical triggers. SQLite's batch migrations rebuild a
table by copying it, which drops its triggers: a later migration that alters `templates` in
batch mode must create them again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import DDL, Connection, Integer, bindparam, event, func, select, text

from .extensions import db
from .models import OwnerTemplateCount, Template, TemplateTotals

MYSQL = ("mysql", "mariadb")
TOTALS = TemplateTotals.__table__
OWNER_COUNTS = OwnerTemplateCount.__table__
TEMPLATES = Template.__table__
log = logging.getLogger(__name__)

# --- the statements the list code runs ------------------------------------------------------------

ALL_TEMPLATES_TOTAL = select(TOTALS.c.templates).where(TOTALS.c.id == 1)
# `approved OR owner_id = :viewer` in one round trip: a viewer without a row has none waiting.
VISIBLE_TEMPLATES_TOTAL = select(
    TOTALS.c.approved + func.coalesce(
        select(OWNER_COUNTS.c.unapproved)
        .where(OWNER_COUNTS.c.owner_id == bindparam("viewer", type_=Integer))
        .scalar_subquery(),
        0,
    )
).where(TOTALS.c.id == 1)


def template_total(viewer_id: int | None) -> int | None:
    """The unfiltered total a viewer sees: every template for None (an admin's `/template`),
    else the approved ones plus the viewer's own awaiting moderation (`/template`, and `/` for
    everyone). None when `template_totals` has lost its row (manual SQL): the list then counts,
    and `flask recount` puts the row back."""
    if viewer_id is None:
        total = db.session.scalar(ALL_TEMPLATES_TOTAL)
    else:
        total = db.session.scalar(VISIBLE_TEMPLATES_TOTAL, {"viewer": viewer_id})
    if total is None:
        log.warning("template_totals has no row: lists count instead; "
                    "run 'flask --app meme_api recount'")
        return None
    return int(total)


# --- the triggers, per backend (for create_all; the migration holds its own copy) -----------------

# Where a template counts: approved ones in `approved`, unapproved ones with an owner in that
# owner's `unapproved`. The same expressions read booleans on all three backends.
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

# MySQL has neither WHEN clauses nor column lists on triggers: IF does their work.
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

# Statement-level, from transition tables (which PostgreSQL refuses on triggers with a column
# list, so the UPDATE trigger fires on every UPDATE and writes only when something moved).
# Each touches template_totals first, so concurrent writers queue on that row before they lock
# owner rows; owner rows are upserted in owner_id order.
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
# Dropping `templates` drops its triggers everywhere, but PostgreSQL keeps the functions.
POSTGRESQL_DROP_FUNCTIONS = ("DROP FUNCTION IF EXISTS templates_count_insert(), "
                             "templates_count_update(), templates_count_delete()")
FIRST_TOTALS_ROW = "INSERT INTO template_totals (id, templates, approved) VALUES (1, 0, 0)"


def _attach_to_metadata() -> None:
    """Make `db.create_all()` build what the migration builds: triggers and the totals row.

    The triggers live on `templates` but write the counter tables, so those are created before
    `templates` (and dropped after it).
    """
    TEMPLATES.add_is_dependent_on(TOTALS)
    TEMPLATES.add_is_dependent_on(OWNER_COUNTS)
    event.listen(TOTALS, "after_create", DDL(FIRST_TOTALS_ROW))
    for dialects, statements in (("sqlite", SQLITE_TRIGGERS), (MYSQL, MYSQL_TRIGGERS),
                                 ("postgresql", POSTGRESQL_TRIGGERS)):
        for statement in statements:
            event.listen(TEMPLATES, "after_create", DDL(statement).execute_if(dialect=dialects))
    event.listen(TEMPLATES, "after_drop",
                 DDL(POSTGRESQL_DROP_FUNCTIONS).execute_if(dialect="postgresql"))


_attach_to_metadata()


# --- recounting ---------------------------------------------------------------------------------

# What the counters should hold, in one pass: templates per (owner, approved).
COUNTS_BY_OWNER = (
    select(TEMPLATES.c.owner_id, TEMPLATES.c.approved, func.count().label("templates"))
    .group_by(TEMPLATES.c.owner_id, TEMPLATES.c.approved)
)


@dataclass
class Recount:
    """What `recount_templates` found wrong and set right: (name, old, new) and
    (owner_id, old, new); None as old means the totals row was missing."""

    totals: list[tuple[str, int | None, int]] = field(default_factory=list)
    owners: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def fixed(self) -> int:
        return len(self.totals) + len(self.owners)


@contextmanager
def templates_held_still() -> Iterator[Connection]:
    """A transaction on a connection of its own in which no one else can write `templates`.

    A recount must not race the triggers: a template written between the count and the write
    of its result would be lost from the counters for good. Each backend locks its own way:
    PostgreSQL a SHARE lock on the table; MySQL/MariaDB shared next-key locks on every row and
    gap of the primary key (gaps are locked only under REPEATABLE READ, so this transaction
    leaves the service's READ COMMITTED); SQLite its one write lock, taken now by a write
    (pysqlite would open the transaction only at the first write, after the count).
    """
    with db.engine.connect() as connection:
        backend = connection.dialect.name
        if backend in MYSQL:
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            if backend == "postgresql":
                connection.execute(text("LOCK TABLE templates IN SHARE MODE"))
            elif backend in MYSQL:
                connection.execute(text(
                    "SELECT count(*) FROM templates FORCE INDEX (PRIMARY) LOCK IN SHARE MODE"))
            else:
                connection.execute(text(
                    "UPDATE template_totals SET templates = templates WHERE id = 1"))
            yield connection


def recount_templates() -> Recount:
    """Recompute both counter tables from `templates`; report (and fix) what was wrong.

    For operators, after bulk SQL that fires no triggers (TRUNCATE). Writers to `templates`
    wait while it runs; it commits on its own connection.
    """
    report = Recount()
    with templates_held_still() as connection:
        total = approved = 0
        unapproved: dict[int, int] = {}
        for owner_id, is_approved, count in connection.execute(COUNTS_BY_OWNER):
            total += count
            if is_approved:
                approved += count
            elif owner_id is not None:
                unapproved[owner_id] = count

        row = connection.execute(
            select(TOTALS.c.templates, TOTALS.c.approved).where(TOTALS.c.id == 1)).first()
        if row is None:
            connection.execute(TOTALS.insert(),
                               {"id": 1, "templates": total, "approved": approved})
            report.totals = [("templates", None, total), ("approved", None, approved)]
        else:
            report.totals = [(name, old, new) for name, old, new in
                             (("templates", row.templates, total),
                              ("approved", row.approved, approved)) if old != new]
            if report.totals:
                connection.execute(TOTALS.update().where(TOTALS.c.id == 1),
                                   {"templates": total, "approved": approved})

        kept = dict(connection.execute(
            select(OWNER_COUNTS.c.owner_id, OWNER_COUNTS.c.unapproved)).all())
        for owner_id in sorted(kept.keys() | unapproved.keys()):
            old, new = kept.get(owner_id, 0), unapproved.get(owner_id, 0)
            if old != new:
                report.owners.append((owner_id, old, new))
        updates = [{"owner": owner_id, "new": new}
                   for owner_id, _, new in report.owners if owner_id in kept]
        inserts = [{"owner_id": owner_id, "unapproved": new}
                   for owner_id, _, new in report.owners if owner_id not in kept]
        if updates:
            connection.execute(
                OWNER_COUNTS.update()
                .where(OWNER_COUNTS.c.owner_id == bindparam("owner"))
                .values(unapproved=bindparam("new")), updates)
        if inserts:
            connection.execute(OWNER_COUNTS.insert(), inserts)
    return report

