"""SQL statements per request: a fixed budget on every route, whatever the data, and no writes
on read paths.

`STATEMENT_BUDGET` is the one table to update when a route's statements change on purpose: for
every route and method of the app, one representative successful request and the exact number of
SQL statements it sends once the connection pool is warm and the app token's `last_used`
bookkeeping is settled. A test walks `app.url_map`, so a new route cannot go without a budget.

Statements are counted with an event listener on the engine (`conftest.statements`). What a
connection does on connect (SQLite's PRAGMAs), the pool's pre-ping on the servers and the
driver-level BEGIN, COMMIT and ROLLBACK do not go through it, so they are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from conftest import Account, Auth, statements
from sqlalchemy import func, insert, select

from meme_api import auth as auth_module
from meme_api.client_apps import register_app
from meme_api.extensions import db
from meme_api.models import (
    AuditEvent,
    AuthSession,
    ClientApp,
    Template,
    User,
    new_public_id,
    utcnow,
)

# The small data set every budget is measured on has one of each (besides the caller); the
# large one adds this many of each: users, sessions per account, templates, applications.
GROWTH = 30
# HEAD runs the GET view (budgeted there); OPTIONS is answered by Flask without a view.
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# A statement that changes data, or locks rows for a change (a reader must never wait on one).
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE|UPSERT|COMMIT)\b|\bFOR\s+UPDATE\b",
                   re.IGNORECASE)


# --- what a request is --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of the table: where, with which headers and body, and its success status."""

    path: str
    headers: dict[str, str]
    json: dict | None = None
    status: int = 200


@dataclass(frozen=True)
class Budget:
    """The statements one request sends: a number, or a number per backend where they differ.

    Per-backend keys are `sqlite`, `postgresql` and `mariadb` (see `backend()`).
    """

    statements: int | Mapping[str, int]
    request: Callable[[World], Call]

    def expected(self) -> int:
        if isinstance(self.statements, int):
            return self.statements
        name = backend()
        assert name in self.statements, f"no statement budget for the {name} backend"
        return self.statements[name]


@dataclass
class World:
    """The small data set: an admin, alice with one approved template, a second application."""

    auth: Auth
    admin: Account
    alice: Account
    template_id: int
    other_app: str
    other_app_token: str
    event_id: int  # the audit event of the second application's registration
    alice_session: str  # the id of alice's login session

    def as_admin(self, path: str, **options) -> Call:
        return Call(path, self.auth.headers(self.admin), **options)

    def as_alice(self, path: str, **options) -> Call:
        return Call(path, self.auth.headers(self.alice), **options)

    def basic_admin(self, path: str) -> Call:
        return Call(path, self.auth.basic(self.admin.username, self.admin.password))


# --- the budget table ---------------------------------------------------------------------------
#
# (method, rule) -> Budget(statements, request): the statements of the request once the pool is
# warm and the app token's `last_used` is settled. Each comment names them in order:
#   app           the application-token lookup
#   app+caller    the application, the caller and their login session, in one query (for
#                 routes that need a user; `app` alone for those that do not)
#   user+session  the user and login session a refresh token names
#   X row         X's row as the resource's SELECT renders it: the answer of a single read,
#                 and of a write, read after its commit
#   X+row         the ORM object a write changes, with its row (what If-Match is checked
#                 against), in one statement
# The request log reads nothing: the caller and the app are plain rows read before any commit.
# Where a backend legitimately sends another number, write {"sqlite": n, "postgresql": n,
# "mariadb": n} instead of n, with the reason.

