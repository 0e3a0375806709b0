"""A listed item is its single read: both render the resource's one labelled SELECT
(`Resource.rows`), whatever the collection mode, the viewer or a deleted owner. The caller's own
account is rendered from the row their authentication read, which holds the same fields."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite

from meme_api.accounts import USER
from meme_api.auth import CALLER_COLUMNS


def get_json(client, auth, account, path: str) -> dict:
    response = client.get(path, headers=auth.headers(account))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("path", ["/template?limit=100", "/template?limit=100&cursor=",
                                  "/?limit=100", "/?limit=100&cursor="])
def test_a_listed_template_is_its_single_representation(client, auth, admin, alice, bob, path):
    posted = [
        client.post("/template", headers=auth.headers(account), json=body).get_json()["template"]
        for account, body in [
            (admin, {"title": "approved", "url": "https://e.org/a", "description": "d"}),
            (alice, {"title": "päämäärä 😀", "url": "https://e.org/b"}),
            (bob, {"title": "ownerless soon", "url": "https://e.org/c", "description": ""}),
        ]
    ]
    # An ownerless template (its owner deleted) renders user_id and username as null.
    assert client.delete(f"/user/{bob.public_id}", headers=auth.headers(admin)).status_code == 200
    listed = get_json(client, auth, admin, path)["templates"]
    # The feed shows an admin only the approved template and their own (the same one).
    assert len(listed) == (3 if path.startswith("/template") else 1)
    for item in listed:
        single = get_json(client, auth, admin, f"/template/{item['id']}")["template"]
        assert item == single
        assert list(item) == list(single)  # the same keys in the same order
    assert {item["id"] for item in listed} <= {template["id"] for template in posted}
    if path.startswith("/template"):
        assert listed[2]["user_id"] is None and listed[2]["username"] is None


@pytest.mark.parametrize("path", ["/user?limit=100", "/user?limit=100&cursor="])
def test_a_listed_user_is_their_single_representation(client, auth, admin, alice, bob, path):
    listed = get_json(client, auth, admin, path)["users"]
    assert len(listed) == 3
    for item in listed:
        single = get_json(client, auth, admin, f"/user/{item['public_id']}")["user"]
        assert item == single
        assert list(item) == list(single)


def test_sparse_fields_come_from_the_same_rows(client, auth, admin):
    client.post("/template", headers=auth.headers(admin),
                json={"title": "t", "url": "https://e.org/t"})
    listed = get_json(client, auth, admin, "/template?fields=posted,username")["templates"]
    single = get_json(client, auth, admin, f"/template/{listed[0]['id']}")["template"]
    assert listed == [{"id": single["id"], "posted": single["posted"],
                       "username": single["username"]}]


def test_the_callers_own_account_is_their_single_read(client, auth, admin, alice):
    own = client.get("/user/me", headers=auth.headers(alice))
    read = client.get(f"/user/{alice.public_id}", headers=auth.headers(admin))
    assert own.status_code == read.status_code == 200
    assert own.get_json()["user"] == read.get_json()["user"]
    assert list(own.get_json()["user"]) == list(read.get_json()["user"])
    assert own.headers["ETag"] == read.headers["ETag"]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect(), mysql.dialect()],
                         ids=["sqlite", "postgresql", "mysql"])
def test_the_callers_columns_render_the_users_fields_as_the_resource_does(dialect):
    """GET /user/me answers from the authentication's row: its SQL must be the resource's."""
    callers = {column.key: column for column in CALLER_COLUMNS}
    for name in USER.fields:
        mine = callers[name].compile(dialect=dialect)
        resources = USER.rows.selected_columns[name].compile(dialect=dialect)
        assert str(mine) == str(resources), name
