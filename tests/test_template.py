"""Templates (contract §4): /template, /template/<id> and the feed /, with page mode (§5)."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import SERVER_DATABASE_URL, assert_problem, create_template
from sqlalchemy import func, select

from meme_api.extensions import db
from meme_api.models import Template

VALID = {"title": "Drake", "url": "https://i.imgur.com/drake.png"}
TEMPLATE_KEYS = {"id", "title", "url", "description", "approved", "posted", "updated",
                 "user_id", "username"}
META_KEYS = {"page", "pages", "per_page", "total", "first", "last", "prev", "next"}
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
URL_PREFIX = "https://e.org/"
LONGEST_URL = URL_PREFIX + "a" * (2048 - len(URL_PREFIX))
HUGE_IDS = ("2147483648", "9223372036854775808", "99999999999999999999")
WRITE_METHODS = ("PUT", "PATCH", "DELETE")
ALL_METHODS = ("GET", *WRITE_METHODS)
NOT_FOUND = "No post found"
UPDATED = "Post Updated"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def app_config(app_config) -> dict:
    """SQLite in memory unless a server database is configured: this module makes ~150 apps."""
    if not SERVER_DATABASE_URL:
        app_config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    return app_config


def encoded(body: dict, form: bool) -> dict:
    """Test-client keyword arguments sending `body` as form data or as JSON."""
    return {"data": body} if form else {"json": body}


def post(client, auth, account, *, form: bool = False, **fields):
    """POST /template with VALID overridden by `fields`, as JSON or as form data."""
    return client.post("/template", headers=auth.headers(account),
                       **encoded({**VALID, **fields}, form))


def create(client, auth, account, **fields) -> dict:
    """Create a template through the API (VALID overridden by `fields`); its representation."""
    return create_template(client, auth, account, **{**VALID, **fields})


def send(client, auth, account, method: str, template_id, body: dict | None = None):
    """Call /template/<id> with `method` and an optional JSON body."""
    kwargs = {"json": body} if body is not None else {}
    return client.open(f"/template/{template_id}", method=method,
                       headers=auth.headers(account), **kwargs)


def write_body(method: str) -> dict | None:
    """A body that would be a valid change for PUT and PATCH; DELETE sends none."""
    return {"title": "Changed", "url": "https://e.org/changed.png"} if method != "DELETE" else None


def fetch(client, auth, account, template_id) -> dict:
    """GET /template/<id> and return the template (asserting 200)."""
    response = send(client, auth, account, "GET", template_id)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["template"]


def template_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Template))


def add_templates(owner, count: int, *, approved: bool = True, posted: datetime | None = None,
                  ) -> list[int]:
    """Insert templates straight into the database (fast), returning their ids in order."""
    templates = [Template(title=f"t{n}", url=f"{URL_PREFIX}{n}.png", approved=approved,
                          owner=owner.user)
                 for n in range(count)]
    db.session.add_all(templates)
    db.session.commit()
    ids = [t.id for t in templates]
    if posted is not None:
        set_posted({template_id: posted for template_id in ids})
    return ids


def set_posted(when_by_id: dict[int, datetime]) -> None:
    for template_id, when in when_by_id.items():
        db.session.get(Template, template_id).posted = when
    db.session.commit()


def set_approved(template_id: int, approved: bool) -> None:
    db.session.get(Template, template_id).approved = approved
    db.session.commit()


def make_with_approval(client, auth, account, approved: bool, **fields) -> int:
    """Create a template through the API, then set its approval directly; return its id."""
    template_id = create(client, auth, account, **fields)["id"]
    set_approved(template_id, approved)
    return template_id


def listing(client, auth, account, path: str = "/template", **params):
    response = client.get(path, query_string=params, headers=auth.headers(account))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response


def listed_ids(client, auth, account, path: str = "/template", **params) -> list[int]:
    body = listing(client, auth, account, path, **params).get_json()
    return [t["id"] for t in body["templates"]]


def parse_link(link: str | None):
    """A relative link as (path, {param: [values]}) so parameter order does not matter."""
    if link is None:
        return None
    parts = urlsplit(link)
    assert not parts.scheme and not parts.netloc, link
    return parts.path, parse_qs(parts.query)


def link(path: str, limit: int, page: int, **extra: str):
    return path, {"limit": [str(limit)], "page": [str(page)],
                  **{k: [v] for k, v in extra.items()}}


def link_header(value: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="([a-z]+)"', value)}


def assert_links(response, expected: dict) -> None:
    """`meta` and the `Link` header both carry exactly the expected pagination links."""
    meta = response.get_json()["meta"]
    assert {rel: parse_link(meta[rel]) for rel in expected} == expected
    header = link_header(response.headers["Link"])
    assert {rel: parse_link(url) for rel, url in header.items()} == expected


def assert_template_shape(template: dict) -> None:
    assert set(template) == TEMPLATE_KEYS
    assert isinstance(template["id"], int)
    for stamp in ("posted", "updated"):
        assert ISO_UTC.fullmatch(template[stamp]), template[stamp]
        datetime.fromisoformat(template[stamp].replace("Z", "+00:00"))


# --- POST /template ------------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_post_creates_template_owned_by_caller(client, auth, alice, form):
    response = post(client, auth, alice, form=form, description="a classic")

    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["message"] == "Post created"
    template = body["template"]
    assert_template_shape(template)
    assert response.headers["Location"] == f"/template/{template['id']}"
    assert template["title"] == VALID["title"]
    assert template["url"] == VALID["url"]
    assert template["description"] == "a classic"
    assert template["approved"] is False
    assert template["user_id"] == alice.public_id
    assert template["username"] == "alice"
    assert fetch(client, auth, alice, template["id"]) == template


def test_location_header_points_at_the_created_template(client, auth, alice):
    response = post(client, auth, alice)
    followed = client.get(response.headers["Location"], headers=auth.headers(alice))
    assert followed.status_code == 200
    assert followed.get_json()["template"] == response.get_json()["template"]


def test_description_is_optional_and_null_by_default(client, auth, alice):
    assert create(client, auth, alice)["description"] is None


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_admin_post_starts_approved(client, auth, admin, form):
    response = post(client, auth, admin, form=form)
    assert response.status_code == 201
    template = response.get_json()["template"]
    assert template["approved"] is True
    assert template["user_id"] == admin.public_id
    assert template["username"] == "admin"


@pytest.mark.parametrize(("form", "value"), [(False, False), (True, "false")],
                         ids=["json", "form"])
def test_admin_may_post_unapproved(client, auth, admin, form, value):
    response = post(client, auth, admin, form=form, approved=value)
    assert response.status_code == 201
    assert response.get_json()["template"]["approved"] is False


@pytest.mark.parametrize(("form", "value"),
                         [(False, True), (False, False), (True, "true"), (True, "false")],
                         ids=["json-true", "json-false", "form-true", "form-false"])
def test_non_admin_sending_approved_is_forbidden(client, auth, alice, form, value):
    response = post(client, auth, alice, form=form, approved=value)
    assert_problem(response, 403)
    assert template_count() == 0


def test_owner_fields_in_body_cannot_reassign_owner(client, auth, alice, bob):
    response = post(client, auth, alice, user_id=bob.public_id, username="bob")
    body = assert_problem(response, 400)
    assert set(body["errors"]) == {"user_id", "username"}
    assert template_count() == 0


# --- validation ----------------------------------------------------------------------------

BAD_FIELDS = [
    ("title", ""), ("title", "   "), ("title", "\t\n"), ("title", "x" * 201), ("title", 5),
    ("title", None), ("title", ["a"]), ("title", True), ("title", "a\x00b"),
    ("url", "ftp://e.org/a.png"), ("url", "javascript:alert(1)"), ("url", "/img/a.png"),
    ("url", "e.org/a.png"), ("url", "https://"), ("url", "http:///a.png"),
    ("url", "https://e.org/a b.png"), ("url", "https://e .org/a.png"), ("url", ""),
    ("url", LONGEST_URL + "a"), ("url", 5), ("url", None), ("url", {"href": "https://e.org"}),
    ("url", "https://e.org/a\x00.png"),
    ("description", "d" * 2001), ("description", 5), ("description", {"a": 1}),
    ("description", True), ("description", ["d"]), ("description", "a\x00b"),
    ("colour", "red"), ("id", 7), ("posted", "2026-11-21T19:05:00Z"),
    ("updated", "2026-11-21T19:05:00Z"), ("user_id", "e9572ee6-4b5e-45e4-a840-58a33b04b8a7"),
    ("username", "alice"),
]


def bad_field_id(case) -> str:
    field, value = case
    return f"{field}={value!r}"[:40]


def change_body(method: str, field: str, value) -> dict:
    """A body carrying `field`: complete for POST and PUT, just that field for PATCH."""
    return {field: value} if method == "PATCH" else {**VALID, field: value}


def write_with(client, auth, account, method: str, template_id: int, field: str, value):
    """POST a new template, or PUT/PATCH `template_id`, with `field` set to `value`."""
    if method == "POST":
        return post(client, auth, account, **{field: value})
    return send(client, auth, account, method, template_id, change_body(method, field, value))


@pytest.mark.parametrize("case", BAD_FIELDS, ids=[bad_field_id(c) for c in BAD_FIELDS])
def test_invalid_field_is_refused_and_named(client, auth, alice, case):
    field, value = case
    template_id = create(client, auth, alice)["id"]

    for method in ("POST", "PUT", "PATCH"):
        response = write_with(client, auth, alice, method, template_id, field, value)
        body = assert_problem(response, 400)
        assert set(body["errors"]) == {field}, method

    assert template_count() == 1
    assert fetch(client, auth, alice, template_id)["title"] == VALID["title"]


FORM_BAD_FIELDS = [("title", ""), ("title", "   "), ("title", "x" * 201), ("title", "a\x00b"),
                   ("url", "ftp://e.org/a.png"), ("url", "/a.png"), ("url", "https://e.org/a b"),
                   ("description", "d" * 2001), ("colour", "red"), ("id", "7"),
                   ("user_id", "x")]


@pytest.mark.parametrize("case", FORM_BAD_FIELDS, ids=[bad_field_id(c) for c in FORM_BAD_FIELDS])
def test_invalid_form_field_is_refused_and_named(client, auth, alice, case):
    field, value = case
    body = assert_problem(post(client, auth, alice, form=True, **{field: value}), 400)
    assert set(body["errors"]) == {field}
    assert template_count() == 0


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("missing", [("title",), ("url",), ("title", "url")])
def test_required_fields_missing(client, auth, alice, form, missing):
    body = {k: v for k, v in VALID.items() if k not in missing}
    template_id = create(client, auth, alice)["id"]

    for method, path in (("POST", "/template"), ("PUT", f"/template/{template_id}")):
        response = client.open(path, method=method, headers=auth.headers(alice),
                               **encoded(body, form))
        problem = assert_problem(response, 400)
        assert set(problem["errors"]) == set(missing), method

    assert template_count() == 1
    assert fetch(client, auth, alice, template_id)["url"] == VALID["url"]


def test_admin_approved_must_be_boolean(client, auth, admin):
    body = assert_problem(post(client, auth, admin, approved="maybe"), 400)
    assert set(body["errors"]) == {"approved"}
    assert template_count() == 0


BOUNDARY_VALUES = [("title", "t" * 200), ("url", LONGEST_URL), ("url", "http://e.org"),
                   ("url", "HTTPS://E.ORG/A.PNG"), ("description", "d" * 2000),
                   ("description", None), ("title", "Ünïcødé 😀")]


@pytest.mark.parametrize("case", BOUNDARY_VALUES, ids=[bad_field_id(c) for c in BOUNDARY_VALUES])
def test_boundary_values_are_accepted(client, auth, alice, case):
    field, value = case
    template_id = create(client, auth, alice, description="before")["id"]

    for method, status in (("POST", 201), ("PUT", 200), ("PATCH", 200)):
        response = write_with(client, auth, alice, method, template_id, field, value)
        assert response.status_code == status, (method, response.get_data(as_text=True))
        template = response.get_json()["template"]
        assert template[field] == value, method
        assert fetch(client, auth, alice, template["id"])[field] == value, method
        reset = {field: VALID.get(field, "before")}  # so that the next method really changes it
        assert send(client, auth, alice, "PATCH", template_id, reset).status_code == 200


# --- visibility ----------------------------------------------------------------------------


@pytest.fixture
def posts(client, auth, admin, alice, bob) -> dict[str, int]:
    """One template each: the admin's (approved), alice's and bob's (both unapproved)."""
    return {name: create(client, auth, account)["id"]
            for name, account in (("admin", admin), ("alice", alice), ("bob", bob))}


