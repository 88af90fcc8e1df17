#!/usr/bin/env bash
# The benchmark of issue 3 (not a test, not in CI): starts the services,
# installs pgloader when missing, builds release binaries and runs
# freight-bench. Arguments replace the default modes and batch sizes, e.g.
#   ./scripts/bench.sh --mode full --batch-sizes 10000 --worker-log /tmp/worker.log
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/services.sh
command -v pgloader >/dev/null || {
  echo "[bench] installing pgloader" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgloader >/dev/null
}
cargo build --release --locked -p freight -p freight-bench

if [ "$#" -eq 0 ]; then
  set -- --mode pgloader --mode engine --mode full --batch-sizes 10000,1000
fi
exec target/release/freight-bench --freight-bin target/release/freight "$@"
