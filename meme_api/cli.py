"""Commands of contract §9: create-admin, apps register|list|revoke, seed; wait-db and recount
(bootstrap is in bootstrap.py).

`recount` and what it runs live here, next to the command: only operators recount.

Expected failures (a taken name, a missing app, no database) print one line on stderr and exit
non-zero; none prints a traceback.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import Connection, bindparam, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from .accounts import PASSWORD, USERNAME, create_user, password_hash
from .client_apps import APP_NAME, list_apps, register_app, revoke_app
from .errors import ApiError
from .extensions import db
from .models import OwnerTemplateCount, Template, TemplateTotals, User, new_public_id, utcnow
from .waitdb import DatabaseUnreachable, wait_for_database

SEED_PASSWORD = "meme-seed-password"  # noqa: S105 - demo data only, printed for the user
SEED_BATCH = 1000
RECOUNT_SHOWN = 50  # owner lines `recount` prints before summing up the rest
MYSQL = ("mysql", "mariadb")
TEMPLATES = Template.__table__
TOTALS = TemplateTotals.__table__
OWNER_COUNTS = OwnerTemplateCount.__table__


def expected_failures(command):
    """Turn the failures a user can cause into a one-line `Error: …` and exit status 1."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApiError as error:
            raise click.ClickException(error.message) from None
        except SQLAlchemyError as error:
            db.session.rollback()
            reason = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
            raise click.ClickException(
                f"database error: {reason} (is the database reachable, and was "
                "'flask --app meme_api db upgrade' run?)"
            ) from None

    return wrapper


def check_field(field, name: str, value: str) -> str:
    try:
        return field.parse(value, from_form=False)
    except ValueError as reason:
        raise click.ClickException(f"{name} {reason}") from None


@click.command("create-admin")
@click.argument("name")
@click.option("--password", help="The password; prompted for (twice) when omitted.")
@expected_failures
def create_admin(name: str, password: str | None) -> None:
    """Create an admin user NAME."""
    check_field(USERNAME, "username", name)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_field(PASSWORD, "password", password)
    user = create_user(name, password, role="admin")
    click.echo(f"Created admin {user.username} ({user.public_id})")


apps_group = AppGroup("apps", help="Manage registered client applications.")


@apps_group.command("register")
@click.argument("name")
@expected_failures
def apps_register(name: str) -> None:
    """Register application NAME and print its token (last line; shown only once)."""
    check_field(APP_NAME, "name", name)
    client, token = register_app(name)
    click.echo(f"Registered application {client.name}. Its token is shown only once:")
    click.echo(token)


@apps_group.command("list")
@expected_failures
def apps_list() -> None:
    """List applications: name, created, last used, revoked."""
    clients = list_apps()
    if not clients:
        click.echo("No applications registered.")
        return
    click.echo(f"{'NAME':<24} {'CREATED':<21} {'LAST USED':<21} STATUS")
    for client in clients:
        status = "revoked" if client["revoked"] else "active"
        click.echo(f"{client['name']:<24} {client['created']:<21} "
                   f"{client['last_used'] or '-':<21} {status}")


@apps_group.command("revoke")
@click.argument("name")
@expected_failures
def apps_revoke(name: str) -> None:
    """Revoke application NAME: its token is refused from now on."""
    click.echo(f"Revoked application {revoke_app(name)}")


@click.command("seed")
@click.option("--users", "user_count", type=click.IntRange(0, 1_000_000), default=10,
              show_default=True, help="How many users to create.")
@click.option("--posts", "post_count", type=click.IntRange(0, 10_000_000), default=100,
              show_default=True, help="How many templates to create.")
