/**
 * The one reader of compacted topics to their end: a source's stored
 * position (_tideline_offsets) and a processor's state (its changelogs).
 *
 * It reads chosen partitions read_committed from their start to their end
 * offsets as of the call, through a throwaway consumer group that is deleted
 * afterwards. Call it after the transactional ids that write those partitions
 * are initialized (TransactionalWriter.connect): initializing settles the
 * transaction a crashed writer left open, which would otherwise hold the last
 * stable offset (the end read here) back.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { ConsumedMessage } from './records.js';

export interface ReadToEndOptions {
  /** Partitions to read; every partition when absent. */
  partitions?: readonly number[];
  /** Gets every committed record up to the end, per partition in offset order. */
  onMessage(partition: number, message: ConsumedMessage): void;
  /** Keeps the caller's group membership alive during a long read. */
  heartbeat?: () => Promise<void>;
  timeoutMs: number;
  /** Prefix of the throwaway group's id, e.g. `_tideline-restore`. */
  groupPrefix: string;
}

/** Partition offsets as admin.fetchTopicOffsets gives them (read_committed: `high` is the last stable offset). */
export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/** The last offset to read of each wanted partition that has records (an empty partition is done already). */
export function endOffsets(offsets: readonly PartitionOffsets[], wanted?: ReadonlySet<number>): Map<number, bigint> {
  return new Map(
    offsets
      .filter((p) => (!wanted || wanted.has(p.partition)) && BigInt(p.high) > BigInt(p.low))
      .map((p) => [p.partition, BigInt(p.high) - 1n]),
  );
}

/** Follows how far each partition was read; done once every partition reached its end. */
export class EndTracker {
  private readonly reached = new Map<number, bigint>();

  constructor(private readonly ends: ReadonlyMap<number, bigint>) {}

  /** Offset `offset` of `partition` was read (or skipped: a transaction marker). Returns whether the read is complete. */
  advance(partition: number, offset: bigint): boolean {
    if (!this.ends.has(partition)) return this.done;
    if (offset > (this.reached.get(partition) ?? -1n)) this.reached.set(partition, offset);
    return this.done;
  }

  get done(): boolean {
    return [...this.ends].every(([partition, end]) => (this.reached.get(partition) ?? -1n) >= end);
  }
}

/** Resolves with `work`, or rejects with `message` once `timeoutMs` has passed. */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads `topic` (or some of its partitions) to its current end; returns the number of records passed to onMessage. */
export async function readTopicToEnd(kafka: Kafka, topic: string, options: ReadToEndOptions): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    ends = endOffsets(await admin.fetchTopicOffsets(topic), options.partitions ? new Set(options.partitions) : undefined);
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return 0;

  const groupId = `${options.groupPrefix}-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200, maxBytesPerPartition: 8 * 1024 * 1024 });
  const tracker = new EndTracker(ends);
  let read = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  // Transaction markers never reach eachBatch; batch events report the offsets
  // they cover, so the end is seen even when it is a marker.
  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
    if (tracker.advance(event.payload.partition, BigInt(event.payload.lastOffset))) finish();
  });
  const beat = options.heartbeat ? setInterval(() => void options.heartbeat!().catch(() => undefined), 1_000) : undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition);
        if (end === undefined) return;
        for (const message of batch.messages) {
          if (BigInt(message.offset) > end) break;
          options.onMessage(batch.partition, message);
          read += 1;
        }
        if (tracker.advance(batch.partition, BigInt(batch.lastOffset()))) finish();
      },
    });
    await withDeadline(done, options.timeoutMs, `timed out reading ${topic} to its end after ${options.timeoutMs} ms`);
  } finally {
    if (beat) clearInterval(beat);
    await consumer.disconnect().catch(() => undefined);
    await deleteGroupQuietly(kafka, groupId);
  }
  return read;
}

/** How long deleting a reader's group may take before it is left to expire. */
const DELETE_GROUP_TIMEOUT_MS = 2_000;

/** Deletes a throwaway group; the group would expire by itself, so failing to delete it early is harmless. */
export async function deleteGroupQuietly(kafka: Kafka, groupId: string): Promise<void> {
  // Best effort, bounded: right after a broker restart the coordinator may be
  // loading, and kafkajs's default retries would hold a shutdown for ~40 s.
  // The disconnect is inside the deadline too: after a connect that timed out
  // kafkajs's disconnect can wait on the same unanswered broker.
  const admin = kafka.admin({ retry: { retries: 1 } });
  const work = (async () => {
    try {
      await admin.connect();
      await admin.deleteGroups([groupId]);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  })();
  await withDeadline(work, DELETE_GROUP_TIMEOUT_MS, `deleting group ${groupId} timed out`).catch(() => {
    // Expires by itself; the caller releases the client's sockets.
  });
}
