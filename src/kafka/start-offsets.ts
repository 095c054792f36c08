/**
 * Where a replay starts reading each partition (a sink's tables, a
 * processor's state), and the refusal when a topic no longer holds the
 * records from there. Pure; shared by `tideline replay` of sinks
 * (sinks/clickhouse/replay/) and of processors (processors/replay/).
 */

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

/** What a replay rebuilds, for the refusal: a sink's table (default) or a processor's state. */
export interface GapSubject {
  /** What needs the records, e.g. "the table". */
  needs: string;
  /** What rebuilding from what is left loses. */
  loses: string;
  /** The way around it, e.g. "--from a time the topic still holds". */
  instead: string;
}

const TABLE_SUBJECT: GapSubject = { needs: 'the table', loses: 'rows last changed before', instead: 'or --from a time the topic still holds' };

export function describeGaps(gaps: readonly OffsetGap[], subject: GapSubject = TABLE_SUBJECT): string {
  const list = gaps.map((gap) => `${gap.topic} partition ${gap.partition} starts at offset ${gap.earliest} (needed from ${gap.wanted})`).join('; ');
  return (
    `the topic no longer holds the records ${subject.needs} needs (deleted by retention): ${list}. ` +
    `Rebuilding from what is left would lose ${subject.loses}; pass --allow-partial to rebuild from the earliest offsets anyway, ${subject.instead}`
  );
}
