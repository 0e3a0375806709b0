"""Gunicorn settings for production: boot.sh passes this file; gunicorn also finds it in the cwd."""

# Values come from the same environment (and `.env`) as the service's own configuration.

import os

from dotenv import load_dotenv

# The app reads `.env` from the working directory; read it here too, so that gunicorn and the
# app see the same TRUSTED_PROXY_COUNT and WEB_CONCURRENCY. The environment wins, as in the app.
load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)


def _whole_number(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"Error: {name} must be a whole number, not {raw!r}") from None


bind = f"0.0.0.0:{_whole_number('PORT', 8000)}"
workers = max(1, _whole_number("WEB_CONCURRENCY", 2))

# A request that needs the database fails within the driver's connect timeout (5 s) when the
# database is away, so 30 s only ever kills a truly stuck worker.
timeout = 30
# On SIGTERM (docker stop sends it, then SIGKILL after 10 s), workers get this long to finish
# the requests in flight.
graceful_timeout = 8
# Workers prove they are alive by touching a file; in a container /tmp is an overlay file system
# where that can stall, /dev/shm is memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Gunicorn 25.1 added a control socket for `gunicornc`, created by default in $XDG_RUNTIME_DIR or
# ~/.gunicorn: the image's user has no home, so every boot logged "Control server error". Nothing
# here uses gunicornc (signals and the orchestrator manage the process), so it is off; that also
# keeps several servers on one machine from fighting over one socket.
control_socket_disable = True

# The app writes one JSON line per request to stdout (contract §8); gunicorn's own access log
# would only duplicate it. Gunicorn's errors and lifecycle messages go to stderr.
accesslog = None
errorlog = "-"

# Forwarded headers: one authority, the app. meme_api applies Werkzeug's ProxyFix with
# TRUSTED_PROXY_COUNT hops (meme_api/__init__.py): it takes the client address, scheme and host
# from the values the last N proxies appended to X-Forwarded-For/-Proto/-Host, and ignores those
# headers entirely when N is 0. Gunicorn trusts peers by address and cannot count hops, so if it
# read the same headers the two could disagree (gunicorn's default trusts X-Forwarded-Proto from
# 127.0.0.1 even when N is 0, and it would take a single value that ProxyFix refuses because
# fewer than N proxies appended). So gunicorn reads none of them:
# - no scheme headers: wsgi.url_scheme is http unless ProxyFix sets it from the N-th value;
# - no forwarder headers: SCRIPT_NAME/PATH_INFO never come from a header (the app trusts no
#   X-Forwarded-Prefix either).
# forwarded_allow_ips is still tied to N, so that a header enabled here later gets the app's trust:
# no peer when N is 0; any peer when N > 0, because setting N asserts that only the proxies can
# reach this port, which is the same premise ProxyFix works on.
_trusted_proxies = _whole_number("TRUSTED_PROXY_COUNT", 0)
forwarded_allow_ips = "*" if _trusted_proxies > 0 else ""
secure_scheme_headers: dict[str, str] = {}
forwarder_headers = ""

# --- Request size limits (contract §1): problem documents, never gunicorn's HTML page ----------
# The app refuses a URL over 8,190 bytes (414) and headers over its limits (431: a line over
# 8,190 bytes, more than 100 fields, over 32 KiB in all) itself (meme_api/server_errors.py). The
# header limits here sit above the app's, so that such requests reach it and get its X-Request-ID
# and log line; they only bound what gunicorn buffers. The request line keeps gunicorn's largest
# limit, 8,190 bytes for method, URL and version together (0 would mean no bound at all on what a
# worker reads into memory), so gunicorn refuses a URL from about 8,176 bytes itself. What
# gunicorn refuses itself (that, or a malformed request) is answered as a problem document.
limit_request_line = 8190
limit_request_fields = 200
limit_request_field_size = 32768

from meme_api.server_errors import install_in_gunicorn  # noqa: E402 - this block stands alone

install_in_gunicorn()

# --- Metrics (contract §8): prometheus-client's multiprocess mode ---------------------------------
# Each worker writes its figures to files in PROMETHEUS_MULTIPROC_DIR and /metrics sums them, so
# the figures are the instance's. The directory is made here, in the master, before any worker
# imports prometheus_client (it reads the variable on import): a fresh one under $TMPDIR (/tmp,
# a tmpfs in the container, so a read-only root file system is fine), removed on exit. One the
# operator names is emptied instead, so no figures of an earlier run are summed in.
_metrics_dir_made = None
if (os.environ.get("METRICS_ENABLED") or "true").strip().lower() not in ("0", "false", "no",
                                                                         "off"):
    import tempfile

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        for _name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
            if _name.endswith(".db"):
                os.remove(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], _name))
    else:
        _metrics_dir_made = tempfile.mkdtemp(prefix="meme_api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir_made


def child_exit(server, worker):
    """A worker is gone: drop its live gauges (its counters stay in the sums)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_made:
        import shutil

        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
