# meme_api: slim image, non-root user; migrates the database, then runs gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    WEB_CONCURRENCY=2

WORKDIR /app
RUN useradd --create-home --uid 10001 meme

COPY pyproject.toml README.md ./
COPY meme_api ./meme_api
RUN pip install ".[postgres,mysql,redis]" \
    && mkdir -p "$(python -c 'import sys; print(sys.prefix)')/var/meme_api-instance" \
    && chown meme "$(python -c 'import sys; print(sys.prefix)')/var/meme_api-instance"
COPY migrations ./migrations

USER meme
EXPOSE 8000
CMD ["sh", "-c", "flask --app meme_api db upgrade && exec gunicorn --workers \"$WEB_CONCURRENCY\" --bind 0.0.0.0:8000 --access-logfile - 'meme_api:create_app()'"]
