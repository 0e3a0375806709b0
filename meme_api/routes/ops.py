"""Operations (contract §8): liveness and readiness, with no tokens."""

from functools import cache
from pathlib import Path

from flask import current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import __version__
from ..extensions import db, limiter
from ..openapi.components import header_refs
from ..openapi.metadata import ApiBlueprint, other_responses, response
from ..ratelimits import storage_state
from ..resource import Body, object_schema

bp = ApiBlueprint("ops", __name__, "Liveness and readiness")

HEALTH = Body("Health", {"Health": object_schema({"status": {"type": "string", "const": "ok"}})})
READY = Body("Ready", {"Ready": object_schema({
    "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
    "database": {"type": "string", "enum": ["ok", "error"]},
    "migrations": {"type": "string", "enum": ["ok", "pending", "unknown"]},
    "rate_limits": {"type": "string", "enum": ["ok", "memory", "error"]},
    "version": {"type": "string"},
})})
NOT_READY = {
    "description": "Not ready: the database is unreachable or not migrated.",
    "headers": header_refs(("Retry-After",)),
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ready"}}},
}


@cache
def migration_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migration scripts shipped with this version."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


@bp.get("/healthz")
@response("healthz", HEALTH, "The process is up.", uses_database=False)
def healthz():
    """The process is up; touches nothing else."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@response("readyz", READY, "Ready to serve; `degraded` while the rate-limit store is away.")
@other_responses({503: NOT_READY})
def readyz():
    """Ready when the database answers and its schema is at the latest migration.

    An unreachable rate-limit store does not make the instance unready (limits count per
    worker meanwhile, contract §6), but it is reported: `degraded`, `rate_limits: error`.
    """
    database, migrations = "ok", "unknown"
    try:
        applied = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        db.session.rollback()
        try:
            db.session.execute(text("SELECT 1"))
            migrations = "pending"  # reachable, but never migrated
        except SQLAlchemyError:
            db.session.rollback()
            database = "error"
    else:
        directory = current_app.extensions["migrate"].directory
        if Path(directory).is_dir():
            migrations = "ok" if applied == set(migration_heads(directory)) else "pending"
    ready = database == "ok" and migrations == "ok"
    rate_limits = storage_state(limiter)
    status = ("ok" if rate_limits != "error" else "degraded") if ready else "unavailable"
    body = {"status": status, "database": database, "migrations": migrations,
            "rate_limits": rate_limits, "version": __version__}
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response
