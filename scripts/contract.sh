#!/usr/bin/env bash
# Contract test: a real `freight all` on a fresh database against the
# committed openapi/freight.json, with schemathesis (every check, the
# stateful phase included) and an OpenAPI lint (Redocly, recommended rules).
#
#   ./scripts/contract.sh            # lint + main run (rate limits off) + rate-limited run
#   CONTRACT_EXAMPLES=50 ./scripts/contract.sh
#
# Tools are pinned and installed on first use: schemathesis into its own
# virtual environment under target/, Redocly CLI through npx. PostgreSQL,
# Redis and MariaDB must answer (./scripts/services.sh starts them).
#
# The job spec example of the spec (user `shop_app` copies `customers` of
# the MariaDB database `shop` into `shop_copy`) names a real source: what
# is missing of it is created for the run (`shop` from
# deploy/mariadb/01-shop.sql) and dropped after it. openapi/schemathesis.toml
# gives every generated create and plan these connections, so jobs run to
# the end and the stateful phase follows the links of real jobs (get,
# batches, logs, events, cancel, retry, validate).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
REDOCLY_VERSION=2.77.0
VENV=target/contract-venv
EXAMPLES=${CONTRACT_EXAMPLES:-25}
SEED=${CONTRACT_SEED:-20261121}
TENANT=contract
PG=${FREIGHT_TEST_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${FREIGHT_TEST_REDIS:-redis://127.0.0.1:6379}
MARIADB=(mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -uroot)
REPORTS=target/contract

log() { printf '[contract] %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------
apt_install() {
  [ "$(id -u)" = 0 ] || { log "need root to install $*"; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
python3 -c 'import ensurepip, venv' 2>/dev/null || { log "installing python3-venv"; apt_install python3-venv; }
command -v npx >/dev/null || { log "installing Node.js (npx, for Redocly CLI)"; apt_install nodejs npm; }
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ "${CONTRACT_LINT:-1}" = 1 ]; then
log "lint: Redocly CLI $REDOCLY_VERSION, recommended rules"
npx --yes "@redocly/cli@$REDOCLY_VERSION" lint --config openapi/redocly.yaml openapi/freight.json
fi

cargo build --locked -q -p freight --bin freight
FREIGHT="${CARGO_TARGET_DIR:-target}/debug/freight"

# --- a fresh Freight ---------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
suffix=$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
db="freight_contract_$suffix"
psql "$PG/postgres" -Atq -c "CREATE DATABASE \"$db\""
mkdir -p "$REPORTS"
pid=
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi
}
seeded=()      # MariaDB databases this run created
seeded_user=   # and the example's user, when this run created it
cleanup() {
  stop
  psql "$PG/postgres" -Atq -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
  local example_db
  for example_db in ${seeded[@]+"${seeded[@]}"}; do
    "${MARIADB[@]}" -e "DROP DATABASE IF EXISTS \`$example_db\`" || true
  done
  if [ -n "$seeded_user" ]; then "${MARIADB[@]}" -e "DROP USER IF EXISTS $seeded_user" || true; fi
}
trap cleanup EXIT

# --- the source and target of the job spec example ----------------------
mariadb_has() { [ -n "$("${MARIADB[@]}" -Nse "$1")" ]; }
for example_db in shop shop_copy; do
  if ! mariadb_has "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$example_db'"; then
    "${MARIADB[@]}" -e "CREATE DATABASE \`$example_db\` CHARACTER SET utf8mb4"
    seeded+=("$example_db")
    if [ "$example_db" = shop ]; then
      "${MARIADB[@]}" --database=shop <deploy/mariadb/01-shop.sql
    fi
  fi
done
# An existing `shop_app` is used as it is (a different password only makes
# the example's jobs fail to connect: the run still passes, less deep).
if ! mariadb_has "SELECT 1 FROM mysql.user WHERE User = 'shop_app'"; then
  seeded_user="'shop_app'@'%'"
  "${MARIADB[@]}" -e "CREATE USER $seeded_user IDENTIFIED BY 'shop-app-pass-42';
    GRANT SELECT, SHOW VIEW ON \`shop\`.* TO $seeded_user;
    GRANT ALL PRIVILEGES ON \`shop_copy\`.* TO $seeded_user"
fi
log "job spec example: MariaDB shop.customers ($("${MARIADB[@]}" -Nse 'SELECT COUNT(*) FROM shop.customers') rows) -> shop_copy, as shop_app${seeded[*]:+ (created for this run: ${seeded[*]}${seeded_user:+ and the user})}"

export FREIGHT_DEV_MODE=true DATABASE_URL="$PG/$db" REDIS_URL="$REDIS" FREIGHT_HOST=127.0.0.1
export FREIGHT_QUEUE="freight_contract_$suffix" RUST_LOG=${RUST_LOG:-warn}
# Generated job specs name closed ports: a create, plan or retry waits for
# the connection check (up to ~10 s), a plan for at most this long.
export FREIGHT_PLAN_TIMEOUT_SECONDS=15

start() { # requests per minute, creations per minute, anonymous per minute
  port=$(free_port)
  RATE_LIMIT_PER_MINUTE=$1 RATE_LIMIT_CREATE_PER_MINUTE=$2 RATE_LIMIT_ANONYMOUS_PER_MINUTE=$3 \
    FREIGHT_PORT=$port METRICS_PORT=$(free_port) "$FREIGHT" all >>"$REPORTS/freight.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { log "freight exited; see $REPORTS/freight.log"; exit 1; }
    sleep 0.5
  done
  log "freight did not become ready"; exit 1
}

# Admin, so the admin route is exercised too; it grants every tenant.
token=$("$FREIGHT" token --tenant "$TENANT" --role admin --subject schemathesis)

run_schemathesis() { # name, extra arguments...
  local name=$1; shift
  FREIGHT_CONTRACT_TENANT=$TENANT "$VENV/bin/schemathesis" --config-file openapi/schemathesis.toml run openapi/freight.json \
    --url "http://127.0.0.1:$port" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 30 \
    --max-response-time 25 \
    --no-color \
    --report junit --report-junit-path "$REPORTS/$name.xml" \
    "$@"
}

# Jobs of the example's connections run to the end: at least one of them
# must have completed, or the example (its databases, its user) is broken
# and the run tested only refusals.
completed_jobs() {
  curl -sf -H "Authorization: Bearer $token" -H "X-Tenant-ID: $TENANT" \
    "http://127.0.0.1:$port/api/v1/jobs?status=completed&limit=1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])'
}
expect_a_completed_job() {
  local n=0
  for _ in $(seq 1 120); do
    n=$(completed_jobs) || n=0
    [ "$n" -gt 0 ] && { log "$n job(s) of the run completed"; return 0; }
    sleep 0.5
  done
  log "no job of the run completed: the job spec example's connections do not work (see $REPORTS/freight.log)"
  exit 1
}

log "schemathesis $SCHEMATHESIS_VERSION, rate limits off, $EXAMPLES examples per operation"
start 0 0 0
run_schemathesis main --max-examples "$EXAMPLES"
expect_a_completed_job
stop

# A short run with the limiter on, every phase: 429s (documented, with
# their headers) must conform like any other response. Two checks are left
# to the main run, where no limit stands in front of authentication: see
# openapi/schemathesis.toml (`ignored_auth`, `missing_required_header`).
log "schemathesis, rate limits on"
start 30 5 30
run_schemathesis limited --max-examples 5 --exclude-checks ignored_auth,missing_required_header
stop
log "contract: ok"
