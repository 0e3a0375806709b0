"""The collection query language (contract §5): filters, ordering, pages, cursors, fields.

Runs on whatever database the fixtures use (SQLite by default, `TEST_DATABASE_URL` for
PostgreSQL or MariaDB): `like`, `ilike`, text comparison and ordering must agree on all three.
`QUERY_CURSOR_WALK_SIZE` sets how many templates the long cursor walk goes through.
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode, urlsplit

import flask_migrate
import pytest
from alembic import command
from conftest import assert_problem, statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import logging_left_alone
from sqlalchemy import delete, func, insert, inspect, select

from meme_api.extensions import db
from meme_api.models import Template, User
from meme_api.query.cursors import seal, unseal
from meme_api.query.portable import sqlite_like

WALK_SIZE = int(os.environ.get("QUERY_CURSOR_WALK_SIZE", "2000"))
T0 = datetime(2026, 1, 1)
CURSOR_META_KEYS = {"per_page", "next_cursor", "next"}
PAGE_META_KEYS = {"page", "pages", "per_page", "total", "first", "last", "prev", "next"}
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])


# --- helpers -------------------------------------------------------------------------------


def add(owner=None, title: str = "t", *, description: str | None = None, approved: bool = True,
        posted: datetime | None = None) -> int:
    """Insert one template straight into the database and return its id."""
    template = Template(title=title, url="https://e.org/x.png", description=description,
                        approved=approved, posted=posted or T0, updated=posted or T0,
                        owner=owner.user if owner is not None else None)
    db.session.add(template)
    db.session.commit()
    return template.id


def add_many(owner, count: int, *, approved: bool = True, spread: int = 7) -> list[int]:
    """Insert `count` templates in one statement; every `spread` of them share a `posted`."""
    owner_id = owner.user.id if owner is not None else None
    db.session.execute(insert(Template), [
        {"title": f"bulk {n}", "url": "https://e.org/b.png", "approved": approved,
         "posted": T0 + timedelta(seconds=n // spread), "updated": T0, "owner_id": owner_id,
         "version": 1}
        for n in range(count)])
    db.session.commit()
    return list(db.session.scalars(db.select(Template.id).order_by(Template.id)))[-count:]


def get(client, auth, account, path: str = "/template", query: str | dict | list = ""):
    """GET a collection; `query` is a raw query string or pairs to encode."""
    if not isinstance(query, str):
        query = urlencode(query)
    return client.get(f"{path}?{query}" if query else path, headers=auth.headers(account))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["templates"]]


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["username"] for item in response.get_json()["users"]]


def walk(client, auth, account, path: str, query: dict | list, between_pages=None) -> list[dict]:
    """Every item of a cursor walk, following `meta.next`; checks each page's shape."""
    pairs = list(query.items()) if isinstance(query, dict) else list(query)
    response = get(client, auth, account, path, [*pairs, ("cursor", "")])
    items: list[dict] = []
    while True:
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        key = "users" if path == "/user" else "templates"
        items += body[key]
        meta = body["meta"]
        assert set(meta) == CURSOR_META_KEYS
        assert "X-Total-Count" not in response.headers
        if meta["next_cursor"] is None:
            assert meta["next"] is None
            return items
        assert dict(parse_qsl(urlsplit(meta["next"]).query))["cursor"] == meta["next_cursor"]
        assert response.headers["Link"] == f'<{meta["next"]}>; rel="next"'
        if between_pages is not None:
            between_pages()
        response = client.get(meta["next"], headers=auth.headers(account))


def errors_of(response) -> dict:
    """The `errors` of a 400 problem document."""
    return assert_problem(response, 400)["errors"]


# --- a small catalogue ---------------------------------------------------------------------


@pytest.fixture
def catalog(admin, alice, bob) -> SimpleNamespace:
    """Five templates covering every type, NULL, ties, wildcards and an ownerless row."""
    day = timedelta(days=1)
    return SimpleNamespace(
        cat=add(alice, "Cat", description="A cat", posted=T0),
        nap=add(alice, "cat nap", approved=False, posted=T0 + day),
        dog=add(bob, "Dog 100%", description="loyal_dog", posted=T0 + 2 * day),
        orphan=add(None, "dog_100", description="Ünïcode é", posted=T0 + 2 * day),
        bird=add(bob, "Bird\\back", description="", approved=False, posted=T0 + 4 * day),
    )


def expect(client, auth, account, query, expected: list[int], path: str = "/template"):
    response = get(client, auth, account, path, query)
    assert ids(response) == expected, query
    assert response.get_json()["meta"]["total"] == len(expected)


def test_integer_operators(client, auth, admin, catalog):
    c = catalog
    cases = [
        (f"id={c.dog}", [c.dog]), (f"id__eq={c.dog}", [c.dog]),
        (f"id__ne={c.dog}", [c.cat, c.nap, c.orphan, c.bird]),
        (f"id__lt={c.dog}", [c.cat, c.nap]), (f"id__lte={c.dog}", [c.cat, c.nap, c.dog]),
        (f"id__gt={c.dog}", [c.orphan, c.bird]), (f"id__gte={c.dog}", [c.dog, c.orphan, c.bird]),
        (f"id__in={c.bird},{c.cat},2147483647", [c.cat, c.bird]), ("id__is=null", []),
        (f"id=%2B{c.cat}", [c.cat]), ("id=-1", []),
    ]
    for query, expected in cases:
        expect(client, auth, admin, query, expected)


