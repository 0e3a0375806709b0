"""Template counters (meme_api/counts.py): exact after every kind of write, on every backend.

The unfiltered totals of page mode come from `template_totals` and `owner_template_counts`,
kept by triggers. After each step below, the total of every viewer must equal a real COUNT
with the visibility rule, and the counter tables must hold exactly what a GROUP BY says. The
suite runs on SQLite by default and with `TEST_DATABASE_URL` on PostgreSQL and MariaDB; the
migration tests carry the `postgres` and `mariadb` markers like tests/test_migrations.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from conftest import create_template, make_config, upgrade_to_head
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import fresh_postgres_database
from sqlalchemy import (
    Connection,
    MetaData,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from test_migrations import flask_db, seed_first_schema

from meme_api import create_app
from meme_api.cli import recount_templates, templates_held_still
from meme_api.counts import template_total
from meme_api.extensions import db
from meme_api.models import OwnerTemplateCount, Template, TemplateTotals, User, utcnow

MYSQL = ("mysql", "mariadb")
NOBODY = 2**31 - 1  # a viewer id no user has: no counter row, only the approved templates
TRIGGERS = ("templates_count_delete", "templates_count_insert", "templates_count_update")


# --- what the counters must equal --------------------------------------------------------------


def real_total(viewer_id: int | None) -> int:
    """The COUNT the counters replace: every template for an admin (None), else `approved OR
    owner_id = viewer` (a regular user's /template, and everyone's feed)."""
    statement = select(func.count()).select_from(Template)
    if viewer_id is not None:
        statement = statement.where(
            or_(Template.approved.is_(True), Template.owner_id == viewer_id))
    return db.session.scalar(statement)


def assert_counts_exact() -> None:
    """Every viewer's total is a real COUNT, and the counter tables are what GROUP BY says."""
    db.session.rollback()  # a fresh transaction: see every commit so far
    viewers = {None, NOBODY, *db.session.scalars(select(User.id)),
               *db.session.scalars(select(OwnerTemplateCount.owner_id))}
    for viewer in viewers:
        assert template_total(viewer) == real_total(viewer), f"viewer {viewer}"
    assert db.session.execute(select(TemplateTotals.id)).scalars().all() == [1]
    expected = dict(db.session.execute(
        select(Template.owner_id, func.count())
        .where(Template.owner_id.is_not(None), Template.approved.is_(False))
        .group_by(Template.owner_id)).all())
    kept = dict(db.session.execute(
        select(OwnerTemplateCount.owner_id, OwnerTemplateCount.unapproved)).all())
    assert {owner: count for owner, count in kept.items() if count != 0} == expected
    db.session.rollback()


def counter_rows() -> tuple[tuple, dict]:
    db.session.rollback()
    totals = tuple(db.session.execute(
        select(TemplateTotals.templates, TemplateTotals.approved)).one())
    owners = dict(db.session.execute(
        select(OwnerTemplateCount.owner_id, OwnerTemplateCount.unapproved)).all())
    db.session.rollback()
    return totals, owners


# --- the API and raw SQL -------------------------------------------------------------------------


def patch_template(client, auth, account, template_id: int, body: dict) -> None:
    response = client.patch(f"/template/{template_id}", headers=auth.headers(account), json=body)
    assert response.status_code == 200, response.get_data(as_text=True)


def delete_user(client, auth, admin, account) -> None:
    response = client.delete(f"/user/{account.public_id}", headers=auth.headers(admin))
    assert response.status_code == 200, response.get_data(as_text=True)
    # Forget the deleted row: SQLite may give its id to the next user made in this session.
    db.session.expunge(account.user)


def raw_insert(owner_id: int | None, approved: bool, count: int) -> None:
    """`count` templates in one multi-row INSERT statement, straight in the database."""
    now = utcnow()
    db.session.execute(insert(Template.__table__).values([
        {"title": f"raw {n}", "url": "https://e.org/r.png", "approved": approved, "posted": now,
         "updated": now, "owner_id": owner_id, "version": 1} for n in range(count)]))
    db.session.commit()


