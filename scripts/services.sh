#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and MariaDB answer on their standard local
# ports: starts them when installed but stopped, installs them (Debian
# packages) when missing. Idempotent; safe to run on every test or start.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || { log "need root to $*"; exit 1; }; }
apt_updated=0
apt_install() {
  need_root "install $*"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "$name did not come up"; return 1
}

# PostgreSQL: trust auth for local connections, user postgres.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"; apt_install postgresql postgresql-client
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf)
    sed -ri 's/^(host|local)(\s+all\s+all\s+.*)\s(scram-sha-256|md5|peer)$/\1\2 trust/' "$hba"
    sed -ri 's/^(local\s+all\s+postgres\s+)peer$/\1trust/' "$hba"
  fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
fi

# Redis: nothing on disk is needed; Postgres is the system of record.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server; }
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

# MariaDB: root with an empty password over TCP.
if ! mariadb-admin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; then
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { log "installing MariaDB"; apt_install mariadb-server mariadb-client; }
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for MariaDB mariadb-admin -h 127.0.0.1 -P 3306 -uroot ping
  # A fresh install authenticates root by unix socket only; allow the empty TCP password.
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" 2>/dev/null || true
fi

log "PostgreSQL, Redis and MariaDB are up"
