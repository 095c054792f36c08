# shellcheck shell=bash source-path=SCRIPTDIR
# Shared by stack/bootstrap, up, down, status and env. Sourced, never run.
#
# The dev/test stack runs natively (no Docker engine on the project's machines):
#   PostgreSQL 15 (Debian package), Kafka 3.9.1 KRaft (jars from Maven Central),
#   ClickHouse 18.16 (Debian package).
# Every service keeps its config, data, logs and pid file under STACK_DIR, listens
# on 127.0.0.1 only, and uses ports well away from the defaults so that it never
# collides with a system-wide install of the same software.

set -euo pipefail

STACK_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STACK_SRC_DIR="$(dirname "$STACK_LIB_DIR")"   # <repo>/stack
REPO_DIR="$(dirname "$STACK_SRC_DIR")"

# Absolute even when the caller passed a relative TIDELINE_STACK_DIR, so that the
# scripts behave the same from any working directory.
STACK_DIR="${TIDELINE_STACK_DIR:-$REPO_DIR/.stack}"
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$PWD/$STACK_DIR" ;; esac

CACHE_DIR="${TIDELINE_CACHE_DIR:-${HOME:-/root}/.cache/tideline}"
KAFKA_VERSION=3.9.1
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"

# Ports (overridable if something else on the machine already uses them).
PG_PORT="${TIDELINE_PG_PORT:-55432}"
KAFKA_PORT="${TIDELINE_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${TIDELINE_KAFKA_CONTROLLER_PORT:-59093}"
CH_HTTP_PORT="${TIDELINE_CLICKHOUSE_HTTP_PORT:-58123}"
CH_TCP_PORT="${TIDELINE_CLICKHOUSE_TCP_PORT:-59000}"
CH_INTERSERVER_PORT="${TIDELINE_CLICKHOUSE_INTERSERVER_PORT:-59009}"

PG_USER=tideline
PG_PASSWORD=tideline
PG_DB=tideline
CH_DB=tideline

PG_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
CH_URL="http://127.0.0.1:$CH_HTTP_PORT"

ALL_SERVICES=(postgres kafka clickhouse)

# Seconds to wait for a service to become ready. Kafka's first start on two cores
# (JIT warm-up, creating the internal topics) is the slow one.
STACK_TIMEOUT="${TIDELINE_STACK_TIMEOUT:-180}"

# ---------------------------------------------------------------- output

log() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

print_env() {
  printf 'export TIDELINE_PG_URL=%s TIDELINE_KAFKA_BROKERS=%s TIDELINE_CLICKHOUSE_URL=%s\n' \
    "$PG_URL" "$KAFKA_BROKERS" "$CH_URL"
}

# Print the last lines of each given log file that exists (for failures).
show_log_tail() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    warn "----- last lines of $f"
    tail -n 40 "$f" >&2 || true
  done
  warn "-----"
}

# ---------------------------------------------------------------- binaries

# Debian puts server binaries in /usr/sbin, which is not on a normal user's PATH.
find_bin() {
  local name="$1" dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
    [[ -x "$dir/$name" ]] && { echo "$dir/$name"; return 0; }
  done
  return 1
}

# Directory with initdb/pg_ctl/postgres/psql: prefer 15 (the project's target and
# Debian 12's version), else the newest installed.
pg_bin_dir() {
  if [[ -n "${TIDELINE_PG_BIN:-}" ]]; then echo "$TIDELINE_PG_BIN"; return 0; fi
  if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then echo /usr/lib/postgresql/15/bin; return 0; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return 0; fi
  d="$(dirname "$(find_bin initdb 2>/dev/null || echo /nonexistent/x)")"
  [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
  return 1
}

# ---------------------------------------------------------------- processes

is_root() { [[ "$(id -u)" == 0 ]]; }

# Is <pid> alive and is its command line ours (contains <marker>)? Guards against
# a stale pid file whose number was reused by an unrelated process.
pid_is_ours() {
  local pid="$1" marker="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

read_pid() { head -n 1 "$1" 2>/dev/null | tr -dc '0-9' || true; }

# owned_pid PIDFILE MARKER: the pid in PIDFILE if that process is alive and its
# command line names MARKER (our own config or data dir), so a recycled pid of
# some other program is never taken for ours. Prints nothing otherwise.
owned_pid() {
  local pid
  pid="$(read_pid "$1")"
  if [[ -n "$pid" ]] && pid_is_ours "$pid" "$2"; then echo "$pid"; fi
}

# wait_until SVC WHAT CHECK...: runs CHECK until it succeeds. Fails, with the
# service's log tail, when its process is gone (after a 5 s grace: pid files
# appear late) or when STACK_TIMEOUT has passed.
wait_until() {
  local svc="$1" what="$2" start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start > 5)) && [[ -z "$("$svc"_pid)" ]]; then
      # shellcheck disable=SC2046
      show_log_tail $("$svc"_logs)
      warn "$svc: exited during startup"
      return 1
    fi
    if ((SECONDS - start >= STACK_TIMEOUT)); then
      # shellcheck disable=SC2046
      show_log_tail $("$svc"_logs)
      warn "$svc: $what after ${STACK_TIMEOUT}s"
      return 1
    fi
    sleep 0.3
  done
}