def test_text_operators_and_patterns(client, auth, admin, catalog):
    c = catalog
    cases = [
        ({"title": "Cat"}, [c.cat]), ({"title__ne": "Cat"}, [c.nap, c.dog, c.orphan, c.bird]),
        ({"title__in": "Cat,dog_100,nope"}, [c.cat, c.orphan]),
        ({"title__lt": "D"}, [c.cat, c.bird]), ({"title__gte": "c"}, [c.nap, c.orphan]),
        ({"title__like": "cat%"}, [c.nap]), ({"title__like": "Cat%"}, [c.cat]),
        ({"title__ilike": "cat%"}, [c.cat, c.nap]), ({"title__ilike": "CAT%"}, [c.cat, c.nap]),
        ({"title__like": "%100\\%"}, [c.dog]), ({"title__like": "%100%"}, [c.dog, c.orphan]),
        ({"title__like": "dog\\_100"}, [c.orphan]), ({"title__like": "dog_100"}, [c.orphan]),
        ({"title__like": "Dog_100_"}, [c.dog]), ({"title__ilike": "dog_100"}, [c.orphan]),
        ({"title__like": "Bird\\\\back"}, [c.bird]), ({"title__like": "Bird\\back"}, []),
        ({"title__like": "_"}, []), ({"title__like": "___"}, [c.cat]),
        ({"title__like": "%"}, [c.cat, c.nap, c.dog, c.orphan, c.bird]),
        ({"description__is": "null"}, [c.nap]), ({"description__is": "NULL"}, [c.nap]),
        ({"description__like": "%"}, [c.cat, c.dog, c.orphan, c.bird]),
        ({"description": ""}, [c.bird]), ({"description__ne": ""}, [c.cat, c.dog, c.orphan]),
        ({"description__like": "%é"}, [c.orphan]), ({"description__like": "_n_code%"}, [c.orphan]),
        ({"description__like": "Ün_code _"}, [c.orphan]),
        ({"description__ilike": "%LOYAL%"}, [c.dog]), ({"url": "https://e.org/x.png"},
                                                      [c.cat, c.nap, c.dog, c.orphan, c.bird]),
    ]
    for query, expected in cases:
        expect(client, auth, admin, query, expected)


def test_text_compares_exactly_on_every_backend(client, auth, admin):
    # MariaDB's utf8mb4_bin ignores trailing spaces and PostgreSQL may use a locale; neither may
    # show through: text compares and orders by code point, and trailing spaces count.
    pad, padded, upper, accent = (add(admin, title) for title in ("pad", "pad ", "Pad", "pád"))
    expect(client, auth, admin, {"title": "pad"}, [pad])
    expect(client, auth, admin, {"title": "pad "}, [padded])
    expect(client, auth, admin, {"title__lt": "pad"}, [upper])
    expect(client, auth, admin, {"title__gt": "pad"}, [padded, accent])
    expect(client, auth, admin, {"title__like": "pad"}, [pad])
    expect(client, auth, admin, {"title__ilike": "PAD"}, [pad, upper])
    expect(client, auth, admin, {"ordering": "title"}, [upper, pad, padded, accent])
    expect(client, auth, admin, {"ordering": "-title"}, [accent, padded, pad, upper])


def test_ilike_folds_accented_letters_where_the_database_does(client, auth, admin):
    sqlite = db.engine.dialect.name == "sqlite"  # there `ilike` lower-cases with Python
    if not sqlite and db.session.scalar(select(func.lower("É"))) != "é":
        pytest.skip("this PostgreSQL database uses the C locale: lower() folds ASCII only")
    upper, lower = add(admin, "CAFÉ"), add(admin, "café")
    expect(client, auth, admin, {"title__ilike": "café"}, [upper, lower])
    expect(client, auth, admin, {"title__like": "café"}, [lower])
    expect(client, auth, admin, {"q": "É"}, [upper, lower])


def test_boolean_operators(client, auth, admin, catalog):
    c = catalog
    approved, pending = [c.cat, c.dog, c.orphan], [c.nap, c.bird]
    for word, expected in (("true", approved), ("1", approved), ("TRUE", approved),
                           ("false", pending), ("0", pending), ("False", pending)):
        expect(client, auth, admin, {"approved": word}, expected)
    expect(client, auth, admin, {"approved__ne": "true"}, pending)
    expect(client, auth, admin, {"approved__is": "true"}, approved)
    expect(client, auth, admin, {"approved__is": "false"}, pending)
    expect(client, auth, admin, {"approved__is": "null"}, [])
    expect(client, auth, admin, {"approved__in": "true,0"}, sorted(approved + pending))


def test_timestamp_operators_and_formats(client, auth, admin, catalog):
    c = catalog
    cases = [
        ("posted=2026-01-03T00:00:00Z", [c.dog, c.orphan]),
        ("posted=2026-01-03", [c.dog, c.orphan]),
        ("posted=2026-01-03T00:00:00", [c.dog, c.orphan]),
        ("posted=2026-01-03%2000:00:00", [c.dog, c.orphan]),
        ("posted=2026-01-03T01:00:00%2B01:00", [c.dog, c.orphan]),
        ("posted=2026-01-02T19:00:00-05:00", [c.dog, c.orphan]),
        ("posted=2026-01-03T00:00:00.000Z", [c.dog, c.orphan]),
        ("posted__ne=2026-01-03T00:00:00Z", [c.cat, c.nap, c.bird]),
        ("posted__lt=2026-01-02T00:00:01Z", [c.cat, c.nap]),
        ("posted__lte=2026-01-02", [c.cat, c.nap]),
        ("posted__gt=2026-01-03", [c.bird]), ("posted__gte=2026-01-03", [c.dog, c.orphan, c.bird]),
        ("posted__in=2026-01-01,2026-01-05T00:00:00Z", [c.cat, c.bird]),
        ("posted__is=null", []), ("posted__gt=0001-01-01", [c.cat, c.nap, c.dog, c.orphan, c.bird]),
        ("posted__lt=9999-12-31T23:59:59", [c.cat, c.nap, c.dog, c.orphan, c.bird]),
        ("updated__gte=2026-01-05", [c.bird]),
    ]
    for query, expected in cases:
        expect(client, auth, admin, query, expected)


