import { describe, expect, it } from 'vitest';
import { AggregateInputError, createAggregator } from '../../src/processors/aggregate/aggregators.js';
import { additionOf, decodeChange, encodeChange } from '../../src/processors/aggregate/changes.js';
import { EventExtractor } from '../../src/processors/aggregate/extract.js';
import { ResultEncoder } from '../../src/processors/aggregate/results.js';
import { createConverter } from '../../src/serde/index.js';
import { aggregateConfigSchema } from '../../src/processors/aggregate/spec.js';
import { changelogEntry, changelogWatermark, PartitionState } from '../../src/processors/aggregate/state-store.js';
import { assignWindows, isClosed, windowStarts, type WindowSpec } from '../../src/processors/aggregate/windows.js';

const minute = 60_000;
const tumbling: WindowSpec = { sizeMs: minute, advanceMs: minute, allowedLatenessMs: 10_000 };
const hopping: WindowSpec = { sizeMs: 5 * minute, advanceMs: minute, allowedLatenessMs: 0 };

describe('windows', () => {
  it('assign an event to one tumbling window and to size/advance hopping windows', () => {
    expect(windowStarts(90_000, tumbling)).toEqual([60_000]);
    expect(windowStarts(60_000, tumbling)).toEqual([60_000]); // start inclusive
    expect(windowStarts(119_999, tumbling)).toEqual([60_000]); // end exclusive
    expect(windowStarts(5 * minute + 1, hopping)).toEqual([1, 2, 3, 4, 5].map((m) => m * minute));
    expect(windowStarts(30_000, hopping)).toEqual([-4, -3, -2, -1, 0].map((m) => m * minute));
  });

  it('close a window once end + allowed lateness is reached by the watermark; later events are late', () => {
    expect(isClosed(0, tumbling, 69_999)).toBe(false);
    expect(isClosed(0, tumbling, 70_000)).toBe(true);
    expect(assignWindows(59_000, tumbling, 69_000)).toEqual({ open: [0], late: false });
    expect(assignWindows(59_000, tumbling, 70_000)).toEqual({ open: [], late: true });
    // Hopping: the closed windows are skipped, the open ones still counted.
    expect(assignWindows(4 * minute + 30_000, hopping, 5 * minute + 30_000)).toEqual({ open: [1, 2, 3, 4].map((m) => m * minute), late: false });
  });
});

describe('aggregators', () => {
  const options = { maxDistinctValues: 3, hasExpression: true };
  const fold = (fn: Parameters<typeof createAggregator>[0], values: unknown[], hasExpression = true) => {
    const aggregator = createAggregator(fn, 'c', { ...options, hasExpression });
    return aggregator.result(values.reduce((state: ReturnType<typeof aggregator.initial>, value) => aggregator.add(state, value), aggregator.initial()));
  };

  it('skip nulls like SQL and read decimal text as numbers', () => {
    expect(fold('count', [1, null, 2, undefined], false)).toBe(4);
    expect(fold('count', [1, null, 2, undefined])).toBe(2);
    expect(fold('sum', [1, '2.5', null])).toBe(3.5);
    expect(fold('sum', [null])).toBeNull();
    expect(fold('min', [3, '-1', 2])).toBe(-1);
    expect(fold('max', [3, '-1', 2])).toBe(3);
    expect(fold('avg', [1, 2, null, 6])).toBe(3);
    expect(fold('avg', [])).toBeNull();
    expect(fold('countDistinct', ['a', 'b', 'a', null, 'b'])).toBe(2);
    expect(() => fold('sum', ['abc'])).toThrow(AggregateInputError);
  });

  it('refuse NaN and ±Infinity (double columns may hold them) rather than carry them into a window', () => {
    for (const fn of ['sum', 'avg', 'min', 'max'] as const) {
      expect(() => fold(fn, [1, Number.NaN]), fn).toThrow('c: NaN is not a number');
      expect(() => fold(fn, [Number.POSITIVE_INFINITY]), fn).toThrow(AggregateInputError);
    }
    expect(fold('sum', [-0, 1.5])).toBe(1.5);
  });

  it('bound countDistinct by maxDistinctValues', () => {
    expect(fold('countDistinct', [1, 2, 3, 3, 1])).toBe(3);
    expect(() => fold('countDistinct', [1, 2, 3, 4])).toThrow(/more than 3 distinct values/);
  });
});

describe('partition state', () => {
  it('evicts closed windows and restores from its own changelog records', () => {
    const state = new PartitionState(tumbling);
    const a = PartitionState.entryKey([7], 0);
    const b = PartitionState.entryKey([7], minute);
    state.set(a, { group: [7], start: 0, seq: 2, accumulators: [5, [10, 2], ['x']], maxTs: 59_000, rows: 5, shown: true });
    state.set(b, { group: [7], start: minute, seq: 1, accumulators: [1, [3, 1], []], maxTs: 61_000, rows: 1, shown: true });
    state.watermark = 69_999;
    expect(state.evictClosed()).toEqual([]);
    state.watermark = 70_000;
    expect(state.evictClosed()).toEqual([a]);

    const restored = new PartitionState(tumbling);
    const records = [changelogEntry(a, state.get(a) ?? { group: [7], start: 0, seq: 2, accumulators: [], maxTs: 0, rows: 0, shown: false }), changelogEntry(b, state.get(b)!), changelogEntry(a, null), changelogWatermark(70_000)];
    for (const record of records) restored.restore({ key: record.key, value: record.value, offset: '0', timestamp: '0', attributes: 0, headers: {} } as never);
    expect([...restored.entries.keys()]).toEqual([b]);
    expect(restored.get(b)).toEqual(state.get(b));
    expect(restored.watermark).toBe(70_000);
  });
});