def raw(statement, **parameters) -> None:
    db.session.execute(statement, parameters)
    db.session.commit()


# --- a random walk through every way of writing templates ---------------------------------------


@dataclass
class World:
    """The accounts of a test and the ways its steps write templates, by API and by raw SQL."""

    client: object
    auth: object
    admin: object
    users: dict = field(default_factory=dict)

    def ids(self) -> list[int]:
        db.session.rollback()
        ids = db.session.scalars(select(Template.id).order_by(Template.id)).all()
        db.session.rollback()
        return ids

    def owner_of(self, template_id: int):
        owner_id = db.session.scalar(select(Template.owner_id).where(Template.id == template_id))
        db.session.rollback()
        for account in (self.admin, *self.users.values()):
            if account.user.id == owner_id:
                return account
        return None

    def account(self, name: str):
        return self.admin if name == "admin" else self.users[name]

    def user_id(self, name: str | None) -> int | None:
        return None if name is None else self.account(name).user.id

    def run(self, step: tuple) -> None:
        kind, *arguments = step
        getattr(self, kind)(*arguments)

    # Through the API, as the service writes.

    def create(self, who: str) -> None:
        """An admin's template starts approved, anyone else's awaits moderation."""
        create_template(self.client, self.auth, self.account(who))

    def moderate(self, pick: int, approved: bool) -> None:
        if ids := self.ids():
            patch_template(self.client, self.auth, self.admin, ids[pick % len(ids)],
                           {"approved": approved})

    def edit(self, pick: int) -> None:
        """The owner renames it: a regular owner's edit sends it back to moderation."""
        if ids := self.ids():
            template_id = ids[pick % len(ids)]
            editor = self.owner_of(template_id) or self.admin
            patch_template(self.client, self.auth, editor, template_id,
                           {"title": f"edited {pick}"})

    def remove(self, pick: int) -> None:
        if ids := self.ids():
            template_id = ids[pick % len(ids)]
            editor = self.owner_of(template_id) or self.admin
            response = self.client.delete(f"/template/{template_id}",
                                          headers=self.auth.headers(editor))
            assert response.status_code == 200, response.get_data(as_text=True)

    def replace_user(self, who: str) -> None:
        """Delete a user (their templates stay, ownerless) and make one of the same name."""
        delete_user(self.client, self.auth, self.admin, self.users[who])
        self.users[who] = self.auth.make_user(who, f"{who}-password")

    # Raw SQL, as an operator might: each a single statement over many rows.

    def bulk_insert(self, who: str | None, approved: bool, count: int) -> None:
        raw_insert(self.user_id(who), approved, count)

    def bulk_moderate(self, who: str | None, approved: bool) -> None:
        owner = Template.owner_id
        raw(update(Template.__table__)
            .where(owner.is_(None) if who is None else owner == self.user_id(who))
            .values(approved=approved))

    def bulk_flip(self) -> None:
        """Approve every unapproved template and the reverse, in one statement."""
        raw(text("UPDATE templates SET approved = NOT approved"))

    def bulk_move(self, source: str | None, target: str | None) -> None:
        owner = Template.owner_id
        raw(update(Template.__table__)
            .where(owner.is_(None) if source is None else owner == self.user_id(source))
            .values(owner_id=self.user_id(target)))

    def bulk_touch(self) -> None:
        """Neither approval nor owner changes."""
        raw(text("UPDATE templates SET version = version + 1"))

    def bulk_delete(self, approved: bool) -> None:
        raw(delete(Template.__table__).where(Template.approved.is_(approved)))


WHO = st.sampled_from(["admin", "alice", "bob"])
USER = st.sampled_from(["alice", "bob"])
OWNER = st.sampled_from(["admin", "alice", "bob", None])
PICK = st.integers(0, 1000)
STEP = st.one_of(
    st.tuples(st.just("create"), WHO),
    st.tuples(st.just("moderate"), PICK, st.booleans()),
    st.tuples(st.just("edit"), PICK),
    st.tuples(st.just("remove"), PICK),
    st.tuples(st.just("replace_user"), USER),
    st.tuples(st.just("bulk_insert"), OWNER, st.booleans(), st.integers(1, 30)),
    st.tuples(st.just("bulk_moderate"), OWNER, st.booleans()),
    st.tuples(st.just("bulk_flip")),
    st.tuples(st.just("bulk_move"), OWNER, OWNER),
    st.tuples(st.just("bulk_touch")),
    st.tuples(st.just("bulk_delete"), st.booleans()),
)


