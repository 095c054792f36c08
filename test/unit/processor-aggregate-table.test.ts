/**
 * Mode table of the aggregate processor: retractable aggregators, the last
 * image per row (stage 1), signed changes applied to windows (stage 2) with
 * deletes of emptied groups, the repartition record format, and the config.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { createAggregator, type AccumulatorState, type AggregateFunction } from '../../src/processors/aggregate/aggregators.js';
import { decodeChange, encodeChange, type GroupChange } from '../../src/processors/aggregate/changes.js';
import { ResultEncoder, type ResultColumn } from '../../src/processors/aggregate/results.js';
import { createRetractableAggregator, multisetAdd, multisetRemove } from '../../src/processors/aggregate/retractable.js';
import { changesBetween, ImageStore, PartitionImages, type RowImage } from '../../src/processors/aggregate/row-images.js';
import { aggregateConfigSchema } from '../../src/processors/aggregate/spec.js';
import { PartitionState, type WindowEntry } from '../../src/processors/aggregate/state-store.js';
import { WindowAggregation } from '../../src/processors/aggregate/window-aggregation.js';
import type { ChangeEvent } from '../../src/core/events.js';
import { createConverter } from '../../src/serde/index.js';
import type { WindowSpec } from '../../src/processors/aggregate/windows.js';
import type { ResultSourceBlock } from '../../src/processors/aggregate/result-source.js';

const minute = 60_000;
const options = { maxDistinctValues: 3, hasExpression: true };

/** Applies ['+', v] / ['-', v] steps and returns the result after each. */
function run(fn: AggregateFunction, steps: [sign: '+' | '-', value: unknown][], hasExpression = true): (number | null)[] {
  const aggregator = createRetractableAggregator(fn, 'c', { ...options, hasExpression });
  let state: AccumulatorState = aggregator.initial();
  return steps.map(([sign, value]) => {
    state = sign === '+' ? aggregator.add(state, value) : aggregator.retract!(state, value);
    return aggregator.result(state);
  });
}

describe('retractable aggregators', () => {
  it('count, sum and avg take back what was added; nulls skipped as in SQL', () => {
    expect(run('count', [['+', 1], ['+', null], ['-', 1], ['+', 2]])).toEqual([1, 1, 0, 1]);
    expect(run('count', [['+', undefined], ['+', undefined], ['-', undefined]], false)).toEqual([1, 2, 1]);
    expect(run('sum', [['+', 5], ['+', '2.5'], ['-', 5], ['+', null], ['-', '2.5']])).toEqual([5, 7.5, 2.5, 2.5, null]);
    expect(run('avg', [['+', 2], ['+', 4], ['-', 2], ['-', 4]])).toEqual([2, 3, 4, null]);
  });

  it('sum restarts at exactly 0 when its last value is retracted (no rounding residue)', () => {
    expect(run('sum', [['+', 0.1], ['+', 0.2], ['-', 0.1], ['-', 0.2], ['+', 0.3]])).toEqual([0.1, 0.1 + 0.2, 0.1 + 0.2 - 0.1, null, 0.3]);
  });

  it('min and max recompute the extreme when it is retracted, duplicates counted', () => {
    const steps: ['+' | '-', unknown][] = [['+', 5], ['+', 2], ['+', 2], ['+', 9], ['-', 2], ['-', 9], ['-', 2], ['-', 5]];
    expect(run('min', steps)).toEqual([5, 2, 2, 2, 2, 2, 5, null]);
    expect(run('max', steps)).toEqual([5, 5, 5, 9, 9, 5, 5, null]);
  });

  it('countDistinct counts values while any row holds them', () => {
    expect(run('countDistinct', [['+', 'a'], ['+', 'a'], ['+', 'b'], ['-', 'a'], ['-', 'a'], ['-', 'b']])).toEqual([1, 1, 2, 2, 1, 0]);
    expect(run('countDistinct', [['+', 1], ['+', '1'], ['-', 1]])).toEqual([1, 1, 1]); // 1 and "1" are one value, as in mode event
  });

  it('bound the multisets by maxDistinctValues; check refuses without changing the state', () => {
    const aggregator = createRetractableAggregator('max', 'c', options);
    const state = [1, 2, 3].reduce((acc: AccumulatorState, value) => aggregator.add(acc, value), aggregator.initial());
    expect(() => aggregator.check!(state, 4)).toThrow(/more than 3 distinct values/);
    expect(() => aggregator.check!(state, 3)).not.toThrow();
    expect(aggregator.result(state)).toBe(3);
    expect(() => aggregator.add(state, 4)).toThrow(/more than 3 distinct values/);
  });

  it('multisets stay sorted; removing an absent value changes nothing', () => {
    const set = multisetAdd(multisetAdd(multisetAdd([], 3, 'c', 10), 1, 'c', 10), 3, 'c', 10);
    expect(set).toEqual([[1, 1], [3, 2]]);
    expect(multisetRemove(set, 2)).toEqual([[1, 1], [3, 2]]);
    expect(multisetRemove(multisetRemove(set, 3), 3)).toEqual([[1, 1]]);
  });

  it('event-mode aggregators cannot retract', () => {
    expect(createAggregator('sum', 'c', options).retract).toBeUndefined();
  });
});

