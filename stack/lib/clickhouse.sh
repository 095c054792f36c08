# shellcheck shell=bash
# ClickHouse server (Debian's 18.16 package) with its own config in the stack dir.
# Sourced by common.sh.
#
# 18.16 runs as root without complaint (later releases refuse or switch user), and
# as any other user it only needs write access to CH_DIR, so it runs as the caller.

CH_DIR="$STACK_DIR/clickhouse"
CH_PIDFILE="$STACK_DIR/clickhouse.pid"

clickhouse_ports() { echo "$CH_HTTP_PORT $CH_TCP_PORT $CH_INTERSERVER_PORT"; }
clickhouse_addr() { echo "$CH_URL"; }
clickhouse_logs() { echo "$CH_DIR/logs/clickhouse-server.err.log $CH_DIR/logs/clickhouse-server.log $CH_DIR/logs/stdout.log"; }

clickhouse_pid() { owned_pid "$CH_PIDFILE" "$CH_DIR/config.xml"; }

ch_server_bin() { find_bin clickhouse-server || die "clickhouse: clickhouse-server not found; run stack/bootstrap"; }
ch_client_bin() { find_bin clickhouse-client || die "clickhouse: clickhouse-client not found; run stack/bootstrap"; }

# A query over the native protocol (the client ships with the server package).
ch_query() {
  "$(ch_client_bin)" --host 127.0.0.1 --port "$CH_TCP_PORT" --connect_timeout 3 --query "$1"
}

clickhouse_launch() {
  local server
  server="$(ch_server_bin)"
  ch_client_bin >/dev/null
  mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,logs}
  render "$STACK_SRC_DIR/clickhouse/config.xml" "$CH_DIR/config.xml"
  render "$STACK_SRC_DIR/clickhouse/users.xml" "$CH_DIR/users.xml"
  log "clickhouse: starting (data in $CH_DIR/data)"
  # Same pattern as Kafka: own session, the pid file holds the server's pid.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$CH_PIDFILE" \
    "$server" --config-file="$CH_DIR/config.xml" \
    >>"$CH_DIR/logs/stdout.log" 2>&1 </dev/null 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -n "$(clickhouse_pid)" ]] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2046
  show_log_tail $(clickhouse_logs)
  die "clickhouse: server process did not start"
}

ch_ready() { ch_query 'SELECT 1' && port_open "$CH_HTTP_PORT"; }

clickhouse_wait() {
  wait_until clickhouse "not answering queries" ch_ready || return 1
  ch_query "CREATE DATABASE IF NOT EXISTS $CH_DB"
}

clickhouse_stop() {
  local pid
  pid="$(clickhouse_pid)"
  [[ -n "$pid" ]] && kill_and_wait "$pid" 60
  rm -f "$CH_PIDFILE"
}
