"""Idempotent creates (contract §12): `Idempotency-Key` on POST /template and POST /user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import assert_problem
from sqlalchemy import func, insert, select

from meme_api import idempotency
from meme_api.extensions import db
from meme_api.models import IdempotencyKey, Template, User, utcnow

VALID = {"title": "Drake", "url": "https://i.imgur.com/drake.png"}
KEY = "create-drake-1"


def post(client, auth, account, body=VALID, key: str | None = KEY, path="/template"):
    headers = auth.headers(account)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def kept_rows() -> list[IdempotencyKey]:
    db.session.expire_all()
    return list(db.session.scalars(select(IdempotencyKey).order_by(IdempotencyKey.id)))


def add_row(caller: str, key: str, **fields) -> None:
    now = utcnow()
    values = {"caller": caller, "request_key": key, "fingerprint": "0" * 64, "created": now,
              "expires": now + timedelta(hours=1), **fields}
    db.session.execute(insert(IdempotencyKey), [values])
    db.session.commit()


def test_a_retry_gets_the_kept_answer_and_creates_nothing(client, auth, alice):
    first = post(client, auth, alice)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, auth, alice)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.get_json() == first.get_json()
    assert again.headers["Content-Type"] == "application/json"
    assert count(Template) == 1


def test_without_the_header_every_post_creates(client, auth, alice):
    assert [post(client, auth, alice, key=None).status_code for _ in range(2)] == [201, 201]
    assert count(Template) == 2
    assert kept_rows() == []


def test_the_same_key_for_another_body_is_422_and_changes_nothing(client, auth, alice):
    assert post(client, auth, alice).status_code == 201
    other = post(client, auth, alice, body={**VALID, "title": "Other"})
    body = assert_problem(other, 422)
    assert "Idempotency-Key" in body["errors"]
    assert count(Template) == 1


def test_keys_belong_to_their_caller(client, auth, alice, bob):
    assert post(client, auth, alice).status_code == 201
    theirs = post(client, auth, bob)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert count(Template) == 2


def test_a_failed_request_keeps_nothing(client, auth, alice):
    assert_problem(post(client, auth, alice, body={"title": "no url"}), 400)
    assert kept_rows() == []
    retried = post(client, auth, alice)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers


def test_a_forbidden_field_keeps_nothing_either(client, auth, alice):
    assert_problem(post(client, auth, alice, body={**VALID, "approved": True}), 403)
    assert kept_rows() == []


@pytest.mark.parametrize("key", ["", "a" * 256, "tab\there", "caf\u00e9"])
def test_a_malformed_key_is_400(client, auth, alice, key):
    body = assert_problem(post(client, auth, alice, key=key), 400)
    assert "Idempotency-Key" in body["errors"]
    assert count(Template) == 0


def test_a_key_still_in_progress_is_409(client, auth, alice):
    add_row(f"user:{alice.public_id}", KEY, fingerprint=fingerprint_of(client, auth, alice))
    assert_problem(post(client, auth, alice), 409)
    assert count(Template) == 0
    assert [row.status for row in kept_rows()] == [None]  # left to the request that holds it


def fingerprint_of(client, auth, alice) -> str:
    """The fingerprint the service stores for `post(...)`, read back from a real request."""
    assert post(client, auth, alice, key="probe").status_code == 201
    (row,) = [r for r in kept_rows() if r.request_key == "probe"]
    db.session.execute(db.delete(IdempotencyKey))
    db.session.execute(db.delete(Template))
    db.session.commit()
    return row.fingerprint


def test_an_expired_or_abandoned_key_is_used_afresh(client, auth, alice):
    old = utcnow() - timedelta(hours=2)
    add_row(f"user:{alice.public_id}", KEY, status=201, body="{}", location="/template/999",
            created=old, expires=old + timedelta(hours=1))
    add_row(f"user:{alice.public_id}", "abandoned", created=old)
    for key in (KEY, "abandoned"):
        made = post(client, auth, alice, key=key)
        assert made.status_code == 201
        assert "Idempotent-Replayed" not in made.headers
    assert count(Template) == 2


def test_each_keyed_request_deletes_a_bounded_number_of_expired_rows(client, auth, alice):
    old = utcnow() - timedelta(hours=2)
    for n in range(idempotency.SWEEP + 5):
        add_row("user:someone", f"old-{n}", status=201, body="{}", expires=old)
    assert post(client, auth, alice).status_code == 201
    assert len([r for r in kept_rows() if r.caller == "user:someone"]) == 5
    assert post(client, auth, alice, key="second").status_code == 201
    assert [r.caller for r in kept_rows()] == [f"user:{alice.public_id}"] * 2


def test_purge_deletes_every_expired_row(app, runner):
    old = utcnow() - timedelta(hours=2)
    for n in range(30):
        add_row("user:someone", f"old-{n}", status=201, body="{}", expires=old)
    add_row("user:someone", "current", status=201, body="{}")
    result = runner.invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0, result.output
    assert "30" in result.output
    assert [row.request_key for row in kept_rows()] == ["current"]


def test_post_user_is_idempotent_too(client, auth, admin):
    body = {"username": "carol", "password": "carolpass1"}
    first = post(client, auth, admin, body=body, path="/user")
    again = post(client, auth, admin, body=body, path="/user")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert count(User) == 2  # the admin and carol
    assert "password" not in kept_rows()[0].body


def test_the_document_describes_the_headers(client):
    document = client.get("/openapi.json").get_json()
    for path in ("/template", "/user"):
        operation = document["paths"][path]["post"]
        assert {"$ref": "#/components/parameters/Idempotency-Key"} in operation["parameters"]
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
        assert {"409", "422"} <= set(operation["responses"])
    assert "Idempotency-Key" in document["components"]["parameters"]
    assert "Idempotent-Replayed" in document["components"]["headers"]
    assert "Idempotency-Key" not in str(document["paths"]["/app"]["post"])