STATEMENT_BUDGET: dict[tuple[str, str], Budget] = {
    # --- login, refresh, logout (contract §2)
    # app; user by name; INSERT audit event; INSERT session (the tokens are made before the
    # commit)
    ("GET", "/login"): Budget(4, lambda w: w.basic_admin("/login")),
    # app; user by name; INSERT audit event; INSERT session
    ("POST", "/login"): Budget(4, lambda w: w.basic_admin("/login")),
    # app; user+session (the refresh token's); UPDATE session (rotation)
    ("POST", "/token/refresh"): Budget(3, lambda w: Call(
        "/token/refresh", w.auth.headers(),
        json={"refresh_token": w.admin.tokens["refresh_token"]})),
    # app+caller; UPDATE session; INSERT audit event
    ("POST", "/logout"): Budget(3, lambda w: w.as_admin("/logout")),
    # app+caller; UPDATE sessions; INSERT audit event
    ("POST", "/logout/all"): Budget(3, lambda w: w.as_admin("/logout/all")),

    # --- users (contract §3)
    # app+caller; INSERT user; INSERT audit event; user row (for the answer)
    ("POST", "/user"): Budget(4, lambda w: w.as_admin(
        "/user", json={"username": "carol", "password": "carolpass1"}, status=201)),
    # app+caller; COUNT; page
    ("GET", "/user"): Budget(3, lambda w: w.as_admin("/user")),
    # app+caller (the caller's row is the users resource's: the answer)
    ("GET", "/user/me"): Budget(1, lambda w: w.as_admin("/user/me")),
    # app+caller; the caller's user row; UPDATE user; UPDATE sessions; INSERT audit event;
    # INSERT session
    ("POST", "/user/me/password"): Budget(6, lambda w: w.as_alice(
        "/user/me/password",
        json={"current_password": w.alice.password, "new_password": "newalicepass1"})),
    # app+caller; user row
    ("GET", "/user/<public_id:public_id>"): Budget(
        2, lambda w: w.as_admin(f"/user/{w.alice.public_id}")),
    # app+caller; user+row; UPDATE user; INSERT audit event; user row (for the answer)
    ("PUT", "/user/<public_id:public_id>"): Budget(
        5, lambda w: w.as_admin(f"/user/{w.alice.public_id}")),
    # app+caller; user+row; UPDATE user; INSERT audit event; user row (for the answer)
    ("PATCH", "/user/<public_id:public_id>"): Budget(5, lambda w: w.as_admin(
        f"/user/{w.alice.public_id}", json={"username": "alicia"})),
    # app+caller; user+row; [SQLite: BEGIN IMMEDIATE]; active admins (locked); INSERT audit
    # event; DELETE user. The last-admin rule is decided under a lock whatever the user read
    # first was: it may be stale.
    ("DELETE", "/user/<public_id:public_id>"): Budget(
        {"sqlite": 6, "postgresql": 5, "mariadb": 5},
        lambda w: w.as_admin(f"/user/{w.alice.public_id}")),

    # --- templates (contract §4)
    # app+caller; INSERT template; template row (for the answer)
    ("POST", "/template"): Budget(3, lambda w: w.as_alice(
        "/template", json={"title": "Cat", "url": "https://e.org/cat.png"}, status=201)),
    # app+caller; kept total (template_totals); page
    ("GET", "/template"): Budget(3, lambda w: w.as_alice("/template")),
    # app+caller; kept total (template_totals); page
    ("GET", "/"): Budget(3, lambda w: w.as_alice("/")),
    # app+caller; template row
    ("GET", "/template/<int:template_id>"): Budget(2, lambda w: w.as_alice(
        f"/template/{w.template_id}")),
    # app+caller; template+row; UPDATE template; INSERT audit event (the owner's edit sends
    # the approved template back to moderation: template.unapproved); template row (answer)
    ("PUT", "/template/<int:template_id>"): Budget(5, lambda w: w.as_alice(
        f"/template/{w.template_id}", json={"title": "New", "url": "https://e.org/new.png"})),
    # app+caller; template+row; UPDATE template; INSERT audit event (template.unapproved, as
    # for PUT); template row (for the answer)
    ("PATCH", "/template/<int:template_id>"): Budget(5, lambda w: w.as_alice(
        f"/template/{w.template_id}", json={"title": "New"})),
    # app+caller; template+row; DELETE template
    ("DELETE", "/template/<int:template_id>"): Budget(3, lambda w: w.as_alice(
        f"/template/{w.template_id}")),

    # --- client applications (contract §7)
    # app+caller; app rows
    ("GET", "/app"): Budget(2, lambda w: w.as_admin("/app")),
    # app+caller; INSERT app; INSERT audit event; app row (for the answer)
    ("POST", "/app"): Budget(4, lambda w: w.as_admin(
        "/app", json={"name": "mobile"}, status=201)),
    # app+caller; app by name; UPDATE app; INSERT audit event (its name is read before the
    # commit)
    ("DELETE", "/app/<name>"): Budget(4, lambda w: w.as_admin(f"/app/{w.other_app}")),
    # app+caller; app by name; UPDATE app; INSERT audit event; app row (for the answer)
    ("POST", "/app/<name>/rotate"): Budget(5, lambda w: w.as_admin(
        f"/app/{w.other_app}/rotate")),

    # --- login sessions (contract §10)
    # app+caller; COUNT; page
    ("GET", "/user/me/sessions"): Budget(3, lambda w: w.as_alice("/user/me/sessions")),
    # app+caller; UPDATE session; INSERT audit event
    ("DELETE", "/user/me/sessions/<session_id>"): Budget(3, lambda w: w.as_alice(
        f"/user/me/sessions/{w.alice_session}")),
    # app+caller; the user's id; COUNT; page
    ("GET", "/user/<public_id:public_id>/sessions"): Budget(4, lambda w: w.as_admin(
        f"/user/{w.alice.public_id}/sessions")),
    # app+caller; the user's id; UPDATE session; INSERT audit event
    ("DELETE", "/user/<public_id:public_id>/sessions/<session_id>"): Budget(4, lambda w: w.as_admin(
        f"/user/{w.alice.public_id}/sessions/{w.alice_session}")),

    # --- the audit trail (contract §11)
    # app+caller; page (cursor mode: no COUNT)
    ("GET", "/audit"): Budget(2, lambda w: w.as_admin("/audit?cursor=")),
    # app+caller; event row
    ("GET", "/audit/<int:event_id>"): Budget(2, lambda w: w.as_admin(f"/audit/{w.event_id}")),

    # --- operations and documentation (contract §8): no tokens
    # nothing
    ("GET", "/healthz"): Budget(0, lambda w: Call("/healthz", {})),
    # alembic_version
    ("GET", "/readyz"): Budget(1, lambda w: Call("/readyz", {})),
    # nothing (the figures are in memory, or in the workers' files)
    ("GET", "/metrics"): Budget(0, lambda w: Call("/metrics", {})),
    # nothing (the document is built once and kept)
    ("GET", "/openapi.json"): Budget(0, lambda w: Call("/openapi.json", {})),
    # nothing
    ("GET", "/docs"): Budget(0, lambda w: Call("/docs", {})),
    # nothing
    ("GET", "/docs/<asset>"): Budget(0, lambda w: Call("/docs/swagger-initializer.js", {})),
}

