# Sourced by scripts/test: makes sure PostgreSQL (127.0.0.1:5432) and Redis
# (127.0.0.1:6379) answer, starting or installing them when they don't, and says
# what it did.
port_open() { python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}
wait_port() { for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done; return 1; }
is_root() { [ "$(id -u)" = "0" ]; }

ensure_postgres() {
  port_open 5432 && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "==> PostgreSQL is down: starting the installed cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  elif is_root && command -v apt-get >/dev/null 2>&1; then
    echo "==> PostgreSQL is missing: installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    local ver; ver="$(ls /etc/postgresql | head -n1)"
    sed -i 's/^\(local\|host\).*$/# &/' "/etc/postgresql/$ver/main/pg_hba.conf"
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' >> "/etc/postgresql/$ver/main/pg_hba.conf"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    su postgres -c "psql -qc 'CREATE DATABASE test'" >/dev/null 2>&1 || true
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo "==> PostgreSQL is down: docker compose up -d postgres" >&2
    docker compose up -d postgres
  fi
  wait_port 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started" >&2; return 1; }
}

ensure_redis() {
  port_open 6379 && return 0
  if ! command -v redis-server >/dev/null 2>&1 && is_root && command -v apt-get >/dev/null 2>&1; then
    echo "==> Redis is missing: installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  if command -v redis-server >/dev/null 2>&1; then
    echo "==> Redis is down: starting redis-server" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo "==> Redis is down: docker compose up -d redis" >&2
    docker compose up -d redis
  fi
  wait_port 6379 || { echo "Redis is not reachable on 127.0.0.1:6379 and could not be started" >&2; return 1; }
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "==> chromium is missing (browser tests): installing Debian's package" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing at /usr/bin/chromium; install Debian's chromium package" >&2
    return 1
  fi
}
