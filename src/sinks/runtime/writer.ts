/**
 * What a warehouse implements to become a sink. The runtime (sink-runtime.ts)
 * does the rest: consumer group, batching, backpressure, ownership on
 * rebalance, retries, dead letters, and the offsets contract.
 *
 * The offsets contract (Kafka Connect's put / preCommit): for each batch the
 * runtime calls write(), then sends the dead letters write() returned, then
 * saveOffsets() with the last offset of every partition still owned. A crash
 * anywhere in between means the batch is read again from the last saved
 * offsets, so write() must be idempotent for records written twice (the
 * ClickHouse writer: rows collapse under (key, _version)). On assignment each
 * new partition restarts after the offset loadOffsets() returns for it.
 */
import type { ConsumedRecord } from '../../kafka/group-consumer.js';

export type { ConsumedRecord };

/** The records of one partition in a batch, in stream order. */
export interface PartitionRun<Prepared = unknown> {
  topic: string;
  partition: number;
  /** partitionKey(topic, partition) */
  key: string;
  records: ConsumedRecord[];
  /** Per record (same index): what SinkWriter.prepare returned when it arrived, if anything. */
  prepared: (Prepared | undefined)[];
  /** Offset of the last entry received: saved once the batch is written. */
  lastOffset: string;
}

export interface SinkBatch<Prepared = unknown> {
  runs: readonly PartitionRun<Prepared>[];
  /**
   * Whether this instance still owns the run's partition. A rebalance can
   * revoke it while write() runs: check just before each write to the
   * warehouse and leave revoked runs out (their new owner writes them).
   */
  owned(run: PartitionRun<Prepared>): boolean;
}

export interface WriteContext {
  /**
   * Runs `task` until it succeeds, with backoff, reporting `degraded` with
   * `operation` meanwhile (also the metric label, e.g. "write rows to
   * ClickHouse"). Throws once the sink is stopping.
   */
  retry<T>(operation: string, task: () => Promise<T>): Promise<T>;
}

/** A record the warehouse cannot take: it goes to the dead-letter topic and the batch goes on. */
export interface RefusedRecord<Prepared = unknown> {
  run: PartitionRun<Prepared>;
  record: ConsumedRecord;
  error: string;
}

export interface WriteResult<Prepared = unknown> {
  deadLetters: RefusedRecord<Prepared>[];
  /** Rows written (for metrics), in all and per destination table. */
  rows?: number;
  rowsByTable?: ReadonlyMap<string, number>;
  /**
   * End-to-end latency of the rows written, per destination table: milliseconds
   * from the source commit (source.ts_ms) to the warehouse acknowledging the
   * row's insert, mapped to the number of rows with that latency. The runtime
   * observes them (tideline_sink_end_to_end_seconds) once the batch is done.
   */
  latencies?: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

export interface StoredOffset {
  topic: string;
  partition: number;
  /** Offset of the last record written. */
  offset: string;
}

export interface SinkWriter<Prepared = unknown> {
  /** The warehouse, in logs and retry labels ("ClickHouse"); lower-cased, the `kind` of its error metric. */
  readonly name: string;
  /** Connects and creates what the writer needs (e.g. the offsets table). Retried while it fails. */
  open(): Promise<void>;
  /**
   * Optional fast path, called as each record arrives: work done here
   * overlaps the write in progress. Return undefined to leave the record to
   * write(). Must not throw and must not wait.
   */
  prepare?(topic: string, record: ConsumedRecord): Prepared | undefined;
  /** Writes a batch. Throwing fails the attempt: the runtime retries the whole batch. */
  write(batch: SinkBatch<Prepared>, context: WriteContext): Promise<WriteResult<Prepared>>;
  loadOffsets(): Promise<StoredOffset[]>;
  saveOffsets(offsets: readonly StoredOffset[]): Promise<void>;
  close(): Promise<void>;
}