# Refused requests, on every route that needs an application token (and, for the last, a user).
MISSING_APP_TOKEN = 0  # refused before any lookup
WRONG_APP_TOKEN = 1  # app
# app (read as a plain row, which no rollback expires); the token's signature fails before any
# lookup of the user
INVALID_ACCESS_TOKEN = 1

# GET routes that write by design, and the only writes they may send: the original clients log
# in with `GET /login`, which opens a login session like `POST /login` does.
WRITING_GETS = {("GET", "/login"): re.compile(r"^\s*INSERT INTO (auth_sessions|audit_events)\b",
                                             re.IGNORECASE)}

GET_ROUTES = [key for key in STATEMENT_BUDGET if key[0] == "GET"]


# --- helpers ------------------------------------------------------------------------------------


def backend() -> str:
    """`sqlite`, `postgresql` or `mariadb` (MariaDB speaks through the `mysql` dialect)."""
    dialect = db.engine.dialect
    return "mariadb" if getattr(dialect, "is_mariadb", False) else dialect.name


def label(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


def listing(sent: list[str]) -> str:
    """The statements, one a line, white space collapsed, for failure messages."""
    if not sent:
        return "  (none)"
    return "\n".join(f"  {n}. {' '.join(sql.split())}" for n, sql in enumerate(sent, 1))


def send(client, method: str, call: Call, headers: dict[str, str] | None = None):
    """Send `call` (with other headers, when given); the response and the statements it sent."""
    with statements() as sent:
        response = client.open(call.path, method=method, json=call.json,
                               headers=call.headers if headers is None else headers)
    return response, list(sent)


def assert_status(key: tuple[str, str], response, status: int) -> None:
    assert response.status_code == status, (
        f"{label(key)}: expected {status}, got {response.status_code}: "
        f"{response.get_data(as_text=True)[:500]}")


def warm_up(client, world: World) -> None:
    """Open the pool's connection and settle the app token's `last_used` before counting."""
    response = client.get("/user/me", headers=world.auth.headers(world.admin))
    assert response.status_code == 200, response.get_data(as_text=True)


def writes(sent: list[str]) -> list[str]:
    return [sql for sql in sent if WRITE.search(sql)]


def view_of(app, key: tuple[str, str]):
    method, rule = key
    for candidate in app.url_map.iter_rules():
        if candidate.rule == rule and method in candidate.methods:
            return app.view_functions[candidate.endpoint]
    raise AssertionError(f"{label(key)} is not a route of the app")


class FakeClock:
    """Stands in for `meme_api.auth.utcnow`: time moves only when a test says so."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """Frozen time for the app-token bookkeeping, so no count depends on when a test runs."""
    fake = FakeClock(utcnow())
    monkeypatch.setattr(auth_module, "utcnow", fake)
    return fake


@pytest.fixture
def world(app, auth, admin, alice, clock) -> World:
    """The small data set, time frozen (the schema is the migrated one, as /readyz wants)."""
    template = Template(title="Approved", url="https://e.org/a.png", approved=True,
                        owner=alice.user)
    db.session.add(template)
    db.session.commit()
    other, other_token = register_app("other")
    event_id = db.session.scalar(select(func.max(AuditEvent.id)))
    alice_session = db.session.scalar(select(AuthSession.id)
                                      .where(AuthSession.user_id == alice.user.id))
    return World(auth, admin, alice, template.id, other.name, other_token, event_id,
                 alice_session)


def grow(world: World, count: int = GROWTH) -> None:
    """The large data set: `count` more users, sessions per account, templates and apps."""
    now = utcnow()
    users = [{"public_id": new_public_id(), "username": f"user{n}", "username_key": f"user{n}",
              "password_hash": world.admin.user.password_hash, "admin": n % 2 == 0,
              "active": True, "created": now, "version": 1} for n in range(count)]
    db.session.execute(insert(User), users)
    user_ids = list(db.session.scalars(select(User.id).where(User.username_key.like("user%"))))
    owners = [world.admin.user.id, world.alice.user.id, *user_ids]
    db.session.execute(insert(AuthSession), [
        {"id": new_public_id(), "user_id": owner, "refresh_jti": new_public_id(),
         "created": now, "expires": now + timedelta(days=1), "revoked": n % 3 == 0}
        for owner in owners for n in range(count)])
    db.session.execute(insert(Template), [
        {"title": f"bulk {n}", "url": "https://e.org/b.png", "approved": n % 2 == 0,
         "posted": now, "updated": now, "owner_id": owners[n % len(owners)], "version": 1}
        for n in range(count)])
    db.session.execute(insert(ClientApp), [
        {"name": f"app{n}", "name_key": f"app{n}", "token_hash": f"{n:064x}",
         "created": now, "revoked": n % 2 == 0} for n in range(count)])
    db.session.commit()


# --- 1. every route sends exactly its budget ----------------------------------------------------


@pytest.mark.parametrize("key", list(STATEMENT_BUDGET), ids=label)
def test_each_route_sends_exactly_its_statement_budget(app, client, world, key):
    """The table's request hits its own route, succeeds, and sends exactly its budget."""
    method, rule = key
    budget = STATEMENT_BUDGET[key]
    call = budget.request(world)
    matched, _ = app.url_map.bind("localhost").match(call.path.split("?")[0], method=method,
                                                      return_rule=True)
    assert matched.rule == rule, f"{label(key)}: the table's request {call.path} is {matched.rule}"
    warm_up(client, world)
    response, sent = send(client, method, call)
    assert_status(key, response, call.status)
    expected = budget.expected()
    assert len(sent) == expected, (
        f"{label(key)}: expected {expected} statements, got {len(sent)} on {backend()}:\n"
        f"{listing(sent)}")


# --- 2. no route goes without a budget ----------------------------------------------------------


def test_every_route_and_method_has_a_statement_budget(app):
    """A new route (or method) fails here until it has a line in STATEMENT_BUDGET."""
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods - SKIPPED_METHODS}
    missing = sorted(routes - set(STATEMENT_BUDGET))
    stale = sorted(set(STATEMENT_BUDGET) - routes)
    assert not missing, f"routes without an entry in STATEMENT_BUDGET: {missing}"
    assert not stale, f"STATEMENT_BUDGET entries for routes the app no longer has: {stale}"


