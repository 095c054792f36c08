import type { Kafka } from 'kafkajs';
import { readTopicToEnd } from './compacted-topic-reader.js';
import type { OutputRecord } from './records.js';
import { ensureTopics, withAdmin } from './topics.js';

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
  await withAdmin(kafka, (admin) => ensureTopics(admin, [{ topic: SOURCE_OFFSETS_TOPIC, partitions: 1, configs: { 'cleanup.policy': 'compact' } }]));
}

/** The offset record of `connector`, written in the transaction whose events it covers. */
export function sourceOffsetRecord(connector: string, offset: SourceOffset): OutputRecord {
  return { topic: SOURCE_OFFSETS_TOPIC, key: Buffer.from(connector), value: encodeSourceOffset(offset) };
}

/**
 * Reads the committed offset of one connector (read_committed, from the start
 * of the compacted topic to its current end). Call it after the connector's
 * TransactionalWriter has connected: initializing its transactional id settles
 * any transaction a crashed predecessor left open, which would otherwise hold
 * the topic's last stable offset back.
 */
export async function readSourceOffset(kafka: Kafka, connector: string, timeoutMs = 60_000): Promise<SourceOffset | null> {
  let latest: SourceOffset | null = null;
  await readTopicToEnd(kafka, SOURCE_OFFSETS_TOPIC, {
    groupPrefix: '_tideline-offset-reader',
    timeoutMs,
    onMessage: (_partition, message) => {
      if (message.key?.toString() !== connector) return;
      latest = message.value ? (JSON.parse(message.value.toString()) as SourceOffset) : null;
    },
  });
  return latest;
}
