/**
 * Stage 2: applying group changes to a partition's windows, and what a batch
 * of them emits (results, changelog records of the windows, the watermark).
 *
 * An addition goes to the windows of its event time that are still open after
 * the watermark took it in (as in mode event). A retraction goes to the
 * windows of the retracted version's event time that are still open: those
 * are a subset of the windows that version was added to (the same group, so
 * the same partition and watermark, which only grows), so nothing is taken
 * from a window it was not added to. A retraction into a closed window is
 * dropped, like a late event: a closed window's result is final.
 */
import { isClosed, assignWindows, windowStarts, type WindowSpec } from './windows.js';
import { changelogEntry, changelogWatermark, PartitionState, type WindowEntry } from './state-store.js';
import type { Contribution, GroupChange } from './changes.js';
import type { ResultColumn, ResultEncoder } from './results.js';

export interface EmitTopics {
  output: string;
  changelog: string;
}

export interface Emitted {
  topic: string;
  partition?: number;
  key: Buffer | null;
  value: Buffer | null;
}

export class WindowAggregation {
  constructor(
    private readonly columns: readonly ResultColumn[],
    private readonly spec: WindowSpec,
  ) {}

  /**
   * Applies one change; `touched` collects the windows it changed. Returns
   * `late` when a part of it found all its windows closed. A refused addition
   * (AggregateInputError: a bound) throws before anything changed, the
   * watermark included. The bound is checked before the retraction, so a
   * change that would fit only after its own retraction is refused too.
   */
  apply(state: PartitionState, change: GroupChange, touched: Map<string, WindowEntry>): { late: boolean } {
    const retractInto = change.retract ? windowStarts(change.retract.ts, this.spec).filter((start) => !isClosed(start, this.spec, state.watermark)) : [];
    const watermark = change.add ? Math.max(state.watermark, change.add.ts) : state.watermark;
    const added = change.add ? assignWindows(change.add.ts, this.spec, watermark) : { open: [], late: false };
    if (change.add) this.check(state, change.group, added.open, change.add);

    state.watermark = watermark;
    if (change.retract) for (const start of retractInto) this.retract(state, touched, change.group, start, change.retract);
    if (change.add) for (const start of added.open) this.add(state, touched, change.group, start, change.add);
    const retractLate = change.retract !== null && retractInto.length === 0;
    return { late: added.late || retractLate };
  }

  private check(state: PartitionState, group: unknown[], starts: readonly number[], add: Contribution): void {
    for (const start of starts) {
      const entry = state.get(PartitionState.entryKey(group, start));
      this.columns.forEach((column, index) => column.aggregator.check?.(entry ? entry.accumulators[index]! : column.aggregator.initial(), add.values[index]));
    }
  }

  private add(state: PartitionState, touched: Map<string, WindowEntry>, group: unknown[], start: number, add: Contribution): void {
    const key = PartitionState.entryKey(group, start);
    let entry = state.get(key);
    if (!entry) {
      entry = { group, start, seq: 0, accumulators: this.columns.map((column) => column.aggregator.initial()), maxTs: add.ts, rows: 0, shown: false };
      state.set(key, entry);
    }
    this.columns.forEach((column, index) => {
      entry.accumulators[index] = column.aggregator.add(entry.accumulators[index]!, add.values[index]);
    });
    entry.rows += 1;
    entry.maxTs = Math.max(entry.maxTs, add.ts);
    touched.set(key, entry);
  }

  private retract(state: PartitionState, touched: Map<string, WindowEntry>, group: unknown[], start: number, retract: Contribution): void {
    const key = PartitionState.entryKey(group, start);
    const entry = state.get(key);
    // Absent or empty only if the addition was refused (dead-lettered): nothing to take back.
    if (!entry || entry.rows === 0) return;
    this.columns.forEach((column, index) => {
      const aggregator = column.aggregator;
      if (!aggregator.retract) throw new Error(`${column.name}: ${aggregator.fn} of mode event cannot retract`);
      entry.accumulators[index] = aggregator.retract(entry.accumulators[index]!, retract.values[index]);
    });
    entry.rows -= 1;
    touched.set(key, entry);
  }

  /**
   * The records of a batch: per changed window its result (an upsert; a
   * delete and a tombstone once its rows are all gone) and its changelog
   * record; a changelog tombstone per window closed; the watermark if it moved.
   */
  emit(partition: number, state: PartitionState, touched: Map<string, WindowEntry>, watermarkBefore: number, encoder: ResultEncoder, topics: EmitTopics, now = Date.now()): Emitted[] {
    const out: Emitted[] = [];
    for (const entry of touched.values()) {
      if (entry.rows > 0) {
        entry.seq += 1;
        out.push({ topic: topics.output, ...encoder.encode(entry, now, entry.shown ? 'u' : 'c', state.generation) });
        entry.shown = true;
      } else if (entry.shown) {
        entry.seq += 1;
        const { key, value } = encoder.encode(entry, now, 'd', state.generation);
        out.push({ topic: topics.output, key, value }, { topic: topics.output, key, value: null });
        entry.shown = false;
      }
      // rows 0 and not shown: added and retracted within the batch, nothing to show.
    }
    const evicted = new Set(state.evictClosed());
    for (const [key, entry] of touched) {
      if (!evicted.has(key)) out.push({ topic: topics.changelog, partition, ...changelogEntry(key, entry) });
    }
    for (const key of evicted) out.push({ topic: topics.changelog, partition, ...changelogEntry(key, null) });
    if (state.watermark !== watermarkBefore) out.push({ topic: topics.changelog, partition, ...changelogWatermark(state.watermark) });
    return out;
  }
}
