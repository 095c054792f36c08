import type { Kafka } from 'kafkajs';
import { readTopicToEnd } from './compacted-topic-reader.js';
import type { OutputRecord } from './records.js';
import { ensureTopics, withAdmin } from './topics.js';

/**
 * The compacted topic where each source keeps its position: key = connector
 * name, value = the position as JSON, whatever its shape (the source kind's:
 * src/sources/postgres/position.ts for PostgreSQL). The record is written
 * inside the transaction whose events it covers, so the position and those
 * events become visible together or not at all.
 */
export const SOURCE_OFFSETS_TOPIC = '_tideline_offsets';

/**
 * A source's position as stored: a JSON value only its source kind reads
 * (it encodes and decodes its own type to and from this).
 */
export type SourcePosition = unknown;

export function encodeSourcePosition(position: SourcePosition): Buffer {
  return Buffer.from(JSON.stringify(position));
}

/**
 * Configs of the offsets topic when tideline creates it. A source writes one
 * record per transaction, and every source start reads the topic to its end.
 * Kafka compacts only closed segments, and by default a segment closes after
 * 1 GiB or 7 days: at 1,000 transactions/s that is ~86M records a day for a
 * start to read. Small segments that close every 10 minutes keep what is left
 * uncompacted to a few MiB (Kafka Connect's offsets topic needs no such thing:
 * it is written once per flush interval, not per transaction).
 */
export const SOURCE_OFFSETS_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  'segment.bytes': String(16 * 1024 * 1024),
  'segment.ms': String(10 * 60 * 1000),
};

export async function ensureSourceOffsetsTopic(kafka: Kafka): Promise<void> {
  await withAdmin(kafka, (admin) => ensureTopics(admin, [{ topic: SOURCE_OFFSETS_TOPIC, partitions: 1, configs: { ...SOURCE_OFFSETS_TOPIC_CONFIGS } }]));
}

/** The offset record of `connector`, written in the transaction whose events it covers. */
export function sourceOffsetRecord(connector: string, position: SourcePosition): OutputRecord {
  return { topic: SOURCE_OFFSETS_TOPIC, key: Buffer.from(connector), value: encodeSourcePosition(position) };
}

/**
 * Reads the committed position of one connector: the JSON value stored, null
 * if none (read_committed, from the start of the compacted topic to its
 * current end); the source kind decodes it. Call it after the connector's
 * TransactionalWriter has connected: initializing its transactional id settles
 * any transaction a crashed predecessor left open, which would otherwise hold
 * the topic's last stable offset back.
 */
export async function readSourceOffset(kafka: Kafka, connector: string, timeoutMs = 60_000): Promise<SourcePosition | null> {
  let latest: SourcePosition | null = null;
  await readTopicToEnd(kafka, SOURCE_OFFSETS_TOPIC, {
    groupPrefix: '_tideline-offset-reader',
    timeoutMs,
    onMessage: (_partition, message) => {
      if (message.key?.toString() !== connector) return;
      latest = message.value ? (JSON.parse(message.value.toString()) as SourcePosition) : null;
    },
  });
  return latest;
}
