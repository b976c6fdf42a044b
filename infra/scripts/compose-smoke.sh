#!/usr/bin/env bash
# Compose smoke test — NOT part of `pnpm test` (it needs Docker and minutes).
#
#   infra/scripts/compose-smoke.sh [--standin] [--keep] [--no-build]
#
# 1. Validates docker-compose.yml (`docker compose config`, or Compose v1 `docker-compose config`).
# 2. If no Docker engine answers, says so and stops there (exit 0 after a valid file).
# 3. Otherwise builds the server images and the agent image, brings the stack up under its own project
#    name (its own network and volumes), waits until every server is healthy (the four server
#    containers: person, auth, resource and the second resource instance), and fetches the four
#    metadata documents over the TLS front with `curl --cacert <Caddy's root>` at the conformant issuer
#    names.
# 4. Runs one agent flow through the `agent` container (`docker compose run --rm agent aauth …`):
#    `aauth enroll https://ps.localhost`, the person's approval, `aauth whoami`, then
#    `aauth fetch https://notes.localhost/api/agent/whoami` and the same at https://archive.localhost
#    (§Agent Identity Access: the agent token alone), checking both resources name the enrolled agent.
#    Enrollment needs a signed-in person to approve at the PS, and strict mode seeds none (no sign-up,
#    no demo persons). The script creates a throwaway person with the PS's operator command
#    (`aauth-ps-admin person create … --password-stdin` in the running person-server container) and
#    then approves exactly as a browser does, with curl over the TLS front: GET /signin (CSRF cookie
#    and field), POST /signin with Origin, GET the approval link the CLI printed, POST /interaction
#    decision=approve.
# 5. Three-party flow (§PS Authorization Access): `aauth fetch https://notes.localhost/api/notes`
#    earns the resource's challenges; the PS asks the person for consent (person token, then auth
#    token) and the CLI prints each link on stderr ("(or go to <link>)", as for enroll); the script
#    approves every link the command prints, as above, until it exits; the fetch answers 200 and the
#    auth token held for notes is the PS's.
# 6. Call chaining (§Call Chaining, §Interaction Chaining): a note POSTed at https://archive.localhost,
#    then `aauth fetch https://notes.localhost/chain/notes` (notes reads archive's notes for the same
#    person as an agent of its own, with the agent's PS-issued auth token as `upstream_token`) must
#    return that note. Any consent the PS asks for the upstream comes through notes' own
#    /chain/interaction link, which redirects to the PS; the script follows it like any other link.
# 7. Four-party write (§Federated Authorization Access): POST a note at notes (notes.write is
#    delegated to the AS here; the AS grants it by infra/compose/as-policy.json to persons of the
#    trusted PS with an @example.com e-mail), then GET lists it. After chaining: the AS's token then
#    held for notes is no `upstream_token` the PS accepts (§Person Token Endpoint).
# 8. Tears the stack down with its volumes (unless --keep).
#
# --standin: for machines without a container registry (ENVIRONMENT.md). Builds local stand-ins with
# infra/scripts/build-standin-images.sh (Debian rootfs + this machine's Node 20 for node:20…-slim,
# Debian's postgresql-15 for postgres:15…, Debian's caddy 2.6 for caddy:2…) and points the compose file
# at them through AAUTH_NODE_IMAGE / AAUTH_POSTGRES_IMAGE / AAUTH_CADDY_IMAGE.
#
# --no-build: use the aauth-ref/*:dev images already built (e.g. by an earlier run) instead of
# building; it fails if one is missing. (The build context is the whole checkout, so any edited file
# makes the classic builder redo every stage.)
#
# The front is published on 127.0.0.1:${AAUTH_HTTPS_PORT:-8443} and PostgreSQL on
# 127.0.0.1:${AAUTH_POSTGRES_PORT:-55432} so the run never collides with local services; curl reaches
# https://ps.localhost etc. through `--connect-to`, so the request names stay the issuers'.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STANDIN=0
KEEP=0
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --standin) STANDIN=1 ;;
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    *) echo "usage: $0 [--standin] [--keep] [--no-build]" >&2; exit 2 ;;
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

# The `agent` profile is always active here, so build, run and `down -v` see the agent service and
# its volume; `up` names the services it starts.
compose() { "${COMPOSE[@]}" -f docker-compose.yml -p "$PROJECT" --profile agent "$@"; }
AGENT_PID=

