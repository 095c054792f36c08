/**
 * Kafka Connect's REST shapes of a tideline connector (pure functions).
 * tideline runs each connector as one unit, shown as task 0; what Kafka
 * Connect has no field for goes under `tideline`.
 */
import type { ConnectorRole, ConnectorState, StoredOffset } from '../../core/connector.js';
import { redactConfig } from '../../core/redact.js';
import type { ConnectorFailure, ConnectorStatus } from '../supervisor.js';

/** Kafka Connect's states (RESTARTING since 3.0, STOPPED since 3.5). */
export type ConnectState = 'UNASSIGNED' | 'RUNNING' | 'PAUSED' | 'FAILED' | 'RESTARTING' | 'STOPPED';

const STATES: Record<ConnectorState, ConnectState> = {
  starting: 'UNASSIGNED',
  running: 'RUNNING',
  // Alive, waiting for a service or a topic: Kafka Connect's task would be RUNNING too.
  degraded: 'RUNNING',
  // Waiting out its backoff after a failed run or an outage, before the next run.
  restarting: 'RESTARTING',
  paused: 'PAUSED',
  failed: 'FAILED',
  stopped: 'STOPPED',
};

export function connectState(state: ConnectorState): ConnectState {
  return STATES[state];
}

/** What the admin API knows of a connector besides its status (connector file and kind). */
export interface ConnectorFacts {
  name: string;
  kind: string;
  role: ConnectorRole;
  format: string;
  config: unknown;
}

/** Kafka Connect's `config`: string-keyed, with `connector.class`; ours holds the kind's config as parsed, secrets masked. */
export function configBody(facts: ConnectorFacts): Record<string, unknown> {
  const config = redactConfig(facts.config);
  return { 'connector.class': facts.kind, name: facts.name, format: facts.format, ...(config && typeof config === 'object' ? config : { value: config }) };
}

/** GET /connectors/{name} and expand=info. */
export function infoBody(facts: ConnectorFacts): Record<string, unknown> {
  return { name: facts.name, config: configBody(facts), tasks: [{ connector: facts.name, task: 0 }], type: facts.role };
}

export interface Lag {
  /** Offsets the input is behind (sinks, processors); null when unknown. */
  events: number | null;
  /** Seconds behind, where it can be known; null otherwise. */
  seconds: number | null;
  /** A source's replication slot: WAL bytes not yet confirmed. */
  wal_bytes?: number | null;
  /** Why the lag could not be measured. */
  error?: string;
}

export interface Throughput {
  /** Over the last measurement window (up to a minute); null before two samples. */
  per_second: number | null;
  /** What is counted: events written to Kafka, rows written, messages consumed. */
  unit: string;
  total: number;
}

export interface Progress {
  phase: 'snapshot';
  done: number;
  total: number | null;
  eta_seconds: number | null;
}

/** What the daemon measures of a connector's flow (the `tideline` status extension). */
export interface Insight {
  lag: Lag;
  throughput: Throughput;
  progress: Progress | null;
}

export interface StatusInput {
  facts: ConnectorFacts;
  status: ConnectorStatus;
  workerId: string;
  lastError: ConnectorFailure | undefined;
  unreachable: string[];
  insight?: Insight;
}

/** GET /connectors/{name}/status and expand=status. */
export function statusBody(input: StatusInput): Record<string, unknown> {
  const { facts, status, workerId, lastError } = input;
  const state = connectState(status.state);
  const unit: Record<string, unknown> = { state, worker_id: workerId };
  if (state === 'FAILED') unit.trace = lastError?.trace ?? status.detail ?? 'failed';
  const tideline: Record<string, unknown> = {
    kind: facts.kind,
    state: status.state,
    degraded: status.state === 'degraded',
    restarts: status.restarts,
    since: status.since,
  };
  if (status.detail) tideline.detail = status.detail;
  if (input.unreachable.length > 0) tideline.unreachable_services = input.unreachable;
  if (lastError) tideline.last_error = { message: lastError.message, at: lastError.at };
  if (status.startedAt) tideline.started_at = status.startedAt;
  if (status.reloadError) tideline.reload_error = status.reloadError;
  if (status.snapshot) tideline.snapshot = status.snapshot;
  if (input.insight) Object.assign(tideline, input.insight);
  return {
    name: facts.name,
    connector: unit,
    tasks: [{ id: 0, ...unit }],
    type: facts.role,
    tideline,
  };
}

/** GET /connectors/{name}/offsets, Kafka Connect 3.6's shape. */
export function offsetsBody(offsets: readonly StoredOffset[]): { offsets: { partition: Record<string, unknown>; offset: unknown }[] } {
  return {
    offsets: offsets.map((stored) =>
      stored.type === 'source'
        ? { partition: stored.partition, offset: stored.offset }
        : { partition: { kafka_topic: stored.topic, kafka_partition: stored.partition }, offset: { kafka_offset: Number(stored.offset) } },
    ),
  };
}
