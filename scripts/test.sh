#!/usr/bin/env bash
# The test command: starts what the tests need, then checks formatting,
# lints and runs the whole test suite once (real PostgreSQL, Redis, MariaDB),
# then the API contract (./scripts/contract.sh: the OpenAPI lint, and
# schemathesis against a real `freight all`).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/services.sh
./scripts/drop-test-databases.sh
command -v promtool >/dev/null || {
  echo "[test] installing prometheus (promtool, real scrape test)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
}
command -v chromium >/dev/null && command -v chromedriver >/dev/null || {
  echo "[test] installing chromium + chromedriver (dashboard browser test)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}
[ -f /usr/share/postgresql/15/extension/postgis.control ] || {
  echo "[test] installing PostGIS (spatial columns into geometry: engine_spatial)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-postgis-3 >/dev/null
}
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast
./scripts/contract.sh
