/**
 * Where the snapshot reader and the stream put their events: the connector's
 * TransactionalWriter (one transactional id, records sent in size-bounded
 * chunks as they arrive), and how a position commits with them: the offset
 * record goes last into the same Kafka transaction, so the events and the
 * position that covers them become visible together or not at all.
 */
import type { TransactionalWriter } from '../../kafka/transactional-writer.js';
import { sourceOffsetRecord } from '../../kafka/source-offsets.js';
import { metrics } from '../../metrics/registry.js';
import type { BuiltEvents } from './change-events.js';
import { encodePosition, type PostgresPosition } from './position.js';

export class KafkaOutput {
  /** Events in the open Kafka transaction. */
  private events = 0;
  private committedAt = Date.now();
  private readonly eventCounters = new Map<string, { inc(): void }>();

  constructor(
    private readonly writer: TransactionalWriter,
    private readonly connector: string,
  ) {}

  get eventsInTransaction(): number {
    return this.events;
  }

  /** When a Kafka transaction last committed (heartbeats are written after a quiet interval). */
  get lastCommitAt(): number {
    return this.committedAt;
  }

  /** Adds the records of one change to the open Kafka transaction (sent once enough bytes are buffered). */
  async write({ records, events, deadLettered }: BuiltEvents): Promise<void> {
    for (const event of events) this.eventCounter(event.table, event.op).inc();
    for (const table of deadLettered ?? []) metrics.sourceDeadLetters.inc({ connector: this.connector, table });
    this.events += events.length;
    let bytes = 0;
    for (const record of records) bytes += (record.key?.length ?? 0) + (record.value?.length ?? 0);
    metrics.sourceBytes.inc({ connector: this.connector }, bytes);
    await this.writer.write(records);
  }

  /** tideline_source_events_total of one table and op, looked up once (prom-client hashes the labels at every inc()). */
  private eventCounter(table: string, op: string): { inc(): void } {
    const key = `${table}\u0000${op}`;
    let counter = this.eventCounters.get(key);
    if (!counter) this.eventCounters.set(key, (counter = metrics.sourceEvents.labels({ connector: this.connector, table, op })));
    return counter;
  }

  /** Sends what is buffered plus the offset record of `position`, and commits the Kafka transaction. */
  async commit(position: PostgresPosition): Promise<void> {
    await this.writer.commit({ offsetRecord: sourceOffsetRecord(this.connector, encodePosition(position)) });
    this.events = 0;
    this.committedAt = Date.now();
  }

  /** Drops the open Kafka transaction, never failing. */
  async abort(): Promise<void> {
    this.events = 0;
    await this.writer.abort();
  }
}
