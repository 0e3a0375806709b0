#!/usr/bin/env bash
# Stand-ins for the official base images (python, postgres, redis), built from Debian's packages
# for the container tests on machines that cannot pull from an image registry. Each is tagged
# with the name the Dockerfile or docker-compose.yml uses, without the digest (a local image
# cannot carry the official one), and imitates what the service relies on: `python` and
# `python -m venv`; postgres' POSTGRES_* variables, data folder and pg_isready; redis-server and
# redis-cli. An image already present is kept, so a machine builds them once. For tests only:
# the Dockerfile and the Compose file keep the official images.
set -euo pipefail
cd "$(dirname "$0")/.."

mirror=http://deb.debian.org/debian
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The tag part of a pinned reference: python:3.11.16-slim-bookworm@sha256:… → python:3.11.16-…
python_tag=$(sed -n 's/^ARG PYTHON_IMAGE=\([^@]*\).*/\1/p' Dockerfile)
postgres_tag=$(sed -n 's/^ *image: \(postgres:[^@]*\).*/\1/p' docker-compose.yml)
redis_tag=$(sed -n 's/^ *image: \(redis:[^@]*\).*/\1/p' docker-compose.yml)

present() { docker image inspect "$1" >/dev/null 2>&1; }

# A Debian bookworm root filesystem with these packages, imported as an image.
# Documentation, manuals and translations are left out, and usrmerge (which drags in perl) is
# replaced by mmdebstrap's own merged-/usr hook, so the stand-in is no bigger than the original.
debian_image() {
  local tag=$1 packages=$2; shift 2
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$@" bookworm "$work/rootfs.tar" "$mirror"
  docker import "${changes[@]}" "$work/rootfs.tar" "$tag" >/dev/null
  rm -f "$work/rootfs.tar"
  echo "built stand-in $tag"
}

if ! command -v mmdebstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

if ! present "$python_tag"; then
  # The official image has `python` on PATH and LANG=C.UTF-8; Debian's python3.11 plus
  # python-is-python3 gives the same commands.
  changes=(--change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]')
  debian_image "$python_tag" python3.11-venv,python-is-python3
fi

if ! present "$postgres_tag"; then
  cat > "$work/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official image's entrypoint: on an empty data folder, make a cluster with
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB (password authentication from the network),
# then run the server as the postgres user.
set -eu
user=${POSTGRES_USER:-postgres}
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "${POSTGRES_PASSWORD:?}" > /tmp/pwfile
  chown postgres /tmp/pwfile
  as_postgres initdb --username="$user" --pwfile=/tmp/pwfile --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust \
    --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "${POSTGRES_DB:-$user}" != postgres ]; then
    echo "CREATE DATABASE \"${POSTGRES_DB:-$user}\" OWNER \"$user\"" \
      | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
[ "$1" = postgres ] && set -- "$@" -c listen_addresses='*'
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
EOF
  chmod 755 "$work/docker-entrypoint.sh"
  changes=(--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
           --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'VOLUME /var/lib/postgresql/data'
           --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
           --change 'CMD ["postgres"]')
  debian_image "$postgres_tag" postgresql-15 \
    --customize-hook="copy-in $work/docker-entrypoint.sh /usr/local/bin"
fi

if ! present "$redis_tag"; then
  cat > "$work/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official image's entrypoint: like it, serve other containers (protected mode
# off) and run as the redis user.
set -eu
[ "$1" = redis-server ] && set -- "$@" --protected-mode no
exec setpriv --reuid=redis --regid=redis --init-groups "$@"
EOF
  chmod 755 "$work/docker-entrypoint.sh"
  changes=(--change 'WORKDIR /tmp' --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
           --change 'CMD ["redis-server"]')
  debian_image "$redis_tag" redis-server \
    --customize-hook="copy-in $work/docker-entrypoint.sh /usr/local/bin"
fi
