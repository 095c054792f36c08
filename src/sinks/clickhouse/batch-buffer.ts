/**
 * Messages received from Kafka and not yet handed to a flush, per partition,
 * in offset order, with the row and byte counts that decide when to flush and
 * when to pause the consumer.
 */
import type { KafkaMessage } from 'kafkajs';
import type { RowImage } from './rows.js';

/**
 * A message already converted when it arrived (its table known, its schema
 * current): the rows it writes with their TabSeparated lines, or why it cannot
 * be written. Conversion then overlaps the flush in progress.
 */
export type Prepared = { rows: RowImage[]; commitMs: number } | { error: string };

export interface PartitionBatch {
  topic: string;
  partition: number;
  /** partitionKey(topic, partition) */
  key: string;
  messages: KafkaMessage[];
  /** Per message (same index): converted on arrival, or undefined (converted at flush time). */
  prepared: (Prepared | undefined)[];
  /** Offset of the last message received (kafkajs batch.lastOffset()): stored once written. */
  lastOffset: string;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export class BatchBuffer {
  private partitions = new Map<string, PartitionBatch>();
  rows = 0;
  bytes = 0;
  /** When the oldest buffered message arrived (ms), or 0 when empty. */
  firstAt = 0;

  add(
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    lastOffset: string,
    now = Date.now(),
    prepare: (message: KafkaMessage) => Prepared | undefined = () => undefined,
  ): void {
    const key = partitionKey(topic, partition);
    let entry = this.partitions.get(key);
    if (!entry) this.partitions.set(key, (entry = { topic, partition, key, messages: [], prepared: [], lastOffset }));
    for (const message of messages) {
      entry.messages.push(message);
      entry.prepared.push(prepare(message));
      this.bytes += (message.value?.length ?? 0) + (message.key?.length ?? 0);
    }
    entry.lastOffset = lastOffset;
    if (this.rows === 0 && this.firstAt === 0) this.firstAt = now;
    this.rows += messages.length;
  }

  get empty(): boolean {
    return this.partitions.size === 0;
  }

  /** Everything buffered, leaving the buffer empty. */
  take(): PartitionBatch[] {
    const taken = [...this.partitions.values()];
    this.partitions = new Map();
    this.rows = 0;
    this.bytes = 0;
    this.firstAt = 0;
    return taken;
  }

  /** Drops the partitions `keep` refuses (revoked in a rebalance); returns how many messages went. */
  retain(keep: (key: string) => boolean): number {
    let dropped = 0;
    for (const [key, entry] of this.partitions) {
      if (keep(key)) continue;
      this.partitions.delete(key);
      dropped += entry.messages.length;
      this.rows -= entry.messages.length;
      for (const message of entry.messages) this.bytes -= (message.value?.length ?? 0) + (message.key?.length ?? 0);
    }
    if (this.partitions.size === 0) {
      this.rows = 0;
      this.bytes = 0;
      this.firstAt = 0;
    }
    return dropped;
  }
}
