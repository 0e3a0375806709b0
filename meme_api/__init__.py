"""meme_api: a JWT-secured users-and-posts (meme templates) service.

The HTTP contract is docs/api.md in the repository; "contract §N" in this package's docstrings
and comments is its section N.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask, request
from sqlalchemy import event

from .encoding import FastJSONProvider

try:
    __version__ = version("meme_api")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

REQUEST_ID_MAX = 128
REQUEST_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
CREDENTIAL_HEADERS = ("Authorization", "x-access-token", "x-application-token")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, error handlers, commands."""
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    # No static folder: an unused /static route would be one the API description lacks.
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.json = FastJSONProvider(app)
    register_config(app, test_config)
    register_proxy_fix(app)
    register_response_headers(app)  # before the extensions: its hook must run after theirs
    register_extensions(app)
    register_hooks(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_config(app: Flask, test_config: dict | None) -> None:
    from .config import Config, default_sqlite_url, engine_options

    app.config.from_mapping(Config(instance_path=app.instance_path).as_dict())
    if test_config:
        app.config.from_mapping(test_config)
        if "SQLALCHEMY_ENGINE_OPTIONS" not in test_config:
            # Options made for the environment's URL may not suit the overriding one.
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
                app.config["SQLALCHEMY_DATABASE_URI"])
    if app.config["SQLALCHEMY_DATABASE_URI"] == default_sqlite_url(app.instance_path):
        os.makedirs(app.instance_path, exist_ok=True)
    app.json.sort_keys = False  # representations keep the order they are written in
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger(__name__).setLevel(app.config["LOG_LEVEL"])


def register_proxy_fix(app: Flask) -> None:
    """Trust `X-Forwarded-*` only from the proxies the operator declared (none by default)."""
    hops = app.config["TRUSTED_PROXY_COUNT"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_response_headers(app: Flask) -> None:
    from .response_headers import register_response_headers as register

    register(app)


def register_extensions(app: Flask) -> None:
    from .extensions import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, cors, db, limiter, migrate

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():  # this app's engines only, not every Engine there is
            event.listen(engine, "connect", sqlite_pragmas)
    limiter.init_app(app)
    if app.config["CORS_ORIGINS"]:
        # Nothing without an `Origin`; `Vary: Origin` goes on every answer (response_headers).
        cors.init_app(app, origins=app.config["CORS_ORIGINS"], allow_headers=CORS_ALLOW_HEADERS,
                      expose_headers=CORS_EXPOSE_HEADERS, max_age=600, always_send=False,
                      vary_header=False)
    directory = str(MIGRATIONS_DIR) if MIGRATIONS_DIR.is_dir() else "migrations"
    migrate.init_app(app, db, directory=directory, render_as_batch=True, compare_type=True)


def sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite settings, per connection: foreign keys, and a write-ahead log.

    SQLite enforces foreign keys only when asked to. The write-ahead log lets the workers read
    while one of them writes, and with `synchronous=NORMAL` a commit no longer waits for the disk
    (a commit survives a crash of the service; a power cut may lose the last ones, never the
    database's consistency). See docs/deployment.md.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def request_id() -> str:
    """The caller's `X-Request-ID` when it is a sane token, else a new one."""
    incoming = request.headers.get("X-Request-ID", "")
    if 0 < len(incoming) <= REQUEST_ID_MAX and set(incoming) <= REQUEST_ID_CHARS:
        return incoming
    return secrets.token_hex(16)


def register_hooks(app: Flask) -> None:
    from flask import g

    from .bodies import BodyRequest, parse_request_body
    from .request_log import init_request_log

    app.request_class = BodyRequest

    # The size limits of contract §1 come first, before the rate limiter's hook (registered
    # with the extensions) reads the headers: an oversized request is refused untouched.
    from .server_errors import check_request_size

    app.before_request_funcs.setdefault(None, []).insert(0, check_request_size)

    @app.before_request
    def _before():
        g.request_id = request_id()
        parse_request_body()

    init_request_log(app)

    @app.after_request
    def _after(response):
        # A request refused before `_before` ran (rate limit) gets its id here, so that the
        # request log (its hook was registered earlier, so it runs later) logs the same id.
        if not g.get("request_id"):
            g.request_id = request_id()
        response.headers["X-Request-ID"] = g.request_id
        # Answers to credentialed requests must not be stored by shared caches.
        if "Cache-Control" not in response.headers and any(
            name in request.headers for name in CREDENTIAL_HEADERS
        ):
            response.headers["Cache-Control"] = "private"
        return response


def register_blueprints(app: Flask) -> None:
    from .extensions import limiter
    from .routes import PublicIdConverter, apps, docs, login, ops, template, user

    app.url_map.converters["public_id"] = PublicIdConverter

    app.register_blueprint(login.bp)
    app.register_blueprint(user.bp, url_prefix="/user")
    app.register_blueprint(template.bp)
    app.register_blueprint(apps.bp, url_prefix="/app")
    app.register_blueprint(ops.bp)
    app.register_blueprint(docs.bp)
    # The audit trail (contract §11).
    from .routes import audit
    app.register_blueprint(audit.bp, url_prefix="/audit")
    # Login sessions (contract §10).
    from .routes import sessions
    app.register_blueprint(sessions.bp, url_prefix="/user")
    limiter.exempt(ops.bp)
    limiter.exempt(docs.bp)
    # --- metrics (contract §8): the route, and the hooks that count every answer
    from .extensions import db
    from .metrics import init_metrics
    from .routes import metrics

    app.register_blueprint(metrics.bp)
    limiter.exempt(metrics.bp)
    with app.app_context():
        init_metrics(app, db.engines.values())
    # --- tracing (optional): imports OpenTelemetry only when an OTLP endpoint is configured
    from .tracing import init_tracing

    with app.app_context():
        init_tracing(app, db.engines.values())


def register_errorhandlers(app: Flask) -> None:
    from .errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from .cli import register_cli

    register_cli(app)