# --- 3. counts do not depend on the size of the data --------------------------------------------


@pytest.mark.parametrize("key", GET_ROUTES, ids=label)
def test_statements_do_not_depend_on_the_data_size(client, world, key):
    """The same request with 1 and with 1 + GROWTH of everything sends as many statements."""
    method, _ = key
    call = STATEMENT_BUDGET[key].request(world)

    def count() -> list[str]:
        send(client, method, call)  # the same request first: pool and bookkeeping settled
        response, sent = send(client, method, call)
        assert_status(key, response, call.status)
        return sent

    small = count()
    grow(world)
    large = count()
    assert len(small) == len(large), (
        f"{label(key)}: {len(small)} statements with the small data set, {len(large)} with "
        f"{GROWTH} more of everything:\nsmall:\n{listing(small)}\nlarge:\n{listing(large)}")


# --- 4. no writes on read paths -----------------------------------------------------------------


@pytest.mark.parametrize("key", GET_ROUTES, ids=label)
def test_read_paths_do_not_write(client, world, key):
    """Once the app token's use is recorded, a GET sends no write (GET /login: its session)."""
    method, _ = key
    call = STATEMENT_BUDGET[key].request(world)
    send(client, method, call)  # the warm-up may record the app token's use (once a minute)
    response, sent = send(client, method, call)
    assert_status(key, response, call.status)
    allowed = WRITING_GETS.get(key)
    unexpected = [sql for sql in writes(sent) if allowed is None or not allowed.search(sql)]
    assert not unexpected, (
        f"{label(key)} writes on a read path:\n{listing(unexpected)}\nall statements:\n"
        f"{listing(sent)}")