def test_joins_to_the_owner(client, auth, admin, alice, bob, catalog):
    c = catalog
    cases = [
        ({"user": alice.public_id}, [c.cat, c.nap]),
        ({"user": alice.public_id.upper()}, [c.cat, c.nap]),
        ({"user__public_id": bob.public_id}, [c.dog, c.bird]),
        ({"user__ne": bob.public_id}, [c.cat, c.nap]),
        ({"user__in": f"{alice.public_id},{bob.public_id}"}, [c.cat, c.nap, c.dog, c.bird]),
        ({"user__is": "null"}, [c.orphan]), ({"user": str(uuid.uuid4())}, []),
        ({"user__username": "bob"}, [c.dog, c.bird]), ({"user__username": "Bob"}, []),
        ({"user__username__ilike": "B%"}, [c.dog, c.bird]),
        ({"user__username__like": "_l%"}, [c.cat, c.nap]),
        ({"user__username__in": "alice,admin"}, [c.cat, c.nap]),
        ({"user__username__is": "null"}, [c.orphan]),
    ]
    for query, expected in cases:
        expect(client, auth, admin, query, expected)
    # The owner is still reported from the join, with one statement for the page.
    body = get(client, auth, admin, "/template", {"user__username": "alice"}).get_json()
    assert {(t["user_id"], t["username"]) for t in body["templates"]} == {
        (alice.public_id, "alice")}


def test_search_q(client, auth, admin, catalog):
    c = catalog
    cases = [
        ({"q": "CAT"}, [c.cat, c.nap]), ({"q": "100%"}, [c.dog]), ({"q": "_"}, [c.dog, c.orphan]),
        ({"q": "LOYAL"}, [c.dog]), ({"q": "é"}, [c.orphan]), ({"q": "\\"}, [c.bird]),
        ({"q": "zebra"}, []), ({"q": ""}, [c.cat, c.nap, c.dog, c.orphan, c.bird]),
        ({"q": "cat", "approved": "true"}, [c.cat]),
    ]
    for query, expected in cases:
        expect(client, auth, admin, query, expected)


def test_filters_combine_with_and_and_repeat(client, auth, admin, alice, catalog):
    c = catalog
    expect(client, auth, admin, {"user": alice.public_id, "approved": "true"}, [c.cat])
    expect(client, auth, admin, [("id__ne", c.cat), ("id__ne", c.dog)], [c.nap, c.orphan, c.bird])
    expect(client, auth, admin, [("title__ilike", "%a%"), ("title__ilike", "%t%")],
           [c.cat, c.nap])
    expect(client, auth, admin, {"posted__gte": "2026-01-02", "posted__lt": "2026-01-05",
                                 "description__is": "null"}, [c.nap])


def test_user_collection_filters(client, auth, admin, alice, bob):
    carol = auth.make_user("Carol", "carolpass1")
    db.session.execute(db.update(User).where(User.id == bob.user.id)
                       .values(active=False, created=T0))
    db.session.commit()
    cases = [
        ({"username": "alice"}, ["alice"]), ({"username": "carol"}, []),
        ({"username__ilike": "CAR%"}, ["Carol"]), ({"admin": "true"}, ["admin"]),
        ({"active": "false"}, ["bob"]), ({"active__ne": "false"}, ["admin", "alice", "Carol"]),
        ({"public_id": carol.public_id}, ["Carol"]),
        ({"public_id__in": f"{alice.public_id},{carol.public_id}"}, ["alice", "Carol"]),
        ({"created__lt": "2026-01-02"}, ["bob"]), ({"created__gt": "2026-01-02"},
                                                  ["admin", "alice", "Carol"]),
    ]
    for query, expected in cases:
        assert names(get(client, auth, admin, "/user", query)) == expected, query


# --- visibility ----------------------------------------------------------------------------


def test_no_filter_reveals_what_the_caller_cannot_see(client, auth, admin, alice, bob):
    hidden = add(bob, "secret plan", description="hidden", approved=False)
    public = add(bob, "public", approved=True)
    mine = add(alice, "mine", approved=False)
    probes = [{"id": hidden}, {"approved": "false"}, {"user": bob.public_id},
              {"user__username": "bob"}, {"q": "secret"}, {"title__like": "%"},
              {"description__is": "null"}, {"approved__is": "false"}, {"ordering": "-id"}]
    for path in ("/template", "/"):
        for query in probes:
            response = get(client, auth, alice, path, query)
            assert hidden not in ids(response), (path, query)
            assert set(ids(response)) <= {public, mine}
        walked = walk(client, auth, alice, path, {"limit": 1})
        assert hidden not in [t["id"] for t in walked]
    # The feed hides others' unapproved templates from admins too.
    assert ids(get(client, auth, admin, "/", {"approved": "false"})) == []
    assert ids(get(client, auth, admin, "/template", {"approved": "false"})) == [hidden, mine]


def test_a_cursor_does_not_carry_visibility(client, auth, admin, alice, bob):
    """A cursor only marks a position: used by someone else it shows only what they may see."""
    made = [add(bob, f"t{n}", approved=n % 2 == 0) for n in range(6)]
    first = get(client, auth, admin, "/template", {"cursor": "", "limit": 2}).get_json()
    assert [t["id"] for t in first["templates"]] == made[:2]
    rest = get(client, auth, alice, "/template",
               {"cursor": first["meta"]["next_cursor"], "limit": 10})
    assert ids(rest) == [made[2], made[4]]


# --- ordering ------------------------------------------------------------------------------


def test_template_orderings(client, auth, admin, catalog):
    c = catalog
    cases = [
        ("id", [c.cat, c.nap, c.dog, c.orphan, c.bird]),
        ("-id", [c.bird, c.orphan, c.dog, c.nap, c.cat]),
        ("title", [c.bird, c.cat, c.dog, c.nap, c.orphan]),
        ("-title", [c.orphan, c.nap, c.dog, c.cat, c.bird]),
        ("posted", [c.cat, c.nap, c.dog, c.orphan, c.bird]),
        ("-posted", [c.bird, c.orphan, c.dog, c.nap, c.cat]),
        ("approved,-posted", [c.bird, c.nap, c.dog, c.orphan, c.cat]),
        ("-approved,posted", [c.cat, c.orphan, c.dog, c.nap, c.bird]),
        ("user__username", [c.cat, c.nap, c.dog, c.bird, c.orphan]),
        ("-user__username", [c.orphan, c.bird, c.dog, c.nap, c.cat]),
        ("user__username,-posted", [c.nap, c.cat, c.bird, c.dog, c.orphan]),
        ("updated,-id", [c.cat, c.nap, c.orphan, c.dog, c.bird]),
        (" -posted , id ", [c.bird, c.dog, c.orphan, c.nap, c.cat]),
    ]
    for ordering, expected in cases:
        expect(client, auth, admin, {"ordering": ordering}, expected)