teardown() {
  local status=$?
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then kill "$AGENT_PID" 2>/dev/null || true; fi
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
SERVERS=(person-server auth-server resource-server resource-server-archive)
# The second resource instance and the jobs reuse the three server images (same tags): built once.
if [ "$BUILD" = 1 ]; then
  log "building images"
  compose build person-server auth-server resource-server agent
else
  for image in person-server auth-server resource-server agent; do
    docker image inspect "aauth-ref/$image:dev" >/dev/null || { log "--no-build: aauth-ref/$image:dev is missing"; exit 1; }
  done
  log "--no-build: using the existing aauth-ref/*:dev images"
fi
log "starting the stack"
compose up -d "${SERVERS[@]}" caddy

container_of() { compose ps -q "$1"; }
health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(container_of "$1")"; }

deadline=$((SECONDS + ${AAUTH_SMOKE_TIMEOUT:-180}))
for service in "${SERVERS[@]}"; do
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
check archive.localhost /.well-known/aauth-resource.json issuer
log "the stack served its four metadata documents over https"

# --- 5. the agent flows through the agent container -----------------------------------------------
# JSON member of a document on stdin (host Node, as above).
member() {
  node -e '
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      let value = JSON.parse(text);
      for (const key of process.argv[1].split(".")) value = value?.[key];
      process.stdout.write(value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value));
    });' "$1"
}
PS=https://ps.localhost
# curl as the person's browser: every front name reaches the published port, one cookie jar.
front_curl() {
  curl --silent --show-error --max-time 15 --cacert "$WORK/root.crt" \
    --connect-to "ps.localhost:443:127.0.0.1:$AAUTH_HTTPS_PORT" \
    --connect-to "as.localhost:443:127.0.0.1:$AAUTH_HTTPS_PORT" \
    --connect-to "notes.localhost:443:127.0.0.1:$AAUTH_HTTPS_PORT" \
    --connect-to "archive.localhost:443:127.0.0.1:$AAUTH_HTTPS_PORT" \
    -b "$WORK/cookies" -c "$WORK/cookies" "$@"
}
field() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -n1; }

# A throwaway person (strict mode creates none; see the header), created by the PS's operator command
# in the running container (its configuration, database and keys); the password goes through stdin.
# The e-mail is what the AS policy's notes.write rule admits (infra/compose/as-policy.json).
SMOKE_USER=smoke-person
SMOKE_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
ps_admin() { compose exec -T person-server node bin/aauth-ps-admin.js "$@"; }
set +e
printf '%s\n' "$SMOKE_PASSWORD" |
  ps_admin person create "$SMOKE_USER" --name 'Compose Smoke' --email smoke@example.com --password-stdin
created=$?
set -e
if [ "$created" = 3 ]; then
  # Exit 3: the person exists (a --keep stack run again): give it this run's password.
  printf '%s\n' "$SMOKE_PASSWORD" | ps_admin person set-password "$SMOKE_USER" --password-stdin
elif [ "$created" != 0 ]; then
  log "aauth-ps-admin person create failed (exit $created)"
  exit 1
fi
log "provisioned the person $SMOKE_USER with aauth-ps-admin"

# The person signs in at the PS once, as a browser would (CSRF field + cookie, Origin).
csrf=$(front_curl "$PS/signin" | field _csrf)
status=$(front_curl -o /dev/null -w '%{http_code}' -H "Origin: $PS" --data-urlencode "_csrf=$csrf" \
  --data-urlencode "username=$SMOKE_USER" --data-urlencode "password=$SMOKE_PASSWORD" \
  --data-urlencode "return_to=/dashboard" "$PS/signin")
[ "$status" = 303 ] || { log "sign-in at the PS answered $status, expected 303"; exit 1; }
log "$SMOKE_USER signed in at $PS"

