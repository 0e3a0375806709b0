"""Optional tracing (issue 16): OpenTelemetry spans for requests and SQL statements.

Only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (in the environment or `.env`), and only with the
`otel` extra installed (`pip install -e '.[otel]'`); otherwise nothing of OpenTelemetry is
imported. Spans go to that endpoint over OTLP/HTTP, in batches, from each worker process;
`OTEL_SERVICE_NAME` and the SDK's other `OTEL_*` variables apply as the SDK documents them.
"""

from __future__ import annotations

import os

from flask import Flask


def span_processor():
    """Batches spans to the OTLP endpoint (the tests put an in-memory exporter here)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter())


def init_tracing(app: Flask, engines) -> None:
    """Instrument the app and its engines when an OTLP endpoint is configured."""
    if not app.config["OTEL_EXPORTER_OTLP_ENDPOINT"]:
        return
    try:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as missing:
        raise RuntimeError("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not "
                           "installed: pip install 'meme_api[otel]'") from missing

    # OTEL_SERVICE_NAME, when set, names the service; the SDK would say "unknown_service".
    name = os.environ.get("OTEL_SERVICE_NAME") or "meme_api"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(span_processor())
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    statements = SQLAlchemyInstrumentor()
    if statements.is_instrumented_by_opentelemetry:
        statements.uninstrument()  # one app per process in production; tests make many
    # The instrumentation declares SQLAlchemy < 2.1 and would do nothing on 2.1; the engine
    # events it listens to are the same in 2.1 (tests/test_tracing.py checks the spans).
    statements.instrument(engines=list(engines), tracer_provider=provider, skip_dep_check=True)
    app.extensions["tracer_provider"] = provider