class AppUse:
    """Requests made with one application token, and what they did to its `last_used`."""

    def __init__(self, client, world: World, name: str, token: str):
        self.client, self.name = client, name
        self.headers = {**world.auth.headers(world.admin), "x-application-token": token}

    def writes(self, table: str = "client_apps") -> list[str]:
        """The write statements to `table` of one authenticated GET made with this token (the
        login session's own once-a-minute `last_used` is tested apart)."""
        response, sent = send(self.client, "GET", Call("/user/me", self.headers))
        assert response.status_code == 200, response.get_data(as_text=True)
        return [sql for sql in writes(sent) if table in sql]

    def last_used(self) -> datetime | None:
        db.session.rollback()  # read what the requests committed, not this session's snapshot
        return db.session.scalar(
            select(ClientApp.last_used).where(ClientApp.name_key == self.name))


def assert_one_last_used_update(sent: list[str]) -> None:
    assert len(sent) == 1 and re.match(r"\s*UPDATE client_apps\b", sent[0]), (
        f"expected one UPDATE of client_apps, got:\n{listing(sent)}")


def test_app_token_last_used_is_written_once_then_not_within_the_minute(client, world, clock):
    """The first use is recorded; nothing is written again within 59 s; each app has its own."""
    tests = AppUse(client, world, "tests", world.auth.app_token)
    other = AppUse(client, world, "other", world.other_app_token)
    started = clock.now
    assert_one_last_used_update(tests.writes())  # never used before
    assert tests.last_used() == started
    assert tests.writes() == []
    clock.advance(59)
    assert tests.writes() == [], "last_used written again 59 s after the last write"
    assert_one_last_used_update(other.writes())  # the minute is counted per application
    assert other.last_used() == clock.now
    assert tests.last_used() == started


def test_app_token_last_used_is_written_again_once_a_minute_has_passed(client, world, clock):
    """One request after a minute records the use again, and only one sends an UPDATE."""
    tests = AppUse(client, world, "tests", world.auth.app_token)
    first = clock.now
    tests.writes()
    # Several requests in the second that completes the minute and in the one after: an UPDATE
    # that changes nothing is still a write statement, and a commit, on a read path.
    sent = []
    for offset in (30, 60, 60, 60, 61, 61):
        clock.now = first + timedelta(seconds=offset)
        sent += tests.writes()
    assert len(sent) == 1, (
        f"expected one write of last_used in the requests 30, 60 (three) and 61 (two) seconds "
        f"after the last one, got {len(sent)}:\n{listing(sent)}")
    assert_one_last_used_update(sent)
    assert tests.last_used() in (first + timedelta(seconds=60), first + timedelta(seconds=61))


def test_session_last_used_is_written_again_once_a_minute_has_passed(client, world, clock):
    """Contract §10: a session's `last_used` is kept to within a minute, one UPDATE a minute."""
    tests = AppUse(client, world, "tests", world.auth.app_token)
    first = clock.now
    tests.writes("auth_sessions")
    sent = []
    for offset in (30, 59, 60, 61, 61, 90):
        clock.now = first + timedelta(seconds=offset)
        sent += tests.writes("auth_sessions")
    assert len(sent) == 1, listing(sent)
    assert sent[0].lstrip().upper().startswith("UPDATE AUTH_SESSIONS SET LAST_USED")
    stored = db.session.scalar(select(AuthSession.last_used)
                               .where(AuthSession.user_id == world.admin.user.id))
    assert first + timedelta(seconds=59) <= stored <= first + timedelta(seconds=61)


