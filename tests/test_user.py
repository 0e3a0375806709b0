"""Users: provisioning, listing, reading, promoting, updating, deleting, own password (§3)."""

import re
import uuid

import pytest
from conftest import assert_problem
from test_login import assert_login_answer, assert_token_refused

USER_KEYS = {"public_id", "username", "role", "admin", "active", "created"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NO_SUCH_USER = "No user found!"


# --- helpers ---------------------------------------------------------------------------------

def call(client, auth, method: str, path: str, account=None, **kwargs):
    """One request with the app token and, when given, `account`'s access token."""
    return getattr(client, method)(path, headers=auth.headers(account), **kwargs)


def assert_user(user: dict, username: str, *, admin: bool = False, active: bool = True,
                role: str | None = None) -> None:
    """The public user shape, and nothing else; `admin` is true exactly for the role admin."""
    assert set(user) == USER_KEYS
    assert user["role"] == (role or ("admin" if admin else "user"))
    assert user["admin"] is (user["role"] == "admin")
    assert str(uuid.UUID(user["public_id"])) == user["public_id"]
    assert TIMESTAMP.fullmatch(user["created"])
    assert (user["username"], user["admin"], user["active"]) == (username, admin, active)


def assert_no_secrets(response, *passwords: str) -> None:
    text = response.get_data(as_text=True)
    assert "pbkdf2" not in text and "scrypt" not in text and "password" not in text
    for password in passwords:
        assert password not in text


def login_status(client, auth, username: str, password: str) -> int:
    return client.get("/login", headers=auth.basic(username, password)).status_code


def token_status(client, auth, account, path: str = "/user/me") -> int:
    return call(client, auth, "get", path, account).status_code


def create(client, auth, admin, **kwargs):
    return call(client, auth, "post", "/user", admin, **kwargs)


def usernames(response) -> list[str]:
    return [user["username"] for user in response.get_json()["users"]]


@pytest.fixture
def min_password_12(app_config):
    app_config["MIN_PASSWORD_LENGTH"] = 12


@pytest.fixture
def small_pages(app_config):
    app_config.update(DEFAULT_PAGE_SIZE=2, MAX_PAGE_SIZE=3)


@pytest.fixture
def five_users(auth, admin, alice, bob) -> list[str]:
    """Five users in creation order (the default ordering of `GET /user`)."""
    auth.make_user("carol", "carolpass1")
    auth.make_user("dave", "davepass12")
    return ["admin", "alice", "bob", "carol", "dave"]


# --- POST /user -------------------------------------------------------------------------------

def test_admin_creates_user(client, auth, admin):
    response = create(client, auth, admin, json={"username": "Carol", "password": "carolpass1"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "User created successfully"
    assert set(body) == {"message", "user"}
    assert_user(body["user"], "Carol")
    assert response.headers["Location"] == f"/user/{body['user']['public_id']}"
    assert_no_secrets(response, "carolpass1")

    fetched = call(client, auth, "get", response.headers["Location"], admin)
    assert fetched.get_json()["user"] == body["user"]
    assert login_status(client, auth, "carol", "carolpass1") == 200


def test_create_admin_with_json_and_form_flags(client, auth, admin, subtests):
    cases = [("json", True, True), ("json", False, False), ("data", "true", True),
             ("data", "false", False), ("data", "1", True), ("data", "0", False)]
    for number, (kind, flag, expected) in enumerate(cases):
        with subtests.test(kind=kind, flag=flag):
            name = f"user{number}"
            response = create(client, auth, admin,
                              **{kind: {"username": name, "password": "password12",
                                        "admin": flag}})
            assert response.status_code == 201, response.get_data(as_text=True)
            assert_user(response.get_json()["user"], name, admin=expected)


def test_created_admin_can_use_admin_routes(client, auth, admin):
    create(client, auth, admin, data={"username": "root2", "password": "root2pass1",
                                      "admin": "true"})
    token = client.get("/login", headers=auth.basic("root2", "root2pass1")).get_json()["token"]
    assert client.get("/user", headers=auth.headers(**{"x-access-token": token})).status_code == 200


def test_form_body_without_admin_creates_plain_user(client, auth, admin):
    response = create(client, auth, admin, data={"username": "carol", "password": "carolpass1"})
    assert response.status_code == 201
    assert_user(response.get_json()["user"], "carol")


def test_taken_username_in_any_case_is_409(client, auth, admin, alice, subtests):
    for name in ("alice", "ALICE", "Alice", "ADMIN"):
        with subtests.test(name=name):
            response = create(client, auth, admin, json={"username": name,
                                                         "password": "password12"})
            assert_problem(response, 409)
    listed = call(client, auth, "get", "/user", admin)
    assert sorted(usernames(listed)) == ["admin", "alice"]
    assert login_status(client, auth, "alice", "alicepass1") == 200


BAD_CREATE_BODIES = [
    ({"password": "password12"}, "username"),
    ({"username": "carol"}, "password"),
    ({"username": "ab", "password": "password12"}, "username"),
    ({"username": "c" * 65, "password": "password12"}, "username"),
    ({"username": "", "password": "password12"}, "username"),
    ({"username": "has space", "password": "password12"}, "username"),
    ({"username": "ünïcode", "password": "password12"}, "username"),
    ({"username": "semi;colon", "password": "password12"}, "username"),
    ({"username": None, "password": "password12"}, "username"),
    ({"username": 12345, "password": "password12"}, "username"),
    ({"username": "carol", "password": None}, "password"),
    ({"username": "carol", "password": 12345678}, "password"),
    ({"username": "carol", "password": "password12", "admin": "yes"}, "admin"),
    ({"username": "carol", "password": "password12", "admin": 1}, "admin"),
    ({"username": "carol", "password": "password12", "nickname": "c"}, "nickname"),
    ({"username": "carol", "password": "password12", "password_hash": "x"}, "password_hash"),
    ({"username": "carol", "password": "password12", "public_id": str(uuid.uuid4())},
     "public_id"),
    ({"username": "carol", "password": "password12", "created": "2020-01-01T00:00:00Z"},
     "created"),
    ({"username": "carol", "password": "password12", "id": 1}, "id"),
]


def test_create_refuses_bad_input_naming_the_field(client, auth, admin, subtests):
    for body, field in BAD_CREATE_BODIES:
        with subtests.test(body=body):
            problem = assert_problem(create(client, auth, admin, json=body), 400)
            assert field in problem["errors"]
    assert usernames(call(client, auth, "get", "/user", admin)) == ["admin"]


def test_create_reports_every_bad_field_at_once(client, auth, admin):
    body = {"username": "x", "password": "short", "public_id": "p", "bogus": 1}
    problem = assert_problem(create(client, auth, admin, json=body), 400)
    assert set(problem["errors"]) == {"username", "password", "public_id", "bogus"}


def test_password_length_bounds(client, auth, admin, subtests):
    for length, status in ((7, 400), (8, 201), (128, 201), (129, 400)):
        with subtests.test(length=length):
            name = f"user{length}"
            response = create(client, auth, admin,
                              data={"username": name, "password": "p" * length})
            assert response.status_code == status, response.get_data(as_text=True)
            if status == 400:
                assert "password" in assert_problem(response, 400)["errors"]
            else:
                assert login_status(client, auth, name, "p" * length) == 200


def test_username_bounds_and_alphabet_accepted(client, auth, admin, subtests):
    for username in ("abc", "a" * 64, "A.b_c-9"):
        with subtests.test(username=username):
            response = create(client, auth, admin,
                              json={"username": username, "password": "password12"})
            assert response.status_code == 201
            assert_user(response.get_json()["user"], username)


def test_min_password_length_is_configurable(min_password_12, client, auth, admin, alice):
    short = create(client, auth, admin, json={"username": "carol", "password": "p" * 11})
    assert "password" in assert_problem(short, 400)["errors"]
    assert create(client, auth, admin,
                  json={"username": "carol", "password": "p" * 12}).status_code == 201
    patched = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                   json={"password": "p" * 11})
    assert "password" in assert_problem(patched, 400)["errors"]
    changed = call(client, auth, "post", "/user/me/password", alice,
                   json={"current_password": "alicepass1", "new_password": "p" * 11})
    assert "new_password" in assert_problem(changed, 400)["errors"]


def test_non_admin_cannot_create_users(client, auth, admin, alice):
    response = create(client, auth, alice, json={"username": "carol", "password": "carolpass1"})
    assert_problem(response, 403)
    assert login_status(client, auth, "carol", "carolpass1") == 401
    assert usernames(call(client, auth, "get", "/user", admin)) == ["admin", "alice"]


def test_create_without_token_is_401(client, auth, admin):
    response = create(client, auth, None, json={"username": "carol", "password": "carolpass1"})
    assert_token_refused(response, "Token is missing")


# --- GET /user --------------------------------------------------------------------------------

def test_admin_lists_users_as_collection(client, auth, five_users, admin):
    response = call(client, auth, "get", "/user", admin)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"users", "meta"}
    assert [user["username"] for user in body["users"]] == five_users
    for user in body["users"]:
        assert_user(user, user["username"], admin=user["username"] == "admin")
    assert body["meta"] == {"page": 1, "pages": 1, "per_page": 20, "total": 5,
                            "first": "/user?limit=20&page=1", "last": "/user?limit=20&page=1",
                            "prev": None, "next": None}
    assert response.headers["X-Total-Count"] == "5"
    assert_no_secrets(response, "adminpass1", "alicepass1")


def test_non_admin_cannot_list_users(client, auth, alice):
    assert_problem(call(client, auth, "get", "/user", alice), 403)


def test_pages_walk_through_every_user_once(client, auth, five_users, admin):
    seen = []
    expected_next = ["/user?limit=2&page=2", "/user?limit=2&page=3", None]
    expected_prev = [None, "/user?limit=2&page=1", "/user?limit=2&page=2"]
    for page in (1, 2, 3):
        response = call(client, auth, "get", f"/user?limit=2&page={page}", admin)
        meta = response.get_json()["meta"]
        assert (meta["page"], meta["pages"], meta["per_page"], meta["total"]) == (page, 3, 2, 5)
        assert (meta["first"], meta["last"]) == ("/user?limit=2&page=1", "/user?limit=2&page=3")
        assert (meta["prev"], meta["next"]) == (expected_prev[page - 1], expected_next[page - 1])
        assert response.headers["X-Total-Count"] == "5"
        seen += usernames(response)
    assert seen == five_users


def test_link_header_lists_existing_relations(client, auth, five_users, admin):
    middle = call(client, auth, "get", "/user?limit=2&page=2", admin)
    assert middle.headers["Link"] == ('</user?limit=2&page=1>; rel="first", '
                                      '</user?limit=2&page=1>; rel="prev", '
                                      '</user?limit=2&page=3>; rel="next", '
                                      '</user?limit=2&page=3>; rel="last"')
    first = call(client, auth, "get", "/user?limit=2", admin)
    assert 'rel="prev"' not in first.headers["Link"]
    assert '</user?limit=2&page=2>; rel="next"' in first.headers["Link"]


def test_links_keep_other_query_parameters(client, auth, five_users, admin):
    response = call(client, auth, "get", "/user?active=true&page=2&per_page=2", admin)
    meta = response.get_json()["meta"]
    assert meta["first"] == "/user?active=true&limit=2&page=1"
    assert meta["prev"] == "/user?active=true&limit=2&page=1"
    assert meta["next"] == "/user?active=true&limit=2&page=3"
    assert meta["last"] == "/user?active=true&limit=2&page=3"
    assert "</user?active=true&limit=2&page=3>; rel=\"next\"" in response.headers["Link"]


def test_per_page_is_an_alias_of_limit(client, auth, five_users, admin):
    response = call(client, auth, "get", "/user?per_page=3", admin)
    assert response.get_json()["meta"]["per_page"] == 3
    assert usernames(response) == five_users[:3]


def test_limit_is_clamped_to_max_page_size(client, auth, five_users, admin):
    response = call(client, auth, "get", "/user?limit=1000", admin)
    assert response.status_code == 200
    assert response.get_json()["meta"]["per_page"] == 100
    assert usernames(response) == five_users


def test_configured_page_sizes_default_and_clamp(small_pages, client, auth, five_users, admin):
    default = call(client, auth, "get", "/user", admin)
    assert default.get_json()["meta"]["per_page"] == 2
    assert usernames(default) == five_users[:2]
    clamped = call(client, auth, "get", "/user?limit=50", admin)
    assert clamped.get_json()["meta"]["per_page"] == 3
    assert clamped.get_json()["meta"]["pages"] == 2
    assert usernames(clamped) == five_users[:3]


def test_page_past_the_end_is_empty(client, auth, five_users, admin, subtests):
    for query in ("page=2", "page=1000000000", "limit=2&page=4"):
        with subtests.test(query=query):
            response = call(client, auth, "get", f"/user?{query}", admin)
            assert response.status_code == 200
            body = response.get_json()
            assert body["users"] == []
            assert (body["meta"]["total"], body["meta"]["next"]) == (5, None)
            assert response.headers["X-Total-Count"] == "5"


def test_bad_pagination_parameters_are_400(client, auth, admin, subtests):
    cases = [("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=", "page"),
             ("page=1.5", "page"), ("page=1000000001", "page"), ("page=99999999999999999999",
                                                                 "page"),
             ("limit=0", "limit"), ("limit=-5", "limit"), ("limit=ten", "limit"),
             ("per_page=0", "per_page")]
    for query, parameter in cases:
        with subtests.test(query=query):
            problem = assert_problem(call(client, auth, "get", f"/user?{query}", admin), 400)
            assert parameter in problem["errors"]


# --- GET /user/me and /user/<id> --------------------------------------------------------------

def test_me_returns_the_caller(client, auth, admin, alice, subtests):
    for account, is_admin in ((admin, True), (alice, False)):
        with subtests.test(username=account.username):
            response = call(client, auth, "get", "/user/me", account)
            assert response.status_code == 200
            user = response.get_json()["user"]
            assert_user(user, account.username, admin=is_admin)
            assert user["public_id"] == account.public_id
            assert_no_secrets(response, account.password)


def test_admin_reads_any_user_and_user_reads_self(client, auth, admin, alice):
    by_admin = call(client, auth, "get", f"/user/{alice.public_id}", admin)
    by_self = call(client, auth, "get", f"/user/{alice.public_id}", alice)
    assert by_admin.status_code == by_self.status_code == 200
    assert by_admin.get_json() == by_self.get_json()
    assert_user(by_self.get_json()["user"], "alice")
    assert by_self.get_json()["user"]["public_id"] == alice.public_id


def test_user_cannot_read_another_user(client, auth, admin, alice, bob):
    for target in (bob, admin):
        response = call(client, auth, "get", f"/user/{target.public_id}", alice)
        assert_problem(response, 403)
        assert target.username not in response.get_data(as_text=True)


def test_unknown_user_is_404(client, auth, admin, subtests):
    for public_id in (str(uuid.uuid4()), "not-a-uuid", "1", "%00", "x" * 300):
        with subtests.test(public_id=public_id):
            response = call(client, auth, "get", f"/user/{public_id}", admin)
            assert_problem(response, 404, NO_SUCH_USER)


def test_unknown_user_is_404_for_every_admin_method(client, auth, admin, subtests):
    missing = f"/user/{uuid.uuid4()}"
    for method, body in (("put", {}), ("patch", {"active": False}), ("delete", None)):
        with subtests.test(method=method):
            kwargs = {"json": body} if body is not None else {}
            assert_problem(call(client, auth, method, missing, admin, **kwargs), 404,
                           NO_SUCH_USER)


# --- PUT /user/<id> ---------------------------------------------------------------------------

def test_put_promotes_and_ignores_the_body(client, auth, admin, alice):
    body = {"admin": False, "username": "mallory", "active": False, "password": "x"}
    response = call(client, auth, "put", f"/user/{alice.public_id}", admin, json=body)
    assert response.status_code == 200
    assert response.get_json()["message"] == "The user has been promoted!"
    assert_user(response.get_json()["user"], "alice", admin=True)
    # Same token, next request: the new role applies (roles come from the database).
    assert token_status(client, auth, alice, "/user") == 200
    assert login_status(client, auth, "alice", "alicepass1") == 200


def test_put_with_no_body_promotes(client, auth, admin, alice):
    response = client.put(f"/user/{alice.public_id}", headers=auth.headers(admin))
    assert_user(response.get_json()["user"], "alice", admin=True)


def test_non_admin_cannot_promote(client, auth, admin, alice, bob):
    for target in (alice, bob):
        assert_problem(call(client, auth, "put", f"/user/{target.public_id}", alice), 403)
    assert token_status(client, auth, alice, "/user") == 403


# --- PATCH /user/<id> -------------------------------------------------------------------------

def test_patch_username(client, auth, admin, alice):
    response = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                    json={"username": "alicia"})
    assert response.status_code == 200
    assert_user(response.get_json()["user"], "alicia")
    assert login_status(client, auth, "alicia", "alicepass1") == 200
    assert login_status(client, auth, "alice", "alicepass1") == 401
    # Renaming does not log the user out.
    assert token_status(client, auth, alice) == 200


