# meme_api: dependencies from the lock file in one stage, the package's metadata in another, and a
# final stage that gets the virtual environment, the metadata and the code, in that order, so a
# code change rebuilds only the last layer. Runs as an unprivileged user; see docs/deployment.md.
# Build: docker build -t meme_api .   Run it with docker compose (docker-compose.yml).

# The official image, by full tag and by digest (the digest wins; the tag says what it is).
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b

# --- the dependencies: rebuilt only when requirements.lock changes ------------------------------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# build-ca.pem (optional, git-ignored) is an extra CA bundle for pip behind a TLS-intercepting
# proxy. It exists only in this stage and the next, which the final image does not copy from.
COPY requirements.lock build-ca.pe[m] /tmp/build/
RUN if [ -f /tmp/build/build-ca.pem ]; then export PIP_CERT=/tmp/build/build-ca.pem; fi \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/build/requirements.lock

# --- the package's metadata: an editable install that points at /app, where the code goes -------
FROM deps AS metadata
COPY pyproject.toml README.md /app/
# Only the metadata is kept (what `pip install -e` adds to site-packages), so that
# importlib.metadata knows the version while the code itself is copied last.
RUN cd "$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && ls > /tmp/before \
    && mkdir /app/meme_api && touch /app/meme_api/__init__.py \
    && /opt/venv/bin/pip install --no-deps --no-build-isolation --editable /app \
    && mkdir /metadata && ls | grep -vxFf /tmp/before | xargs -I{} cp -a {} /metadata/

# --- the image ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    DATA_DIR=/data
# /data is the volume for the SQLite database that boot.sh uses when no database is configured;
# the service's user owns it (a new named volume takes this ownership), and nothing else.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin meme \
    && mkdir /data && chown meme:meme /data
WORKDIR /app
COPY --from=deps /opt/venv /opt/venv
COPY --from=metadata /metadata/ /opt/venv/lib/python3.11/site-packages/
COPY migrations ./migrations
COPY boot.sh gunicorn.conf.py ./
COPY meme_api ./meme_api
# Everything above belongs to root and is read-only to the service.
USER meme
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/healthz', timeout=4)"
ENTRYPOINT ["./boot.sh"]
