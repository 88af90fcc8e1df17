#!/usr/bin/env bash
# Runs Freight locally: starts PostgreSQL/Redis when needed, creates the
# `freight` database, then serves the API and runs workers in one process.
# Without JWT_SECRET_KEY it runs in dev mode with a public dev secret.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/services.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/freight}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
if [ -z "${JWT_SECRET_KEY:-}" ]; then export FREIGHT_DEV_MODE=true; fi
psql "${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'freight'" | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -c "CREATE DATABASE freight" >/dev/null
cargo build --release --bins
exec ./target/release/freight all