def test_patch_username_to_own_name_in_other_case(client, auth, admin, alice):
    response = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                    json={"username": "ALICE"})
    assert response.status_code == 200
    assert response.get_json()["user"]["username"] == "ALICE"


@pytest.mark.parametrize("body", [{"username": "BOB"},
                                  {"username": "Bob", "password": "newpass123"}])
def test_patch_username_taken_in_any_case_is_409(client, auth, admin, alice, bob, body):
    response = call(client, auth, "patch", f"/user/{alice.public_id}", admin, json=body)
    assert_problem(response, 409)
    assert login_status(client, auth, "alice", "alicepass1") == 200
    assert token_status(client, auth, alice) == 200


def test_patch_password_revokes_tokens(client, auth, admin, alice):
    response = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                    data={"password": "brandnew123"})
    assert response.status_code == 200
    assert_user(response.get_json()["user"], "alice")
    assert_no_secrets(response, "brandnew123")
    assert_token_refused(call(client, auth, "get", "/user/me", alice))
    assert login_status(client, auth, "alice", "alicepass1") == 401
    assert login_status(client, auth, "alice", "brandnew123") == 200
    assert token_status(client, auth, admin) == 200


def test_patch_deactivate_revokes_at_once_and_blocks_login(client, auth, admin, alice, bob):
    assert token_status(client, auth, alice) == 200
    response = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                    data={"active": "false"})
    assert response.status_code == 200
    assert_user(response.get_json()["user"], "alice", active=False)
    assert_token_refused(call(client, auth, "get", "/user/me", alice))
    assert login_status(client, auth, "alice", "alicepass1") == 401
    assert token_status(client, auth, bob) == 200

    reactivated = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                       json={"active": True})
    assert_user(reactivated.get_json()["user"], "alice")
    assert login_status(client, auth, "alice", "alicepass1") == 200
    assert token_status(client, auth, alice) == 401  # revoked tokens stay revoked


