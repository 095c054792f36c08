import type { z } from 'zod';
import type { Logger } from './logger.js';
import type { Converter } from '../serde/converter.js';
import type { SchemaRegistry } from '../registry/schema-registry.js';
import type { KafkaConnection } from './kafka-connection.js';
import type { RowVersions, SourceBlockSpec } from './row-versions.js';
import type { ServiceHealth, ServiceName } from './service-health.js';

export type ConnectorRole = 'source' | 'sink' | 'processor';

/**
 * What the supervisor and the admin API report for a connector. `paused`: an
 * operator paused it (admin API); its run is stopped until resumed.
 */
export type ConnectorState = 'starting' | 'running' | 'degraded' | 'restarting' | 'paused' | 'stopped' | 'failed';

export interface ConnectorContext<Config> {
  /** Unique name from the connector file. */
  name: string;
  kind: string;
  config: Config;
  kafka: KafkaConnection;
  /** Encodes and decodes event bytes in the connector's format (its `format`, else the daemon's). */
  converter: Converter;
  /** The daemon's schema registry, when it has one (the converter of a registry format uses it already). */
  registry?: SchemaRegistry | undefined;
  /** The row version of any known source block (every kind's sourceBlocks); what a sink orders rows by. */
  rowVersions: RowVersions;
  logger: Logger;
  /** Report a state change (`running`, or `degraded` while waiting for something other than a service). */
  setState(state: ConnectorState, detail?: string): void;
  /**
   * Report that a service (Kafka, the database, the warehouse) cannot be
   * reached, and that it can again: the runtime logs each change once and
   * shows the connector `degraded` meanwhile.
   */
  health: ServiceHealth;
}

/**
 * A running connector. `run` resolves when `signal` is aborted and the connector
 * has stopped cleanly (everything acknowledged is durable); it rejects on a
 * failure, after which the supervisor starts a fresh instance with backoff.
 */
export interface Connector {
  run(signal: AbortSignal): Promise<void>;
  /**
   * A Debezium signal (`execute-snapshot`, `stop-snapshot`, ...) sent from the
   * admin API, for kinds that take signals. Rejects with a TidelineError for a
   * signal it refuses (bad type or data).
   */
  signal?(type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }>;
  /** Progress of a snapshot the connector is reading while it runs (shown in its status), or null. */
  snapshotStatus?(): object | null;
}

/**
 * A connector's stored position as the admin API shows it (Kafka Connect's
 * GET /connectors/{name}/offsets): a source's own position, or the next
 * offset to read of one input partition of a sink or processor.
 */
export type StoredOffset =
  | { type: 'source'; partition: Record<string, unknown>; offset: unknown }
  | { type: 'kafka'; topic: string; partition: number; /** The next offset to read. */ offset: string };

/** What a kind needs to read its stored offsets while it is not necessarily running. */
export interface OffsetsContext<Config> {
  name: string;
  config: Config;
  kafka: KafkaConnection;
  logger: Logger;
}

/** A consumer group a sink or processor reads its input through (for its lag). */
export interface ConsumerGroupInput {
  groupId: string;
  /** Topic names, or glob patterns (a sink's topics: src/kafka/topic-patterns.ts) resolved against the existing topics. */
  topics: string[];
  /** Topics no pattern stands for besides the internal ones (a sink's own dead-letter topic). */
  excludeTopics?: string[];
}

/** One connector kind: its config schema (with field descriptions) and factory. */
export interface ConnectorSpec<Schema extends z.ZodType = z.ZodType> {
  kind: string;
  role: ConnectorRole;
  description: string;
  configSchema: Schema;
  /**
   * The service besides Kafka that this kind talks to (`postgresql`,
   * `clickhouse`): a run that fails because it could not be reached is
   * reported as that service's outage, not as a connector failure.
   */
  service?: ServiceName;
  /**
   * The source blocks this kind's events carry (one per `source.connector`
   * value it writes), with their row version; the registry collects them for
   * the sinks (core/row-versions.ts). Kinds that only pass events on declare none.
   */
  sourceBlocks?: readonly SourceBlockSpec[];
  create(context: ConnectorContext<z.output<Schema>>): Connector;
  /**
   * Reads the offsets the connector stored, where it stores them (the admin
   * API's /offsets); no offsets yet: an empty list.
   */
  readOffsets?(context: OffsetsContext<z.output<Schema>>): Promise<StoredOffset[]>;
  /** The consumer groups and topics a sink or processor reads (the admin API's lag). */
  consumerGroups?(name: string, config: z.output<Schema>): ConsumerGroupInput[];
}

/**
 * A connector kind as the registry keeps it: every kind in one list, whatever
 * its config type. The loader parses a file's `config:` with that kind's own
 * configSchema before create() is called with it.
 */
export type ConnectorKind = ConnectorSpec;

/**
 * Declares a connector kind (in the kind's connector.ts, next to its spec.ts
 * which holds only the config schema and types). `create` gets the config as
 * `configSchema` outputs it, inferred here, so no kind needs a cast to enter
 * the registry.
 */
export function defineConnector<Schema extends z.ZodType>(spec: ConnectorSpec<Schema>): ConnectorKind {
  return spec;
}
