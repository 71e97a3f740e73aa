# Start/stop a private PostgreSQL server on 127.0.0.1 for tests (sourced by .ci/run; usable by hand).
# Exports PG_SERVER_URL (for PLANBOT_TEST_POSTGRES_URL) and PG_SERVER_CTL, a pg_ctl command line
# for this server that the outage tests use to stop and restart it (PLANBOT_TEST_POSTGRES_CTL).
# Runs as the postgres user when invoked as root, since PostgreSQL refuses to run as root.

pg_server_start() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; return 1; fi
  PG_SERVER_DIR=$(mktemp -d /tmp/planbot-pg.XXXXXX)
  local as=""
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_SERVER_DIR"; as="runuser -u postgres --"; fi
  local port=${PG_SERVER_PORT:-54329}
  $as "$bin/initdb" -D "$PG_SERVER_DIR/data" -A trust -U postgres >/dev/null
  # Settings live in the data folder, so a plain `pg_ctl start` brings the same server back.
  printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
    "$port" "$PG_SERVER_DIR" | $as tee -a "$PG_SERVER_DIR/data/postgresql.conf" >/dev/null
  export PG_SERVER_CTL="$as $bin/pg_ctl -D $PG_SERVER_DIR/data -l $PG_SERVER_DIR/log -w"
  $PG_SERVER_CTL start >/dev/null
  export PG_SERVER_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}

pg_server_stop() {
  [ -n "${PG_SERVER_DIR:-}" ] || return 0
  $PG_SERVER_CTL -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_SERVER_DIR"
}