def test_patch_demotion_applies_to_the_same_token_at_once(client, auth, admin):
    second = auth.make_user("root2", "root2pass1", admin=True)
    assert token_status(client, auth, second, "/user") == 200
    response = call(client, auth, "patch", f"/user/{second.public_id}", admin,
                    json={"admin": False})
    assert response.status_code == 200
    assert_user(response.get_json()["user"], "root2")
    assert_problem(call(client, auth, "get", "/user", second), 403)
    assert_problem(call(client, auth, "get", f"/user/{admin.public_id}", second), 403)
    assert call(client, auth, "get", "/user/me", second).get_json()["user"]["admin"] is False


def test_patch_promotion_and_empty_body(client, auth, admin, alice):
    unchanged = call(client, auth, "patch", f"/user/{alice.public_id}", admin, json={})
    assert unchanged.status_code == 200
    assert_user(unchanged.get_json()["user"], "alice")
    promoted = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                    json={"admin": True})
    assert_user(promoted.get_json()["user"], "alice", admin=True)
    assert token_status(client, auth, alice, "/user") == 200


def test_patch_refuses_bad_input_and_changes_nothing(client, auth, admin, alice, subtests):
    cases = [({"public_id": str(uuid.uuid4())}, "public_id"),
             ({"created": "2020-01-01T00:00:00Z"}, "created"),
             ({"nickname": "al"}, "nickname"),
             ({"admin": "maybe"}, "admin"),
             ({"active": None}, "active"),
             ({"username": "al"}, "username"),
             ({"username": "al ice"}, "username"),
             ({"password": "short"}, "password"),
             ({"password": "p" * 129}, "password"),
             ({"admin": True, "created": "x"}, "created")]
    for body, field in cases:
        with subtests.test(body=body):
            response = call(client, auth, "patch", f"/user/{alice.public_id}", admin, json=body)
            assert field in assert_problem(response, 400)["errors"]
    after = call(client, auth, "get", f"/user/{alice.public_id}", admin).get_json()["user"]
    assert_user(after, "alice")
    assert after["public_id"] == alice.public_id
    assert token_status(client, auth, alice) == 200