@pytest.mark.parametrize(("viewer", "visible"), [
    ("admin", ("admin", "alice", "bob")),
    ("alice", ("admin", "alice")),
    ("bob", ("admin", "bob")),
])
def test_collection_shows_what_the_caller_may_see(client, auth, request, posts, viewer, visible):
    account = request.getfixturevalue(viewer)
    response = listing(client, auth, account)
    assert [t["id"] for t in response.get_json()["templates"]] == [posts[n] for n in visible]
    assert response.get_json()["meta"]["total"] == len(visible)
    assert response.headers["X-Total-Count"] == str(len(visible))


@pytest.mark.parametrize(("viewer", "owner"), [("alice", "alice"), ("alice", "admin"),
                                               ("admin", "bob"), ("bob", "bob")])
def test_get_one_when_visible(client, auth, request, posts, viewer, owner):
    template = fetch(client, auth, request.getfixturevalue(viewer), posts[owner])
    assert_template_shape(template)
    assert template["id"] == posts[owner]
    assert template["username"] == owner


@pytest.mark.parametrize("method", ALL_METHODS)
def test_someone_elses_unapproved_template_does_not_exist(client, auth, admin, alice, posts,
                                                          method):
    response = send(client, auth, alice, method, posts["bob"], write_body(method))
    assert_problem(response, 404, NOT_FOUND)
    assert fetch(client, auth, admin, posts["bob"])["title"] == VALID["title"]


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("owner", ["admin", "bob"])
def test_visible_but_not_own_is_forbidden(client, auth, admin, alice, posts, method, owner):
    set_approved(posts[owner], True)
    before = fetch(client, auth, admin, posts[owner])

    response = send(client, auth, alice, method, posts[owner], write_body(method))

    assert_problem(response, 403)
    assert fetch(client, auth, admin, posts[owner]) == before


