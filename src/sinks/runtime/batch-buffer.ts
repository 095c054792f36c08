/**
 * Records received from Kafka and not yet handed to a write, per partition,
 * in offset order, with the record and byte counts that decide when to write
 * and when to pause the consumer.
 */
import type { ConsumedRecord, PartitionRun } from './writer.js';

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function sizeOf(record: ConsumedRecord): number {
  return (record.value?.length ?? 0) + (record.key?.length ?? 0);
}

export class BatchBuffer<Prepared = unknown> {
  private partitions = new Map<string, PartitionRun<Prepared>>();
  rows = 0;
  bytes = 0;
  /** When the oldest buffered record arrived (ms), or 0 when empty. */
  firstAt = 0;
  /** A record with a value was left unprepared (prepare gave nothing: e.g. its table or schema is not known yet). */
  unprepared = false;

  add(
    topic: string,
    partition: number,
    records: readonly ConsumedRecord[],
    lastOffset: string,
    now = Date.now(),
    prepare: (record: ConsumedRecord) => Prepared | undefined = () => undefined,
  ): void {
    const key = partitionKey(topic, partition);
    let entry = this.partitions.get(key);
    if (!entry) this.partitions.set(key, (entry = { topic, partition, key, records: [], prepared: [], lastOffset }));
    for (const record of records) {
      const prepared = prepare(record);
      if (prepared === undefined && record.value !== null) this.unprepared = true;
      entry.records.push(record);
      entry.prepared.push(prepared);
      this.bytes += sizeOf(record);
    }
    entry.lastOffset = lastOffset;
    if (this.rows === 0 && this.firstAt === 0) this.firstAt = now;
    this.rows += records.length;
  }

  get empty(): boolean {
    return this.partitions.size === 0;
  }

  /** Everything buffered, leaving the buffer empty. */
  take(): PartitionRun<Prepared>[] {
    const taken = [...this.partitions.values()];
    this.partitions = new Map();
    this.rows = 0;
    this.bytes = 0;
    this.firstAt = 0;
    this.unprepared = false;
    return taken;
  }

  /** Drops the partitions `keep` refuses (revoked in a rebalance); returns how many records went. */
  retain(keep: (key: string) => boolean): number {
    let dropped = 0;
    for (const [key, entry] of this.partitions) {
      if (keep(key)) continue;
      this.partitions.delete(key);
      dropped += entry.records.length;
      this.rows -= entry.records.length;
      for (const record of entry.records) this.bytes -= sizeOf(record);
    }
    if (this.partitions.size === 0) {
      this.rows = 0;
      this.bytes = 0;
      this.firstAt = 0;
      this.unprepared = false;
    }
    return dropped;
  }
}
