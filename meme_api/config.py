"""Configuration: one class built from the environment (and `.env`), as contract §9 lists it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import click
from sqlalchemy.engine import URL, make_url

DEV_SECRET_KEY = "meme_api-development-key-do-not-use-in-production"  # noqa: S105
MIN_SECRET_LENGTH = 32
# Placeholders that ship in docs and examples; a production secret must not be one of them.
KNOWN_WEAK_SECRETS = {DEV_SECRET_KEY, "change-me-to-a-long-random-string-of-at-least-32-chars"}

APP_ENVS = ("development", "production", "testing")

# Variables that may instead name a file holding the value (`SECRET_KEY_FILE=/run/secrets/key`),
# the way Docker and Kubernetes hand secrets to a container (contract §9).
FILE_VARIABLES = ("SECRET_KEY", "DATABASE_URL", "DB_PASS", "BOOTSTRAP_ADMIN_PASSWORD")

# Scheme spellings that users paste from hosting providers, mapped to the drivers we ship.
DRIVER_ALIASES = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


class ConfigError(click.ClickException):
    """The environment describes a configuration the service refuses to run with.

    A ClickException, so `flask --app meme_api …` prints one `Error: …` line, not a traceback.
    """


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def with_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """The environment with each `NAME_FILE` of FILE_VARIABLES read into `NAME`.

    Setting both is an error rather than a silent choice. The file's trailing line break is
    dropped (`echo secret > file` writes one); nothing else is, so any character may be in it.
    """
    resolved = dict(env)
    for name in FILE_VARIABLES:
        path = env.get(f"{name}_FILE")
        if not path:
            continue
        if env.get(name):
            raise ConfigError(f"{name} and {name}_FILE are both set; set only one of them")
        try:
            with open(path, encoding="utf-8") as secret:
                resolved[name] = secret.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(
                f"{name}_FILE names {path!r}, which cannot be read: {reason}") from None
    return resolved


def secret_from_environment(name: str) -> str | None:
    """`name` from the environment or the file `name_FILE` names; None when neither is set."""
    return with_secret_files(os.environ).get(name) or None


def normalise_database_url(url: str) -> str:
    """Map bare scheme names (`postgres://`, `mysql://`) onto the drivers this package installs."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises several types for a bad URL
        raise ConfigError("DATABASE_URL is not a valid SQLAlchemy URL") from None
    driver = DRIVER_ALIASES.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def database_url(env: Mapping[str, str], instance_path: str) -> str:
    """`DATABASE_URL`, its alias, the `DB_*` parts, or a SQLite file in DATA_DIR or the instance
    folder."""
    url = env.get("DATABASE_URL") or env.get("SQLALCHEMY_DATABASE_URI")
    if url:
        return normalise_database_url(url)
    if env.get("DB_HOST"):
        port = env.get("DB_PORT")
        try:
            port_number = int(port) if port else None
        except ValueError:
            raise ConfigError(f"DB_PORT must be a whole number, not {port!r}") from None
        parts = URL.create(
            drivername=env.get("DB_DRIVER") or "postgresql+psycopg",
            username=env.get("DB_USERNAME") or None,
            password=env.get("DB_PASS") or None,
            host=env["DB_HOST"],
            port=port_number,
            database=env.get("DB_NAME") or "meme_api",
        )
        return normalise_database_url(parts.render_as_string(hide_password=False))
    # The image sets DATA_DIR to its volume, /data: every process in the container (boot.sh's,
    # `docker exec`'s) then uses the same SQLite file, which outlives the container.
    return default_sqlite_url(env.get("DATA_DIR") or instance_path)


def default_sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "meme_api.sqlite")


