# shellcheck shell=bash
# PostgreSQL: a cluster of our own (initdb), started with pg_ctl. Sourced by common.sh.
#
# initdb and postgres refuse to run as root, so as root every server command runs
# as the `postgres` system user (created by Debian's postgresql package). That user
# must be able to reach the data directory: when STACK_DIR lies under a directory
# it cannot traverse (e.g. a repo in /root), the cluster lives in
# /var/tmp/tideline-<hash of STACK_DIR>/postgres instead.

pg_fallback_dir() {
  local hash
  hash="$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-12)"
  echo "/var/tmp/tideline-$hash/postgres"
}

# Can the postgres user reach <dir> (search permission on it and all parents)?
pg_user_can_reach() {
  runuser -u postgres -- test -x "$1" 2>/dev/null
}

# The directory holding data/, the server log and the generated config includes.
# An existing cluster wins; otherwise decide by traversability.
pg_dir() {
  local primary="$STACK_DIR/postgres" fallback
  fallback="$(pg_fallback_dir)"
  if [[ -f "$primary/data/PG_VERSION" ]]; then
    echo "$primary"
  elif [[ -f "$fallback/data/PG_VERSION" ]]; then
    echo "$fallback"
  elif ! is_root || pg_user_can_reach "$STACK_DIR"; then
    echo "$primary"
  else
    echo "$fallback"
  fi
}

# (Re)computed once STACK_DIR exists: whether the postgres user can reach it
# can only be tested then (see ensure_stack_dir).
pg_resolve_dirs() {
  PG_DIR="$(pg_dir)"
  PG_DATA="$PG_DIR/data"
  PG_LOG="$PG_DIR/postgres.log"
}
pg_resolve_dirs
PG_PIDFILE="$STACK_DIR/postgres.pid"

# Run a command as the user that owns the cluster (cwd inside the cluster dir so
# the postgres user never starts in an unreadable cwd such as /root).
as_pg() {
  if is_root; then
    (cd "$PG_DIR" && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

postgres_ports() { echo "$PG_PORT"; }
postgres_addr() { echo "$PG_URL"; }
postgres_logs() { echo "$PG_LOG"; }

postgres_pid() { owned_pid "$PG_DATA/postmaster.pid" "$PG_DATA"; }

pg_require_bins() {
  PG_BIN="$(pg_bin_dir)" || die "postgres: PostgreSQL server binaries not found; run stack/bootstrap"
  if is_root && ! id postgres >/dev/null 2>&1; then
    die "postgres: running as root needs the 'postgres' system user (Debian's postgresql package creates it)"
  fi
}

pg_locale() {
  # C.UTF-8 keeps sorting byte-wise and predictable while allowing non-ASCII text.
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then echo C.UTF-8; else echo C; fi
}

pg_initdb() {
  log "postgres: initdb in $PG_DATA"
  mkdir -p "$PG_DIR"
  if is_root; then chown postgres:postgres "$PG_DIR"; fi
  chmod 0700 "$PG_DIR"
  local pwfile="$PG_DIR/.pwfile"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  if is_root; then chown postgres:postgres "$pwfile"; fi
  chmod 0600 "$pwfile"
  # The bootstrap superuser is `tideline` itself: superuser, so it also has
  # REPLICATION and can create publications and slots.
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" --username="$PG_USER" --pwfile="$pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale="$(pg_locale)" >"$PG_DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    show_log_tail "$PG_DIR/initdb.log"
    die "postgres: initdb failed"
  fi
  rm -f "$pwfile"
  # Settings live in a file we regenerate on every start (see pg_write_config).
  printf "\ninclude = 'tideline.conf'\n" >>"$PG_DATA/postgresql.conf"
}

# Write a file into the data dir, owned by the cluster's user.
pg_install_file() {
  local template="$1" dest="$2"
  render "$template" "$dest"
  if is_root; then chown postgres:postgres "$dest"; fi
  chmod 0600 "$dest"
}

pg_write_config() {
  pg_install_file "$STACK_SRC_DIR/postgres/tideline.conf" "$PG_DATA/tideline.conf"
  pg_install_file "$STACK_SRC_DIR/postgres/pg_hba.conf" "$PG_DATA/pg_hba.conf"
}

postgres_launch() {
  pg_require_bins
  [[ -f "$PG_DATA/PG_VERSION" ]] || pg_initdb
  local data_version bin_version
  data_version="$(<"$PG_DATA/PG_VERSION")"
  bin_version="$("$PG_BIN/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
  if [[ "$data_version" != "$bin_version" ]]; then
    die "postgres: cluster in $PG_DATA is version $data_version but the server binary is $bin_version;" \
      "run stack/down and delete $PG_DIR to start afresh"
  fi
  pg_write_config
  log "postgres: starting (data in $PG_DATA)"
  # -W: do not wait here; postgres_wait does, with the shared timeout.
  # pg_ctl detaches the server (new session, stdin from /dev/null, output to -l).
  as_pg "$PG_BIN/pg_ctl" start -W -D "$PG_DATA" -l "$PG_LOG" >/dev/null 9>&-
}

# SQL as the tideline superuser over TCP (no Unix socket is configured).
pg_psql() {
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$@"
}

postgres_wait() {
  pg_require_bins
  wait_until postgres "not accepting connections" pg_psql -d postgres -tAc 'SELECT 1' || return 1
  # CREATE DATABASE cannot run inside a DO block; \gexec runs it only when missing.
  pg_psql -d postgres <<SQL
SELECT 'CREATE DATABASE $PG_DB' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
  postgres_pid >"$PG_PIDFILE"
}

postgres_stop() {
  pg_require_bins
  as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null
  rm -f "$PG_PIDFILE"
}
