/**
 * tideline_sink_lag_events: per owned partition, the offsets not yet written,
 * as Kafka Connect's consumer lag: the high watermark of the partition's latest
 * fetch minus the next offset to write (after the last stored offset; before
 * the first store, the first offset fetched).
 *
 * The high watermark comes with each fetch, so no extra request is made. While
 * the consumer is paused (a write is slow or failing and the next buffer is
 * full) no fetch returns and the gauge keeps its last value: what was already
 * there when the sink stalled, not what arrived since. The alert on a stalled
 * sink therefore also looks at rows written (prometheus/alerts.yml).
 */
import { metrics } from '../../metrics/registry.js';
import { partitionKey } from './batch-buffer.js';

interface PartitionLag {
  labels: { connector: string; topic: string; partition: string };
  highWatermark: bigint;
  /** The next offset to write; null until known. */
  next: bigint | null;
}

export class SinkLag {
  private readonly partitions = new Map<string, PartitionLag>();

  constructor(private readonly connector: string) {}

  /** A fetched batch of a partition: its high watermark and its first offset. */
  fetched(topic: string, partition: number, highWatermark: string | undefined, firstOffset: string): void {
    if (highWatermark === undefined) return;
    const lag = this.entry(topic, partition);
    lag.highWatermark = BigInt(highWatermark);
    lag.next ??= BigInt(firstOffset);
    this.update(lag);
  }

  /** Offsets stored up to `lastOffset` (inclusive). */
  stored(topic: string, partition: number, lastOffset: string): void {
    const lag = this.partitions.get(partitionKey(topic, partition));
    if (!lag) return;
    lag.next = BigInt(lastOffset) + 1n;
    this.update(lag);
  }

  /** A new assignment: partitions this instance no longer owns drop their series (their new owner reports them). */
  retain(owned: (key: string) => boolean): void {
    for (const [key, lag] of this.partitions) {
      if (owned(key)) continue;
      metrics.sinkLagEvents.remove(lag.labels);
      this.partitions.delete(key);
    }
  }

  /** At stop: this instance reports nothing any more. */
  clear(): void {
    this.retain(() => false);
  }

  private entry(topic: string, partition: number): PartitionLag {
    const key = partitionKey(topic, partition);
    let lag = this.partitions.get(key);
    if (!lag) {
      lag = { labels: { connector: this.connector, topic, partition: String(partition) }, highWatermark: 0n, next: null };
      this.partitions.set(key, lag);
    }
    return lag;
  }

  private update(lag: PartitionLag): void {
    if (lag.next === null) return;
    const behind = lag.highWatermark - lag.next;
    metrics.sinkLagEvents.set(lag.labels, behind > 0n ? Number(behind) : 0);
  }
}