@pytest.mark.parametrize("method", ALL_METHODS)
def test_huge_ids_are_not_found(client, auth, admin, alice, method):
    create(client, auth, alice)
    for template_id in HUGE_IDS:
        for account in (admin, alice):
            response = send(client, auth, account, method, template_id, write_body(method))
            assert_problem(response, 404, NOT_FOUND)
    assert template_count() == 1


# --- PUT / PATCH ---------------------------------------------------------------------------


def test_put_replaces_everything_and_nulls_omitted_description(client, auth, alice):
    template_id = create(client, auth, alice, description="old")["id"]
    body = {"title": "New", "url": "https://e.org/new.png"}

    response = send(client, auth, alice, "PUT", template_id, body)

    assert response.status_code == 200
    assert response.get_json()["message"] == UPDATED
    template = response.get_json()["template"]
    assert_template_shape(template)
    assert (template["title"], template["url"], template["description"]) == (
        "New", "https://e.org/new.png", None)
    assert fetch(client, auth, alice, template_id) == template


def test_patch_changes_only_given_fields(client, auth, alice):
    original = create(client, auth, alice, description="old")

    response = send(client, auth, alice, "PATCH", original["id"], {"description": "new"})

    assert response.status_code == 200
    assert response.get_json()["message"] == UPDATED
    template = response.get_json()["template"]
    assert template["description"] == "new"
    assert (template["title"], template["url"]) == (original["title"], original["url"])
    assert template["posted"] == original["posted"]
    assert template["user_id"] == alice.public_id


