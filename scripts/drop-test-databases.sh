#!/usr/bin/env bash
# Drops the databases earlier test runs left behind (every test creates its
# own; failing ones keep theirs for inspection until the next run). Only
# names with the tests' prefixes and a random suffix are touched.
set -euo pipefail

pg="psql -h 127.0.0.1 -U postgres -d postgres -Atq"
for db in $($pg -c "SELECT datname FROM pg_database
                    WHERE datname ~ '^(freight_test|freight_ops|freight_ops_tgt|freight_plan_target|eng)_[0-9a-z_]{8,}$'"); do
  $pg -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
done
for db in $(mariadb -h 127.0.0.1 -u root -Nse "SHOW DATABASES" \
            | grep -E '^(freight_ops_shop|eng)_[0-9a-z_]{8,}$' || true); do
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS \`$db\`" || true
done
