#!/usr/bin/env bash
# Builds LOCAL stand-ins for the three public base images the stack uses, for machines that reach
# Debian's mirror and the npm registry but no container registry (ENVIRONMENT.md, *Docker*).
#
#   aauth-standin/node:20      stands in for node:20.20.2-bookworm-slim: a Debian 12 minbase rootfs with
#                              THIS machine's /usr/bin/node (Debian's node is 18) and its global npm,
#                              pnpm 10.34.9 and turbo 2.11.11 preinstalled, tini from Debian, user
#                              `node` (uid 1000) as in the official image, and the extra CA
#                              certificates this machine trusts (its registry traffic goes through a
#                              TLS-inspecting proxy), with NODE_EXTRA_CA_CERTS set for pnpm.
#   aauth-standin/postgres:15  stands in for postgres:15.13-bookworm: Debian's postgresql-15 with a small
#                              entrypoint doing what the official one does for POSTGRES_USER,
#                              POSTGRES_PASSWORD, POSTGRES_DB and /docker-entrypoint-initdb.d/*.sql.
#   aauth-standin/caddy:2      stands in for caddy:2.10.2-alpine: Debian's caddy package (2.6.2) with
#                              the official image's XDG_DATA_HOME=/data, XDG_CONFIG_HOME=/config and CMD.
#
# Nothing here is used on a machine that can pull the official images. Needs root, debootstrap and a
# running Docker engine. Usage: build-standin-images.sh [workdir]   (default /tmp/aauth-standin)
set -euo pipefail

WORK=${1:-/tmp/aauth-standin}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE="$WORK/base"

log() { printf '[standin] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (debootstrap, chroot)"
  exit 2
fi
command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install -y debootstrap)"; exit 2; }

mkdir -p "$WORK"
if [ ! -x "$BASE/bin/sh" ]; then
  log "debootstrap bookworm minbase into $BASE"
  rm -rf "$BASE"
  debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" >"$WORK/debootstrap.log" 2>&1
fi

# A copy of the base rootfs per image; chroot apt-get with the host's resolver.
make_rootfs() {
  local dir="$WORK/$1"
  rm -rf "$dir"
  cp -a "$BASE" "$dir"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" apt-get update -qq >/dev/null
  printf '%s' "$dir"
}

finish_rootfs() {
  local dir=$1
  chroot "$dir" apt-get clean
  rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*
  : >"$dir/etc/resolv.conf"
}

import_rootfs() {
  local dir=$1 tag=$2
  shift 2
  tar -C "$dir" -c . | docker import "$@" - "$tag" >/dev/null
  log "imported $tag"
}

# --- node -----------------------------------------------------------------------------------------
ROOT=$(make_rootfs node)
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  libstdc++6 ca-certificates tini >/dev/null
install -m 0755 "$(readlink -f "$(command -v node)")" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules"
cp -a "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" "$ROOT/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
# This machine reaches the npm registry through a TLS-inspecting egress proxy: the image build's
# `pnpm fetch` must trust the same extra CAs the host trusts (only the public CA certificates in
# /usr/local/share/ca-certificates are copied; nothing else of the host's configuration).
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
fi
# Installed by the host's npm into the rootfs prefix (same platform; npm inside a bare chroot hangs).
npm install -g --prefix "$ROOT/usr/local" --no-fund --no-audit pnpm@10.34.9 turbo@2.11.11 >/dev/null
chroot "$ROOT" groupadd --gid 1000 node
chroot "$ROOT" useradd --uid 1000 --gid node --shell /bin/sh --create-home node
finish_rootfs "$ROOT"
import_rootfs "$ROOT" aauth-standin/node:20 \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' -c 'CMD ["node"]'

# --- postgres -------------------------------------------------------------------------------------
ROOT=$(make_rootfs postgres)
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  postgresql-15 >/dev/null
# The Debian package creates a cluster under /var/lib/postgresql/15/main; the image initialises its
# own in PGDATA on first start instead, like the official image.
chroot "$ROOT" pg_dropcluster 15 main >/dev/null 2>&1 || true
cat >"$ROOT/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official postgres image's entrypoint: first start initialises PGDATA with
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and runs /docker-entrypoint-initdb.d/*.sql.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
BIN=/usr/lib/postgresql/15/bin
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pwfile"
  "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    "$BIN/psql" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
  fi
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] || continue
    "$BIN/psql" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f" >/dev/null
  done
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*'
EOF
chmod 0755 "$ROOT/usr/local/bin/docker-entrypoint.sh"
finish_rootfs "$ROOT"
import_rootfs "$ROOT" aauth-standin/postgres:15 \
  -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV PGDATA=/var/lib/postgresql/data' \
  -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' -c 'EXPOSE 5432'

# --- caddy ----------------------------------------------------------------------------------------
ROOT=$(make_rootfs caddy)
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  caddy ca-certificates >/dev/null
mkdir -p "$ROOT/data" "$ROOT/config" "$ROOT/etc/caddy"
finish_rootfs "$ROOT"
import_rootfs "$ROOT" aauth-standin/caddy:2 \
  -c 'ENV XDG_DATA_HOME=/data' -c 'ENV XDG_CONFIG_HOME=/config' -c 'WORKDIR /srv' \
  -c 'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]' \
  -c 'EXPOSE 80 443'
log "done"