def test_patch_can_clear_description(client, auth, alice):
    template_id = create(client, auth, alice, description="old")["id"]
    response = send(client, auth, alice, "PATCH", template_id, {"description": None})
    assert response.status_code == 200
    assert fetch(client, auth, alice, template_id)["description"] is None


@pytest.mark.parametrize(("method", "body", "still_approved"), [
    ("PATCH", {"title": "Other"}, False),
    ("PATCH", {"url": "https://e.org/other.png"}, False),
    ("PATCH", {"description": "other"}, False),
    ("PUT", {**VALID, "title": "Other", "description": "same"}, False),
    ("PUT", {**VALID}, False),  # the omitted description becomes null: a change too
    ("PATCH", {"title": VALID["title"]}, True),
    ("PATCH", {**VALID, "description": "same"}, True),
    ("PATCH", {}, True),
    ("PUT", {**VALID, "description": "same"}, True),
], ids=["title", "url", "description", "put-title", "put-no-description", "same-title",
        "same-all", "empty", "put-same"])
def test_owner_edit_of_approved_template_needs_moderation_again(client, auth, alice, method,
                                                                body, still_approved):
    """A real change of content is moderated again; resending identical values is not."""
    template_id = make_with_approval(client, auth, alice, True, description="same")

    response = send(client, auth, alice, method, template_id, body)

    assert response.status_code == 200
    assert response.get_json()["template"]["approved"] is still_approved
    assert fetch(client, auth, alice, template_id)["approved"] is still_approved


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("approved", [True, False])
def test_admin_edit_keeps_approval(client, auth, admin, alice, method, approved):
    template_id = make_with_approval(client, auth, alice, approved)

    response = send(client, auth, admin, method, template_id, write_body(method))

    assert response.status_code == 200
    template = response.get_json()["template"]
    assert template["title"] == "Changed"
    assert template["approved"] is approved
    assert template["user_id"] == alice.public_id


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("approved", [True, False])
def test_admin_sets_approval(client, auth, admin, alice, method, approved):
    template_id = make_with_approval(client, auth, alice, not approved)
    body = {"approved": approved} if method == "PATCH" else {**VALID, "approved": approved}

    response = send(client, auth, admin, method, template_id, body)

    assert response.status_code == 200
    assert response.get_json()["message"] == UPDATED
    assert response.get_json()["template"]["approved"] is approved
    assert fetch(client, auth, admin, template_id)["approved"] is approved


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("approved", [True, False])
def test_owner_sending_approved_is_forbidden_and_changes_nothing(client, auth, alice, method,
                                                                 form, approved):
    template_id = make_with_approval(client, auth, alice, approved)
    body = {**VALID, "title": "Changed", "approved": str(approved).lower() if form else approved}

    response = client.open(f"/template/{template_id}", method=method,
                           headers=auth.headers(alice), **encoded(body, form))

    assert_problem(response, 403)
    template = fetch(client, auth, alice, template_id)
    assert (template["title"], template["approved"]) == (VALID["title"], approved)


