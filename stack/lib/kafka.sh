# shellcheck shell=bash
# Kafka 3.9.1, KRaft, one node, from the jars stack/bootstrap put in KAFKA_LIBS.
# Sourced by common.sh.

KAFKA_DIR="$STACK_DIR/kafka"
KAFKA_PIDFILE="$STACK_DIR/kafka.pid"
KAFKA_HEAP_OPTS="${TIDELINE_KAFKA_HEAP_OPTS:--Xmx768m -Xms256m}"

kafka_ports() { echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT"; }
kafka_addr() { echo "$KAFKA_BROKERS"; }
kafka_logs() { echo "$KAFKA_DIR/logs/server.log $KAFKA_DIR/logs/stdout.log"; }

kafka_pid() { owned_pid "$KAFKA_PIDFILE" "$KAFKA_DIR/server.properties"; }

kafka_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; return; fi
  find_bin java || die "kafka: java not found; run stack/bootstrap"
}

kafka_require_jars() {
  [[ -f "$KAFKA_HOME/.complete" ]] ||
    die "kafka: Kafka $KAFKA_VERSION jars not found in $KAFKA_LIBS; run stack/bootstrap"
}

# java with the Kafka classpath and our log4j config (the storage tool logs too).
kafka_run_java() {
  "$(kafka_java)" -cp "$KAFKA_LIBS/*" \
    -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
    -Dkafka.logs.dir="$KAFKA_DIR/logs" \
    "$@"
}

# KRaft needs its storage formatted with a cluster id once, before the first start.
kafka_format_once() {
  [[ -f "$KAFKA_DIR/data/meta.properties" ]] && return 0
  local cluster_id
  if [[ -s "$KAFKA_DIR/cluster.id" ]]; then
    cluster_id="$(<"$KAFKA_DIR/cluster.id")"
  else
    cluster_id="$(kafka_run_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    [[ -n "$cluster_id" ]] || die "kafka: could not generate a cluster id"
    echo "$cluster_id" >"$KAFKA_DIR/cluster.id"
  fi
  log "kafka: formatting storage (cluster id $cluster_id)"
  # With controller.quorum.voters set (static quorum) 3.9 needs no --standalone.
  if ! kafka_run_java kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/logs/format.log" 2>&1; then
    show_log_tail "$KAFKA_DIR/logs/format.log"
    die "kafka: storage format failed"
  fi
}

kafka_launch() {
  kafka_require_jars
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  render "$STACK_SRC_DIR/kafka/server.properties" "$KAFKA_DIR/server.properties"
  render "$STACK_SRC_DIR/kafka/log4j.properties" "$KAFKA_DIR/log4j.properties"
  kafka_format_once
  log "kafka: starting (data in $KAFKA_DIR/data)"
  local java
  java="$(kafka_java)"
  local -a heap
  read -ra heap <<<"$KAFKA_HEAP_OPTS"
  # New session (setsid) so Ctrl-C in the terminal that ran `up` does not reach
  # the broker; the inner shell records its pid and then becomes java (exec), so
  # the pid file holds the broker's pid.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PIDFILE" \
    "$java" "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
    -Dkafka.logs.dir="$KAFKA_DIR/logs" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$KAFKA_DIR/logs/stdout.log" 2>&1 </dev/null 9>&- &
  # Wait until the pid file names the java process.
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -n "$(kafka_pid)" ]] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2046
  show_log_tail $(kafka_logs)
  die "kafka: broker process did not start"
}

# A real check: the broker answers and a transactional produce commits. The first
# transaction on a fresh broker creates __transaction_state and __consumer_offsets;
# doing it here means tests never race the coordinators' loading.
kafka_probe() {
  local timeout="$1"
  if [[ -f "$REPO_DIR/node_modules/kafkajs/package.json" ]] && command -v node >/dev/null 2>&1; then
    node "$STACK_LIB_DIR/kafka-probe.mjs" "$KAFKA_BROKERS" "$timeout"
  else
    # Without node_modules (bootstrap not run yet) fall back to the broker's log.
    warn "kafka: kafkajs not installed; checking the broker log only (run stack/bootstrap for a real check)"
    local start=$SECONDS
    until grep -q 'Kafka Server started' "$KAFKA_DIR/logs/server.log" 2>/dev/null; do
      ((SECONDS - start < timeout)) || return 1
      sleep 0.5
    done
  fi
}

kafka_wait() {
  local start=$SECONDS
  wait_until kafka "port $KAFKA_PORT not open" port_open "$KAFKA_PORT" || return 1
  local left=$((STACK_TIMEOUT - (SECONDS - start)))
  ((left > 10)) || left=10
  if ! kafka_probe "$left"; then
    # shellcheck disable=SC2046
    show_log_tail $(kafka_logs)
    warn "kafka: broker did not pass the readiness check (transactional produce)"
    return 1
  fi
}

kafka_stop() {
  local pid
  pid="$(kafka_pid)"
  # Controlled shutdown of a single KRaft node takes a few seconds.
  [[ -n "$pid" ]] && kill_and_wait "$pid" 60
  rm -f "$KAFKA_PIDFILE"
}
