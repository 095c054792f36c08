/**
 * The one prom-client registry of the daemon and every metric it exports.
 * Dashboards (grafana/) and the compose test read these names: rename with care.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { WeightedHistogram } from './weighted-histogram.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Run before each scrape of the degraded-seconds counter, so ongoing outages are counted up to now. */
const beforeScrape: (() => void)[] = [];
export function onScrape(hook: () => void): void {
  beforeScrape.push(hook);
}

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** From a fast pipeline (10 ms) to a sink that fell minutes behind (5 min; beyond that, +Inf). */
const endToEndBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export const metrics = {
  connectorUp: new Gauge({
    name: 'tideline_connector_up',
    help: '1 while the connector is running (or degraded but alive), 0 otherwise.',
    labelNames: ['connector', 'kind'] as const,
    registers: [registry],
  }),
  serviceReachable: new Gauge({
    name: 'tideline_service_reachable',
    help: '0 while a connector cannot reach a service (kafka, postgresql, clickhouse), 1 once it could again.',
    labelNames: ['connector', 'service'] as const,
    registers: [registry],
  }),
  serviceOutages: new Counter({
    name: 'tideline_service_outages_total',
    help: 'Times a connector found a service unreachable (each outage once, however many retries it took).',
    labelNames: ['connector', 'service'] as const,
    registers: [registry],
  }),
  serviceDegradedSeconds: new Counter({
    name: 'tideline_service_degraded_seconds_total',
    help: 'Seconds a connector spent degraded because a service was unreachable, by service.',
    labelNames: ['connector', 'service'] as const,
    registers: [registry],
    collect() {
      for (const hook of beforeScrape) hook();
    },
  }),
  connectorState: new Gauge({
    name: 'tideline_connector_state',
    help: '1 for the state the connector is in (starting, running, restarting, failed, stopped, ...), 0 for states it was in before.',
    labelNames: ['connector', 'kind', 'state'] as const,
    registers: [registry],
  }),
  connectorRestarts: new Counter({
    name: 'tideline_connector_restarts_total',
    help: 'Times the supervisor restarted a failed connector.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  errors: new Counter({
    name: 'tideline_errors_total',
    help: 'Errors by connector and kind of error.',
    labelNames: ['connector', 'kind'] as const,
    registers: [registry],
  }),
  configReloads: new Counter({
    name: 'tideline_config_reloads_total',
    help: 'Hot reloads of the connector files (SIGHUP or a file change), by result: success (every file valid) or failure (some file refused: its connectors kept their running version; the other files were applied).',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  configLastReloadSuccessful: new Gauge({
    name: 'tideline_config_last_reload_successful',
    help: '1 if the last hot reload found every connector file valid (or none happened yet), 0 if it refused some.',
    registers: [registry],
  }),
  configLastReloadSuccessTimestamp: new Gauge({
    name: 'tideline_config_last_reload_success_timestamp_seconds',
    help: 'Unix time of the last hot reload that found every connector file valid.',
    registers: [registry],
  }),
  configFileProblems: new Gauge({
    name: 'tideline_config_file_problems',
    help: 'Problems the last hot reload found in a connector file (or directory); a file is listed only while it has problems.',
    labelNames: ['file'] as const,
    registers: [registry],
  }),
  sourceEvents: new Counter({
    name: 'tideline_source_events_total',
    help: 'Change events written to Kafka by table and op.',
    labelNames: ['connector', 'table', 'op'] as const,
    registers: [registry],
  }),
  sourceBytes: new Counter({
    name: 'tideline_source_bytes_total',
    help: 'Key and value bytes of the records the source wrote to Kafka (what the format costs per event).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  sourceDeadLetters: new Counter({
    name: 'tideline_source_dead_letters_total',
    help: 'Change events sent to the dead-letter topic instead of their table topic (their schema was refused by the schema registry).',
    labelNames: ['connector', 'table'] as const,
    registers: [registry],
  }),
  sourceTransactions: new Counter({
    name: 'tideline_source_transactions_total',
    help: 'PostgreSQL transactions committed to Kafka.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  sourceCommitToKafka: new Histogram({
    name: 'tideline_source_commit_to_kafka_seconds',
    help: 'Time from the PostgreSQL commit to the Kafka transaction commit holding it.',
    labelNames: ['connector'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
  sourceLagBytes: new Gauge({
    name: 'tideline_source_lag_bytes',
    help: 'WAL bytes between the server and the slot\'s confirmed position.',
    labelNames: ['connector', 'slot'] as const,
    registers: [registry],
  }),
  sourceReconnects: new Counter({
    name: 'tideline_source_reconnects_total',
    help: 'Times the source reconnected to PostgreSQL after its previous run failed.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  sourceHeartbeats: new Counter({
    name: 'tideline_source_heartbeats_total',
    help: 'Heartbeat messages written to the WAL so an idle slot moves forward.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  sourceCapturedTables: new Gauge({
    name: 'tideline_source_captured_tables',
    help: 'Tables the source captures now: those selected at start plus those discovered while streaming (tableDiscoveryIntervalMs).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  sourceTablesDiscovered: new Counter({
    name: 'tideline_source_tables_discovered_total',
    help: 'Tables created while streaming that matched the source\'s table patterns and were added to its capture.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  snapshotRows: new Gauge({
    name: 'tideline_snapshot_rows',
    help: 'Rows read so far by the running (or last) snapshot, by table.',
    labelNames: ['connector', 'table'] as const,
    registers: [registry],
  }),
  snapshotRowsEstimate: new Gauge({
    name: 'tideline_snapshot_rows_estimate',
    help: 'Estimated rows of each table being snapshotted (pg_class.reltuples, or an exact count when never analyzed).',
    labelNames: ['connector', 'table'] as const,
    registers: [registry],
  }),
  snapshotRowsPerSecond: new Gauge({
    name: 'tideline_snapshot_rows_per_second',
    help: 'Snapshot read rate over the whole run so far.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  snapshotEtaSeconds: new Gauge({
    name: 'tideline_snapshot_eta_seconds',
    help: 'Estimated seconds until the running snapshot is complete (-1 when unknown, 0 when done).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  snapshotRunning: new Gauge({
    name: 'tideline_snapshot_running',
    help: '1 while the source is reading its snapshot, else 0.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotState: new Gauge({
    name: 'tideline_incremental_snapshot_state',
    help: 'Incremental snapshot (on signal): 0 none, 1 running, 2 paused.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotRows: new Gauge({
    name: 'tideline_incremental_snapshot_rows',
    help: 'Rows the running incremental snapshot has emitted (committed with its position, so it survives restarts).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotRowsEstimate: new Gauge({
    name: 'tideline_incremental_snapshot_rows_estimate',
    help: 'Estimated rows of the running incremental snapshot, all its tables (pg_class.reltuples; -1 when unknown).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotRowsPerSecond: new Gauge({
    name: 'tideline_incremental_snapshot_rows_per_second',
    help: 'Rows per second the incremental snapshot has emitted since this run of the source began it or resumed it.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotEtaSeconds: new Gauge({
    name: 'tideline_incremental_snapshot_eta_seconds',
    help: 'Estimated seconds until the incremental snapshot is complete (-1 when unknown, 0 when none runs).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotChunks: new Counter({
    name: 'tideline_incremental_snapshot_chunks_total',
    help: 'Incremental snapshot chunks closed at their high watermark (including chunks read again).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  incrementalSnapshotRowsDropped: new Counter({
    name: 'tideline_incremental_snapshot_rows_dropped_total',
    help: 'Rows read by an incremental snapshot chunk and not emitted because a streamed change of the same key arrived inside its window.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  signals: new Counter({
    name: 'tideline_source_signals_total',
    help: 'Signals the source acted on (signal table, Kafka signal topic, admin API), by type; type "invalid" for refused ones.',
    labelNames: ['connector', 'type'] as const,
    registers: [registry],
  }),
  sinkPartitionsAssigned: new Gauge({
    name: 'tideline_sink_partitions_assigned',
    help: 'Partitions of its topics the consumer group gave this sink instance (its latest assignment).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  sinkRowsWritten: new Counter({
    name: 'tideline_sink_rows_written_total',
    help: 'Rows written to ClickHouse by table.',
    labelNames: ['connector', 'table'] as const,
    registers: [registry],
  }),
  sinkBatchRows: new Histogram({
    name: 'tideline_sink_batch_rows',
    help: 'Rows per batch written to ClickHouse.',
    labelNames: ['connector'] as const,
    buckets: [1, 10, 100, 1_000, 10_000, 50_000, 100_000],
    registers: [registry],
  }),
  sinkFlush: new Histogram({
    name: 'tideline_sink_flush_seconds',
    help: 'Time to write one batch (rows and offsets) to ClickHouse.',
    labelNames: ['connector'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
  /**
   * Observed by the sink runtime once a batch is done (rows, dead letters and
   * offsets stored), with each row's latency taken when ClickHouse
   * acknowledged its insert; weighted, so one observation per distinct
   * latency in a batch (see weighted-histogram.ts).
   */
  sinkEndToEnd: new WeightedHistogram({
    name: 'tideline_sink_end_to_end_seconds',
    help: 'Time from the source commit (the event\'s source.ts_ms) to the row written in ClickHouse (its insert acknowledged), per row, by table.',
    labelNames: ['connector', 'table'] as const,
    buckets: endToEndBuckets,
    registers: [registry],
  }),
  sinkLagEvents: new Gauge({
    name: 'tideline_sink_lag_events',
    help: 'Offsets of a partition not yet written by this sink: the high watermark of its latest fetch minus the next offset to write (after the last stored offset).',
    labelNames: ['connector', 'topic', 'partition'] as const,
    registers: [registry],
  }),
  sinkDeadLetters: new Counter({
    name: 'tideline_sink_dead_letters_total',
    help: 'Messages sent to the dead-letter topic.',
    labelNames: ['connector', 'topic'] as const,
    registers: [registry],
  }),
  sinkRetries: new Counter({
    name: 'tideline_sink_retries_total',
    help: 'Failed sink attempts retried with backoff (ClickHouse or Kafka unreachable or refusing), by operation.',
    labelNames: ['connector', 'operation'] as const,
    registers: [registry],
  }),
  sinkUnavailableValues: new Counter({
    name: 'tideline_sink_unavailable_values_total',
    help: 'Unchanged-TOAST placeholders no earlier image resolved (no stored row): written as the placeholder text or NULL.',
    labelNames: ['connector', 'table'] as const,
    registers: [registry],
  }),
  // processors
  processorEventsIn: new Counter({
    name: 'tideline_processor_events_in_total',
    help: 'Messages a processor consumed (each stage: <name>, <name>.repartition).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  processorEventsOut: new Counter({
    name: 'tideline_processor_events_out_total',
    help: 'Records a processor produced (results; changelog records included for aggregates).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  processorEventsFiltered: new Counter({
    name: 'tideline_processor_events_filtered_total',
    help: 'Records a processor dropped on purpose, by the step that dropped them (filter, unwrap, ...).',
    labelNames: ['connector', 'step'] as const,
    registers: [registry],
  }),
  processorDeadLetters: new Counter({
    name: 'tideline_processor_dead_letters_total',
    help: 'Messages a processor could not handle, sent to its dead-letter topic.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  processorLateEvents: new Counter({
    name: 'tideline_processor_late_events_total',
    help: 'Events dropped by an aggregate because every window they belong to had closed (allowed lateness passed).',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  processorStateEntries: new Gauge({
    name: 'tideline_processor_state_entries',
    help: 'Open windows (group x window) an aggregate keeps in memory.',
    labelNames: ['connector'] as const,
    registers: [registry],
  }),
  processorStateRestore: new Histogram({
    name: 'tideline_processor_state_restore_seconds',
    help: 'Time to restore an aggregate\'s state from its changelog topic after start or rebalance.',
    labelNames: ['connector'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  }),
  processorBatchSeconds: new Histogram({
    name: 'tideline_processor_batch_seconds',
    help: 'Time to process one batch, from processing start to its Kafka transaction commit.',
    labelNames: ['connector'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
  processorLatency: new Histogram({
    name: 'tideline_processor_latency_seconds',
    help: 'Time from an input message\'s Kafka timestamp to the commit of its results (the oldest message of each batch).',
    labelNames: ['connector'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
} as const;

/** Every metric name tideline defines, for dashboards and their tests. */
export const metricNames: readonly string[] = Object.values(metrics).map(
  (metric) => (metric as unknown as { name: string }).name,
);