# --- 5. refused requests cost at most the lookups made before the refusal ------------------------


def test_refused_credentials_cost_at_most_the_app_lookup(app, client, world):
    """For every route behind `@app_token`: missing or wrong app token, invalid access token."""
    warm_up(client, world)
    wrong_token = "mapp_" + "A" * 43
    failures, checked = [], 0
    for key, budget in STATEMENT_BUDGET.items():
        view = view_of(app, key)
        if not getattr(view, "needs_app_token", False):
            continue
        call = budget.request(world)
        without_app = {k: v for k, v in call.headers.items() if k != "x-application-token"}
        cases = [("no app token", without_app, MISSING_APP_TOKEN),
                 ("a wrong app token", {**without_app, "x-application-token": wrong_token},
                  WRONG_APP_TOKEN)]
        if getattr(view, "needs_user", False):
            cases.append(("an invalid access token",
                          {**call.headers, "x-access-token": call.headers["x-access-token"] + "x"},
                          INVALID_ACCESS_TOKEN))
        for case, headers, expected in cases:
            checked += 1
            response, sent = send(client, key[0], call, headers)
            if response.status_code != 401:
                failures.append(f"{label(key)} with {case}: expected 401, got "
                                f"{response.status_code}")
            elif len(sent) != expected:
                failures.append(f"{label(key)} with {case}: expected {expected} statements, "
                                f"got {len(sent)}:\n{listing(sent)}")
    # Guards the loop itself: were `needs_app_token` renamed, nothing would be checked.
    assert checked >= len(STATEMENT_BUDGET), f"only {checked} refused requests checked"
    assert not failures, "\n".join(failures)


# --- 6. the caller is read with the app, and only for its own token -------------------------------


def test_a_session_that_is_gone_is_401_through_the_joined_lookup(client, auth, alice):
    """The app matches but the token's session does not: the outer join's NULLs mean revoked."""
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200  # last_used
    db.session.execute(AuthSession.__table__.delete().where(AuthSession.user_id == alice.user.id))
    db.session.commit()
    with statements() as sent:
        response = client.get("/user/me", headers=auth.headers(alice))
    assert response.status_code == 401
    assert response.get_json()["message"] == "Token has been revoked"
    assert len(sent) == 1, listing(sent)


def test_without_app_tokens_the_caller_is_read_alone(app, client, auth, alice):
    app.config["REQUIRE_APP_TOKEN"] = False
    client.get("/user/me", headers={"x-access-token": alice.tokens["token"]})  # warm the pool
    with statements() as sent:
        response = client.get("/user/me", headers={"x-access-token": alice.tokens["token"]})
    assert response.status_code == 200
    assert response.get_json()["user"]["public_id"] == alice.public_id
    assert len(sent) == 1 and "client_apps" not in sent[0], listing(sent)


# --- 6. a create with Idempotency-Key (contract §12) ---------------------------------------------
#
# The keyed path adds its own statements to the route's budget above; without the header a
# create sends exactly that budget (section 1). First request: the route's budget plus the
# sweep's SELECT of expired keys, the INSERT of the claim and the UPDATE that keeps the answer.
# Replay: app+caller; the sweep's SELECT; the INSERT that the unique index refuses; the kept row.
KEYED_EXTRA = 3
KEYED_REPLAY = 4


@pytest.mark.parametrize("key", [("POST", "/template"), ("POST", "/user")], ids=label)
def test_a_keyed_create_and_its_replay_send_exactly_their_budget(client, world, key):
    method, _ = key
    call = STATEMENT_BUDGET[key].request(world)
    headers = {**call.headers, "Idempotency-Key": f"budget-{key[1]}"}
    warm_up(client, world)
    first, sent = send(client, method, call, headers)
    assert_status(key, first, call.status)
    expected = STATEMENT_BUDGET[key].expected() + KEYED_EXTRA
    assert len(sent) == expected, f"{label(key)} keyed: expected {expected}:\n{listing(sent)}"
    replay, sent = send(client, method, call, headers)
    assert_status(key, replay, call.status)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(sent) == KEYED_REPLAY, f"{label(key)} replay:\n{listing(sent)}"
