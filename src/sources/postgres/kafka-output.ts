/**
 * Where the snapshot reader and the stream put their events: the connector's
 * TransactionalWriter (one transactional id, records sent in size-bounded
 * chunks as they arrive), and how a position commits with them: the offset
 * record goes last into the same Kafka transaction, so the events and the
 * position that covers them become visible together or not at all.
 *
 * The stream commits behind its back (commitBehind): while one Kafka
 * transaction commits (a few round trips), the next PostgreSQL changes are
 * already built and encoded, and held here; they go to the writer, in order,
 * as the next transaction once the commit is done. Only one commit runs at a
 * time, and what is held is bounded (HOLD_MAX_BYTES: then the stream waits),
 * so a slow or unreachable Kafka slows the stream instead of filling memory.
 */
import type { OutputRecord } from '../../kafka/records.js';
import type { TransactionalWriter } from '../../kafka/transactional-writer.js';
import { sourceOffsetRecord } from '../../kafka/source-offsets.js';
import { metrics } from '../../metrics/registry.js';
import type { BuiltEvents } from './change-events.js';
import { encodePosition, type PostgresPosition } from './position.js';

/** Records held while a commit runs, at most (about 1 s of a busy source). */
const HOLD_MAX_BYTES = 16 * 1024 * 1024;

/** One table and op's event counter, with the events not yet added to it. */
interface Counted {
  counter: { inc(value: number): void };
  pending: number;
}

export class KafkaOutput {
  /** Events in the open Kafka transaction. */
  private events = 0;
  private committedAt = Date.now();
  /** tideline_source_events_total per table and op, looked up once. */
  private readonly eventCounters = new Map<string, Map<string, Counted>>();
  /** tideline_source_bytes_total of this connector. */
  private readonly bytesCounter: { inc(value: number): void };
  /**
   * Events and bytes written since the last commit started: added to the
   * counters then, once per transaction (prom-client hashes and validates
   * the labels at every inc(), a measurable cost once per event).
   */
  private readonly uncounted = new Set<Counted>();
  private uncountedBytes = 0;
  /** The commit started by commitBehind() and not yet settled. */
  private committing: Promise<void> | null = null;
  /** That commit is done (and its onCommitted ran): writes go to the writer again, after the held records. */
  private committed = false;
  /** Records written while the commit runs, for the next transaction. */
  private held: OutputRecord[] = [];
  private settling: Promise<void> | null = null;
  /** A commit started behind the stream failed: the transaction can only be aborted now. */
  private commitError: Error | null = null;
  private heldBytes = 0;

  constructor(
    private readonly writer: TransactionalWriter,
    private readonly connector: string,
  ) {
    this.bytesCounter = metrics.sourceBytes.labels({ connector });
  }

  get eventsInTransaction(): number {
    return this.events;
  }

  /** When a Kafka transaction last committed (heartbeats are written after a quiet interval). */
  get lastCommitAt(): number {
    return this.committedAt;
  }

  /**
   * Adds the records of one change to the open Kafka transaction (sent once
   * enough bytes are buffered), or holds them while the previous transaction
   * commits.
   */
  async write({ records, events, deadLettered }: BuiltEvents): Promise<void> {
    for (const event of events) {
      const counted = this.eventCounter(event.table, event.op);
      if (counted.pending++ === 0) this.uncounted.add(counted);
    }
    for (const table of deadLettered ?? []) metrics.sourceDeadLetters.inc({ connector: this.connector, table });
    this.events += events.length;
    let bytes = 0;
    for (const record of records) bytes += (record.key?.length ?? 0) + (record.value?.length ?? 0);
    this.uncountedBytes += bytes;
    if (this.commitError) throw this.commitError;
    if (this.committing && !this.committed) {
      for (const record of records) this.held.push(record);
      this.heldBytes += bytes;
      // Over the bound: wait for the commit (settle() then writes these too).
      if (this.heldBytes >= HOLD_MAX_BYTES) await this.settle();
      return;
    }
    await this.settle();
    await this.writer.write(records);
  }

  private eventCounter(table: string, op: string): Counted {
    let byOp = this.eventCounters.get(table);
    if (!byOp) this.eventCounters.set(table, (byOp = new Map()));
    let counted = byOp.get(op);
    if (!counted) byOp.set(op, (counted = { counter: metrics.sourceEvents.labels({ connector: this.connector, table, op }), pending: 0 }));
    return counted;
  }

  /** Adds what was written since the last call to the counters. */
  private count(): void {
    for (const counted of this.uncounted) counted.counter.inc(counted.pending);
    if (this.uncountedBytes > 0) this.bytesCounter.inc(this.uncountedBytes);
    this.dropUncounted();
  }

  private dropUncounted(): void {
    for (const counted of this.uncounted) counted.pending = 0;
    this.uncounted.clear();
    this.uncountedBytes = 0;
  }

  /** Sends what is buffered plus the offset record of `position`, and commits the Kafka transaction. */
  async commit(position: PostgresPosition): Promise<void> {
    await this.commitBehind(position);
    await this.settle();
  }

  /**
   * Starts committing the open Kafka transaction with `position` and returns
   * once it is started (after the previous commit is done): the caller goes
   * on writing, which is held until then. `onCommitted` runs once the commit
   * is done, before any later commit starts. A failed commit fails the next
   * write, commit or settle(), and is given to `onError` at once.
   */
  async commitBehind(position: PostgresPosition, onCommitted?: () => Promise<void>, onError?: (error: Error) => void): Promise<void> {
    await this.settle();
    this.count();
    this.events = 0;
    const offsetRecord = sourceOffsetRecord(this.connector, encodePosition(position));
    const committing = this.writer.commit({ offsetRecord }).then(async () => {
      this.committedAt = Date.now();
      await onCommitted?.();
      this.committed = true;
    });
    this.committing = committing;
    this.committed = false;
    committing.catch((error: unknown) => {
      this.commitError = error instanceof Error ? error : new Error(String(error));
      onError?.(this.commitError);
    });
  }

  /**
   * Waits for the commit in progress (throwing its failure), then writes what
   * was held into the next transaction. Callers at the same time share one
   * settling, so none writes before the held records are written.
   */
  async settle(): Promise<void> {
    if (!this.committing) return;
    this.settling ??= this.writeHeld().finally(() => (this.settling = null));
    await this.settling;
  }

  private async writeHeld(): Promise<void> {
    await this.committing;
    this.committing = null;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    if (held.length > 0) await this.writer.write(held);
  }

  /** Drops the open Kafka transaction and what is held (a commit in progress ends first), never failing. */
  async abort(): Promise<void> {
    await this.committing?.catch(() => undefined);
    this.committing = null;
    this.commitError = null;
    this.held = [];
    this.heldBytes = 0;
    this.events = 0;
    this.dropUncounted(); // dropped, so not counted
    await this.writer.abort();
  }
}
