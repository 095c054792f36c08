/**
 * Reads chosen partitions of a topic read_committed from their start to their
 * end offsets at call time: how a processor restores state from its changelog.
 * Call it after the producers that write those partitions are initialized, so
 * no transaction a crashed owner left open holds the end back.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { deleteGroupQuietly, withDeadline } from '../kafka/throwaway-group.js';

export async function readPartitionsToEnd(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  onMessage: (partition: number, message: KafkaMessage) => void,
  options: { heartbeat?: () => Promise<void>; timeoutMs?: number } = {},
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const wanted = new Set(partitions);
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(
      offsets.filter((p) => wanted.has(p.partition) && BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high) - 1n]),
    );
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return 0;

  const groupId = `_tideline-restore-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200, maxBytesPerPartition: 8 * 1024 * 1024 });
  const reached = new Map<number, bigint>();
  let read = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const progress = (partition: number, offset: bigint): void => {
    if (offset > (reached.get(partition) ?? -1n)) reached.set(partition, offset);
    if ([...ends].every(([p, end]) => (reached.get(p) ?? -1n) >= end)) finish();
  };
  // Transaction markers never reach eachBatch; batch events report the offsets
  // they cover, so the end is seen even when it is a marker.
  consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
    if (ends.has(event.payload.partition)) progress(event.payload.partition, BigInt(event.payload.lastOffset));
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
          onMessage(batch.partition, message);
          read += 1;
        }
        progress(batch.partition, BigInt(batch.lastOffset()));
      },
    });
    const timeoutMs = options.timeoutMs ?? 300_000;
    await withDeadline(done, timeoutMs, `timed out restoring from ${topic} after ${timeoutMs} ms`);
  } finally {
    if (beat) clearInterval(beat);
    await consumer.disconnect().catch(() => undefined);
    await deleteGroupQuietly(kafka, groupId);
  }
  return read;
}
