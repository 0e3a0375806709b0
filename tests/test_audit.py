"""The audit trail (contract §11): one event per listed change, none for a rolled-back one, the
`/audit` collection and single read, and the `audit prune` / `audit export` commands."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import SECRETS, assert_problem, create_template, secrets_in
from sqlalchemy import delete, func, select, update

from meme_api import accounts
from meme_api.extensions import db
from meme_api.models import AuditEvent, utcnow

TEMPLATE = {"title": "Cat", "url": "https://e.org/cat.png"}


def events(**where) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    return list(db.session.scalars(query))


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture
def quiet(app, auth, admin, alice):
    """The accounts made, then an empty trail: each test sees only its own events."""
    db.session.execute(delete(AuditEvent))
    db.session.commit()


def call(client, auth, account, method, path, body=None, **headers):
    return getattr(client, method)(path, json=body, headers=auth.headers(account, **headers))


def the_one(action: str) -> AuditEvent:
    found = events(action=action)
    assert len(found) == 1, [(e.action, e.target_id) for e in events()]
    return found[0]


# --- every listed change, exactly one event ------------------------------------------------------

def test_logins_logouts_and_failures(client, auth, alice, quiet):
    assert client.get("/login", headers=auth.basic("alice", alice.password)).status_code == 200
    event = the_one("user.login")
    assert (event.actor, event.actor_username, event.target_type, event.target_id) == (
        alice.public_id, "alice", "user", alice.public_id)
    assert (event.app, event.ip) == ("tests", "127.0.0.1") and event.request_id

    assert client.get("/login", headers=auth.basic("alice", "wrong-pass1")).status_code == 401
    failed = the_one("user.login_failed")
    assert (failed.actor, failed.target_id, failed.details) == (
        None, alice.public_id, {"username": "alice"})
    assert client.post("/login", headers=auth.headers(),
                       json={"username": "nobody", "password": "x1y2z3w4"}).status_code == 401
    assert events(action="user.login_failed")[-1].details == {"username": "nobody"}

    assert call(client, auth, alice, "post", "/logout").status_code == 200
    assert the_one("user.logout").actor == alice.public_id
    bob_tokens = auth.make_user("bob", "bobpass123")
    assert call(client, auth, bob_tokens, "post", "/logout/all").status_code == 200
    assert the_one("user.logout_all").target_id == bob_tokens.public_id


@pytest.mark.parametrize("credentials", ["alicepass-in-the-name", "a b!c"])
def test_a_failed_login_never_records_a_password_typed_as_the_name(client, auth, quiet,
                                                                   credentials):
    raw = __import__("base64").b64encode(credentials.encode()).decode()  # no colon at all
    assert client.get("/login", headers=auth.headers(Authorization=f"Basic {raw}")) \
        .status_code == 401
    assert the_one("user.login_failed").details == {"username": None}


def test_a_reused_refresh_token(client, auth, alice, quiet):
    old = alice.tokens["refresh_token"]
    assert client.post("/token/refresh", json={"refresh_token": old},
                       headers=auth.headers()).status_code == 200
    assert count() == 0  # a rotation is not an event
    assert client.post("/token/refresh", json={"refresh_token": old},
                       headers=auth.headers()).status_code == 401
    event = the_one("session.refresh_reused")
    assert (event.actor, event.target_id) == (alice.public_id, alice.public_id)


def test_user_changes(client, auth, admin, alice, quiet):
    created = call(client, auth, admin, "post", "/user",
                   {"username": "carol", "password": "carolpass1", "role": "moderator"})
    carol = created.get_json()["user"]["public_id"]
    event = the_one("user.created")
    assert (event.actor, event.target_id, event.details) == (
        admin.public_id, carol, {"username": "carol", "role": "moderator"})

    call(client, auth, admin, "patch", f"/user/{carol}",
         {"password": "carolpass2", "active": False, "role": "user", "username": "carola"})
    assert the_one("user.updated").details == {
        "fields": ["active", "password", "role", "username"], "role": "user", "active": False}
    call(client, auth, admin, "put", f"/user/{alice.public_id}")
    assert events(action="user.updated")[-1].details == {"fields": ["role"], "role": "admin"}
    assert call(client, auth, admin, "patch", f"/user/{carol}", {}).status_code == 200
    assert len(events(action="user.updated")) == 2  # an empty change is no change

    assert call(client, auth, admin, "delete", f"/user/{carol}").status_code == 200
    assert the_one("user.deleted").details == {"username": "carola"}

    bob = auth.make_user("bob", "bobpass123")
    db.session.execute(delete(AuditEvent))
    db.session.commit()
    assert call(client, auth, bob, "post", "/user/me/password",
                {"current_password": "bobpass123", "new_password": "bobpass456"}).status_code == 200
    assert [e.action for e in events()] == ["user.password_changed"]
    assert events()[0].target_id == bob.public_id


def test_app_changes_from_the_api(client, auth, admin, quiet):
    assert call(client, auth, admin, "post", "/app", {"name": "mobile"}).status_code == 201
    assert call(client, auth, admin, "post", "/app/mobile/rotate").status_code == 200
    assert call(client, auth, admin, "delete", "/app/mobile").status_code == 200
    assert [(e.action, e.target_type, e.target_id, e.actor) for e in events()] == [
        (action, "app", "mobile", admin.public_id)
        for action in ("app.registered", "app.rotated", "app.revoked")]


def test_changes_from_the_command_line_have_no_actor(runner, quiet):
    for args in (["apps", "register", "cli-app"], ["apps", "revoke", "cli-app"],
                 ["create-admin", "root", "--password", "rootpass1"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    assert [(e.action, e.actor, e.ip, e.request_id) for e in events()] == [
        ("app.registered", None, None, None), ("app.revoked", None, None, None),
        ("user.created", None, None, None)]


def test_template_moderation_and_deletion_by_others(client, auth, admin, alice, quiet):
    mine = create_template(client, auth, alice)
    assert count() == 0  # posting is not an event
    for approved in (True, True, False):
        call(client, auth, admin, "patch", f"/template/{mine['id']}", {"approved": approved})
    assert [(e.action, e.target_id, e.details) for e in events()] == [
        ("template.approved", str(mine["id"]), {"approved": True}),
        ("template.unapproved", str(mine["id"]), {"approved": False})]  # the no-op made none

    own = create_template(client, auth, alice)
    assert call(client, auth, alice, "delete", f"/template/{own['id']}").status_code == 200
    assert count() == 2  # an owner deleting their own is not recorded
    assert call(client, auth, admin, "delete", f"/template/{mine['id']}").status_code == 200
    event = the_one("template.deleted")
    assert (event.actor, event.target_id) == (admin.public_id, str(mine["id"]))


# --- rolled back: no event -----------------------------------------------------------------------

def test_a_409_duplicate_username_leaves_no_event(client, auth, admin, quiet):
    response = call(client, auth, admin, "post", "/user",
                    {"username": "ALICE", "password": "alicepass9"})
    assert_problem(response, 409)
    assert count() == 0


def test_a_412_if_match_leaves_no_event(client, auth, admin, alice, quiet):
    response = call(client, auth, admin, "patch", f"/user/{alice.public_id}", {"active": False},
                    **{"If-Match": '"stale"'})
    assert_problem(response, 412)
    assert count() == 0


def test_a_failure_inside_the_transaction_leaves_no_event_and_no_change(
        client, auth, admin, alice, quiet, monkeypatch):
    def fail(*_args, **_kwargs):
        raise RuntimeError("forced failure after the event was added")

    monkeypatch.setattr(accounts, "commit_unique", fail)
    response = call(client, auth, admin, "patch", f"/user/{alice.public_id}", {"role": "moderator"})
    assert_problem(response, 500)
    assert count() == 0
    db.session.expire_all()
    assert alice.user.role == "user"


# --- reading the trail ---------------------------------------------------------------------------

@pytest.fixture
def trail(client, auth, admin, alice, quiet) -> list[int]:
    """Eight events: alice's template approved and unapproved 3 times (0-5), then an app
    registered and revoked (6, 7)."""
    template = create_template(client, auth, alice)
    for approved in (True, False, True, False, True, False):
        call(client, auth, admin, "patch", f"/template/{template['id']}", {"approved": approved})
    call(client, auth, admin, "post", "/app", {"name": "mobile"})
    call(client, auth, admin, "delete", "/app/mobile")
    return [event.id for event in events()]


def listed(client, auth, admin, query: str) -> dict:
    response = call(client, auth, admin, "get", f"/audit{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_list_is_newest_first_and_its_items_are_the_single_reads(client, auth, admin, trail):
    body = listed(client, auth, admin, "")
    assert [event["id"] for event in body["events"]] == trail[::-1]
    assert body["meta"]["total"] == len(trail)
    for item in body["events"]:
        single = call(client, auth, admin, "get", f"/audit/{item['id']}")
        assert single.status_code == 200 and single.get_json()["event"] == item
        assert single.headers["ETag"]
    assert set(body["events"][0]) == {"id", "time", "action", "actor", "actor_username", "app",
                                      "target_type", "target_id", "ip", "request_id", "details"}


@pytest.mark.parametrize(("query", "expected"), [
    ("?action=template.approved", [0, 2, 4]),
    ("?action__in=app.registered,app.revoked", [6, 7]),
    ("?action__like=app.%25", [6, 7]),
    ("?target_type=template&ordering=id", [0, 1, 2, 3, 4, 5]),
    ("?target_type=app&target_id=mobile", [6, 7]),
    ("?app=tests&action__like=template.un%25", [1, 3, 5]),
    ("?actor_username=admin&ordering=-time&limit=2", [7, 6]),
])
def test_filters_an_investigator_uses(client, auth, admin, trail, query, expected):
    ids = sorted(trail[i] for i in expected)
    found = [event["id"] for event in listed(client, auth, admin, query)["events"]]
    assert sorted(found) == ids


def test_filter_by_actor_and_time(client, auth, admin, alice, trail):
    assert len(listed(client, auth, admin, f"?actor={admin.public_id}")["events"]) == 8
    assert listed(client, auth, admin, f"?actor={alice.public_id}")["events"] == []
    later = (utcnow() + timedelta(minutes=1)).isoformat() + "Z"
    assert listed(client, auth, admin, f"?time__gte={later}")["events"] == []
    assert len(listed(client, auth, admin, f"?time__lt={later}")["events"]) == 8


@pytest.mark.parametrize("ordering", ["", "&ordering=id", "&ordering=time", "&ordering=-time"])
def test_cursor_mode_walks_every_event_once(client, auth, admin, trail, ordering):
    seen, cursor = [], ""
    for _ in range(10):
        body = listed(client, auth, admin, f"?limit=3&cursor={cursor}{ordering}")
        assert "total" not in body["meta"]
        seen += [event["id"] for event in body["events"]]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(trail) and len(seen) == len(set(seen))


@pytest.mark.parametrize("query", ["?actor__gt=x", "?password=x", "?ordering=action",
                                   "?details=x", "?time=yesterday", "?cursor=tampered"])
def test_bad_queries_are_400(client, auth, admin, trail, query):
    assert_problem(call(client, auth, admin, "get", f"/audit{query}"), 400)


@pytest.mark.parametrize("role", ["user", "moderator"])
def test_only_admins_read_the_trail(client, auth, trail, role):
    reader = auth.make_user("reader", "readerpass1", role=role)
    assert_problem(call(client, auth, reader, "get", "/audit"), 403)
    assert_problem(call(client, auth, reader, "get", f"/audit/{trail[0]}"), 403)


@pytest.mark.parametrize("event_id", ["999999", "2147483648", "99999999999999999999"])
def test_an_unknown_event_is_404(client, auth, admin, trail, event_id):
    assert_problem(call(client, auth, admin, "get", f"/audit/{event_id}"), 404)


@pytest.mark.parametrize("method", ["put", "patch", "delete", "post"])
def test_events_cannot_be_changed_through_the_api(client, auth, admin, trail, method):
    response = call(client, auth, admin, method, f"/audit/{trail[0]}", {"action": "x"})
    assert_problem(response, 405)
    assert count() == len(trail)


# --- commands ------------------------------------------------------------------------------------

def test_prune_deletes_what_is_older_than_the_retention(app, runner, trail):
    days = app.config["AUDIT_RETENTION_DAYS"]
    old = trail[:3]
    db.session.execute(update(AuditEvent).where(AuditEvent.id.in_(old))
                       .values(time=utcnow() - timedelta(days=days, minutes=1)))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == trail[3])
                       .values(time=utcnow() - timedelta(days=days - 1)))
    db.session.commit()
    result = runner.invoke(args=["audit", "prune"])
    assert result.exit_code == 0, result.output
    assert "Deleted 3 audit events" in result.output
    assert [event.id for event in events()] == trail[3:]


def test_export_writes_json_lines_oldest_first(client, auth, admin, runner, trail):
    result = runner.invoke(args=["audit", "export"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["id"] for line in lines] == trail
    assert lines[-1] == call(client, auth, admin, "get", f"/audit/{trail[-1]}").get_json()["event"]

    db.session.execute(update(AuditEvent).where(AuditEvent.id.in_(trail[:5]))
                       .values(time=utcnow() - timedelta(days=2)))
    db.session.commit()
    since = (utcnow() - timedelta(days=1)).isoformat() + "Z"
    result = runner.invoke(args=["audit", "export", "--since", since])
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == trail[5:]
    bad = runner.invoke(args=["audit", "export", "--since", "yesterday"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


# --- the suite-wide scan is not blind ------------------------------------------------------------

def test_the_secret_scan_finds_passwords_hashes_and_tokens(alice):
    assert secrets_in(repr({"details": {"username": alice.password}}))
    assert secrets_in(repr({"details": {"hash": alice.user.password_hash}}))
    assert secrets_in(repr({"details": {"token": alice.tokens["token"]}}))
    assert alice.tokens["refresh_token"] in SECRETS
    assert not secrets_in(repr({"details": {"fields": ["password"], "username": "alice"}}))
