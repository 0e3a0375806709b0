"""Roles (contract §3–§4): `role` beside the original `admin` flag, and what moderators may do."""

from __future__ import annotations

import pytest
from conftest import assert_problem, create_template
from sqlalchemy import func, select, update

from meme_api.extensions import db
from meme_api.models import User

MODERATOR_REFUSED = [  # every user and application route an admin has: 403 for a moderator
    ("get", "/user", None),
    ("post", "/user", {"username": "carol", "password": "carolpass1"}),
    ("get", "/user/{alice}", None),
    ("put", "/user/{alice}", None),
    ("patch", "/user/{alice}", {"active": False}),
    ("delete", "/user/{alice}", None),
    ("get", "/app", None),
    ("post", "/app", {"name": "other"}),
    ("delete", "/app/tests", None),
    ("post", "/app/tests/rotate", None),
]


@pytest.fixture
def mod(auth):
    return auth.make_user("mod", "modpass123", role="moderator")


def call(client, auth, account, method, path, body=None):
    return getattr(client, method)(path, json=body, headers=auth.headers(account))


def role_of(username: str) -> str | None:
    return db.session.scalar(select(User.role).where(User.username == username))


# --- users: role and admin --------------------------------------------------------------------

@pytest.mark.parametrize(("body", "role"), [
    ({}, "user"), ({"role": "moderator"}, "moderator"), ({"role": "admin"}, "admin"),
    ({"admin": True}, "admin"), ({"admin": False}, "user"),
    ({"role": "admin", "admin": True}, "admin"),
    ({"role": "moderator", "admin": False}, "moderator"),
])
def test_an_admin_creates_users_with_a_role_or_the_admin_flag(client, auth, admin, body, role):
    response = call(client, auth, admin, "post", "/user",
                    {"username": "carol", "password": "carolpass1", **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    user = response.get_json()["user"]
    assert (user["role"], user["admin"]) == (role, role == "admin")
    assert role_of("carol") == role


@pytest.mark.parametrize("body", [
    {"role": "admin", "admin": False}, {"role": "user", "admin": True},
    {"role": "moderator", "admin": True}, {"role": "root"}, {"role": "Admin"}, {"role": 1},
])
def test_a_role_that_is_unknown_or_disagrees_with_admin_is_a_400_creating_nothing(
        client, auth, admin, body):
    response = call(client, auth, admin, "post", "/user",
                    {"username": "carol", "password": "carolpass1", **body})
    problem = assert_problem(response, 400)
    assert set(problem["errors"]) & {"role", "admin"}
    assert role_of("carol") is None


@pytest.mark.parametrize(("before", "body", "after"), [
    ("user", {"role": "moderator"}, "moderator"),
    ("moderator", {"role": "user"}, "user"),
    ("moderator", {"admin": True}, "admin"),
    ("moderator", {"admin": False}, "moderator"),  # not an admin: nothing to take away
    ("admin", {"admin": False}, "user"),
    ("admin", {"role": "moderator"}, "moderator"),
    ("user", {"role": "admin", "admin": True}, "admin"),
])
def test_an_admin_changes_roles(client, auth, admin, before, body, after):
    carol = auth.make_user("carol", "carolpass1", role=before)
    response = call(client, auth, admin, "patch", f"/user/{carol.public_id}", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    user = response.get_json()["user"]
    assert (user["role"], user["admin"]) == (after, after == "admin")
    assert role_of("carol") == after


def test_a_disagreeing_patch_changes_nothing(client, auth, admin, alice):
    response = call(client, auth, admin, "patch", f"/user/{alice.public_id}",
                    {"role": "moderator", "admin": True, "username": "renamed"})
    assert_problem(response, 400)
    assert role_of("alice") == "user" and role_of("renamed") is None


def test_put_promotes_a_moderator_to_admin(client, auth, admin, mod):
    response = call(client, auth, admin, "put", f"/user/{mod.public_id}")
    assert response.status_code == 200
    assert response.get_json()["user"]["role"] == "admin"


@pytest.mark.parametrize("role", ["moderator", "user"])
def test_the_last_active_admin_cannot_be_demoted_to_any_role(client, auth, admin, role):
    response = call(client, auth, admin, "patch", f"/user/{admin.public_id}", {"role": role})
    assert_problem(response, 409)
    assert role_of("admin") == "admin"


def test_an_admin_may_demote_themselves_while_another_admin_is_active(client, auth, admin):
    auth.make_user("root2", "root2pass1", admin=True)
    response = call(client, auth, admin, "patch", f"/user/{admin.public_id}",
                    {"role": "moderator"})
    assert response.status_code == 200
    # Read from the database on the next request: the admin routes are closed to them now.
    assert call(client, auth, admin, "get", "/user").status_code == 403


def test_users_filter_and_order_by_role(client, auth, admin, alice, mod):
    listed = call(client, auth, admin, "get", "/user?role=moderator").get_json()["users"]
    assert [user["username"] for user in listed] == ["mod"]
    listed = call(client, auth, admin, "get",
                  "/user?role__in=admin,moderator&ordering=role,username")
    assert [user["username"] for user in listed.get_json()["users"]] == ["admin", "mod"]
    listed = call(client, auth, admin, "get", "/user?admin=true").get_json()["users"]
    assert [user["username"] for user in listed] == ["admin"]
    assert call(client, auth, admin, "get", "/user?ordering=-admin").status_code == 200


def test_the_callers_role_is_read_from_the_database_on_every_request(client, auth, alice):
    hidden = create_template(client, auth, alice)
    mod = auth.make_user("mod", "modpass123", role="moderator")
    assert call(client, auth, mod, "get", f"/template/{hidden['id']}").status_code == 200
    db.session.execute(update(User).where(User.username == "mod").values(role="user"))
    db.session.commit()
    assert call(client, auth, mod, "get", f"/template/{hidden['id']}").status_code == 404
    me = call(client, auth, mod, "get", "/user/me").get_json()["user"]
    assert (me["role"], me["admin"]) == ("user", False)


# --- moderators ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), MODERATOR_REFUSED)
def test_a_moderator_gets_403_on_every_admin_route(client, auth, mod, alice, method, path, body):
    before = db.session.scalar(select(func.count()).select_from(User))
    response = call(client, auth, mod, method, path.format(alice=alice.public_id), body)
    assert_problem(response, 403)
    assert db.session.scalar(select(func.count()).select_from(User)) == before
    assert role_of("alice") == "user"


def test_a_moderator_sees_every_template(client, auth, mod, alice):
    hidden = create_template(client, auth, alice)
    assert hidden["approved"] is False
    assert call(client, auth, mod, "get", f"/template/{hidden['id']}").status_code == 200
    listed = call(client, auth, mod, "get", "/template").get_json()
    assert [t["id"] for t in listed["templates"]] == [hidden["id"]]
    assert listed["meta"]["total"] == 1


@pytest.mark.parametrize("value", [True, False])
def test_a_moderator_approves_and_unapproves_with_approved_alone(client, auth, mod, alice, value):
    template = create_template(client, auth, alice)
    for approved in (value, not value, value):
        response = call(client, auth, mod, "patch", f"/template/{template['id']}",
                        {"approved": approved})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["template"]["approved"] is approved
    assert call(client, auth, alice, "get", f"/template/{template['id']}") \
        .get_json()["template"]["approved"] is value


@pytest.mark.parametrize(("method", "body"), [
    ("patch", {"title": "Mine now"}),
    ("patch", {"approved": True, "title": "Mine now"}),
    ("put", {"title": "Mine now", "url": "https://e.org/m.png"}),
    ("put", {"title": "Mine now", "url": "https://e.org/m.png", "approved": True}),
])
def test_a_moderator_may_not_change_another_users_content(client, auth, mod, alice, method, body):
    template = create_template(client, auth, alice)
    response = call(client, auth, mod, method, f"/template/{template['id']}", body)
    assert_problem(response, 403)
    assert call(client, auth, alice, "get", f"/template/{template['id']}") \
        .get_json()["template"] == template


def test_a_moderator_deletes_any_template(client, auth, mod, alice):
    template = create_template(client, auth, alice)
    response = call(client, auth, mod, "delete", f"/template/{template['id']}")
    assert response.status_code == 200
    assert call(client, auth, alice, "get", f"/template/{template['id']}").status_code == 404


def test_a_moderators_template_starts_approved_and_their_own_edits_are_theirs(
        client, auth, mod):
    own = create_template(client, auth, mod)
    assert own["approved"] is True
    edited = call(client, auth, mod, "patch", f"/template/{own['id']}", {"title": "Edited"})
    assert edited.status_code == 200
    # Changing the content of an approved template sends a non-admin's back to moderation...
    assert edited.get_json()["template"]["approved"] is False
    # ...unless the moderator sets `approved` in the same request, which they may.
    kept = call(client, auth, mod, "put", f"/template/{own['id']}",
                {"title": "Again", "url": "https://e.org/a.png", "approved": True})
    assert kept.get_json()["template"]["approved"] is True


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_plain_user_sending_approved_gets_403(client, auth, alice, method):
    template = create_template(client, auth, alice)
    path = "/template" if method == "post" else f"/template/{template['id']}"
    body = {"title": "T", "url": "https://e.org/t.png", "approved": False}
    assert_problem(call(client, auth, alice, method, path, body), 403)