@expected_failures
def seed(user_count: int, post_count: int) -> None:
    """Fill the database with demo users and templates (bulk inserts, with a progress bar)."""
    shared_hash = password_hash(SEED_PASSWORD)  # one hash: scrypt per user would take minutes
    taken = db.session.scalar(select(db.func.count()).select_from(User))
    with click.progressbar(length=user_count, label="users") as bar:
        for start in range(taken, taken + user_count, SEED_BATCH):
            now = utcnow()
            names = [f"demo{n:06d}" for n in range(start, min(start + SEED_BATCH,
                                                               taken + user_count))]
            db.session.execute(insert(User), [
                {"public_id": new_public_id(), "username": name, "username_key": name,
                 "password_hash": shared_hash, "role": "user", "active": True, "created": now,
                 "version": 1}
                for name in names
            ])
            db.session.commit()
            bar.update(len(names))
    owners = list(db.session.scalars(select(User.id)))
    rng = random.Random(taken)  # noqa: S311 - demo data, not security
    with click.progressbar(length=post_count, label="templates") as bar:
        for start in range(0, post_count, SEED_BATCH):
            size = min(SEED_BATCH, post_count - start)
            now = utcnow()
            db.session.execute(insert(Template), [
                {"title": f"Template {start + n}", "url": f"https://example.com/{start + n}.jpg",
                 "description": f"Seeded template number {start + n}",
                 "approved": rng.random() < 0.7, "posted": now, "updated": now,
                 "owner_id": rng.choice(owners) if owners else None, "version": 1}
                for n in range(size)
            ])
            db.session.commit()
            bar.update(size)
    refresh_planner_statistics()
    click.echo(f"Seeded {user_count} users (password {SEED_PASSWORD!r}) and {post_count} "
               "templates")


def refresh_planner_statistics() -> None:
    """ANALYZE after a bulk load, so the query planner knows the tables' new sizes.

    SQLite keeps no statistics until asked: without them it serves a non-admin's list
    (`approved OR own`, by id) by merging two indexes and sorting every visible row, not by
    walking the primary key until a page is full (100 ms instead of 0.1 ms at 100,000 rows).
    PostgreSQL's autovacuum would get there too, but only some time after the load.
    """
    backend = db.engine.dialect.name
    statement = "ANALYZE TABLE users, templates" if backend in ("mysql", "mariadb") else "ANALYZE"
    db.session.execute(text(statement))
    db.session.commit()


# --- recount: the template counters recomputed (counts.py says what they hold) ------------------

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


@click.command("recount")
@expected_failures
def recount() -> None:
    """Recompute the template counters from the templates table and print what was wrong.

    The triggers keep them exact; bulk SQL that fires no triggers (TRUNCATE) does not.
    """
    report = recount_templates()
    for name, old, new in report.totals:
        click.echo(f"template_totals.{name}: {'missing' if old is None else old} -> {new}")
    for owner_id, old, new in report.owners[:RECOUNT_SHOWN]:
        click.echo(f"owner_template_counts[{owner_id}].unapproved: {old} -> {new}")
    if len(report.owners) > RECOUNT_SHOWN:
        click.echo(f"... and {len(report.owners) - RECOUNT_SHOWN} more owners")
    if report.fixed:
        click.echo(f"Fixed {report.fixed} template counter(s).")
    else:
        click.echo("The template counters were exact; nothing to fix.")


@click.command("wait-db")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to keep trying before giving up.")
def wait_db(timeout: float) -> None:
    """Wait until the database accepts connections (the container runs this before migrating)."""
    said: list[str] = []

    def report(reason: str) -> None:
        if reason not in said:  # one line per distinct reason, not one per attempt
            said.append(reason)
            click.echo(f"waiting for the database: {reason}", err=True)

    try:
        wait_for_database(db.engine, timeout, on_retry=report)
    except DatabaseUnreachable as error:
        raise click.ClickException(
            f"the database did not answer within {timeout:g} seconds: {error}") from None
    finally:
        db.engine.dispose()
    click.echo("The database is reachable.")


def register_cli(app: Flask) -> None:
    from .bootstrap import bootstrap  # imports this module's helpers

    app.cli.add_command(bootstrap)
    app.cli.add_command(wait_db)
    app.cli.add_command(create_admin)
    app.cli.add_command(apps_group)
    app.cli.add_command(seed)
    app.cli.add_command(recount)
    from .idempotency import commands as idempotency_commands

    app.cli.add_command(idempotency_commands)

    # The audit trail (contract §11).
    from .audit_cli import audit_group

    app.cli.add_command(audit_group)
