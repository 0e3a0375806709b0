"""The ceiling: a bare Flask app that answers a small JSON object, and does nothing else.

The harness serves it with the service's own gunicorn configuration
(`gunicorn --config gunicorn.conf.py bench.ceiling:app`), so that the ratio of a scenario's rate to
this one's is what the service's own work costs, on this machine, under identical serving.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    """A small JSON object, like the service's smallest answers."""
    return {"status": "ok"}