def test_default_orderings(client, auth, admin, catalog):
    c = catalog
    expect(client, auth, admin, "", [c.cat, c.nap, c.dog, c.orphan, c.bird])
    # The feed: newest first, ties newest id first; only approved and the caller's own.
    expect(client, auth, admin, "", [c.orphan, c.dog, c.cat], path="/")


def test_user_orderings(client, auth, admin, alice, bob):
    auth.make_user("Carol", "carolpass1")
    db.session.execute(db.update(User).where(User.id == alice.user.id).values(created=T0))
    db.session.commit()
    cases = [
        ("", ["alice", "admin", "bob", "Carol"]),
        ("username", ["admin", "alice", "bob", "Carol"]),
        ("-username", ["Carol", "bob", "alice", "admin"]),
        ("-created", ["Carol", "bob", "admin", "alice"]),
        ("admin,created", ["alice", "bob", "Carol", "admin"]),
        ("-admin,-active,username", ["admin", "alice", "bob", "Carol"]),
    ]
    for ordering, expected in cases:
        query = {"ordering": ordering} if ordering else {}
        assert names(get(client, auth, admin, "/user", query)) == expected, ordering


# --- page mode -----------------------------------------------------------------------------


def test_page_meta_links_and_headers_keep_filters(client, auth, admin, alice):
    made = [add(alice, f"n{n}", posted=T0 + timedelta(hours=n)) for n in range(7)]
    query = [("title__like", "n%"), ("ordering", "-posted"), ("fields", "title"),
             ("per_page", "2"), ("page", "2")]
    response = get(client, auth, admin, "/template", query)
    body = response.get_json()
    assert [t["id"] for t in body["templates"]] == [made[4], made[3]]
    assert all(set(t) == {"id", "title"} for t in body["templates"])
    kept = "title__like=n%25&ordering=-posted&fields=title&limit=2"
    assert body["meta"] == {"page": 2, "pages": 4, "per_page": 2, "total": 7,
                            "first": f"/template?{kept}&page=1",
                            "last": f"/template?{kept}&page=4",
                            "prev": f"/template?{kept}&page=1",
                            "next": f"/template?{kept}&page=3"}
    assert response.headers["X-Total-Count"] == "7"
    assert response.headers["Link"] == ", ".join(
        f'</template?{kept}&page={page}>; rel="{rel}"'
        for rel, page in (("first", 1), ("prev", 1), ("next", 3), ("last", 4)))
    following = get(client, auth, admin, "/template", urlsplit(body["meta"]["next"]).query)
    assert ids(following) == [made[2], made[1]]


def test_page_mode_counts_only_matching_visible_rows(client, auth, alice, bob):
    add(bob, "hidden", approved=False)
    add(bob, "shown")
    add(alice, "shown too", approved=False)
    response = get(client, auth, alice, "/template", {"title__like": "%"})
    assert response.get_json()["meta"]["total"] == 2
    assert response.headers["X-Total-Count"] == "2"


# --- cursor mode ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "ordering"), [
    ("/template", None), ("/template", "id"), ("/template", "-id"), ("/template", "posted"),
    ("/template", "-posted"), ("/", None), ("/", "posted"), ("/", "id"), ("/", "-id"),
])
def test_cursor_walk_matches_page_mode(client, auth, admin, alice, bob, path, ordering):
    for n in range(23):
        add([admin, alice, bob][n % 3], f"w{n}", approved=n % 4 != 0,
            posted=T0 + timedelta(seconds=n % 5))
    query = {"ordering": ordering} if ordering else {}
    expected = ids(get(client, auth, alice, path, {**query, "limit": 100}))
    for limit in (1, 4, 100):
        walked = [t["id"] for t in walk(client, auth, alice, path, {**query, "limit": limit})]
        assert walked == expected


def test_cursor_meta_and_the_last_page(client, auth, admin):
    made = [add(admin, f"c{n}") for n in range(3)]
    first = get(client, auth, admin, "/template", {"cursor": "", "per_page": 2})
    body = first.get_json()
    assert set(body["meta"]) == CURSOR_META_KEYS and body["meta"]["per_page"] == 2
    assert "X-Total-Count" not in first.headers
    assert body["meta"]["next"] == "/template?" + urlencode(
        {"limit": 2, "cursor": body["meta"]["next_cursor"]})
    last = client.get(body["meta"]["next"], headers=auth.headers(admin))
    assert ids(last) == made[2:]
    assert last.get_json()["meta"] == {"per_page": 2, "next_cursor": None, "next": None}
    assert "Link" not in last.headers
    exact = get(client, auth, admin, "/template", {"cursor": "", "limit": 3}).get_json()
    assert exact["meta"]["next_cursor"] is None
    empty = get(client, auth, admin, "/template", {"cursor": "", "id__gt": made[-1]})
    assert empty.get_json() == {"templates": [], "meta": {"per_page": 20, "next_cursor": None,
                                                          "next": None}}


def test_user_cursor_walks(client, auth, admin, alice, bob):
    for n in range(6):
        auth.make_user(f"user{n}", "password123")
    for ordering in (None, "created", "-created"):
        query = {"ordering": ordering} if ordering else {}
        expected = names(get(client, auth, admin, "/user", query))
        walked = walk(client, auth, admin, "/user", {**query, "limit": 2, "fields": "username"})
        assert [u["username"] for u in walked] == expected
        assert all(set(u) == {"public_id", "username"} for u in walked)