def test_form_patch_updates(client, auth, alice):
    template_id = create(client, auth, alice)["id"]
    response = client.patch(f"/template/{template_id}", data={"title": "Form"},
                            headers=auth.headers(alice))
    assert response.status_code == 200
    assert response.get_json()["template"]["title"] == "Form"


# --- DELETE --------------------------------------------------------------------------------


@pytest.mark.parametrize("deleter", ["alice", "admin"])
def test_delete_then_gone(client, auth, request, admin, alice, deleter):
    template_id = create(client, auth, alice)["id"]
    account = request.getfixturevalue(deleter)

    response = send(client, auth, account, "DELETE", template_id)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"message": "The post has been deleted"}
    for method in ALL_METHODS:
        assert_problem(send(client, auth, account, method, template_id, write_body(method)),
                       404, NOT_FOUND)
    assert template_count() == 0


def test_templates_outlive_their_deleted_owner(client, auth, admin, alice):
    template_id = make_with_approval(client, auth, alice, True)

    deleted = client.delete(f"/user/{alice.public_id}", headers=auth.headers(admin))
    assert deleted.status_code == 200

    template = fetch(client, auth, admin, template_id)
    assert template["user_id"] is None
    assert template["username"] is None
    assert template["title"] == VALID["title"]
    listed = listing(client, auth, admin).get_json()["templates"]
    assert [(t["id"], t["user_id"], t["username"]) for t in listed] == [(template_id, None, None)]


