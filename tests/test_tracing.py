"""Optional tracing: OpenTelemetry only with OTEL_EXPORTER_OTLP_ENDPOINT (and the otel extra)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from servers import REPO_ROOT, server_env

CHECK_IMPORTS = """
import sys
from meme_api import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x" * 40})
assert app.test_client().get("/healthz").status_code == 200
print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""


def test_nothing_of_opentelemetry_is_imported_without_an_endpoint():
    done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS], cwd=REPO_ROOT,  # noqa: S603
                          env=server_env("sqlite://"), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.otel
def test_requests_and_their_sql_statements_are_traced(app_config, monkeypatch, request):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from meme_api import tracing

    exporter = InMemorySpanExporter()
    monkeypatch.setattr(tracing, "span_processor", lambda: SimpleSpanProcessor(exporter))
    app_config["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
    client, auth = request.getfixturevalue("client"), request.getfixturevalue("auth")
    alice = request.getfixturevalue("alice")
    exporter.clear()

    assert client.get("/user/me", headers=auth.headers(alice)).status_code == 200

    spans = exporter.get_finished_spans()
    (served,) = [span for span in spans if span.kind == SpanKind.SERVER]
    assert served.attributes["http.route"] == "/user/me"
    assert served.resource.attributes["service.name"] == "meme_api"
    statements = [span for span in spans if span.kind == SpanKind.CLIENT]
    assert "SELECT" in [span.name.split()[0] for span in statements], [s.name for s in spans]
    for span in statements:  # each statement (and a connect) inside the request's span
        assert span.context.trace_id == served.context.trace_id
        assert span.parent.span_id == served.context.span_id
