#!/usr/bin/env bash
# Compose smoke test — NOT part of `pnpm test` (it needs Docker and minutes).
#
#   infra/scripts/compose-smoke.sh [--standin] [--keep]
#
# 1. Validates docker-compose.yml (`docker compose config`, or Compose v1 `docker-compose config`).
# 2. If no Docker engine answers, says so and stops there (exit 0 after a valid file).
# 3. Otherwise builds the three server images, brings the stack up under its own project name (its own
#    network and volumes), waits until every server is healthy, fetches the three metadata documents
#    over the TLS front with `curl --cacert <Caddy's root>` at the conformant issuer names, and tears
#    the stack down with its volumes (unless --keep).
#
# --standin: for machines without a container registry (ENVIRONMENT.md). Builds local stand-ins with
# infra/scripts/build-standin-images.sh (Debian rootfs + this machine's Node 20 for node:20…-slim,
# Debian's postgresql-15 for postgres:15…, Debian's caddy 2.6 for caddy:2…) and points the compose file
# at them through AAUTH_NODE_IMAGE / AAUTH_POSTGRES_IMAGE / AAUTH_CADDY_IMAGE.
#
# The front is published on 127.0.0.1:${AAUTH_HTTPS_PORT:-8443} and PostgreSQL on
# 127.0.0.1:${AAUTH_POSTGRES_PORT:-55432} so the run never collides with local services; curl reaches
# https://ps.localhost etc. through `--connect-to`, so the request names stay the issuers'.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STANDIN=0
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --standin) STANDIN=1 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--standin] [--keep]" >&2; exit 2 ;;
  esac
done

PROJECT=${AAUTH_SMOKE_PROJECT:-aauth-smoke}
export AAUTH_HTTPS_PORT=${AAUTH_HTTPS_PORT:-8443}
export AAUTH_POSTGRES_PORT=${AAUTH_POSTGRES_PORT:-55432}
WORK=$(mktemp -d)
log() { printf '[smoke] %s\n' "$*" >&2; }

if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  log "neither 'docker compose' nor 'docker-compose' is installed"
  exit 2
fi
log "compose: $("${COMPOSE[@]}" version 2>/dev/null | head -n1)"

if [ "$STANDIN" = 1 ]; then
  export AAUTH_NODE_IMAGE=aauth-standin/node:20
  export AAUTH_POSTGRES_IMAGE=aauth-standin/postgres:15
  export AAUTH_CADDY_IMAGE=aauth-standin/caddy:2
fi

# --- 1. validate ----------------------------------------------------------------------------------
"${COMPOSE[@]}" -f docker-compose.yml -p "$PROJECT" config -q
log "docker-compose.yml is valid"

# --- 2. engine ------------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers (docker info failed): stopping after validating the compose file"
  exit 0
fi

if [ "$STANDIN" = 1 ]; then
  for image in "$AAUTH_NODE_IMAGE" "$AAUTH_POSTGRES_IMAGE" "$AAUTH_CADDY_IMAGE"; do
    if ! docker image inspect "$image" >/dev/null 2>&1; then
      log "building stand-in base images (missing $image)"
      "$ROOT/infra/scripts/build-standin-images.sh"
      break
    fi
  done
fi

compose() { "${COMPOSE[@]}" -f docker-compose.yml -p "$PROJECT" "$@"; }

teardown() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    log "failed; last logs:"
    compose logs --no-color --tail=40 >&2 || true
  fi
  if [ "$KEEP" = 1 ]; then
    log "--keep: stack left running (project $PROJECT)"
  else
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap teardown EXIT

# --- 3. build and start ---------------------------------------------------------------------------
log "building images"
compose build person-server auth-server resource-server
log "starting the stack"
compose up -d person-server auth-server resource-server caddy

container_of() { compose ps -q "$1"; }
health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(container_of "$1")"; }

deadline=$((SECONDS + ${AAUTH_SMOKE_TIMEOUT:-180}))
for service in person-server auth-server resource-server; do
  until [ "$(health_of "$service" 2>/dev/null || true)" = healthy ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$service did not become healthy (status: $(health_of "$service" 2>/dev/null || echo none))"
      exit 1
    fi
    sleep 2
  done
  log "$service is healthy"
done

# --- 4. metadata over the TLS front ---------------------------------------------------------------
docker cp "$(container_of caddy):/data/caddy/pki/authorities/local/root.crt" "$WORK/root.crt"
check() {
  local host=$1 path=$2 issuer=https://$1
  local body
  body=$(curl --silent --show-error --fail --max-time 10 --cacert "$WORK/root.crt" \
    --connect-to "$host:443:127.0.0.1:$AAUTH_HTTPS_PORT" "$issuer$path")
  # The document names its own issuer (no port): that is what the other servers and agents compare.
  if ! printf '%s' "$body" | node -e '
    const [issuer, member] = process.argv.slice(1);
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const doc = JSON.parse(text);
      if (doc[member] !== issuer) { console.error(`${member} is ${JSON.stringify(doc[member])}, expected ${issuer}`); process.exit(1); }
    });' "$issuer" "$3"; then
    log "$issuer$path does not name $issuer"
    exit 1
  fi
  log "ok $issuer$path"
}
check ps.localhost /.well-known/aauth-person.json issuer
check as.localhost /.well-known/aauth-access.json issuer
check notes.localhost /.well-known/aauth-resource.json issuer

log "the stack served its three metadata documents over https"