def test_non_admin_cannot_patch_even_themselves(client, auth, admin, alice):
    for body in ({"admin": True}, {"username": "alicia"}, {"active": False}):
        response = call(client, auth, "patch", f"/user/{alice.public_id}", alice, json=body)
        assert_problem(response, 403)
    assert_user(call(client, auth, "get", "/user/me", alice).get_json()["user"], "alice")


# --- DELETE /user/<id> ------------------------------------------------------------------------

def test_delete_user_kills_tokens_and_keeps_templates_ownerless(client, auth, admin, alice):
    posted = call(client, auth, "post", "/template", alice,
                  json={"title": "Mine", "url": "https://example.org/a.png"})
    template_id = posted.get_json()["template"]["id"]
    assert posted.get_json()["template"]["user_id"] == alice.public_id

    response = call(client, auth, "delete", f"/user/{alice.public_id}", admin)
    assert response.status_code == 200
    assert response.get_json() == {"message": "The user has been deleted!"}

    assert_token_refused(call(client, auth, "get", "/user/me", alice))
    assert login_status(client, auth, "alice", "alicepass1") == 401
    assert_problem(call(client, auth, "get", f"/user/{alice.public_id}", admin), 404,
                   NO_SUCH_USER)
    assert usernames(call(client, auth, "get", "/user", admin)) == ["admin"]
    template = call(client, auth, "get", f"/template/{template_id}", admin).get_json()["template"]
    assert (template["title"], template["user_id"], template["username"]) == ("Mine", None, None)