def engine_options(url: str) -> dict:
    """Connection-pool settings per backend: SQLite waits for locks, servers are pre-pinged."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": 15}}
    options: dict = {"pool_pre_ping": True, "pool_recycle": 1800, "pool_timeout": 10}
    if backend == "postgresql":
        # Keepalives and a TCP user timeout bound how long a silently dropped connection can hang
        # a worker (the connect timeout covers only a database that refuses or never answers).
        options["connect_args"] = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 30,
                                   "keepalives_interval": 10, "keepalives_count": 3,
                                   "tcp_user_timeout": 20000}
    elif backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": 5, "charset": "utf8mb4"}
        # InnoDB defaults to REPEATABLE READ; READ COMMITTED is PostgreSQL's default, so every
        # backend sees other transactions' commits the same way.
        options["isolation_level"] = "READ COMMITTED"
    return options


class Config:
    """Every setting of the service, read once from the environment when the app is made."""

    def __init__(self, env: Mapping[str, str] | None = None, instance_path: str = "instance"):
        env = with_secret_files(os.environ if env is None else env)
        self.APP_ENV = (env.get("APP_ENV") or "development").strip().lower()
        if self.APP_ENV not in APP_ENVS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(APP_ENVS)}")
        self.TESTING = self.APP_ENV == "testing"

        secret = env.get("SECRET_KEY") or ""
        weak = len(secret) < MIN_SECRET_LENGTH or secret in KNOWN_WEAK_SECRETS
        if self.APP_ENV == "production" and weak:
            raise ConfigError(
                "APP_ENV=production needs a SECRET_KEY of at least "
                f"{MIN_SECRET_LENGTH} random characters (not the example value)"
            )
        self.SECRET_KEY = secret or DEV_SECRET_KEY

        self.SQLALCHEMY_DATABASE_URI = database_url(env, instance_path)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)

        self.ACCESS_TOKEN_TTL = _int(env, "ACCESS_TOKEN_TTL", 3600, minimum=1)
        self.REFRESH_TOKEN_TTL = _int(env, "REFRESH_TOKEN_TTL", 2592000, minimum=1)
        self.REQUIRE_APP_TOKEN = _bool(env, "REQUIRE_APP_TOKEN", True)
        self.APP_TOKEN_GRACE = _int(env, "APP_TOKEN_GRACE", 0)

        # Audit trail (contract §11): `audit prune` removes events older than this.
        self.AUDIT_RETENTION_DAYS = _int(env, "AUDIT_RETENTION_DAYS", 365, minimum=1)

        self.RATELIMIT_ENABLED = _bool(env, "RATELIMIT_ENABLED", True)
        # RATELIMIT_DEFAULT is one budget across all routes: Flask-Limiter calls that an
        # application limit (its own RATELIMIT_DEFAULT would be a budget per route).
        self.RATELIMIT_APPLICATION = env.get("RATELIMIT_DEFAULT") or "600 per minute"
        self.RATELIMIT_LOGIN = env.get("RATELIMIT_LOGIN") or "10 per minute"
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI") or "memory://"
        self.RATELIMIT_HEADERS_ENABLED = True
        # Flask-Limiter puts its wait on every answer it counts, and raises a 503's own
        # Retry-After to its window; under this name response_headers sends it on 429s only.
        self.RATELIMIT_HEADER_RETRY_AFTER = "X-Limiter-Retry-After"
        # A rate-limit store that goes away must not take the API down with it.
        self.RATELIMIT_SWALLOW_ERRORS = True
        # While that store is unreachable, Flask-Limiter counts per worker process instead
        # (contract §6) and checks, with a growing back-off, whether the store is back.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        if self.RATELIMIT_STORAGE_URI.startswith(("redis://", "rediss://")):
            # A store that does not answer costs a request one second, not a worker timeout.
            self.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}

        self.METRICS_ENABLED = _bool(env, "METRICS_ENABLED", True)
        self.METRICS_TOKEN = env.get("METRICS_TOKEN") or None
        self.OTEL_EXPORTER_OTLP_ENDPOINT = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
        self.IDEMPOTENCY_TTL = _int(env, "IDEMPOTENCY_TTL", 86400, minimum=1)

        self.DEFAULT_PAGE_SIZE = _int(env, "DEFAULT_PAGE_SIZE", 20, minimum=1)
        self.MAX_PAGE_SIZE = _int(env, "MAX_PAGE_SIZE", 100, minimum=1)
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 1048576, minimum=1)
        self.MIN_PASSWORD_LENGTH = _int(env, "MIN_PASSWORD_LENGTH", 8, minimum=1)
        if self.MIN_PASSWORD_LENGTH > 128:
            raise ConfigError("MIN_PASSWORD_LENGTH must be at most 128")

        self.CORS_ORIGINS = [o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",")
                             if o.strip()]
        self.TRUSTED_PROXY_COUNT = _int(env, "TRUSTED_PROXY_COUNT", 0)
        self.LOG_LEVEL = (env.get("LOG_LEVEL") or "INFO").upper()

        # Werkzeug's current default (scrypt) unless a test run asks for a cheaper one.
        self.PASSWORD_HASH_METHOD: str | None = None
        self.JSON_SORT_KEYS = False

    def as_dict(self) -> dict:
        """The settings as a mapping for `app.config.from_mapping`."""
        return {key: value for key, value in vars(self).items() if key.isupper()}