describe('aggregate config', () => {
  const base = {
    topics: ['shop.public.orders'],
    outputTopic: 'orders_per_minute',
    groupBy: { customer_id: 'after.customer_id' },
    aggregates: { orders: { fn: 'count' } },
    window: { type: 'tumbling', size: '1m' },
  };

  it('parses durations and defaults', () => {
    const config = aggregateConfigSchema.parse({ ...base, allowedLateness: '30s' });
    expect(config).toMatchObject({ window: { size: 60_000 }, allowedLateness: 30_000, timestamp: 'source.ts_ms', repartition: true });
  });

  it('refuses inconsistent windows and aggregates', () => {
    const problems = (config: unknown) => aggregateConfigSchema.safeParse(config).error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    expect(problems({ ...base, window: { type: 'hopping', size: '5m' } })).toEqual(['window.advance: a hopping window needs advance']);
    expect(problems({ ...base, window: { type: 'hopping', size: '5m', advance: '2m' } })).toEqual(['window.advance: must divide size']);
    expect(problems({ ...base, window: { type: 'tumbling', size: 'soon' } })).toEqual(['window.size: not a duration: "soon" (use e.g. 500ms, 30s, 5m, 1h, or milliseconds)']);
    expect(problems({ ...base, aggregates: { total: { fn: 'sum' } } })).toEqual(['aggregates.total.expression: sum needs an expression']);
    expect(problems({ ...base, mode: 'event', topics: ['a', 'b'], repartition: false })).toEqual(['repartition: without repartition, read exactly one topic (its partitions are the state partitions)']);
  });
});

describe('extraction and results', () => {
  const config = aggregateConfigSchema.parse({
    topics: ['shop.public.orders'],
    outputTopic: 'orders_per_minute',
    groupBy: { customer_id: { expression: 'after.customer_id', type: 'int64' }, region: 'after.region' },
    aggregates: { orders: { fn: 'count' }, revenue: { fn: 'sum', expression: 'after.amount', type: 'int64' } },
    window: { type: 'tumbling', size: '1m' },
    filter: "op = 'c'",
  });
  const envelope = (op: string, after: Record<string, unknown>) => ({ op, after, before: null, source: { ts_ms: 90_500 } });

  it('extracts group, event time and values; the filter drops; a null group is an error', async () => {
    const extractor = new EventExtractor(config);
    const input = await extractor.extract(envelope('c', { customer_id: '7', region: 'eu', amount: 12 }), {});
    expect(input).toEqual({ group: [7, 'eu'], ts: 90_500, values: [undefined, 12] });
    expect(decodeChange(encodeChange(additionOf(input!)).value)).toEqual({ group: [7, 'eu'], add: { ts: 90_500, values: [null, 12] }, retract: null });
    expect(await extractor.extract(envelope('u', { customer_id: 7, region: 'eu', amount: 1 }), {})).toBeNull();
    await expect(extractor.extract(envelope('c', { region: 'eu' }), {})).rejects.toThrow('group column customer_id is null');
  });

  it('encodes results as Debezium upserts versioned by the update sequence', async () => {
    const converter = createConverter('json');
    const encoder = await ResultEncoder.create(
      converter,
      'orders_per_minute',
      [{ name: 'customer_id', type: 'int64' }, { name: 'region', type: 'string' }] as never,
      [
        { name: 'orders', fn: 'count', type: 'int64', aggregator: createAggregator('count', 'orders', { maxDistinctValues: 1, hasExpression: false }) },
        { name: 'revenue', fn: 'sum', type: 'int64', aggregator: createAggregator('sum', 'revenue', { maxDistinctValues: 1, hasExpression: true }) },
      ],
      minute,
      { processor: 'p', table: 'orders_per_minute' },
    );
    const { key, value } = encoder.encode({ group: [7, 'eu'], start: minute, seq: 3, accumulators: [2, 24], maxTs: 90_500, rows: 2, shown: true }, 1);
    const keyMessage = converter.decodeKey(key);
    expect(keyMessage.value).toEqual({ customer_id: 7, region: 'eu', window_start: 60_000_000 });
    expect(keyMessage.schema.schema!.fields!.map((field) => field.field)).toEqual(['customer_id', 'region', 'window_start']);
    const event = converter.decodeValue(value);
    expect(event.value).toMatchObject({
      op: 'u',
      after: { customer_id: 7, region: 'eu', window_start: 60_000_000, window_end: 120_000_000, orders: 2, revenue: 24 },
      source: { lsn: 3, table: 'orders_per_minute', ts_ms: 90_500 },
    });
    const after = event.schema.schema!.fields!.find((field) => field.field === 'after')!;
    expect(after.fields!.find((field) => field.field === 'window_start')).toMatchObject({ type: 'int64', name: 'io.debezium.time.MicroTimestamp' });
  });
});
