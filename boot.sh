#!/bin/sh
# Entrypoint of the image (and usable from a checkout): wait for the database, bring its schema to
# the latest migration, make the first admin when BOOTSTRAP_ADMIN asks for one, then replace this
# shell with gunicorn, so that gunicorn is the process that receives SIGTERM from `docker stop` and
# shuts its workers down gracefully. Every step fails with one `Error: …` line and a non-zero exit.
set -eu
cd "$(dirname "$0")"  # where migrations/ and gunicorn.conf.py are: /app in the image

# Started with no database settings at all, the image serves on SQLite in its volume (contract
# §9) rather than in the package's instance folder, which is neither writable nor kept.
if [ -n "${DATA_DIR:-}" ] && [ -z "${DATABASE_URL:-}${DATABASE_URL_FILE:-}" ] \
    && [ -z "${SQLALCHEMY_DATABASE_URI:-}${DB_HOST:-}" ]; then
  export DATABASE_URL="sqlite:///${DATA_DIR}/meme_api.sqlite"
fi

flask --app meme_api wait-db --timeout "${DB_WAIT_TIMEOUT:-60}"
flask --app meme_api db upgrade
if [ -n "${BOOTSTRAP_ADMIN:-}" ]; then
  flask --app meme_api bootstrap "$BOOTSTRAP_ADMIN" --if-no-admin
fi
exec gunicorn --config gunicorn.conf.py "meme_api:create_app()"
