#!/bin/sh
# Entrypoint of the image (and usable from a checkout): wait for the database, bring its schema to
# the latest migration, then replace this shell with gunicorn, so that gunicorn is the process that
# receives SIGTERM from `docker stop` and shuts its workers down gracefully.
set -eu
cd "$(dirname "$0")"  # where migrations/ and gunicorn.conf.py are: /app in the image

flask --app meme_api wait-db --timeout "${DB_WAIT_TIMEOUT:-60}"
flask --app meme_api db upgrade
exec gunicorn --config gunicorn.conf.py "meme_api:create_app()"
