"""Login sessions (contract §10): listing and ending the caller's; an admin's view of anyone's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import assert_problem
from sqlalchemy import select, update

from meme_api.extensions import db
from meme_api.models import AuditEvent, AuthSession, utcnow

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
FIELDS = {"id", "app", "created", "last_used", "expires", "ip", "user_agent", "current"}


def login(client, auth, username, password, **headers) -> str:
    response = client.post("/login", headers=auth.headers(**headers),
                           json={"username": username, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["token"]


def with_token(auth, token) -> dict:
    return {"x-application-token": auth.app_token, "x-access-token": token}


def sessions(client, headers, path="/user/me/sessions", query="") -> list[dict]:
    response = client.get(f"{path}{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["sessions"]


def test_the_caller_sees_their_live_sessions(client, auth, alice, bob):
    phone = login(client, auth, "alice", alice.password, **{"User-Agent": "phone/1.0"})
    laptop = login(client, auth, "alice", alice.password, **{"User-Agent": "x" * 300})
    listed = sessions(client, with_token(auth, laptop))
    assert len(listed) == 3  # the fixture's login (no request), the phone and the laptop
    for item in listed:
        assert set(item) == FIELDS
        assert all(TIMESTAMP.fullmatch(item[name]) for name in ("created", "last_used",
                                                                  "expires"))
    current = [item for item in listed if item["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == "x" * 256  # cut to 256 characters
    assert (current[0]["app"], current[0]["ip"]) == ("tests", "127.0.0.1")
    assert "phone/1.0" in {item["user_agent"] for item in listed}
    assert not any(item["current"] for item in sessions(client, with_token(auth, phone))
                   if item["user_agent"] != "phone/1.0")
    # Another user's sessions are not among them.
    assert not {item["id"] for item in sessions(client, auth.headers(bob))} & {
        item["id"] for item in listed}


def test_the_ip_is_the_rate_limiters_client_address(app_config, tmp_path):
    from conftest import Auth, create_test_app

    from meme_api.accounts import create_user

    app = create_test_app({**app_config, "TRUSTED_PROXY_COUNT": 1})
    with app.app_context():
        from conftest import fresh_database
        fresh_database(tmp_path)
        auth = Auth(app)
        create_user("carol", "carolpass1")
        client = app.test_client()
        token = login(client, auth, "carol", "carolpass1",
                      **{"X-Forwarded-For": "203.0.113.9"})
        assert [item["ip"] for item in sessions(client, with_token(auth, token))] == [
            "203.0.113.9"]


def test_ended_sessions_are_not_listed(client, auth, alice):
    kept = login(client, auth, "alice", alice.password)
    logged_out = login(client, auth, "alice", alice.password)
    expired = login(client, auth, "alice", alice.password)
    client.post("/logout", headers=with_token(auth, logged_out))
    ids = {item["id"] for item in sessions(client, with_token(auth, kept))}
    last = db.session.scalar(select(AuthSession.id).where(AuthSession.id.in_(ids))
                             .order_by(AuthSession.created.desc(), AuthSession.id).limit(1))
    assert expired and len(ids) == 3  # the fixture's, kept and expired
    other = next(iter(ids - {last}))
    db.session.execute(update(AuthSession).where(AuthSession.id == other)
                       .values(expires=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert len(sessions(client, with_token(auth, kept))) == 2


def test_most_recently_used_first_filters_orderings_and_cursors(client, auth, alice):
    tokens = [login(client, auth, "alice", alice.password) for _ in range(4)]
    listed = sessions(client, with_token(auth, tokens[0]))
    # The requesting session last: each request of it records its use (now), so it stays newest.
    ids = [item["id"] for item in listed if not item["current"]] + [
        item["id"] for item in listed if item["current"]]
    base = utcnow() - timedelta(hours=1)
    for minutes, session_id in enumerate(ids):
        db.session.execute(update(AuthSession).where(AuthSession.id == session_id)
                           .values(last_used=base + timedelta(minutes=minutes)))
    db.session.commit()
    headers = with_token(auth, tokens[0])
    assert [item["id"] for item in sessions(client, headers)] == ids[::-1]
    assert [item["id"] for item in sessions(client, headers, query="?ordering=last_used")] == ids
    since = (base + timedelta(minutes=3)).isoformat() + "Z"
    assert [item["id"] for item in sessions(client, headers, query=f"?last_used__gte={since}")] \
        == ids[3:][::-1]
    assert len(sessions(client, headers, query="?app=tests")) == 4  # the fixture's has no app
    assert len(sessions(client, headers, query="?app__is=null")) == 1
    seen, link = [], "/user/me/sessions?limit=2&cursor="
    while link is not None:
        body = client.get(link, headers=headers).get_json()
        assert "sessions" in body, body.get("errors")
        seen += [item["id"] for item in body["sessions"]]
        link = body["meta"]["next"]
    assert seen == ids[::-1]
    for bad in ("?ip=x", "?ordering=ip", "?refresh_jti=x", "?user_id=1"):
        assert_problem(client.get(f"/user/me/sessions{bad}", headers=headers), 400)


def test_ending_a_session_refuses_its_tokens_at_once(client, auth, alice):
    other = login(client, auth, "alice", alice.password)
    other_id = next(item["id"] for item in sessions(client, with_token(auth, other))
                    if item["current"])
    response = client.delete(f"/user/me/sessions/{other_id}", headers=auth.headers(alice))
    assert response.status_code == 200
    assert_problem(client.get("/user/me", headers=with_token(auth, other)), 401)
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200
    assert other_id not in {item["id"] for item in sessions(client, auth.headers(alice))}
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "session.revoked")).one()
    assert (event.target_type, event.target_id, event.actor, event.details) == (
        "session", other_id, alice.public_id, {"user": alice.public_id})
    # Ended already: a 404, and no second event.
    assert_problem(client.delete(f"/user/me/sessions/{other_id}",
                                 headers=auth.headers(alice)), 404)


@pytest.mark.parametrize("session_id", ["not-a-session", "x" * 37, "%00", "bob's"])
def test_another_users_or_an_unknown_session_is_404(client, auth, alice, bob, session_id):
    bobs = sessions(client, auth.headers(bob))[0]["id"]
    for candidate in (bobs, session_id):
        assert_problem(client.delete(f"/user/me/sessions/{candidate}",
                                     headers=auth.headers(alice)), 404)
    assert client.get("/user/me", headers=auth.headers(bob)).status_code == 200


def test_an_admin_sees_and_ends_anyones_sessions(client, auth, admin, alice):
    path = f"/user/{alice.public_id}/sessions"
    listed = sessions(client, auth.headers(admin), path)
    assert len(listed) == 1 and listed[0]["current"] is False
    response = client.delete(f"{path}/{listed[0]['id']}", headers=auth.headers(admin))
    assert response.status_code == 200
    assert_problem(client.get("/user/me", headers=auth.headers(alice)), 401)
    assert sessions(client, auth.headers(admin), path) == []
    assert_problem(client.get(f"/user/{'0' * 8}-0000-4000-8000-{'0' * 12}/sessions",
                              headers=auth.headers(admin)), 404)
    own = sessions(client, auth.headers(admin), f"/user/{admin.public_id}/sessions")
    assert [item["current"] for item in own] == [False]  # `current` is false on this route


@pytest.mark.parametrize("role", ["user", "moderator"])
def test_only_admins_see_or_end_other_users_sessions(client, auth, alice, role):
    other = auth.make_user("carol", "carolpass1", role=role)
    path = f"/user/{alice.public_id}/sessions"
    assert_problem(client.get(path, headers=auth.headers(other)), 403)
    session_id = db.session.scalar(select(AuthSession.id)
                                   .where(AuthSession.user_id == alice.user.id))
    assert_problem(client.delete(f"{path}/{session_id}", headers=auth.headers(other)), 403)
    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200