@pytest.fixture
def world(client, auth, admin, alice, bob) -> World:
    return World(client, auth, admin, {"alice": alice, "bob": bob})


# The database carries over from one example to the next; the counters must stay exact anyway.
@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=10))
def test_every_total_equals_a_real_count_after_any_sequence_of_writes(world, steps):
    for step in steps:
        world.run(step)
        assert_counts_exact()


# Each step, then the counters: (templates, approved, {owner: unapproved}); ids are in order
# of creation, so `pick` 0 is the first template.
KNOWN_SEQUENCE = [
    (("create", "admin"), (1, 1, {})),
    (("create", "alice"), (2, 1, {"alice": 1})),
    (("create", "alice"), (3, 1, {"alice": 2})),
    (("create", "bob"), (4, 1, {"alice": 2, "bob": 1})),
    (("moderate", 1, True), (4, 2, {"alice": 1, "bob": 1})),  # the admin approves alice's first
    (("moderate", 1, True), (4, 2, {"alice": 1, "bob": 1})),  # again: nothing moves
    (("edit", 1), (4, 1, {"alice": 2, "bob": 1})),            # alice edits it: back to moderation
    (("edit", 0), (4, 1, {"alice": 2, "bob": 1})),            # an admin's edit keeps approval
    (("moderate", 0, False), (4, 0, {"admin": 1, "alice": 2, "bob": 1})),  # un-approved
    (("remove", 3), (3, 0, {"admin": 1, "alice": 2})),        # bob deletes his
    (("bulk_insert", "bob", False, 5), (8, 0, {"admin": 1, "alice": 2, "bob": 5})),
    (("bulk_moderate", "bob", True), (8, 5, {"admin": 1, "alice": 2})),
    (("bulk_move", "bob", "alice"), (8, 5, {"admin": 1, "alice": 2})),
    (("bulk_flip",), (8, 3, {"alice": 5})),
    (("bulk_move", "alice", None), (8, 3, {})),
    (("bulk_insert", None, False, 2), (10, 3, {})),
    (("bulk_move", None, "bob"), (10, 3, {"bob": 7})),
    (("bulk_delete", True), (7, 0, {"bob": 7})),
    (("replace_user", "bob"), (7, 0, {})),
]


def test_a_known_sequence_of_writes_keeps_the_counters(world):
    for step, (templates, approved, owners) in KNOWN_SEQUENCE:
        world.run(step)
        totals, kept = counter_rows()
        assert totals == (templates, approved), step
        wanted = {world.user_id(name): count for name, count in owners.items()}
        assert {owner: count for owner, count in kept.items() if count} == wanted, step
        assert_counts_exact()


# --- users come and go ----------------------------------------------------------------------


def test_a_deleted_users_counter_row_goes_and_a_new_user_starts_at_zero(
        client, auth, admin, alice, bob):
    # On MySQL/InnoDB the owner_id SET NULL fires no trigger: the user's counter row must go
    # by its own ON DELETE CASCADE, and the global counts must not change.
    create_template(client, auth, admin)
    waiting = [create_template(client, auth, bob)["id"] for _ in range(3)]
    patch_template(client, auth, admin, waiting[0], {"approved": True})
    create_template(client, auth, alice)
    gone = bob.user.id  # the last user made, so the largest id
    assert counter_rows() == ((5, 2), {gone: 2, alice.user.id: 1})

    delete_user(client, auth, admin, bob)

    assert counter_rows() == ((5, 2), {alice.user.id: 1})
    assert real_total(None) == 5  # the templates stay, ownerless
    carol = auth.make_user("carol", "carolpass1")
    if db.engine.dialect.name == "sqlite":
        # SQLite hands the largest id out again: the case where a stale row would show.
        assert carol.user.id == gone
    assert template_total(carol.user.id) == 2 == real_total(carol.user.id)
    create_template(client, auth, carol)
    assert counter_rows()[1] == {alice.user.id: 1, carol.user.id: 1}
    assert_counts_exact()