# --- collections: page mode ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/template", "/"])
def test_meta_links_and_headers_in_the_middle(client, auth, admin, path):
    add_templates(admin, 45)

    response = listing(client, auth, admin, path, limit=20, page=2)

    body = response.get_json()
    assert len(body["templates"]) == 20
    meta = body["meta"]
    assert set(meta) == META_KEYS
    assert (meta["page"], meta["pages"], meta["per_page"], meta["total"]) == (2, 3, 20, 45)
    expected = {"first": link(path, 20, 1), "prev": link(path, 20, 1),
                "next": link(path, 20, 3), "last": link(path, 20, 3)}
    assert_links(response, expected)
    assert response.headers["X-Total-Count"] == "45"


def test_defaults_first_page(client, auth, admin):
    ids = add_templates(admin, 25)

    response = listing(client, auth, admin)

    body = response.get_json()
    assert [t["id"] for t in body["templates"]] == ids[:20]
    for template in body["templates"]:
        assert_template_shape(template)
    meta = body["meta"]
    assert (meta["page"], meta["pages"], meta["per_page"], meta["total"]) == (1, 2, 20, 25)
    assert meta["prev"] is None
    assert meta["next"] == "/template?limit=20&page=2"  # as in the contract's example
    assert set(link_header(response.headers["Link"])) == {"first", "next", "last"}


def test_last_page_has_no_next(client, auth, admin):
    ids = add_templates(admin, 5)

    response = listing(client, auth, admin, limit=2, page=3)

    body = response.get_json()
    assert [t["id"] for t in body["templates"]] == ids[4:]
    assert body["meta"]["next"] is None
    assert parse_link(body["meta"]["prev"]) == link("/template", 2, 2)
    assert set(link_header(response.headers["Link"])) == {"first", "prev", "last"}


def test_empty_collection(client, auth, alice):
    response = listing(client, auth, alice)
    body = response.get_json()
    assert body["templates"] == []
    meta = body["meta"]
    assert (meta["total"], meta["page"], meta["prev"], meta["next"]) == (0, 1, None, None)
    assert response.headers["X-Total-Count"] == "0"


@pytest.mark.parametrize("path", ["/template", "/"])
def test_page_past_the_end_is_empty(client, auth, admin, path):
    add_templates(admin, 3)
    for page in (2, 1_000_000_000):
        body = listing(client, auth, admin, path, page=page).get_json()
        assert body["templates"] == []
        assert (body["meta"]["page"], body["meta"]["total"]) == (page, 3)
        assert body["meta"]["next"] is None


@pytest.mark.parametrize("param", ["limit", "per_page"])
def test_limit_above_maximum_is_clamped(client, auth, admin, param):
    add_templates(admin, 101)

    body = listing(client, auth, admin, **{param: 1000}).get_json()

    assert len(body["templates"]) == 100
    assert (body["meta"]["per_page"], body["meta"]["pages"]) == (100, 2)
    assert parse_link(body["meta"]["next"]) == link("/template", 100, 2)