# Approves one interaction link the CLI printed, as the signed-in person's browser: follows it (a
# resource's own interaction URL redirects to the PS, §Interaction Chaining), reads the consent form
# and posts decision=approve with the form's hidden fields.
approve() {
  local link=$1 page=$WORK/consent.html final request csrf step
  final=$(front_curl -L -o "$page" -w '%{url_effective}' "$link")
  request=$(field request <"$page")
  csrf=$(field _csrf <"$page")
  step=$(field step <"$page")
  [ -n "$request" ] || { log "the approval page at $final shows no request:"; cat "$page" >&2; exit 1; }
  status=$(front_curl -o "$WORK/approved.html" -w '%{http_code}' -H "Origin: $PS" \
    --data-urlencode "_csrf=$csrf" --data-urlencode "request=$request" \
    ${step:+--data-urlencode "step=$step"} --data-urlencode "decision=approve" "$PS/interaction")
  # 303 when the interaction came with a callback (the upstream resource's page), else the PS's own page.
  case "$status" in
    200 | 303) ;;
    *) log "approval at $final answered $status, expected 200 or 303"; cat "$WORK/approved.html" >&2; exit 1 ;;
  esac
  log "approved $link"
}

# Runs `aauth <args…>` in the agent container with its stdout in $1, approving every interaction it
# asks for: the CLI prints "Open <url> and enter the code <code>" and "(or go to <link>)" on stderr,
# as for enrollment, whatever the request (§User Interaction). Returns the CLI's exit status; the
# number of links approved is left in APPROVALS.
with_approvals() {
  local out=$1 approved=0 links=() rc=0
  shift
  # Emptied here, not by the background job's redirection: the loop may read before the job starts.
  : >"$out"
  : >"$out.err"
  compose run --rm -T agent aauth "$@" >"$out" 2>"$out.err" &
  AGENT_PID=$!
  local until=$((SECONDS + ${AAUTH_SMOKE_FLOW_TIMEOUT:-300}))
  while kill -0 "$AGENT_PID" 2>/dev/null; do
    mapfile -t links < <(sed -n 's/.*(or go to \(https:[^)]*\)).*/\1/p' "$out.err")
    while [ "$approved" -lt "${#links[@]}" ]; do
      approve "${links[$approved]}"
      approved=$((approved + 1))
    done
    if [ "$SECONDS" -ge "$until" ]; then
      log "aauth $* did not finish:"
      cat "$out.err" >&2
      exit 1
    fi
    sleep 1
  done
  wait "$AGENT_PID" || rc=$?
  AGENT_PID=
  APPROVALS=$approved
  return "$rc"
}

# 5a. Enrollment (§Agent Enrollment): the person approves at the link the CLI prints.
with_approvals "$WORK/enroll.out" enroll "$PS" --name compose-smoke || {
  log "aauth enroll failed:"
  cat "$WORK/enroll.out" "$WORK/enroll.out.err" >&2
  exit 1
}
[ "$APPROVALS" -ge 1 ] || { log "aauth enroll asked for no approval"; exit 1; }
log "$(cat "$WORK/enroll.out")"

# 5b. Agent identity access (§Agent Identity Access): the agent token alone, at both resources.
agent=$(compose run --rm -T agent aauth whoami --json | member agent)
[ -n "$agent" ] || { log "aauth whoami names no agent"; exit 1; }
for resource in https://notes.localhost https://archive.localhost; do
  compose run --rm -T agent aauth fetch --json "$resource/api/agent/whoami" >"$WORK/whoami.json" || {
    log "aauth fetch $resource/api/agent/whoami failed:"
    cat "$WORK/whoami.json" >&2
    exit 1
  }
  seen=$(member body.agent <"$WORK/whoami.json")
  provider=$(member body.agent_provider <"$WORK/whoami.json")
  if [ "$(member status <"$WORK/whoami.json")" != 200 ] || [ "$seen" != "$agent" ] || [ "$provider" != "$PS" ]; then
    log "$resource/api/agent/whoami did not name $agent of $PS:"
    cat "$WORK/whoami.json" >&2
    exit 1
  fi
  log "ok aauth fetch $resource/api/agent/whoami → $seen (agent provider $provider)"
done
log "the agent container enrolled at $PS and was identified by both resources"

