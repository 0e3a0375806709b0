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

The triggers' SQL, per backend, lives in migrations/versions/0003_template_counts.py alone:
only migrations make the schema. TRUNCATE fires no triggers: after bulk SQL of that kind,
`flask recount` (cli.py) recomputes both tables. SQLite's batch migrations rebuild a table by
copying it, which drops its triggers: a later migration that alters `templates` in batch mode
must create them again.
"""

from __future__ import annotations

import logging

from sqlalchemy import Integer, bindparam, func, select

from .extensions import db
from .models import OwnerTemplateCount, TemplateTotals

TOTALS = TemplateTotals.__table__
OWNER_COUNTS = OwnerTemplateCount.__table__
log = logging.getLogger(__name__)

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