def test_cursor_does_not_reveal_internal_ids(client, auth, admin, alice):
    response = get(client, auth, admin, "/user", {"cursor": "", "limit": 1})
    cursor = response.get_json()["meta"]["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b'"k":' not in raw and b'"o":' not in raw and b"created" not in raw


def test_cursor_walk_while_rows_are_inserted(client, auth, admin, alice):
    original = [add(admin, f"o{n}", posted=T0 + timedelta(minutes=n % 6)) for n in range(30)]
    inserted: list[int] = []

    def insert_some():
        # Before, among and after the rows already walked, with equal timestamps too; only
        # during the first pages, or a walk towards where rows are added would never end.
        if len(inserted) < 15:
            for minutes in (0, 3, 9):
                inserted.append(add(alice, "new", posted=T0 + timedelta(minutes=minutes)))

    for query in ({"limit": 4}, {"limit": 4, "ordering": "posted"},
                  {"limit": 4, "ordering": "-posted"}, {"limit": 3, "ordering": "-id"},
                  {"limit": 3, "ordering": "id"}):
        seen = [t["id"] for t in walk(client, auth, admin, "/template", query, insert_some)]
        assert len(seen) == len(set(seen)), query
        in_order = ids(get(client, auth, admin, "/template",
                           {"ordering": query.get("ordering", "id"), "limit": 100,
                            "id__lte": original[-1]}))
        assert [i for i in seen if i <= original[-1]] == in_order, query
        if query.get("ordering") == "id":
            assert set(inserted) <= set(seen)
        inserted.clear()


def test_long_cursor_walk_sees_every_row_once(client, auth, admin, alice):
    """`QUERY_CURSOR_WALK_SIZE` templates through the feed, newest first, 100 a page."""
    made = add_many(alice, WALK_SIZE)
    with statements() as sent:
        walked = walk(client, auth, admin, "/", {"limit": 100})
    seen = [t["id"] for t in walked]
    assert len(seen) == len(set(seen)) == WALK_SIZE
    assert set(seen) == set(made)
    keys = [(t["posted"], t["id"]) for t in walked]
    assert keys == sorted(keys, reverse=True)
    listing = [s for s in sent if "FROM templates" in s]
    assert len(listing) == max(1, -(-WALK_SIZE // 100))  # one statement a page, no COUNT
    assert not any(re.search(r"\bcount\(", s, re.IGNORECASE) for s in listing)
    if db.engine.dialect.name != "sqlite":  # SQLite's dialect always writes `OFFSET 0`
        assert not any(re.search(r"\bOFFSET\b", s, re.IGNORECASE) for s in listing)


def test_stale_and_tampered_cursors_are_400(app, client, auth, admin):
    for n in range(5):
        add(admin, f"s{n}", posted=T0 + timedelta(hours=n))
    start = get(client, auth, admin, "/template", {"cursor": "", "limit": 2, "title__like": "s%"})
    cursor = start.get_json()["meta"]["next_cursor"]
    secret = app.config["SECRET_KEY"]
    payload = unseal(cursor, secret)
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    cases = [
        ({"cursor": cursor, "title__like": "s%", "ordering": "-id"}, "cursor"),
        ({"cursor": cursor, "title__like": "x%"}, "cursor"),
        ({"cursor": cursor}, "cursor"),
        ({"cursor": cursor, "title__like": "s%", "approved": "true"}, "cursor"),
        ({"cursor": flipped, "title__like": "s%"}, "cursor"),
        ({"cursor": cursor[:-3], "title__like": "s%"}, "cursor"),
        ({"cursor": cursor + "AAAA", "title__like": "s%"}, "cursor"),
        ({"cursor": "not a cursor!", "title__like": "s%"}, "cursor"),
        ({"cursor": "eyJvIjpbImlkIl19", "title__like": "s%"}, "cursor"),
        ({"cursor": seal(payload, "another secret that is long enough!!"),
          "title__like": "s%"}, "cursor"),
        ({"cursor": seal({**payload, "k": ["x"]}, secret), "title__like": "s%"}, "cursor"),
        ({"cursor": seal({**payload, "k": ["not-a-number"]}, secret), "title__like": "s%"},
         "cursor"),
        ({"cursor": "A" * 5000, "title__like": "s%"}, "cursor"),
    ]
    for query, parameter in cases:
        assert parameter in errors_of(get(client, auth, admin, "/template", query)), query
    # The same cursor on another collection (the feed) is stale too.
    assert "cursor" in errors_of(get(client, auth, admin, "/", {"cursor": cursor,
                                                                 "title__like": "s%"}))
    # Other fields and another limit are fine: only what selects and orders rows counts.
    fine = get(client, auth, admin, "/template",
               {"cursor": cursor, "title__like": "s%", "limit": 1, "fields": "title"})
    assert len(ids(fine)) == 1


@pytest.mark.parametrize(("path", "query", "parameter"), [
    ("/template", {"cursor": "", "ordering": "title"}, "ordering"),
    ("/template", {"cursor": "", "ordering": "-posted,id"}, "ordering"),
    ("/template", {"cursor": "", "ordering": "user__username"}, "ordering"),
    ("/template", {"cursor": "", "page": "2"}, "page"),
    ("/", {"cursor": "", "ordering": "updated"}, "ordering"),
    ("/user", {"cursor": "", "ordering": "username"}, "ordering"),
])
def test_cursor_with_an_unsupported_ordering_or_page_is_400(client, auth, admin, path, query,
                                                            parameter):
    assert parameter in errors_of(get(client, auth, admin, path, query))


# --- sparse fields -------------------------------------------------------------------------


def test_sparse_fields(client, auth, admin, alice, catalog):
    cases = [("title,url", {"id", "title", "url"}), ("id", {"id"}),
             ("username, user_id", {"id", "username", "user_id"}),
             ("posted,updated,approved,description", {"id", "posted", "updated", "approved",
                                                      "description"})]
    for fields, keys in cases:
        body = get(client, auth, admin, "/template", {"fields": fields}).get_json()
        assert body["templates"] and all(set(t) == keys for t in body["templates"]), fields
    users = get(client, auth, admin, "/user", {"fields": "username"}).get_json()["users"]
    assert users and all(set(u) == {"public_id", "username"} for u in users)
    walked = walk(client, auth, alice, "/", {"fields": "title", "limit": 2})
    assert walked and all(set(t) == {"id", "title"} for t in walked)


# --- errors --------------------------------------------------------------------------------


BAD_TEMPLATE_QUERIES = [
    ("foo=1", "foo"), ("password_hash=x", "password_hash"), ("owner_id=1", "owner_id"),
    ("version=1", "version"), ("user__id=1", "user__id"), ("user__password_hash=x",
                                                            "user__password_hash"),
    ("user__username_key=x", "user__username_key"), ("user__version=1", "user__version"),
    ("title__regex=x", "title__regex"), ("title__=x", "title__"), ("__eq=1", "__eq"),
    ("approved__like=t", "approved__like"), ("id__like=1", "id__like"),
    ("approved__lt=true", "approved__lt"), ("user__gt=x", "user__gt"),
    ("user__like=x", "user__like"), ("id__contains=1", "id__contains"),
    ("id=abc", "id"), ("id=1.5", "id"), ("id=", "id"), ("id=%201", "id"), ("id=1e3", "id"),
    ("id=0x10", "id"), ("id=1_000", "id"), ("id=%D9%A3", "id"),
    ("id=2147483648", "id"), ("id=-2147483649", "id"), ("id=9223372036854775808", "id"),
    ("id=99999999999999999999999999999999", "id"), ("id__gt=" + "9" * 5000, "id__gt"),
    ("id__in=1,,2", "id__in"), ("id__in=", "id__in"), ("id__in=" + ",".join("1" * 101),
                                                       "id__in"),
    ("id__is=1", "id__is"), ("id__is=notnull", "id__is"),
    ("approved=yes", "approved"), ("approved=", "approved"), ("approved__is=maybe",
                                                              "approved__is"),
    ("posted=yesterday", "posted"), ("posted=2026-13-01", "posted"),
    ("posted=99999-01-01", "posted"), ("posted=0000-01-01", "posted"),
    ("posted=9999-12-31T23:59:59-05:00", "posted"), ("posted=0001-01-01T00:00:00%2B05:00",
                                                       "posted"),
    ("posted=", "posted"), ("posted=2026-01-01T25:00", "posted"),
    ("posted=%EF%BC%92026-01-01", "posted"), ("updated__gt=2026-02-30", "updated__gt"),
    ("user=not-a-uuid", "user"), ("user=", "user"), ("user__public_id=123", "user__public_id"),
    ("title__like=abc%5C", "title__like"), ("title__ilike=%5C", "title__ilike"),
    ("title=a%00b", "title"), ("q=%00", "q"), ("title__is=true", "title__is"),
    ("description__is=", "description__is"), ("title=" + "x" * 5000, "title"),
    ("ordering=", "ordering"), ("ordering=nope", "ordering"), ("ordering=password_hash",
                                                               "ordering"),
    ("ordering=id,id", "ordering"), ("ordering=id,-id", "ordering"), ("ordering=-", "ordering"),
    ("ordering=description", "ordering"), ("ordering=user__public_id", "ordering"),
    ("ordering=id,", "ordering"), ("ordering=--id", "ordering"),
    ("fields=", "fields"), ("fields=password_hash", "fields"), ("fields=user", "fields"),
    ("fields=title,,url", "fields"), ("fields=owner_id", "fields"), ("fields=-title", "fields"),
    ("fields=title,title", "fields"),
    ("page=1&page=2", "page"), ("ordering=id&ordering=-id", "ordering"),
    ("limit=2&per_page=3", "per_page"), ("cursor=&cursor=", "cursor"), ("q=a&q=b", "q"),
    ("fields=id&fields=title", "fields"), ("limit=", "limit"), ("limit=1.0", "limit"),
    ("page=0", "page"), ("page=1000000001", "page"), ("page=" + "9" * 5000, "page"),
    ("per_page=-1", "per_page"),
]


@pytest.mark.parametrize(("query", "parameter"), BAD_TEMPLATE_QUERIES)
def test_bad_template_queries_are_400_naming_the_parameter(client, auth, alice, query,
                                                           parameter):
    for path in ("/template", "/"):
        response = client.get(f"{path}?{query}", headers=auth.headers(alice))
        assert parameter in errors_of(response), (path, query)


@pytest.mark.parametrize(("query", "parameter"), [
    ("password_hash=x", "password_hash"), ("username_key=alice", "username_key"),
    ("id=1", "id"), ("version=1", "version"), ("q=alice", "q"), ("user=x", "user"),
    ("username__gt=a&admin__gt=true", "admin__gt"), ("public_id=1", "public_id"),
    ("public_id__like=a%", "public_id__like"), ("created=soon", "created"),
    ("ordering=id", "ordering"), ("ordering=password_hash", "ordering"),
    ("ordering=username_key", "ordering"), ("fields=id", "fields"),
    ("fields=password_hash", "fields"), ("fields=username_key", "fields"),
    ("cursor=&ordering=admin", "ordering"),
])
def test_bad_user_queries_are_400_naming_the_parameter(client, auth, admin, query, parameter):
    assert parameter in errors_of(client.get(f"/user?{query}", headers=auth.headers(admin)))


def test_every_offending_parameter_is_named_at_once(client, auth, alice):
    response = get(client, auth, alice, "/template", "id=x&foo=1&ordering=nope&fields=&page=0")
    assert set(errors_of(response)) == {"id", "foo", "ordering", "fields", "page"}


def test_values_that_are_not_utf8_never_cause_a_5xx(client, auth, alice):
    for raw in ("title=%ED%A0%80", "title=%FF%FE", "q=%C0%AF", "%ED%A0%80=1",
                "posted=%ED%A0%80", "ordering=%FF", "cursor=%FF%FF", "fields=%ED%B0%80"):
        response = client.get(f"/template?{raw}", headers=auth.headers(alice))
        assert response.status_code in (200, 400), raw
        if response.status_code == 400:
            assert "errors" in assert_problem(response, 400)


PARAMETER_NAMES = [
    *(f"{field}{op}" for field in ("id", "title", "description", "approved", "posted", "user",
                                   "user__username", "user__public_id")
      for op in ("", "__eq", "__ne", "__lt", "__gte", "__in", "__is", "__like", "__ilike")),
    "page", "limit", "per_page", "cursor", "ordering", "fields", "q", "user__x", "x__eq",
]
WEIRD_VALUES = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["", "null", "true", "0", "-0", "2147483647", "2147483648", "-2147483648",
                     "9" * 40, "2026-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "%", "_",
                     "\\", "%\\", "\x00", "id,-id", "-posted", "title,url", ",", "1,2,3",
                     "\U0001F600", "e9572ee6-4b5e-45e4-a840-58a33b04b8a7"]),
)


@PROPERTY_SETTINGS
@given(params=st.lists(st.tuples(st.sampled_from(PARAMETER_NAMES), WEIRD_VALUES), max_size=4))
def test_no_parameter_value_causes_a_5xx(client, auth, alice, params):
    for path in ("/template", "/"):
        response = get(client, auth, alice, path, params)
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        if response.status_code == 400:
            problems = errors_of(response)
            assert set(problems) <= {name for name, _ in params}


# --- the SQL sent ----------------------------------------------------------------------------


LIST_REQUESTS = [
    ("/template", {}), ("/template", {"ordering": "user__username", "user__username": "alice"}),
    ("/template", {"q": "x", "fields": "title"}), ("/", {}), ("/", {"cursor": ""}),
    ("/template", {"cursor": "", "ordering": "posted", "user": "x"}), ("/user", {}),
    ("/user", {"cursor": "", "ordering": "-created"}),
]


@pytest.mark.parametrize(("path", "query"), LIST_REQUESTS)
def test_statements_per_request_do_not_depend_on_the_list_size(client, auth, admin, alice, path,
                                                               query):
    query = {key: alice.public_id if value == "x" and key == "user" else value
             for key, value in query.items()}

    def count_statements() -> tuple[int, int]:
        get(client, auth, admin, path, query)  # settle once-a-minute bookkeeping first
        with statements() as sent:
            response = get(client, auth, admin, path, {**query, "limit": 100})
        assert response.status_code == 200, response.get_data(as_text=True)
        table = "users" if path == "/user" else "templates"
        listing = [s for s in sent if re.search(rf"FROM {table}\b", s)]
        return len(sent), len(listing)

    if path == "/user":
        db.session.execute(delete(User).where(User.id != admin.user.id))
        db.session.commit()
    else:
        add(alice, "x")
    small = count_statements()
    if path == "/user":
        for n in range(49):
            auth.make_user(f"user{n}", "password123")
    else:
        add_many(alice, 49)
    large = count_statements()
    assert small == large
    if path != "/user":
        # Page mode counts only filtered lists; unfiltered totals are kept by the database.
        counted = "cursor" not in query and any(key not in ("ordering", "fields") for key in query)
        assert small[1] == (2 if counted else 1)


# --- property: the API agrees with a plain-Python evaluation -----------------------------


ALPHABET = "aAbB _%\\é€😀"
TIMES = [T0, T0 + timedelta(seconds=1), T0 + timedelta(hours=1), T0 + timedelta(days=1)]
OWNERS = ("admin", "alice", "bob", None)
ORDERINGS = ("id", "title", "posted", "updated", "approved", "user__username")
CURSOR_ORDERINGS = (None, "id", "-id", "posted", "-posted")
NOBODY = "00000000-0000-4000-8000-000000000000"
TEXT_FIELDS = ("title", "description", "user__username")
rows_strategy = st.lists(st.fixed_dictionaries({
    "title": st.text(ALPHABET, min_size=1, max_size=5),
    "description": st.none() | st.text(ALPHABET, max_size=5),
    "approved": st.booleans(),
    "posted": st.sampled_from(TIMES),
    "updated": st.sampled_from(TIMES),
    "owner": st.sampled_from(OWNERS),
}), max_size=9)


def like_to_regex(pattern: str, fold: bool) -> re.Pattern:
    """SQL LIKE with `\\` escapes, as a Python regular expression."""
    out, escaped = [], False
    for character in pattern:
        if escaped:
            out.append(re.escape(character))
            escaped = False
        elif character == "\\":
            escaped = True
        else:
            out.append({"%": ".*", "_": "."}.get(character, re.escape(character)))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if fold else 0))