# 5c. Three-party access (§PS Authorization Access (Three-Party)): `aauth fetch` of the notes API earns the
# resource's challenge, the PS asks the person for consent (the CLI prints the link), the person
# approves, and the fetch completes with the PS's auth token for notes.read.
# Runs `aauth fetch --json <args…>` with approvals and checks the status; the response is in $WORK/$1.json.
fetch_ok() {
  local name=$1 want=$2
  shift 2
  if ! with_approvals "$WORK/$name.json" fetch --json "$@" || [ "$(member status <"$WORK/$name.json")" != "$want" ]; then
    log "aauth fetch $* did not answer $want:"
    cat "$WORK/$name.json" "$WORK/$name.json.err" >&2
    exit 1
  fi
  log "ok aauth fetch $* → $want after $APPROVALS approval(s)"
}
NOTES=https://notes.localhost
ARCHIVE=https://archive.localhost
fetch_ok list 200 "$NOTES/api/notes"
# The `iss` of the auth token the agent holds for a resource (`aauth token show`).
auth_issuer() {
  compose run --rm -T agent aauth token show --json | node -e '
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const auth = JSON.parse(text).find((t) => t.kind === "auth" && t.resource === process.argv[1]);
      process.stdout.write(auth?.claims?.iss ?? "");
    });' "$1"
}
auth_iss=$(auth_issuer "$NOTES")
[ "$auth_iss" = "$PS" ] || { log "the auth token for $NOTES was issued by '$auth_iss', expected $PS (three-party)"; exit 1; }
log "the auth token for $NOTES is the PS's ($auth_iss): three-party"

# --- 6. call chaining (§Call Chaining, §Interaction Chaining) -------------------------------------
# Before the four-party write below: the upstream auth token must be the PS's own (§Person Token
# Endpoint: the upstream token's `sub` "which this PS MUST have issued"); after the write the agent
# holds the AS's token for notes, which the PS refuses as `upstream_token` (invalid_request).
# A note at the downstream resource (three-party there: no AS), then notes' /chain/notes reads it as
# an agent of its own; the PS's consent for the upstream, if asked, reaches the person through the
# upstream's /chain/interaction link. The CLI first relays a resource's interaction through the PS
# (§Relaying Through the Person Server: the person would open it from the PS dashboard); this script
# does not drive the dashboard, so each relay expires after its max_wait (60 s) and the CLI prints
# the link, which the script then follows like any other: this step takes a few minutes.
ARCHIVE_TEXT="compose smoke archive note $(date -u +%Y-%m-%dT%H:%M:%SZ)"
archive_json=$(node -e 'process.stdout.write(JSON.stringify({ text: process.argv[1] }))' "$ARCHIVE_TEXT")
fetch_ok archive 201 -d "$archive_json" "$ARCHIVE/api/notes"
fetch_ok chain 200 "$NOTES/chain/notes"
if [ "$(member body.downstream <"$WORK/chain.json")" != "$ARCHIVE" ] ||
  ! member body.result.notes <"$WORK/chain.json" | grep -qF "\"$ARCHIVE_TEXT\""; then
  log "$NOTES/chain/notes did not return the note held at $ARCHIVE:"
  cat "$WORK/chain.json" >&2
  exit 1
fi
log "call chaining: $NOTES/chain/notes returned the person's note from $ARCHIVE"

# --- 7. four-party write (§Federated Authorization Access) ----------------------------------------
# notes.write is delegated to the AS in this stack (ACCESS_SERVER_SCOPES): the PS forwards the
# resource token to the AS, whose policy (infra/compose/as-policy.json) grants it to persons of the
# trusted PS with an @example.com e-mail; the note is then read back with the same token.
NOTE_TEXT="compose smoke note $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note_json=$(node -e 'process.stdout.write(JSON.stringify({ text: process.argv[1] }))' "$NOTE_TEXT")
fetch_ok create 201 -d "$note_json" "$NOTES/api/notes"
auth_iss=$(auth_issuer "$NOTES")
[ "$auth_iss" = https://as.localhost ] || { log "the auth token for $NOTES after the write was issued by '$auth_iss', expected https://as.localhost (four-party)"; exit 1; }
log "the auth token for $NOTES is now the AS's ($auth_iss): four-party"
[ "$(member body.note.text <"$WORK/create.json")" = "$NOTE_TEXT" ] || { log "POST $NOTES/api/notes did not echo the note:"; cat "$WORK/create.json" >&2; exit 1; }
fetch_ok list-again 200 "$NOTES/api/notes"
member body.notes <"$WORK/list-again.json" | grep -qF "\"$NOTE_TEXT\"" || { log "GET $NOTES/api/notes does not list the note:"; cat "$WORK/list-again.json" >&2; exit 1; }
log "the agent wrote and read back a note at $NOTES"

log "smoke passed"
