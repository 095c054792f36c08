/**
 * Mode table, stage 1: the last image of every input row, kept where the
 * row's events arrive in order (the input partition of its key) so that each
 * new version can retract what the previous one contributed.
 *
 * An image is what the row contributes: its group, event time and aggregate
 * input values (not the row itself). Per owned input partition the images
 * live in memory, backed by the compacted topic <name>.images: partition
 * number = the input partition's, record key = `<input topic> <row key JSON>`
 * (several input topics share its partitions), value = the image, a tombstone
 * once the row is gone. Each batch writes the images it changed in its
 * transaction, so after a restore the images match the last committed offset.
 */
import { parseJson, stringifyJson } from '../../serde/json/lossless.js';
import type { ConsumedMessage } from '../../kafka/records.js';
import type { Contribution, GroupChange } from './changes.js';

export interface RowImage extends Contribution {
  group: unknown[];
}

/** The group changes that replace `prior` by `next` (either null: the row did not / no longer count). */
export function changesBetween(prior: RowImage | null, next: RowImage | null): GroupChange[] {
  const contribution = (image: RowImage): Contribution => ({ ts: image.ts, values: image.values });
  if (prior && next && stringifyJson(prior.group) === stringifyJson(next.group)) {
    return [{ group: next.group, add: contribution(next), retract: contribution(prior) }];
  }
  const changes: GroupChange[] = [];
  // A row that moved: the old group loses it, the new group gains it (two partitions, maybe).
  if (prior) changes.push({ group: prior.group, add: null, retract: contribution(prior) });
  if (next) changes.push({ group: next.group, add: contribution(next), retract: null });
  return changes;
}

/** The images of one input topic-partition. */
export class PartitionImages {
  readonly images = new Map<string, RowImage>();
  /** Images changed since the last takeChanged(): what the changelog must get (null: tombstone). */
  private readonly changed = new Map<string, RowImage | null>();

  constructor(readonly topic: string) {}

  /** The row `key` now has version `next` (null: deleted, or filtered out): the changes for the aggregation. */
  apply(key: string, next: RowImage | null): GroupChange[] {
    const prior = this.images.get(key) ?? null;
    if (!prior && !next) return [];
    if (next) this.images.set(key, next);
    else this.images.delete(key);
    this.changed.set(key, next);
    return changesBetween(prior, next);
  }

  /** Changelog records of the images changed since the last call (one per row: its latest). */
  takeChanged(): { key: Buffer; value: Buffer | null }[] {
    const records = [...this.changed].map(([key, image]) => imageRecord(this.topic, key, image));
    this.changed.clear();
    return records;
  }

  /** Applies one changelog record of this topic (restore). */
  restore(rowKey: string, value: Buffer | null): void {
    if (!value) {
      this.images.delete(rowKey);
      return;
    }
    const stored = parseJson(value.toString('utf8')) as { g: unknown[]; t: number; v: unknown[] };
    this.images.set(rowKey, { group: stored.g, ts: stored.t, values: stored.v });
  }
}

export function imageRecord(topic: string, rowKey: string, image: RowImage | null): { key: Buffer; value: Buffer | null } {
  const key = Buffer.from(`${topic} ${rowKey}`);
  if (!image) return { key, value: null };
  return { key, value: Buffer.from(stringifyJson({ g: image.group, t: image.ts, v: image.values.map((value) => value ?? null) })) };
}

/** The images of every input topic-partition this instance owns. */
export class ImageStore {
  private readonly partitions = new Map<string, PartitionImages>();

  /** Starts over with no images for exactly these topic-partitions (before a restore). */
  reset(assignment: readonly { topic: string; partition: number }[]): void {
    this.partitions.clear();
    for (const { topic, partition } of assignment) this.partitions.set(`${topic} ${partition}`, new PartitionImages(topic));
  }

  get(topic: string, partition: number): PartitionImages | undefined {
    return this.partitions.get(`${topic} ${partition}`);
  }

  /** Applies a record of changelog partition `partition`; records of topics not owned here are skipped. */
  restore(partition: number, message: ConsumedMessage): void {
    const key = message.key?.toString('utf8');
    const space = key?.indexOf(' ') ?? -1;
    if (!key || space < 0) return;
    this.get(key.slice(0, space), partition)?.restore(key.slice(space + 1), message.value);
  }

  get size(): number {
    let size = 0;
    for (const images of this.partitions.values()) size += images.images.size;
    return size;
  }
}