# --- what the triggers write ----------------------------------------------------------------


@contextmanager
def counters_locked() -> Iterator[None]:
    """Another transaction holds every counter row (PostgreSQL, MySQL/MariaDB)."""
    with db.engine.connect() as holder, holder.begin():
        holder.execute(select(TemplateTotals).with_for_update()).all()
        holder.execute(select(OwnerTemplateCount).with_for_update()).all()
        yield


def short_lock_wait(connection: Connection) -> None:
    """Give up on a lock after a moment instead of waiting for it (server backends)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET lock_timeout = '300ms'"))
    else:
        connection.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))


def writes_counters(statement: str, template_id: int) -> bool:
    """Whether the statement (rolled back afterwards) writes or locks a counter row.

    SQLite has no row locks: there the connection's change count, which includes the rows
    triggers change, says whether anything besides the template row was written. Elsewhere the
    counter rows are held by another transaction, so touching one makes the statement wait.
    """
    parameters = {"id": template_id}
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as connection:
            sqlite = connection.connection.dbapi_connection
            before = sqlite.total_changes
            connection.execute(text(statement), parameters)
            changed = sqlite.total_changes - before
            connection.rollback()
        assert changed >= 1
        return changed > 1
    with counters_locked(), db.engine.connect() as writer:
        short_lock_wait(writer)
        try:
            writer.execute(text(statement), parameters)
        except OperationalError:
            return True
        finally:
            writer.rollback()
        return False


def test_writes_that_keep_approval_and_owner_touch_no_counter_row(client, auth, alice):
    template_id = create_template(client, auth, alice)["id"]  # unapproved: alice has a counter row
    assert counter_rows()[1] == {alice.user.id: 1}

    assert not writes_counters(
        "UPDATE templates SET title = 'renamed', version = version + 1 WHERE id = :id",
        template_id)
    assert not writes_counters(
        "UPDATE templates SET approved = approved, owner_id = owner_id WHERE id = :id",
        template_id)
    # The check is not blind: approving does write the counters.
    assert writes_counters("UPDATE templates SET approved = NOT approved WHERE id = :id",
                           template_id)
    assert_counts_exact()


def test_a_total_is_one_statement(alice, admin):
    raw_insert(alice.user.id, False, 2)
    raw_insert(admin.user.id, True, 3)
    viewers = [None, alice.user.id, NOBODY]
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        totals = [template_total(viewer) for viewer in viewers]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert totals == [5, 5, 3]
    assert len(sent) == 3
    assert "count(" not in " ".join(sent).lower()


# --- recount -----------------------------------------------------------------------------------


def test_recount_sets_corrupted_counters_right_and_says_what_it_fixed(runner, admin, alice, bob):
    raw_insert(alice.user.id, False, 3)
    raw_insert(bob.user.id, False, 2)
    raw_insert(admin.user.id, True, 4)
    assert runner.invoke(args=["recount"]).output.strip() == (
        "The template counters were exact; nothing to fix.")
    # Corrupt them the ways manual SQL could: wrong totals, a lost row, a wrong and a stray one.
    raw(update(TemplateTotals).values(templates=999))
    raw(delete(OwnerTemplateCount).where(OwnerTemplateCount.owner_id == alice.user.id))
    raw(update(OwnerTemplateCount).where(OwnerTemplateCount.owner_id == bob.user.id)
        .values(unapproved=7))
    raw(insert(OwnerTemplateCount).values(owner_id=admin.user.id, unapproved=5))

    result = runner.invoke(args=["recount"])

    assert result.exit_code == 0, result.output
    owners = {alice.user.id: "0 -> 3", bob.user.id: "7 -> 2", admin.user.id: "5 -> 0"}
    assert result.output.splitlines() == [
        "template_totals.templates: 999 -> 9",
        *(f"owner_template_counts[{owner}].unapproved: {owners[owner]}"
          for owner in sorted(owners)),
        "Fixed 4 template counter(s).",
    ]
    assert_counts_exact()
    assert runner.invoke(args=["recount"]).output.strip() == (
        "The template counters were exact; nothing to fix.")


def test_recount_after_truncate_and_a_lost_totals_row(alice, admin):
    raw_insert(alice.user.id, False, 3)
    raw_insert(admin.user.id, True, 2)
    # TRUNCATE fires no triggers on PostgreSQL and MySQL/MariaDB (SQLite has none).
    raw(text("DELETE FROM templates" if db.engine.dialect.name == "sqlite"
             else "TRUNCATE TABLE templates"))
    raw_insert(alice.user.id, True, 1)
    raw(delete(TemplateTotals))
    assert template_total(None) is None
    db.session.rollback()

    report = recount_templates()

    assert report.totals == [("templates", None, real_total(None)),
                             ("approved", None, 1)]
    assert_counts_exact()


def test_recount_holds_off_every_write_to_templates_while_it_counts(app, alice):
    raw_insert(alice.user.id, False, 2)
    some_id = db.session.scalar(select(func.min(Template.id)))
    db.session.rollback()
    now = utcnow()
    writes = [
        insert(Template.__table__).values(title="late", url="https://e.org/l.png",
                                          approved=True, posted=now, updated=now, version=1),
        update(Template.__table__).where(Template.id == some_id).values(approved=True),
        delete(Template.__table__).where(Template.id == some_id),
    ]
    if db.engine.dialect.name == "sqlite":
        writer_engine = create_engine(db.engine.url, connect_args={"timeout": 0.2})
    else:
        writer_engine = db.engine

    def blocked(statement) -> bool:
        with writer_engine.connect() as writer:
            if writer.dialect.name != "sqlite":
                short_lock_wait(writer)
            try:
                writer.execute(statement)
                writer.commit()
            except OperationalError:
                return True
            finally:
                writer.rollback()
            return False

    try:
        with templates_held_still():
            assert [blocked(statement) for statement in writes] == [True, True, True]
        assert [blocked(statement) for statement in writes] == [False, False, False]
    finally:
        if writer_engine is not db.engine:
            writer_engine.dispose()
    assert_counts_exact()


# --- PostgreSQL counts per statement ------------------------------------------------------------


@pytest.mark.postgres
def test_postgresql_counts_a_bulk_insert_with_one_counter_update(tmp_path):
    with fresh_postgres_database() as url:
        app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
        try:
            with app.app_context():
                upgrade_to_head()
                now = utcnow()
                rows = [{"title": f"t{n}", "url": "https://e.org/t.png", "approved": n % 3 == 0,
                         "posted": now, "updated": now, "owner_id": None, "version": 1}
                        for n in range(1000)]
                with db.engine.begin() as connection:
                    connection.execute(insert(Template.__table__).values(rows))
                    updates = connection.execute(text(
                        "SELECT n_tup_upd FROM pg_stat_xact_user_tables "
                        "WHERE relname = 'template_totals'")).scalar()
                assert updates == 1
                assert counter_rows()[0] == (1000, 334)
                db.session.remove()
        finally:
            with app.app_context():
                db.engine.dispose()


# --- migrations ----------------------------------------------------------------------------------


# `database_url` (conftest): a fresh, empty database of each backend.


def counters_of(url: str) -> tuple[tuple, dict, tuple, dict]:
    """(counters, owner rows) as kept, and as a COUNT over `templates` says they should be."""
    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine, only=["templates", "template_totals", "owner_template_counts"])
    templates = metadata.tables["templates"]
    totals, owners = metadata.tables["template_totals"], metadata.tables["owner_template_counts"]
    try:
        with engine.connect() as connection:
            kept = tuple(connection.execute(select(totals.c.templates, totals.c.approved)).one())
            kept_owners = {owner: count for owner, count in connection.execute(
                select(owners.c.owner_id, owners.c.unapproved)) if count}
            real = (connection.scalar(select(func.count()).select_from(templates)),
                    connection.scalar(select(func.count()).where(templates.c.approved.is_(True))))
            real_owners = dict(connection.execute(
                select(templates.c.owner_id, func.count())
                .where(templates.c.owner_id.is_not(None), templates.c.approved.is_(False))
                .group_by(templates.c.owner_id)).all())
        return kept, kept_owners, real, real_owners
    finally:
        engine.dispose()


def write_raw(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def trigger_definitions(url: str) -> list[tuple]:
    """The counters' triggers (and PostgreSQL's functions) as the database reports them."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            backend = connection.dialect.name
            if backend == "sqlite":
                rows = connection.execute(text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"))
            elif backend == "postgresql":
                rows = connection.execute(text(
                    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                    "WHERE tgname LIKE 'templates_count_%' "
                    "UNION ALL SELECT proname, prosrc FROM pg_proc "
                    "WHERE proname LIKE 'templates_count_%' ORDER BY 1, 2"))
            else:
                rows = connection.execute(text(
                    "SELECT TRIGGER_NAME, CONCAT(ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', "
                    "ACTION_STATEMENT) FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"))
            return [(name, " ".join(definition.split())) for name, definition in rows]
    finally:
        engine.dispose()


def test_the_migration_fills_the_counters_from_existing_templates(database_url):
    flask_db(database_url, "upgrade", "0002_collection_indexes")
    seed_first_schema(database_url)  # 30 templates: alice's approved, bob's and ownerless not
    write_raw(database_url,
              "INSERT INTO templates (title, url, approved, posted, updated, owner_id, version) "
              "SELECT 'more', 'https://e.org/m.png', false, posted, updated, owner_id, 1 "
              "FROM templates WHERE approved")  # alice gets 10 awaiting moderation too

    flask_db(database_url, "upgrade")

    kept, kept_owners, real, real_owners = counters_of(database_url)
    assert real == (40, 10) and sorted(real_owners.values()) == [10, 10]
    assert (kept, kept_owners) == (real, real_owners)
    # The migration's triggers count what comes after.
    write_raw(database_url,
              "UPDATE templates SET approved = NOT approved WHERE title = 'more'",
              "DELETE FROM templates WHERE owner_id IS NULL",
              "INSERT INTO templates (title, url, approved, posted, updated, owner_id, version) "
              "SELECT 'late', url, false, posted, updated, owner_id, 1 FROM templates "
              "WHERE title = 'more'")
    kept, kept_owners, real, real_owners = counters_of(database_url)
    assert real == (40, 20)
    assert (kept, kept_owners) == (real, real_owners)

    # Down again: templates stay writable without the triggers; up again counts them.
    flask_db(database_url, "downgrade", "0002_collection_indexes")
    assert trigger_definitions(database_url) == []
    write_raw(database_url, "DELETE FROM templates WHERE title = 'late'")
    flask_db(database_url, "upgrade")
    kept, kept_owners, real, real_owners = counters_of(database_url)
    assert real == (30, 20)
    assert (kept, kept_owners) == (real, real_owners)


def test_the_tests_build_their_schema_with_the_migrations_triggers(app):
    """The fixtures' schema is the migrated one: its triggers and first row, no other copy."""
    url = db.engine.url.render_as_string(hide_password=False)
    assert sorted({name for name, _ in trigger_definitions(url)}) == list(TRIGGERS)
    assert counter_rows()[0] == (0, 0)


def test_lists_count_when_the_totals_row_is_lost(client, auth, alice, admin):
    raw_insert(alice.user.id, False, 3)
    raw_insert(admin.user.id, True, 2)
    raw(delete(TemplateTotals))
    for account, expected in ((admin, 5), (alice, 5)):
        response = client.get("/template", headers=auth.headers(account))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["meta"]["total"] == expected
        assert response.headers["X-Total-Count"] == str(expected)
