# meme_api: the package is built into a virtual environment in one stage; the final stage gets only
# that environment and what boot.sh needs, and runs as an unprivileged user.
# Build: docker build -t meme_api .   Run it with docker compose (docker-compose.yml).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY meme_api ./meme_api
RUN /opt/venv/bin/pip install ".[postgres,mysql,redis]"

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    PORT=8000 \
    WEB_CONCURRENCY=2
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin meme
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY migrations ./migrations
COPY boot.sh gunicorn.conf.py ./
# Everything above belongs to root and is read-only to the service.
USER meme
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/healthz', timeout=4)"
ENTRYPOINT ["./boot.sh"]