# Does something accept TCP connections on 127.0.0.1:<port>? (bash built-in, no nc)
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

# Best-effort description of who listens on a port, for error messages.
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
  fi
}

# Send SIGTERM and wait (up to <timeout> s) for exit, then SIGKILL.
kill_and_wait() {
  local pid="$1" timeout="${2:-60}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  warn "pid $pid did not exit within ${timeout}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
}

# Serialise up/down: vitest's globalSetup and a developer may call them at once.
take_lock() {
  ensure_stack_dir
  # fd 9 holds the lock until this script exits. Servers are started with 9>&-
  # so that they do not inherit it and keep the lock for their whole life.
  exec 9>"$STACK_DIR/.lock"
  if ! flock -w 600 9; then die "could not lock $STACK_DIR/.lock"; fi
}

ensure_stack_dir() {
  if [[ ! -d "$STACK_DIR" ]]; then
    mkdir -p "$STACK_DIR"
    # As root the postgres user must traverse this dir; a 077 umask would stop it.
    chmod 0755 "$STACK_DIR"
  fi
  pg_resolve_dirs
}

# Replace @NAME@ placeholders in a template with the value of shell variable NAME.
render() {
  local template="$1" out="$2" text name
  text="$(<"$template")"
  for name in STACK_DIR PG_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT CH_HTTP_PORT CH_TCP_PORT \
    CH_INTERSERVER_PORT KAFKA_DIR CH_DIR; do
    text="${text//@${name}@/${!name:-}}"
  done
  printf '%s\n' "$text" >"$out"
}

# ---------------------------------------------------------------- per service

# shellcheck source=postgres.sh
source "$STACK_LIB_DIR/postgres.sh"
# shellcheck source=kafka.sh
source "$STACK_LIB_DIR/kafka.sh"
# shellcheck source=clickhouse.sh
source "$STACK_LIB_DIR/clickhouse.sh"
# shellcheck source=python.sh
source "$STACK_LIB_DIR/python.sh"

# Each service module defines <svc>_pid (prints our pid if it is running, else
# nothing), <svc>_ports, <svc>_addr, <svc>_launch, <svc>_wait, <svc>_stop, <svc>_logs.

svc_running() { [[ -n "$("$1"_pid)" ]]; }

# Fail when one of the service's ports is held by a process that is not ours.
svc_check_ports_free() {
  local svc="$1" port owner
  for port in $("$svc"_ports); do
    if port_open "$port"; then
      owner="$(port_owner "$port")"
      die "$svc: port $port on 127.0.0.1 is already in use by another process${owner:+ ($owner)}." \
        "Stop it, or pick other ports (TIDELINE_PG_PORT, TIDELINE_KAFKA_PORT, TIDELINE_KAFKA_CONTROLLER_PORT," \
        "TIDELINE_CLICKHOUSE_HTTP_PORT, TIDELINE_CLICKHOUSE_TCP_PORT, TIDELINE_CLICKHOUSE_INTERSERVER_PORT)."
    fi
  done
}

# Set SERVICES from the command-line names (default: all), validating them.
parse_services() {
  local s
  SERVICES=()
  if (($# == 0)); then SERVICES=("${ALL_SERVICES[@]}"); return; fi
  for s in "$@"; do
    case "$s" in
      postgres | kafka | clickhouse) SERVICES+=("$s") ;;
      *) die "unknown service '$s' (expected: ${ALL_SERVICES[*]})" ;;
    esac
  done
}
