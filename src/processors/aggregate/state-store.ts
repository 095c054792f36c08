/**
 * Aggregation state: per owned partition, the open windows (group x window
 * start) with their accumulators and update sequence, and the partition's
 * watermark. It lives in memory and is backed by a compacted changelog topic
 * with the same partitions: every batch writes the windows it changed (and a
 * tombstone for each window it closed) to the changelog partition of the same
 * number, in the batch's Kafka transaction. On start and after every rebalance
 * the owned partitions are read back from the changelog (read_committed), which
 * gives exactly the state as of the last committed input offset.
 */
import { parseJson, stringifyJson } from '../../serde/json/lossless.js';
import type { ConsumedMessage } from '../../kafka/records.js';
import type { AccumulatorState } from './aggregators.js';
import { closesAt, type WindowSpec } from './windows.js';

export interface WindowEntry {
  group: unknown[];
  start: number;
  /** Updates emitted for this window so far: the version of its result row. */
  seq: number;
  accumulators: AccumulatorState[];
  /** Highest event time aggregated into this window. */
  maxTs: number;
  /**
   * Contributions counted in it (events, or rows in mode table). When
   * retractions take it to 0 the result is deleted; the entry itself stays
   * until the window closes, so that its versions keep increasing.
   */
  rows: number;
  /** Whether the last result emitted is a row (false: none yet, or a delete). */
  shown: boolean;
}

const WATERMARK_KEY = '__watermark';
/** The state generation (result-source.ts resultVersion); absent: 0, never replayed. */
const GENERATION_KEY = '__generation';

export class PartitionState {
  readonly entries = new Map<string, WindowEntry>();
  watermark = Number.NEGATIVE_INFINITY;
  /** State generation: a processor replay rebuilds the state in the next one (results' versions sort after). */
  generation = 0;
  /** Lowest watermark at which some entry closes: eviction scans only once it is reached. */
  private nextClose = Number.POSITIVE_INFINITY;

  constructor(private readonly spec: WindowSpec) {}

  static entryKey(group: readonly unknown[], start: number): string {
    return `${stringifyJson(group)}@${start}`;
  }

  get(key: string): WindowEntry | undefined {
    return this.entries.get(key);
  }

  set(key: string, entry: WindowEntry): void {
    this.entries.set(key, entry);
    this.nextClose = Math.min(this.nextClose, closesAt(entry.start, this.spec));
  }

  /** Removes and returns the keys of windows closed at the current watermark. */
  evictClosed(): string[] {
    if (this.watermark < this.nextClose) return [];
    const evicted: string[] = [];
    let nextClose = Number.POSITIVE_INFINITY;
    for (const [key, entry] of this.entries) {
      const close = closesAt(entry.start, this.spec);
      if (close <= this.watermark) {
        this.entries.delete(key);
        evicted.push(key);
      } else {
        nextClose = Math.min(nextClose, close);
      }
    }
    this.nextClose = nextClose;
    return evicted;
  }

  /** Applies one changelog record (restore). */
  restore(message: ConsumedMessage): void {
    const key = message.key?.toString('utf8');
    if (!key) return;
    if (key === WATERMARK_KEY) {
      if (message.value) this.watermark = (parseJson(message.value.toString('utf8')) as { watermark: number }).watermark;
      return;
    }
    if (key === GENERATION_KEY) {
      if (message.value) this.generation = (parseJson(message.value.toString('utf8')) as { generation: number }).generation;
      return;
    }
    if (!message.value) {
      this.entries.delete(key);
      return;
    }
    const stored = parseJson(message.value.toString('utf8')) as { g: unknown[]; s: number; q: number; a: AccumulatorState[]; m: number; n?: number; l?: boolean };
    // Records written before rows and shown existed (mode event only): a window with results.
    this.set(key, { group: stored.g, start: stored.s, seq: stored.q, accumulators: stored.a, maxTs: stored.m, rows: stored.n ?? 1, shown: stored.l ?? stored.q > 0 });
  }
}

/** Changelog record of one window (value null: the window closed). */
export function changelogEntry(key: string, entry: WindowEntry | null): { key: Buffer; value: Buffer | null } {
  if (!entry) return { key: Buffer.from(key), value: null };
  return {
    key: Buffer.from(key),
    value: Buffer.from(stringifyJson({ g: entry.group, s: entry.start, q: entry.seq, a: entry.accumulators, m: entry.maxTs, n: entry.rows, l: entry.shown })),
  };
}

export function changelogWatermark(watermark: number): { key: Buffer; value: Buffer } {
  return { key: Buffer.from(WATERMARK_KEY), value: Buffer.from(JSON.stringify({ watermark })) };
}

export function changelogGeneration(generation: number): { key: Buffer; value: Buffer } {
  return { key: Buffer.from(GENERATION_KEY), value: Buffer.from(JSON.stringify({ generation })) };
}

/** The generation a changelog record sets, if it is the generation record. */
export function generationOf(message: ConsumedMessage): number | undefined {
  if (message.key?.toString('utf8') !== GENERATION_KEY || !message.value) return undefined;
  return (parseJson(message.value.toString('utf8')) as { generation: number }).generation;
}

/** The state of every partition this instance owns. */
export class StateStore {
  private readonly partitions = new Map<number, PartitionState>();

  constructor(private readonly spec: WindowSpec) {}

  /** Starts over with empty state for exactly these partitions (before a restore, or a replay's rebuild in `generation`). */
  reset(partitions: readonly number[], generation = 0): void {
    this.partitions.clear();
    for (const partition of partitions) {
      const state = new PartitionState(this.spec);
      state.generation = generation;
      this.partitions.set(partition, state);
    }
  }

  partition(partition: number): PartitionState | undefined {
    return this.partitions.get(partition);
  }

  get size(): number {
    let size = 0;
    for (const state of this.partitions.values()) size += state.entries.size;
    return size;
  }
}