def test_deleted_username_can_be_reused(client, auth, admin, alice):
    call(client, auth, "delete", f"/user/{alice.public_id}", admin)
    again = create(client, auth, admin, json={"username": "Alice", "password": "freshpass1"})
    assert again.status_code == 201
    assert again.get_json()["user"]["public_id"] != alice.public_id
    assert token_status(client, auth, alice) == 401


def test_non_admin_cannot_delete(client, auth, admin, alice, bob):
    for target in (bob, alice, admin):
        assert_problem(call(client, auth, "delete", f"/user/{target.public_id}", alice), 403)
    assert sorted(usernames(call(client, auth, "get", "/user", admin))) == ["admin", "alice",
                                                                            "bob"]


# --- the last active admin --------------------------------------------------------------------

LAST_ADMIN_CHANGES = [("patch", {"admin": False}), ("patch", {"active": False}),
                      ("patch", {"admin": False, "active": False}), ("delete", None)]


def attempt_last_admin_changes(client, auth, admin, subtests) -> None:
    for method, body in LAST_ADMIN_CHANGES:
        with subtests.test(method=method, body=body):
            kwargs = {"json": body} if body is not None else {}
            response = call(client, auth, method, f"/user/{admin.public_id}", admin, **kwargs)
            assert_problem(response, 409)
    me = call(client, auth, "get", "/user/me", admin)
    assert_user(me.get_json()["user"], "admin", admin=True)
    assert token_status(client, auth, admin, "/user") == 200


