#!/bin/sh
# Entrypoint of the image (and usable from a checkout): wait for the database, bring its schema to
# the latest migration, make the first admin when BOOTSTRAP_ADMIN asks for one, then replace this
# shell with gunicorn, so that gunicorn is the process that receives SIGTERM from `docker stop` and
# shuts its workers down gracefully. Every step fails with one `Error: …` line and a non-zero exit.
set -eu
cd "$(dirname "$0")"  # where migrations/ and gunicorn.conf.py are: /app in the image

# What these steps print goes to stderr: stdout carries only the JSON request log (one line per
# request), so a log collector can parse every line of it.
flask --app meme_api wait-db --timeout "${DB_WAIT_TIMEOUT:-60}" >&2
flask --app meme_api db upgrade >&2
if [ -n "${BOOTSTRAP_ADMIN:-}" ]; then
  flask --app meme_api bootstrap "$BOOTSTRAP_ADMIN" --if-no-admin >&2
fi
exec gunicorn --config gunicorn.conf.py "meme_api:create_app()"
