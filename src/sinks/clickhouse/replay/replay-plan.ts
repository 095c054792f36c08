/**
 * The pure decisions of `tideline replay`: its scope and what overlaps it,
 * whether a claim's holder is alive, and where each partition starts (with
 * the refusal when a topic no longer holds the records the table needs).
 */
import { CLAIM_EXPIRY_SECONDS, type ClaimRecord } from './replay-store.js';

/** `*` for every table of the sink, else the listed tables sorted and comma-separated. */
export function scopeOf(tables: readonly string[] | undefined): string {
  return tables && tables.length > 0 ? [...new Set(tables)].sort().join(',') : '*';
}

/** The tables of a scope; null for `*`. */
export function scopeTables(scope: string): Set<string> | null {
  return scope === '*' ? null : new Set(scope.split(','));
}

export function scopesOverlap(a: string, b: string): boolean {
  const left = scopeTables(a);
  const right = scopeTables(b);
  if (!left || !right) return true;
  return [...left].some((table) => right.has(table));
}

export function describeScope(scope: string): string {
  return scope === '*' ? 'all tables' : `table${scope.includes(',') ? 's' : ''} ${scope.split(',').join(', ')}`;
}

/**
 * A claim's holder is alive while it heartbeats; on this host a holder whose
 * process is gone (SIGKILL) is dead at once, so a resume need not wait.
 */
export function claimAlive(claim: ClaimRecord, host: string, processAlive: (pid: number) => boolean): boolean {
  if (claim.silentFor >= CLAIM_EXPIRY_SECONDS) return false;
  return claim.host !== host || processAlive(claim.pid);
}

export function describeHolder(claim: ClaimRecord): string {
  return `${claim.host} pid ${claim.pid}, running since ${claim.startedAt}`;
}

/** Whether process `pid` exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface PartitionRange {
  topic: string;
  partition: number;
  low: bigint;
  high: bigint;
}

export interface PartitionPlan {
  topic: string;
  partition: number;
  /** The next offset to read. */
  start: bigint;
  /** Where reading began for this replay (progress counts from here). */
  origin: bigint;
}

/** A partition whose records from `wanted` on are partly gone: the earliest it holds is `earliest`. */
export interface OffsetGap {
  topic: string;
  partition: number;
  wanted: bigint;
  earliest: bigint;
}

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * Where each partition starts: after the offset this replay already wrote
 * (resume), else at the offset of `--from`, else at 0. A start below the
 * partition's earliest offset means records the table needs were deleted
 * (retention by time or size, or deleteRecords; compaction never moves the
 * earliest offset, it only drops records a later one of the same key
 * supersedes, so a compacted topic rebuilds every key's last state): a gap,
 * refused unless `allowPartial`, which then starts at the earliest offset.
 */
export function planPartitions(options: {
  ranges: readonly PartitionRange[];
  fromOffsets?: ReadonlyMap<string, bigint>;
  /** Last offset written per partition by this replay so far. */
  written: ReadonlyMap<string, bigint>;
  /** Start a gap's partition at its earliest offset instead of refusing. */
  allowPartial: boolean;
}): { partitions: PartitionPlan[]; gaps: OffsetGap[] } {
  const partitions: PartitionPlan[] = [];
  const gaps: OffsetGap[] = [];
  for (const range of options.ranges) {
    const key = partitionKey(range.topic, range.partition);
    const written = options.written.get(key);
    const origin = options.fromOffsets?.get(key) ?? 0n;
    let start = written !== undefined ? written + 1n : origin;
    if (start < range.low) {
      gaps.push({ topic: range.topic, partition: range.partition, wanted: start, earliest: range.low });
      if (options.allowPartial) start = range.low;
    }
    partitions.push({ topic: range.topic, partition: range.partition, start, origin: origin < range.low ? range.low : origin });
  }
  return { partitions, gaps };
}

export function describeGaps(gaps: readonly OffsetGap[]): string {
  const list = gaps.map((gap) => `${gap.topic} partition ${gap.partition} starts at offset ${gap.earliest} (needed from ${gap.wanted})`).join('; ');
  return (
    `the topic no longer holds the records the table needs (deleted by retention): ${list}. ` +
    'Rebuilding from what is left would lose rows last changed before; pass --allow-partial to rebuild from the earliest offsets anyway, or --from a time the topic still holds'
  );
}