def sql_match(operator: str, actual, value) -> bool:
    """SQL semantics in Python: NULL matches nothing but `is null`."""
    if operator == "is":
        return actual is value
    if actual is None:
        return False
    match operator:
        case "eq":
            return actual == value
        case "ne":
            return actual != value
        case "lt":
            return actual < value
        case "lte":
            return actual <= value
        case "gt":
            return actual > value
        case "gte":
            return actual >= value
        case "in":
            return actual in value
        case "like":
            return like_to_regex(value, False).fullmatch(actual) is not None
        case "ilike":
            return like_to_regex(value.lower(), False).fullmatch(actual.lower()) is not None
    raise AssertionError(operator)


def timestamp_text(moment: datetime, style: int) -> str:
    """`moment` (UTC) in one of several ISO 8601 spellings."""
    return [moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.isoformat(),
            (moment + timedelta(hours=2)).isoformat() + "+02:00",
            (moment - timedelta(hours=5, minutes=30)).isoformat() + "-05:30"][style]


@st.composite
def like_patterns(draw) -> str:
    parts = draw(st.lists(st.sampled_from(["%", "_", "a", "A", "b", " ", "é", "😀", "\\%",
                                           "\\_", "\\\\", "\\a"]), max_size=5))
    return "".join(parts)


