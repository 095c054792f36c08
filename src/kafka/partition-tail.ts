/**
 * Reading chosen partitions from chosen offsets, for `tideline replay`: the
 * partitions' offsets (earliest, end, by timestamp) and a reader that follows
 * them from given start offsets, read_committed, without an end, until
 * stopped. Its caller decides when it has read far enough from position().
 *
 * The reader uses a throwaway consumer group whose offsets are set before it
 * joins (kafkajs has no manual assignment; setting the group's offsets first
 * needs no seek racing the first fetch), deleted when it stops.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { deleteGroupQuietly } from './compacted-topic-reader.js';
import type { ConsumedRecord } from './group-consumer.js';
import { withAdmin } from './topics.js';

export interface PartitionOffsetRange {
  topic: string;
  partition: number;
  /** The earliest offset the partition still holds (log start offset). */
  low: bigint;
  /** The end: the last stable offset (read_committed), one past the last readable entry. */
  high: bigint;
}

export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

/** Earliest and end offsets of every partition of `topics`, in topic then partition order. */
export async function fetchOffsetRanges(kafka: Kafka, topics: readonly string[]): Promise<PartitionOffsetRange[]> {
  return withAdmin(kafka, async (admin) => {
    const ranges: PartitionOffsetRange[] = [];
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const p of [...offsets].sort((a, b) => a.partition - b.partition)) {
        ranges.push({ topic, partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) });
      }
    }
    return ranges;
  });
}

/**
 * Per partition of `topics`, the first offset whose record's timestamp is at
 * or after `timestampMs` (Kafka's ListOffsets by time), or the end offset when
 * no record is that recent.
 */
export async function fetchOffsetsAt(kafka: Kafka, topics: readonly string[], timestampMs: number): Promise<PartitionOffset[]> {
  return withAdmin(kafka, async (admin) => {
    const result: PartitionOffset[] = [];
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs);
      for (const p of [...offsets].sort((a, b) => a.partition - b.partition)) result.push({ topic, partition: p.partition, offset: BigInt(p.offset) });
    }
    return result;
  });
}

/** Which topics exist, of `topics`. */
export async function existingTopics(kafka: Kafka, topics: readonly string[]): Promise<Set<string>> {
  const all = new Set(await withAdmin(kafka, (admin) => admin.listTopics()));
  return new Set(topics.filter((topic) => all.has(topic)));
}

export interface TailBatch {
  topic: string;
  partition: number;
  /** Committed records in offset order (never empty). */
  records: readonly ConsumedRecord[];
  /** Offset of the batch's last entry (may be a transaction marker past the last record). */
  lastOffset: bigint;
}

export interface PartitionTailOptions {
  /** Prefix of the throwaway group's id. */
  groupPrefix: string;
  /** Fetch size per partition and request. */
  maxBytes: number;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Follows partitions from given offsets; batches of one partition are handed over one at a time, in order. */
export class PartitionTail {
  private consumer: Consumer | null = null;
  private groupId = '';
  private readonly positions = new Map<string, bigint>();
  private failure: unknown = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: PartitionTailOptions,
  ) {}

  /**
   * Starts reading each partition at its offset (the next offset to read);
   * `onBatch` is awaited before the next batch (of any partition) is handed
   * over. A batch's failure stops the reader (see failed).
   */
  async start(starts: readonly PartitionOffset[], onBatch: (batch: TailBatch) => Promise<void>): Promise<void> {
    for (const start of starts) this.positions.set(key(start.topic, start.partition), start.offset);
    this.groupId = `${this.options.groupPrefix}-${randomUUID()}`;
    const topics = [...new Set(starts.map((start) => start.topic))];
    await withAdmin(this.kafka, async (admin) => {
      for (const topic of topics) {
        const partitions = starts.filter((start) => start.topic === topic).map((start) => ({ partition: start.partition, offset: start.offset.toString() }));
        await admin.setOffsets({ groupId: this.groupId, topic, partitions });
      }
    });
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 200,
      maxBytesPerPartition: this.options.maxBytes,
      maxBytes: this.options.maxBytes,
      sessionTimeout: 30_000,
      heartbeatInterval: 1_000,
    });
    this.consumer = consumer;
    // Transaction markers never reach eachBatch; batch events report the
    // offsets they cover, so a partition ending in a marker is seen at its end.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => this.advance(event.payload.topic, event.payload.partition, BigInt(event.payload.lastOffset)));
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) this.failure ??= event.payload.error;
    });
    await consumer.connect();
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        if (batch.messages.length === 0) return;
        const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
        try {
          const lastOffset = BigInt(batch.lastOffset());
          await onBatch({ topic: batch.topic, partition: batch.partition, records: batch.messages, lastOffset });
          this.advance(batch.topic, batch.partition, lastOffset);
        } catch (error) {
          this.failure ??= error;
          throw error;
        } finally {
          clearInterval(beat);
        }
      },
    });
  }

  /** The next offset to read of a partition. */
  position(topic: string, partition: number): bigint {
    return this.positions.get(key(topic, partition)) ?? 0n;
  }

  /** Why the reader stopped by itself (a batch failed, or kafkajs gave up), if it did. */
  get failed(): unknown {
    return this.failure;
  }

  /** Stops reading (a batch in progress finishes first) and deletes the group. */
  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    if (!consumer) return;
    await consumer.disconnect().catch(() => undefined);
    await deleteGroupQuietly(this.kafka, this.groupId);
  }

  private advance(topic: string, partition: number, lastOffset: bigint): void {
    const k = key(topic, partition);
    if (lastOffset + 1n > (this.positions.get(k) ?? 0n)) this.positions.set(k, lastOffset + 1n);
  }
}