const image = (group: unknown[], ts: number, amount: number): RowImage => ({ group, ts, values: [1, amount] });

describe('row images (stage 1)', () => {
  it('a create adds, an update in the group retracts and adds in one change, a move is two changes, a delete retracts', () => {
    expect(changesBetween(null, image(['a'], 1, 5))).toEqual([{ group: ['a'], add: { ts: 1, values: [1, 5] }, retract: null }]);
    expect(changesBetween(image(['a'], 1, 5), image(['a'], 2, 7))).toEqual([{ group: ['a'], add: { ts: 2, values: [1, 7] }, retract: { ts: 1, values: [1, 5] } }]);
    expect(changesBetween(image(['a'], 1, 5), image(['b'], 2, 7))).toEqual([
      { group: ['a'], add: null, retract: { ts: 1, values: [1, 5] } },
      { group: ['b'], add: { ts: 2, values: [1, 7] }, retract: null },
    ]);
    expect(changesBetween(image(['a'], 1, 5), null)).toEqual([{ group: ['a'], add: null, retract: { ts: 1, values: [1, 5] } }]);
    expect(changesBetween(null, null)).toEqual([]);
  });

  it('keeps the last image per row and writes each changed row once per batch', () => {
    const images = new PartitionImages('shop.public.orders');
    expect(images.apply('{"id":1}', image(['a'], 1, 5))).toHaveLength(1);
    expect(images.apply('{"id":1}', image(['b'], 2, 6))).toHaveLength(2); // retract from a, add to b
    expect(images.apply('{"id":2}', image(['a'], 3, 1))).toHaveLength(1);
    expect(images.apply('{"id":2}', null)).toEqual([{ group: ['a'], add: null, retract: { ts: 3, values: [1, 1] } }]);
    expect(images.apply('{"id":3}', null)).toEqual([]); // a delete of a row never counted (e.g. filtered out)
    const records = images.takeChanged();
    expect(records.map((record) => [record.key.toString(), record.value && JSON.parse(record.value.toString())])).toEqual([
      ['shop.public.orders {"id":1}', { g: ['b'], t: 2, v: [1, 6] }],
      ['shop.public.orders {"id":2}', null],
    ]);
    expect(images.takeChanged()).toEqual([]);
    expect([...images.images.keys()]).toEqual(['{"id":1}']);
  });

  it('restores each owned topic-partition from its changelog partition, skipping other topics', () => {
    const source = new PartitionImages('t1');
    source.apply('{"id":1}', image(['a'], 1, 5));
    source.apply('{"id":2}', image(['a'], 2, 6));
    const other = new PartitionImages('t2');
    other.apply('{"id":1}', image(['z'], 1, 1));
    source.apply('{"id":2}', null);
    const store = new ImageStore();
    store.reset([{ topic: 't1', partition: 0 }]);
    const message = (record: { key: Buffer; value: Buffer | null }) => ({ ...record, offset: '0', timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage;
    for (const record of [...source.takeChanged(), ...other.takeChanged()]) store.restore(0, message(record));
    expect(store.size).toBe(1);
    expect(store.get('t1', 0)?.images.get('{"id":1}')).toEqual(image(['a'], 1, 5));
    expect(store.get('t2', 0)).toBeUndefined();
  });
});

describe('repartition records', () => {
  it('carry additions and retractions; the event-mode form is an addition', () => {
    const change: GroupChange = { group: [7], add: { ts: 2, values: [1, 7] }, retract: { ts: 1, values: [null, 5] } };
    expect(decodeChange(encodeChange(change).value)).toEqual(change);
    expect(decodeChange(Buffer.from('{"t":5,"g":[7],"v":[null,3]}'))).toEqual({ group: [7], add: { ts: 5, values: [null, 3] }, retract: null });
    expect(() => decodeChange(Buffer.from('{"g":[7]}'))).toThrow('not a repartition record');
  });
});

describe('signed changes on windows (stage 2)', async () => {
  const spec: WindowSpec = { sizeMs: minute, advanceMs: minute, allowedLatenessMs: 0 };
  const fns: AggregateFunction[] = ['count', 'sum', 'min', 'max', 'countDistinct'];
  const columns: ResultColumn[] = fns.map((fn) => ({
    name: fn,
    fn,
    type: fn === 'count' || fn === 'countDistinct' ? 'int64' : 'double',
    aggregator: createRetractableAggregator(fn, fn, { maxDistinctValues: 100, hasExpression: fn !== 'count' }),
  }));
  const converter = createConverter('json');
  const encoder = await ResultEncoder.create(converter, 'out', [{ name: 'customer', type: 'string' }] as never, columns, minute, { processor: 'p', table: 'out' });
  const topics = { output: 'out', changelog: 'cl' };
  const contribution = (ts: number, amount: number) => ({ ts, values: [1, amount, amount, amount, String(amount)] });

  /** Applies the batches of changes; returns the output topic's events, decoded (null: tombstone). */
  function batches(state: PartitionState, ...list: GroupChange[][]) {
    const aggregation = new WindowAggregation(columns, spec);
    const out: ({ op: string; lsn: number; row: Record<string, unknown> } | null)[] = [];
    for (const changes of list) {
      const touched = new Map<string, WindowEntry>();
      const before = state.watermark;
      for (const change of changes) aggregation.apply(state, change, touched);
      for (const record of aggregation.emit(0, state, touched, before, encoder, topics, 1)) {
        if (record.topic !== 'out') continue;
        if (!record.value) {
          out.push(null);
          continue;
        }
        const payload = converter.decodeValue<ChangeEvent<ResultSourceBlock>>(record.value).value;
        const row = (payload.after ?? payload.before)!;
        out.push({ op: payload.op, lsn: payload.source.lsn!, row: Object.fromEntries(fns.map((fn) => [fn, row[fn]])) });
      }
    }
    return out;
  }

  it('an update in the group replaces the contribution in one result', () => {
    const state = new PartitionState(spec);
    const out = batches(state, [{ group: ['a'], add: contribution(1, 5), retract: null }, { group: ['a'], add: contribution(2, 9), retract: null }], [
      { group: ['a'], add: contribution(3, 1), retract: contribution(2, 9) },
    ]);
    expect(out).toEqual([
      { op: 'c', lsn: 1, row: { count: 2, sum: 14, min: 5, max: 9, countDistinct: 2 } },
      { op: 'u', lsn: 2, row: { count: 2, sum: 6, min: 1, max: 5, countDistinct: 2 } },
    ]);
  });

  it('a row moving to another group leaves one and enters the other; an emptied group is deleted, then created again', () => {
    const state = new PartitionState(spec);
    const out = batches(
      state,
      [{ group: ['a'], add: contribution(1, 5), retract: null }],
      [{ group: ['a'], add: null, retract: contribution(1, 5) }, { group: ['b'], add: contribution(2, 5), retract: null }],
      [{ group: ['a'], add: contribution(3, 4), retract: null }],
    );
    expect(out).toEqual([
      { op: 'c', lsn: 1, row: { count: 1, sum: 5, min: 5, max: 5, countDistinct: 1 } },
      { op: 'd', lsn: 2, row: { count: 0, sum: null, min: null, max: null, countDistinct: 0 } },
      null, // tombstone after the delete
      { op: 'c', lsn: 1, row: { count: 1, sum: 5, min: 5, max: 5, countDistinct: 1 } },
      // versions go on from the delete's, so the sink's newest version is the row again
      { op: 'c', lsn: 3, row: { count: 1, sum: 4, min: 4, max: 4, countDistinct: 1 } },
    ]);
  });

  it('a row added and removed within one batch emits nothing', () => {
    const state = new PartitionState(spec);
    expect(batches(state, [{ group: ['a'], add: contribution(1, 5), retract: null }, { group: ['a'], add: null, retract: contribution(1, 5) }])).toEqual([]);
  });

  it('a retraction goes to the window its version was counted in; into a closed window it is dropped as late', () => {
    const state = new PartitionState(spec);
    const aggregation = new WindowAggregation(columns, spec);
    const touched = new Map<string, WindowEntry>();
    aggregation.apply(state, { group: ['a'], add: contribution(10, 5), retract: null }, touched);
    // The update moves the row to the next minute: retracted from minute 0, added to minute 1.
    expect(aggregation.apply(state, { group: ['a'], add: contribution(minute + 10, 6), retract: contribution(10, 5) }, touched)).toEqual({ late: false });
    expect(state.get(PartitionState.entryKey(['a'], 0))?.rows).toBe(0);
    expect(state.get(PartitionState.entryKey(['a'], minute))?.rows).toBe(1);
    // Minute 1 closes once the watermark passes it: retracting from it now is late, nothing changes.
    aggregation.apply(state, { group: ['b'], add: contribution(3 * minute, 1), retract: null }, touched);
    expect(aggregation.apply(state, { group: ['a'], add: null, retract: contribution(minute + 10, 6) }, touched)).toEqual({ late: true });
    expect(state.get(PartitionState.entryKey(['a'], minute))?.rows).toBe(1);
  });

  it('a refused addition changes nothing, not even the watermark', () => {
    const spec1: WindowSpec = { sizeMs: minute, advanceMs: minute, allowedLatenessMs: 0 };
    const bounded: ResultColumn[] = [{ name: 'd', fn: 'countDistinct', type: 'int64', aggregator: createRetractableAggregator('countDistinct', 'd', { maxDistinctValues: 1, hasExpression: true }) }];
    const aggregation = new WindowAggregation(bounded, spec1);
    const state = new PartitionState(spec1);
    const touched = new Map<string, WindowEntry>();
    aggregation.apply(state, { group: ['a'], add: { ts: 1, values: ['x'] }, retract: null }, touched);
    expect(() => aggregation.apply(state, { group: ['a'], add: { ts: 2, values: ['y'] }, retract: null }, touched)).toThrow(/distinct values/);
    expect(state.watermark).toBe(1);
    expect(state.get(PartitionState.entryKey(['a'], 0))).toMatchObject({ rows: 1, accumulators: [[['x', 1]]] });
  });
});

describe('aggregate config: mode', () => {
  const base = {
    topics: ['shop.public.orders'],
    outputTopic: 'per_customer',
    groupBy: { customer: 'after.customer' },
    aggregates: { orders: { fn: 'count' } },
    window: { type: 'tumbling', size: '1d' },
  };
  const problems = (config: unknown) => aggregateConfigSchema.safeParse(config).error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);

  it('defaults to table; event is accepted', () => {
    expect(aggregateConfigSchema.parse(base).mode).toBe('table');
    expect(aggregateConfigSchema.parse({ ...base, mode: 'event' }).mode).toBe('event');
  });

  it('refuses an unknown mode, and mode table without the repartition stage', () => {
    expect(problems({ ...base, mode: 'stream' })?.[0]).toMatch(/^mode: /);
    expect(problems({ ...base, repartition: false })).toEqual(["repartition: mode table needs the repartition stage (it keeps each row's last image); set repartition: true or mode: event"]);
    expect(problems({ ...base, mode: 'event', repartition: false })).toBeUndefined();
  });
});