@st.composite
def conditions(draw, people: dict, ids: list[int]) -> tuple[str, str, object, str]:
    """A (field, operator, python value, raw parameter value) for the templates collection."""
    field = draw(st.sampled_from(["id", "title", "description", "approved", "posted", "updated",
                                  "user", "user__username", "user__public_id"]))
    if field in TEXT_FIELDS:
        operator = draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "is",
                                         "like", "ilike"]))
    elif field in ("id", "posted", "updated"):
        operator = draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "is"]))
    else:
        operator = draw(st.sampled_from(["eq", "ne", "in", "is"]))
    if operator == "is":
        words = ["null", "true", "false"] if field == "approved" else ["null"]
        word = draw(st.sampled_from(words))
        return field, operator, {"null": None, "true": True, "false": False}[word], word.upper()
    if operator in ("like", "ilike"):
        pattern = draw(like_patterns())
        return field, operator, pattern, pattern

    def one() -> tuple[object, str]:
        if field == "id":
            number = draw(st.sampled_from(ids or [1])) + draw(st.sampled_from([-1, 0, 0, 1]))
            return number, str(number)
        if field in TEXT_FIELDS:
            text = draw(st.text(ALPHABET.replace(",", ""), max_size=4)
                        | st.sampled_from(["alice", "bob", "admin", "a", "A"]))
            return text, text
        if field == "approved":
            word = draw(st.sampled_from(["true", "false", "1", "0", "TRUE"]))
            return word.lower() in ("true", "1"), word
        if field in ("posted", "updated"):
            moment = draw(st.sampled_from(TIMES)) + timedelta(seconds=draw(st.sampled_from(
                [0, 0, -1, 1])))
            return moment, timestamp_text(moment, draw(st.integers(0, 3)))
        public_id = draw(st.sampled_from([*people.values(), NOBODY]))
        return public_id, public_id.upper() if draw(st.booleans()) else public_id

    if operator == "in":
        values = [one() for _ in range(draw(st.integers(1, 3)))]
        return (field, operator, tuple(v for v, _ in values),
                ",".join(raw for _, raw in values))
    value, raw = one()
    return field, operator, value, raw