def test_last_active_admin_cannot_be_removed(client, auth, admin, alice, subtests):
    attempt_last_admin_changes(client, auth, admin, subtests)


def test_an_inactive_second_admin_does_not_count(client, auth, admin, subtests):
    dormant = auth.make_user("root2", "root2pass1", admin=True)
    call(client, auth, "patch", f"/user/{dormant.public_id}", admin, json={"active": False})
    attempt_last_admin_changes(client, auth, admin, subtests)


@pytest.mark.parametrize(("method", "body"), LAST_ADMIN_CHANGES)
def test_an_admin_may_step_down_while_another_remains(client, auth, admin, method, body):
    auth.make_user("root2", "root2pass1", admin=True)
    kwargs = {"json": body} if body is not None else {}
    response = call(client, auth, method, f"/user/{admin.public_id}", admin, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert token_status(client, auth, admin, "/user") in (401, 403)


def test_plain_users_can_always_be_deactivated_with_one_admin(client, auth, admin, alice):
    response = call(client, auth, "patch", f"/user/{alice.public_id}", admin,
                    json={"active": False, "admin": False})
    assert response.status_code == 200


# --- POST /user/me/password -------------------------------------------------------------------

def change_password(client, auth, account, current: str, new: str, as_form: bool = False):
    body = {"current_password": current, "new_password": new}
    return call(client, auth, "post", "/user/me/password", account,
                **{"data" if as_form else "json": body})


def test_wrong_current_password_is_403_and_changes_nothing(client, auth, alice):
    response = change_password(client, auth, alice, "wrongpass1", "brandnew123")
    assert_problem(response, 403)
    assert token_status(client, auth, alice) == 200
    assert login_status(client, auth, "alice", "alicepass1") == 200
    assert login_status(client, auth, "alice", "brandnew123") == 401


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
def test_password_change_returns_fresh_login_and_revokes_old_tokens(client, auth, app, alice,
                                                                    bob, as_form):
    other = client.get("/login", headers=auth.basic("alice", "alicepass1")).get_json()
    response = change_password(client, auth, alice, "alicepass1", "brandnew123", as_form)
    fresh = assert_login_answer(app, response, alice.public_id)
    assert_no_secrets(response, "alicepass1", "brandnew123")

    assert_token_refused(call(client, auth, "get", "/user/me", alice))
    assert_token_refused(client.get("/user/me", headers=auth.headers(
        **{"x-access-token": other["token"]})))
    for refresh_token in (alice.tokens["refresh_token"], other["refresh_token"]):
        assert_token_refused(client.post("/token/refresh", headers=auth.headers(),
                                         json={"refresh_token": refresh_token}))
    new_headers = auth.headers(**{"x-access-token": fresh["token"]})
    assert client.get("/user/me", headers=new_headers).status_code == 200
    assert client.post("/token/refresh", headers=auth.headers(),
                       json={"refresh_token": fresh["refresh_token"]}).status_code == 200
    assert login_status(client, auth, "alice", "brandnew123") == 200
    assert login_status(client, auth, "alice", "alicepass1") == 401
    assert token_status(client, auth, bob) == 200


def test_password_change_refuses_bad_input(client, auth, alice, subtests):
    cases = [({"new_password": "brandnew123"}, "current_password"),
             ({"current_password": "alicepass1"}, "new_password"),
             ({"current_password": "alicepass1", "new_password": "short"}, "new_password"),
             ({"current_password": "alicepass1", "new_password": "p" * 129}, "new_password"),
             ({"current_password": "alicepass1", "new_password": "brandnew123", "x": 1}, "x")]
    for body, field in cases:
        with subtests.test(body=body):
            response = call(client, auth, "post", "/user/me/password", alice, json=body)
            assert field in assert_problem(response, 400)["errors"]
    assert login_status(client, auth, "alice", "alicepass1") == 200
    assert token_status(client, auth, alice) == 200


def test_password_change_needs_a_token(client, auth, alice):
    response = client.post("/user/me/password", headers=auth.headers(),
                           json={"current_password": "alicepass1", "new_password": "brandnew123"})
    assert_token_refused(response, "Token is missing")
    assert login_status(client, auth, "alice", "alicepass1") == 200
