/**
 * Which partitions this member owns, since when, and how far it fetched them.
 *
 * Every group join is a new generation. A batch is taken in one generation
 * and written later; its run of a partition may be written only if the
 * partition has been held without interruption since (at or before) that
 * generation. A partition revoked and assigned back meanwhile was maybe
 * written by another member in between, so the old run must not be written
 * over it.
 */
import { partitionKey } from './batch-buffer.js';
import type { TopicPartition } from '../../kafka/group-consumer.js';

export interface AssignmentChange {
  generation: number;
  /** Partitions held before and still held, fetched up to `next` (exclusive): continue there. */
  resume: { partition: TopicPartition; next: bigint }[];
  /** Partitions to start from the stored offsets: new ones, and held ones not fetched yet. */
  fromStore: TopicPartition[];
}

export class PartitionOwnership {
  generation = 0;
  private assigned = new Map<string, TopicPartition>();
  /** Generation since which each assigned partition has been held without interruption. */
  private readonly ownedSince = new Map<string, number>();
  /** Next offset to fetch per partition: after the last record buffered. */
  private readonly nextOffsets = new Map<string, bigint>();

  /** A new generation with `partitions` assigned. */
  assign(partitions: readonly TopicPartition[]): AssignmentChange {
    const generation = ++this.generation;
    const next = new Map(partitions.map((partition) => [partitionKey(partition.topic, partition.partition), partition]));
    for (const key of this.assigned.keys()) {
      if (next.has(key)) continue;
      this.ownedSince.delete(key);
      this.nextOffsets.delete(key);
    }
    const change: AssignmentChange = { generation, resume: [], fromStore: [] };
    for (const [key, partition] of next) {
      const held = this.assigned.has(key);
      if (!held) this.ownedSince.set(key, generation);
      const offset = held ? this.nextOffsets.get(key) : undefined;
      if (offset !== undefined) change.resume.push({ partition, next: offset });
      else change.fromStore.push(partition);
    }
    this.assigned = next;
    return change;
  }

  has(key: string): boolean {
    return this.assigned.has(key);
  }

  /** Held now, and without interruption since `generation`. */
  owns(key: string, generation: number): boolean {
    const since = this.ownedSince.get(key);
    return this.assigned.has(key) && since !== undefined && since <= generation;
  }

  /** Records up to `next` (exclusive) were buffered. */
  fetched(key: string, next: bigint): void {
    this.nextOffsets.set(key, next);
  }
}
