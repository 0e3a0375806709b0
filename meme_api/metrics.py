"""Prometheus metrics (contract §8), with the official prometheus-client.

Under gunicorn, `gunicorn.conf.py` points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before
the workers start: each worker then writes its figures to files there, and `GET /metrics` sums
them, so the answer is the instance's whatever worker serves it. Without that variable (the
development server, tests) the figures are the one process's.

`route` is the URL rule (`/template/<int:template_id>`), never the path, so the number of series
stays fixed however many ids are requested.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event

REQUESTS = Counter("http_requests", "HTTP requests answered.", ["method", "route", "status"])
DURATION = Histogram("http_request_duration_seconds", "Time to answer a request.",
                     ["method", "route"])
LOGINS = Counter("logins", "Login attempts by result.", ["result"])
RATE_LIMITED = Counter("rate_limit_rejections", "Requests refused over a rate limit (429).",
                       ["route"])
REFRESH_REUSE = Counter("refresh_token_reuse_detections",
                        "Rotated refresh tokens presented again (their session was revoked).")
POOL_IN_USE = Gauge("db_pool_connections_in_use", "Database connections checked out of the pool.",
                    multiprocess_mode="livesum")
# prometheus-client chose where values live when it was imported (just above): files when the
# variable was set, this process's memory otherwise. The exposition must read the same place.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED = "unmatched"  # requests that matched no route (404, 405 …)
LOGIN_ENDPOINT = "login.login"


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's figures (or this process's alone)."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def login_result(status: int) -> str | None:
    if status == 429:
        return "rate_limited"
    if 200 <= status < 300:
        return "success"
    if 400 <= status < 500:
        return "failure"
    return None  # the service failed, not the login


def _checked_out(*_) -> None:
    POOL_IN_USE.inc()


def _checked_in(*_) -> None:
    POOL_IN_USE.dec()


def init_metrics(app: Flask, engines) -> None:
    """Count every answer, and the pool's connections in use (nothing when METRICS_ENABLED is
    false, so switching metrics off removes their cost)."""
    if not app.config["METRICS_ENABLED"]:
        return
    for engine in engines:
        event.listen(engine.pool, "checkout", _checked_out)
        event.listen(engine.pool, "checkin", _checked_in)

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        status = response.status_code
        REQUESTS.labels(request.method, route, str(status)).inc()
        started = g.get("metrics_started")
        if started is not None:
            DURATION.labels(request.method, route).observe(time.perf_counter() - started)
        if status == 429:
            RATE_LIMITED.labels(route).inc()
        if request.endpoint == LOGIN_ENDPOINT and (result := login_result(status)):
            LOGINS.labels(result).inc()
        return response
