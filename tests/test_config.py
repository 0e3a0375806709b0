"""Configuration from the environment (contract §9), password hashing default, SQLite pragmas."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from conftest import make_config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from meme_api import create_app
from meme_api.accounts import create_user
from meme_api.config import DEV_SECRET_KEY, KNOWN_WEAK_SECRETS, Config, ConfigError, engine_options
from meme_api.extensions import db
from meme_api.models import Template

STRONG_SECRET = secrets.token_urlsafe(48)
ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env_eg"
DEFAULTS = {
    "APP_ENV": "development",
    "SECRET_KEY": DEV_SECRET_KEY,
    "ACCESS_TOKEN_TTL": 3600,
    "REFRESH_TOKEN_TTL": 2592000,
    "REQUIRE_APP_TOKEN": True,
    "APP_TOKEN_GRACE": 0,
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_LOGIN": "10 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "DEFAULT_PAGE_SIZE": 20,
    "MAX_PAGE_SIZE": 100,
    "MAX_CONTENT_LENGTH": 1048576,
    "MIN_PASSWORD_LENGTH": 8,
    "CORS_ORIGINS": [],
    "TRUSTED_PROXY_COUNT": 0,
    "LOG_LEVEL": "INFO",
}


def config(tmp_path=None, **env: str) -> Config:
    return Config(env=env, instance_path=str(tmp_path or "instance"))


def url_of(**env: str):
    return make_url(config(**env).SQLALCHEMY_DATABASE_URI)


@pytest.mark.parametrize(("name", "expected"), list(DEFAULTS.items()))
def test_defaults(name, expected):
    assert config().as_dict()[name] == expected


@pytest.mark.parametrize(("env", "expected"), [({}, "600 per minute"),
                                               ({"RATELIMIT_DEFAULT": "5 per second"},
                                                "5 per second")])
def test_default_rate_limit_is_read(env, expected):
    # Which key carries it is the rate limiter's business; that it is carried is ours.
    assert expected in config(**env).as_dict().values()


def test_development_secret_is_long_enough_for_hs256():
    assert len(config().SECRET_KEY) >= 32


def test_default_database_is_a_sqlite_file_in_the_instance_folder(tmp_path):
    url = make_url(config(tmp_path).SQLALCHEMY_DATABASE_URI)
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "meme_api.sqlite")


@pytest.mark.parametrize("secret", [None, "", "short", "x" * 31, *sorted(KNOWN_WEAK_SECRETS)])
def test_production_refuses_a_weak_secret(secret):
    env = {"APP_ENV": "production"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    with pytest.raises(ConfigError):
        config(**env)


def test_production_refuses_the_secret_of_the_example_env_file():
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                   if "=" in line and not line.lstrip().startswith("#"))
    with pytest.raises(ConfigError):
        config(APP_ENV="production", SECRET_KEY=example["SECRET_KEY"].strip())


def test_production_accepts_a_strong_secret():
    settings = config(APP_ENV="production", SECRET_KEY=STRONG_SECRET)
    assert settings.SECRET_KEY == STRONG_SECRET
    assert settings.APP_ENV == "production"
    assert settings.TESTING is False


def test_environment_values_are_read():
    settings = config(APP_ENV="Testing", SECRET_KEY=STRONG_SECRET, ACCESS_TOKEN_TTL="60",
                      REQUIRE_APP_TOKEN="false", CORS_ORIGINS=" https://a.org, ,https://b.org",
                      LOG_LEVEL="debug", RATELIMIT_ENABLED="0")
    assert (settings.APP_ENV, settings.TESTING, settings.SECRET_KEY) == ("testing", True,
                                                                         STRONG_SECRET)
    assert settings.ACCESS_TOKEN_TTL == 60
    assert settings.REQUIRE_APP_TOKEN is False and settings.RATELIMIT_ENABLED is False
    assert settings.CORS_ORIGINS == ["https://a.org", "https://b.org"]
    assert settings.LOG_LEVEL == "DEBUG"


@pytest.mark.parametrize("name", ["DATABASE_URL", "SQLALCHEMY_DATABASE_URI"])
def test_database_url_and_its_alias(name):
    url = "postgresql+psycopg://meme:secret@db.example:5433/memes"
    configured = config(**{name: url}).SQLALCHEMY_DATABASE_URI
    assert configured == url


@pytest.mark.parametrize(("given", "driver"), [
    ("postgres://meme:secret@db:5433/memes", "postgresql+psycopg"),
    ("postgresql://meme:secret@db:5433/memes", "postgresql+psycopg"),
    ("mysql://meme:secret@db:5433/memes", "mysql+pymysql"),
])
def test_bare_schemes_get_the_shipped_drivers(given, driver):
    url = url_of(DATABASE_URL=given)
    assert url.drivername == driver
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "meme", "secret", "db", 5433, "memes")


def test_database_parts_are_assembled_and_escaped():
    password = "p@ss/w:rd%?#"
    settings = config(DB_DRIVER="mysql", DB_USERNAME="meme", DB_PASS=password, DB_HOST="db",
                      DB_PORT="3307", DB_NAME="memes")
    url = make_url(settings.SQLALCHEMY_DATABASE_URI)
    assert url.drivername == "mysql+pymysql"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "meme", password, "db", 3307, "memes")
    assert password not in settings.SQLALCHEMY_DATABASE_URI


def test_database_parts_default_to_postgresql():
    url = url_of(DB_HOST="db", DB_NAME="memes")
    assert (url.drivername, url.host, url.database) == ("postgresql+psycopg", "db", "memes")


def test_database_url_wins_over_parts():
    url = url_of(DATABASE_URL="sqlite:///elsewhere.sqlite", DB_HOST="db", DB_NAME="memes")
    assert (url.get_backend_name(), url.database) == ("sqlite", "elsewhere.sqlite")


def test_database_parts_need_a_host(tmp_path):
    settings = config(tmp_path, DB_NAME="memes", DB_USERNAME="meme", DB_PASS="pw")
    assert make_url(settings.SQLALCHEMY_DATABASE_URI).database == str(tmp_path / "meme_api.sqlite")


def test_data_dir_moves_the_default_sqlite_file_and_nothing_else(tmp_path):
    # The image sets DATA_DIR=/data: with no database settings it serves on SQLite there.
    assert url_of(DATA_DIR="/data").database == "/data/meme_api.sqlite"
    assert url_of(DATA_DIR="/data", DB_HOST="db").host == "db"
    assert url_of(DATA_DIR="/data", DATABASE_URL="sqlite:////elsewhere.db").database == (
        "/elsewhere.db")


@pytest.mark.parametrize("env", [
    {"ACCESS_TOKEN_TTL": "soon"},
    {"REFRESH_TOKEN_TTL": "1.5"},
    {"ACCESS_TOKEN_TTL": "0"},
    {"MAX_PAGE_SIZE": "-3"},
    {"MAX_CONTENT_LENGTH": "1MB"},
    {"MIN_PASSWORD_LENGTH": "500"},
    {"APP_TOKEN_GRACE": "-1"},
    {"REQUIRE_APP_TOKEN": "maybe"},
    {"RATELIMIT_ENABLED": "2"},
    {"APP_ENV": "staging"},
    {"DB_HOST": "db", "DB_PORT": "fivefourthreetwo"},
    {"DATABASE_URL": "not a url"},
])
def test_bad_values_are_refused(env):
    with pytest.raises(ConfigError):
        config(**env)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("yes", True),
                                               ("FALSE", False), ("0", False), ("off", False),
                                               ("", True)])
def test_boolean_spellings(raw, expected):
    assert config(REQUIRE_APP_TOKEN=raw).REQUIRE_APP_TOKEN is expected


@pytest.mark.parametrize("url", ["postgresql+psycopg://meme:pw@db/memes",
                                 "mysql+pymysql://meme:pw@db/memes"])
def test_engine_options_follow_a_database_url_given_to_the_factory(tmp_path, url):
    # The environment's default is SQLite, whose options a server driver refuses.
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=url))
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == engine_options(url)


@pytest.fixture
def default_hash_app(app_config, request):
    """An app that hashes passwords the way production does (no cheap test method)."""
    app_config.pop("PASSWORD_HASH_METHOD")
    return request.getfixturevalue("app")


def test_passwords_are_hashed_with_scrypt_by_default(default_hash_app):
    assert default_hash_app.config["PASSWORD_HASH_METHOD"] is None
    user = create_user("hashed", "hashedpass1")
    assert user.password_hash.startswith("scrypt:")


@pytest.fixture
def sqlite_app(app_config, tmp_path, request):
    """The app on a SQLite file, whatever database the rest of the suite uses."""
    app_config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'pragma.sqlite'}"
    return request.getfixturevalue("app")


def test_sqlite_enforces_foreign_keys(sqlite_app):
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.session.add(Template(title="orphan", url="https://e.org/a", owner_id=12345))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# --- secrets from files (NAME_FILE) -------------------------------------------------------------

@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "DB_PASS",
                                  "BOOTSTRAP_ADMIN_PASSWORD"])
def test_a_variable_and_its_file_together_are_refused_naming_both(tmp_path, name):
    secret = tmp_path / "secret"
    secret.write_text("value")
    with pytest.raises(ConfigError) as refused:
        config(**{name: "value", f"{name}_FILE": str(secret)})
    assert refused.value.message == f"{name} and {name}_FILE are both set; set only one of them"


def test_secret_key_is_read_from_its_file_without_the_line_break(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text(STRONG_SECRET + "\n")
    settings = config(APP_ENV="production", SECRET_KEY_FILE=str(secret))
    assert settings.SECRET_KEY == STRONG_SECRET


def test_database_url_and_password_are_read_from_files(tmp_path):
    url_file, password_file = tmp_path / "url", tmp_path / "password"
    url_file.write_text("postgresql://meme:pw@db/memes\n")
    password_file.write_text("p@ss word/%\n")
    assert config(DATABASE_URL_FILE=str(url_file)).SQLALCHEMY_DATABASE_URI == (
        "postgresql+psycopg://meme:pw@db/memes")
    parts = make_url(config(DB_HOST="db", DB_USERNAME="meme",
                            DB_PASS_FILE=str(password_file)).SQLALCHEMY_DATABASE_URI)
    assert parts.password == "p@ss word/%"


def test_an_unreadable_secret_file_is_refused(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE names .*missing.*cannot be read"):
        config(SECRET_KEY_FILE=str(missing))


def test_both_set_stops_a_command_with_one_line(tmp_path):
    from test_cli import flask_command

    secret = tmp_path / "secret_key"
    secret.write_text(STRONG_SECRET)
    env_file = tmp_path / ".env"  # as a user would set them: one of the two in .env
    env_file.write_text(f"SECRET_KEY_FILE={secret}\n")
    result = flask_command("wait-db", "--timeout", "1", cwd=tmp_path,
                           database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                           SECRET_KEY=STRONG_SECRET)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: SECRET_KEY and SECRET_KEY_FILE are both set; set only one of them"]
    assert result.stdout == ""
