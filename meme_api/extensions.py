"""Extension objects, created bare and bound to the app in `create_app`."""

from flask import request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .ratelimits import default_key, default_limit, quiet_limiter_log

# Named constraints keep migrations identical on every backend and let SQLite's batch mode
# find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# One budget per user across every route (contract §6); storage and switches come from config.
limiter = Limiter(key_func=default_key, application_limits=[default_limit])
# CORS preflights carry no credentials and are never counted.
limiter.request_filter(lambda: request.method == "OPTIONS")
quiet_limiter_log()
cors = CORS()

# What browsers may send to and read from the API when CORS_ORIGINS allows their origin.
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match",
                      "X-Request-ID", "x-access-token", "x-application-token"]
CORS_EXPOSE_HEADERS = ["ETag", "Link", "Location", "Retry-After", "X-Request-ID",
                       "X-Total-Count", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                       "X-RateLimit-Reset"]