def python_order(rows: list[dict], ordering: list[str]) -> list[dict]:
    """ORDER BY in Python: code-point text, NULL after every value, id as the tie-breaker."""
    keys = list(ordering)
    if not any(name.removeprefix("-") == "id" for name in keys):
        keys.append("-id" if keys and keys[0].startswith("-") else "id")
    for name in reversed(keys):
        field = name.removeprefix("-")

        def key(row, field=field):
            value = row[field]
            if field == "user__username" and value is not None:
                value = value.lower()
            return (value is None, value if value is not None else 0)

        rows = sorted(rows, key=key, reverse=name.startswith("-"))
    return rows


@PROPERTY_SETTINGS
@given(data=st.data(), rows=rows_strategy)
def test_api_agrees_with_python(client, auth, admin, alice, bob, data, rows):
    accounts = {"admin": admin, "alice": alice, "bob": bob}
    people = {name: account.public_id for name, account in accounts.items()}
    db.session.execute(delete(Template))
    db.session.commit()
    model = []
    for row in rows:
        owner = accounts.get(row["owner"])
        template_id = add(owner, row["title"], description=row["description"],
                          approved=row["approved"], posted=row["posted"])
        db.session.execute(db.update(Template).where(Template.id == template_id)
                           .values(updated=row["updated"]))
        model.append({**row, "id": template_id, "user": people.get(row["owner"]),
                      "user__public_id": people.get(row["owner"]),
                      "user__username": row["owner"]})
    db.session.commit()

    for _ in range(3):
        path = data.draw(st.sampled_from(["/template", "/"]))
        viewer = data.draw(st.sampled_from(["admin", "alice"]))
        chosen = data.draw(st.lists(conditions(people, [row["id"] for row in model]),
                                    max_size=2))
        search = data.draw(st.none() | st.text(ALPHABET, max_size=2))
        cursor_mode = data.draw(st.booleans())
        if cursor_mode:
            ordering = data.draw(st.sampled_from(CURSOR_ORDERINGS))
            ordering = [ordering] if ordering else []
        else:
            ordering = [("-" if data.draw(st.booleans()) else "") + name for name in data.draw(
                st.lists(st.sampled_from(ORDERINGS), unique=True, max_size=3))]

        visible = [row for row in model
                   if row["approved"] or row["owner"] == viewer
                   or (path == "/template" and viewer == "admin")]
        expected = [row for row in visible
                    if all(sql_match(op, row[field], value) for field, op, value, _ in chosen)
                    and (search is None or search.lower() in row["title"].lower()
                         or search.lower() in (row["description"] or "\n").lower())]
        default = ["-posted"] if path == "/" else []
        expected_ids = [row["id"] for row in python_order(expected, ordering or default)]

        params = [(f"{field}__{op}", raw) for field, op, _, raw in chosen]
        if search is not None:
            params.append(("q", search))
        if ordering:
            params.append(("ordering", ",".join(ordering)))
        if cursor_mode:
            walked = walk(client, auth, accounts[viewer], path, [*params, ("limit", 2)])
            got = [t["id"] for t in walked]
        else:
            response = get(client, auth, accounts[viewer], path, [*params, ("limit", 100)])
            got = ids(response)
            assert response.get_json()["meta"]["total"] == len(expected_ids)
        assert got == expected_ids, (path, viewer, params)


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text("aAb_%\\é", max_size=8), pattern=like_patterns())
def test_sqlite_like_function_agrees_with_a_regex(text, pattern):
    for fold in (False, True):
        expected = sql_match("ilike" if fold else "like", text, pattern)
        assert sqlite_like(text, pattern, int(fold)) == int(expected)


def test_sqlite_like_function_has_no_catastrophic_backtracking():
    started = time.perf_counter()
    assert sqlite_like("a" * 2000, "%a%a%a%a%a%a%a%a%b", 0) == 0
    assert time.perf_counter() - started < 2
    assert sqlite_like(None, "%", 0) is None and sqlite_like("x", "x\\", 0) == 0


# --- the migration -------------------------------------------------------------------------


def test_migrations_build_the_indexes_the_models_declare(app):
    """upgrade → check (no drift) → downgrade → upgrade, on the test database."""
    config = app.extensions["migrate"].migrate.get_config()
    with logging_left_alone():
        flask_migrate.upgrade()
        command.check(config)  # raises when the models and the migrations disagree
        indexes = {index["name"]: index["column_names"]
                   for table in ("templates", "users")
                   for index in inspect(db.engine).get_indexes(table)}
        assert indexes["ix_templates_approved_posted_id"] == ["approved", "posted", "id"]
        assert indexes["ix_templates_posted_id"] == ["posted", "id"]
        assert indexes["ix_templates_owner_id_posted_id"] == ["owner_id", "posted", "id"]
        assert indexes["ix_users_created_id"] == ["created", "id"]
        assert not {"ix_templates_posted", "ix_templates_approved", "ix_users_created",
                    "ix_templates_owner_id"} & set(indexes)
        flask_migrate.downgrade(revision="0001_initial")
        assert "ix_templates_owner_id" in {
            index["name"] for index in inspect(db.engine).get_indexes("templates")}
        flask_migrate.downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        flask_migrate.upgrade()
        command.check(config)