def test_per_page_is_an_alias_of_limit(client, auth, admin):
    ids = add_templates(admin, 5)

    body = listing(client, auth, admin, per_page=2, page=2).get_json()

    assert [t["id"] for t in body["templates"]] == ids[2:4]
    assert (body["meta"]["per_page"], body["meta"]["pages"]) == (2, 3)


@pytest.mark.parametrize(("param", "value"), [
    ("page", "0"), ("page", "-1"), ("page", "abc"), ("page", "1.5"), ("page", ""),
    ("page", "1000000001"), ("page", "99999999999999999999999"),
    ("limit", "0"), ("limit", "-5"), ("limit", "ten"), ("limit", ""),
    ("per_page", "0"), ("per_page", "x"),
])
def test_bad_pagination_is_refused(client, auth, alice, param, value):
    for path in ("/template", "/"):
        response = client.get(path, query_string={param: value}, headers=auth.headers(alice))
        body = assert_problem(response, 400)
        assert param in body["errors"], path


@pytest.mark.parametrize(("path", "ordering"), [("/template", "id"), ("/", "-posted")])
def test_links_keep_other_query_parameters(client, auth, admin, path, ordering):
    add_templates(admin, 3)

    response = listing(client, auth, admin, path, ordering=ordering, limit=1, page=2)

    expected = {rel: link(path, 1, page, ordering=ordering)
                for rel, page in (("first", 1), ("prev", 1), ("next", 3), ("last", 3))}
    assert_links(response, expected)


def test_walking_pages_yields_every_visible_template_once(client, auth, admin, alice, bob):
    mine = add_templates(alice, 3, approved=False)
    public = add_templates(bob, 4)
    add_templates(bob, 2, approved=False)

    seen: list[int] = []
    next_link = "/template?limit=3"
    while next_link:
        body = client.get(next_link, headers=auth.headers(alice)).get_json()
        seen += [t["id"] for t in body["templates"]]
        next_link = body["meta"]["next"]

    assert seen == sorted(mine + public)


# --- ordering: collection by id, feed newest first -----------------------------------------


@pytest.fixture
def dated(admin) -> list[int]:
    """Four approved templates whose `posted` disagrees with their ids (two share a time)."""
    ids = add_templates(admin, 4)
    set_posted({ids[0]: datetime(2026, 1, 3), ids[1]: datetime(2026, 1, 1),
                ids[2]: datetime(2026, 1, 3), ids[3]: datetime(2026, 1, 2)})
    return ids


def test_collection_is_ordered_by_id(client, auth, alice, dated):
    assert listed_ids(client, auth, alice) == dated


def test_feed_is_newest_first_with_ties_by_id(client, auth, alice, dated):
    # Equal `posted`: the later id (the newer row) comes first.
    assert listed_ids(client, auth, alice, "/") == [dated[2], dated[0], dated[3], dated[1]]


def test_feed_pages_are_stable_across_ties(client, auth, admin, alice):
    ids = add_templates(admin, 7, posted=datetime(2026, 5, 5))
    pages = [listed_ids(client, auth, alice, "/", limit=3, page=page) for page in (1, 2, 3)]
    assert [i for page in pages for i in page] == sorted(ids, reverse=True)


@pytest.mark.parametrize("viewer", ["admin", "alice"])
def test_feed_shows_approved_and_own_only(client, auth, request, admin, alice, bob, viewer):
    account = request.getfixturevalue(viewer)
    approved = add_templates(bob, 1, posted=datetime(2026, 1, 1))
    own = add_templates(account, 1, approved=False, posted=datetime(2026, 1, 2))
    add_templates(bob, 1, approved=False, posted=datetime(2026, 1, 3))

    response = listing(client, auth, account, "/")

    assert [t["id"] for t in response.get_json()["templates"]] == own + approved
    assert response.get_json()["meta"]["total"] == 2
    assert response.headers["X-Total-Count"] == "2"
