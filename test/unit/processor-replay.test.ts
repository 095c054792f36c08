import { describe, expect, it } from 'vitest';
import type { OutputRecord } from '../../src/kafka/records.js';
import { describeGaps } from '../../src/kafka/start-offsets.js';
import { GENERATION_SPAN, resultVersion } from '../../src/processors/aggregate/result-source.js';
import { changelogEntry, changelogGeneration, changelogWatermark, generationOf, PartitionState, StateStore } from '../../src/processors/aggregate/state-store.js';
import type { AggregateConfig } from '../../src/processors/aggregate/spec.js';
import { FinalRecords, LiveKeys } from '../../src/processors/replay/final-records.js';
import { aggregateStages, transformStages } from '../../src/processors/replay/processor-stages.js';
import type { TransformConfig } from '../../src/processors/transform/spec.js';

const record = (topic: string, key: string, value: string | null, partition?: number): OutputRecord => ({
  topic,
  key: Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  ...(partition === undefined ? {} : { partition }),
});
const text = (records: Iterable<OutputRecord>) => [...records].map((r) => `${r.topic}/${r.partition ?? '-'}/${r.key!.toString()}=${r.value?.toString() ?? 'null'}`);
const message = (key: string, value: Buffer | null) => ({ key: Buffer.from(key), value, timestamp: '0', attributes: 0, offset: '0', headers: {} });

describe('processor replay: the records an aggregate rebuild writes', () => {
  it('keeps the last record per key; a result deleted last keeps its delete and its tombstone', () => {
    const final = new FinalRecords('results');
    final.add(record('results', 'ada', 'count=1'));
    final.add(record('changelog', 'ada@0', 'n=1', 0));
    final.add(record('results', 'ada', 'count=2'));
    final.add(record('changelog', 'ada@0', 'n=2', 0));
    final.add(record('results', 'bob', 'count=1'));
    final.add(record('results', 'bob', 'delete'));
    final.add(record('results', 'bob', null));
    final.add(record('changelog', 'bob@0', null, 0));
    final.add(record('images', 'orders 1', 'img', 1));
    final.add(record('images', 'orders 1', 'img2', 1));
    expect(text(final.records())).toEqual([
      'results/-/ada=count=2',
      'changelog/0/ada@0=n=2',
      'results/-/bob=delete',
      'results/-/bob=null',
      'changelog/0/bob@0=null',
      'images/1/orders 1=img2',
    ]);
    expect(final.size).toBe(5);
  });

  it('keys state per partition and results by key alone (the output topic is partitioned by key)', () => {
    const final = new FinalRecords('results');
    final.add(record('changelog', 'k', 'a', 0));
    final.add(record('results', 'k', 'r'));
    expect(final.has({ topic: 'changelog', partition: 0, key: Buffer.from('k') })).toBe(true);
    expect(final.has({ topic: 'changelog', partition: 1, key: Buffer.from('k') })).toBe(false);
    expect(final.has({ topic: 'results', partition: 3, key: Buffer.from('k') })).toBe(true);
    expect(final.has({ topic: 'results', key: Buffer.from('other') })).toBe(false);
  });

  it('a tombstone alone stays a tombstone (an old state key the rebuild empties)', () => {
    const final = new FinalRecords('results');
    final.add(record('results', 'eve', null));
    expect(text(final.records())).toEqual(['results/-/eve=null']);
  });

  it('the live keys of what a topic held are those whose last record has a value', () => {
    const old = new LiveKeys<OutputRecord & { partition: number }>();
    old.add({ ...record('changelog', 'a', '1'), partition: 0 });
    old.add({ ...record('changelog', 'a', null), partition: 0 });
    old.add({ ...record('changelog', 'a', '2'), partition: 1 });
    old.add({ ...record('changelog', 'b', '1'), partition: 0 });
    expect(text(old.live())).toEqual(['changelog/1/a=2', 'changelog/0/b=1']);
  });
});

describe('processor replay: state generations and result versions', () => {
  it('versions of a generation sort after every version of the ones before', () => {
    expect(resultVersion(0, 7)).toBe(7);
    expect(resultVersion(1, 1)).toBeGreaterThan(resultVersion(0, GENERATION_SPAN - 1));
    expect(resultVersion(2, 1)).toBeGreaterThan(resultVersion(1, 123_456));
    expect(Number.isSafeInteger(resultVersion(2 ** 21 - 1, GENERATION_SPAN - 1))).toBe(true);
  });

  it('the generation is a changelog record, restored with the windows (absent: 0)', () => {
    const spec = { sizeMs: 1_000, advanceMs: 1_000, allowedLatenessMs: 0 };
    const state = new PartitionState(spec);
    expect(state.generation).toBe(0);
    const generation = changelogGeneration(3);
    state.restore(message(generation.key.toString(), generation.value));
    const entry = changelogEntry('["ada"]@0', { group: ['ada'], start: 0, seq: 2, accumulators: [1], maxTs: 5, rows: 1, shown: true });
    state.restore(message(entry.key.toString(), entry.value));
    expect(state.generation).toBe(3);
    expect(state.entries.get('["ada"]@0')?.seq).toBe(2);
    expect(generationOf(message(generation.key.toString(), generation.value))).toBe(3);
    expect(generationOf(message(entry.key.toString(), entry.value))).toBeUndefined();
    const watermark = changelogWatermark(5);
    state.restore(message(watermark.key.toString(), watermark.value));
    expect([state.watermark, state.generation]).toEqual([5, 3]);

    const store = new StateStore(spec);
    store.reset([0, 1], 4);
    expect([store.partition(0)?.generation, store.partition(1)?.generation]).toEqual([4, 4]);
    store.reset([0]);
    expect(store.partition(0)?.generation).toBe(0);
  });
});

describe('processor replay: stages and refusals', () => {
  it('names the groups and transactional-id prefixes the processors run with', () => {
    expect(transformStages('t', { topics: ['in'], groupId: undefined } as unknown as TransformConfig)).toEqual([{ groupId: 'tideline-t', transactionalIdPrefix: 'tideline-t', topics: ['in'] }]);
    expect(aggregateStages('a', { topics: ['in'], repartition: true } as AggregateConfig)).toEqual([
      { groupId: 'tideline-a.repartition', transactionalIdPrefix: 'tideline-a.repartition', topics: ['in'] },
      { groupId: 'tideline-a', transactionalIdPrefix: 'tideline-a', topics: ['a.repartition'] },
    ]);
    expect(aggregateStages('a', { topics: ['in'], repartition: false, groupId: 'g' } as AggregateConfig)).toEqual([{ groupId: 'g', transactionalIdPrefix: 'tideline-a', topics: ['in'] }]);
  });

  it('the retention refusal names what needs the records and the way around', () => {
    const gaps = [{ topic: 'in', partition: 0, wanted: 0n, earliest: 3n }];
    expect(describeGaps(gaps)).toBe(
      'the topic no longer holds the records the table needs (deleted by retention): in partition 0 starts at offset 3 (needed from 0). Rebuilding from what is left would lose rows last changed before; pass --allow-partial to rebuild from the earliest offsets anyway, or --from a time the topic still holds',
    );
    expect(describeGaps(gaps, { needs: "p's reprocessing", loses: 'the outputs of those records', instead: 'or --from a later time' })).toMatch(
      /^the topic no longer holds the records p's reprocessing needs .* in partition 0 starts at offset 3 \(needed from 0\)\. Rebuilding from what is left would lose the outputs of those records; .* or --from a later time$/,
    );
  });
});
