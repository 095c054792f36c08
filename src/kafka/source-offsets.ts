import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { ensureTopics } from './topics.js';
import { deleteGroupQuietly, withDeadline } from './throwaway-group.js';

/**
 * The compacted topic where each source keeps its position: key = connector
 * name, value = JSON of the last PostgreSQL commit included in a committed
 * Kafka transaction. The record is written inside that same transaction, so
 * the position and the events it covers become visible together or not at all.
 */
export const SOURCE_OFFSETS_TOPIC = '_tideline_offsets';

export interface SourceOffset {
  /** Commit LSN (as decimal text of the 64-bit value) of the last included transaction. */
  lsn: string;
  /** The same LSN in PostgreSQL's text form, for people. */
  lsnText: string;
  txId: number | null;
  /** Commit time of that transaction, ms since epoch. */
  commitTs: number;
  /**
   * Tables whose initial snapshot is complete ("schema.table"). Absent from
   * offsets written before snapshots existed, which means every table.
   */
  snapshotted?: string[];
  /** Present only while a snapshot is under way: where it resumes after a crash. */
  snapshot?: SnapshotPosition;
}

export interface SnapshotPosition {
  /** source.lsn of the snapshot's "r" events (the sink's row version), as decimal text. */
  lsn: string;
  /** Tables still to read, in order; the first is the one being read. */
  pending: string[];
  /** PostgreSQL's text form of the last primary key read from pending[0]; null: from its start. */
  lastKey: string[] | null;
}

export function encodeSourceOffset(offset: SourceOffset): Buffer {
  return Buffer.from(JSON.stringify(offset));
}

export async function ensureSourceOffsetsTopic(kafka: Kafka): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [
      { topic: SOURCE_OFFSETS_TOPIC, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ]);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads the committed offset of one connector (read_committed, from the start
 * of the compacted topic to its current end). Call it after the connector's
 * transactional producer has connected: initializing the producer aborts any
 * transaction a crashed predecessor left open, which would otherwise hold the
 * topic's last stable offset back.
 */
export async function readSourceOffset(kafka: Kafka, connector: string, timeoutMs = 60_000): Promise<SourceOffset | null> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(SOURCE_OFFSETS_TOPIC);
    ends = new Map(
      offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high) - 1n]),
    );
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return null;

  const groupId = `_tideline-offset-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
  let latest: SourceOffset | null = null;
  const reached = new Map<number, bigint>();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const progress = (partition: number, offset: bigint): void => {
    if (offset > (reached.get(partition) ?? -1n)) reached.set(partition, offset);
    if ([...ends].every(([p, end]) => (reached.get(p) ?? -1n) >= end)) finish();
  };
  // Control records (transaction markers) never reach eachMessage; batch events
  // report the offsets they cover, so the end is seen even when it is a marker.
  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => progress(event.payload.partition, BigInt(event.payload.lastOffset)));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: SOURCE_OFFSETS_TOPIC, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (message.key?.toString() === connector) {
          latest = message.value ? (JSON.parse(message.value.toString()) as SourceOffset) : null;
        }
        progress(partition, BigInt(message.offset));
      },
    });
    await withDeadline(done, timeoutMs, `timed out reading ${SOURCE_OFFSETS_TOPIC} after ${timeoutMs} ms`);
  } finally {
    await consumer.disconnect();
    await deleteGroupQuietly(kafka, groupId);
  }
  return latest;
}
