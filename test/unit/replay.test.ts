import { describe, expect, it } from 'vitest';
import { parseFrom } from '../../src/cli/commands/replay.js';
import { formatCount, formatDuration, progressJson, progressLine, RateMeter, snapshot } from '../../src/core/progress.js';
import { claimAlive, describeGaps, planPartitions, scopeOf, scopesOverlap, scopeTables } from '../../src/sinks/clickhouse/replay/replay-plan.js';
import type { ClaimRecord } from '../../src/sinks/clickhouse/replay/replay-store.js';
import { oldTableAfterSwap, pendingSwaps, swapMethod, swapStatements } from '../../src/sinks/clickhouse/replay/shadow-tables.js';

describe('replay progress', () => {
  it('measures the rate over a sliding window and gives the time left', () => {
    const meter = new RateMeter();
    meter.sample(0, 0);
    expect(meter.rate).toBeNull();
    meter.sample(1_000, 500);
    expect(meter.rate).toBe(500);
    for (let t = 2_000; t <= 20_000; t += 1_000) meter.sample(t, 500 + (t - 1_000) * 2); // 2000/s from here on
    expect(meter.rate).toBeCloseTo(2_000, 0);
    expect(snapshot('copying', 1_000, 5_000, 2_000)).toEqual({ phase: 'copying', done: 1_000, total: 5_000, rate: 2_000, etaSeconds: 2 });
    expect(snapshot('copying', 10, 10, null).etaSeconds).toBe(0);
    expect(snapshot('copying', 0, 10, null).etaSeconds).toBeNull();
    expect(snapshot('copying', 12, 10, 1).total).toBe(12);
  });

  it('formats counts, durations, the terminal bar and JSON lines', () => {
    expect([formatCount(950), formatCount(12_345), formatCount(2_500_000), formatCount(3e9)]).toEqual(['950', '12.3k', '2.5M', '3.0G']);
    expect([formatDuration(null), formatDuration(0.2), formatDuration(59), formatDuration(65), formatDuration(3_725)]).toEqual(['?', '1s', '59s', '1m05s', '1h02m']);
    expect(progressLine({ phase: 'copying', done: 50, total: 100, rate: 25, etaSeconds: 2 }, 10)).toBe('copying  [#####.....]  50%  50/100  25/s  ETA 2s');
    expect(progressLine({ phase: 'copying', done: 0, total: 0, rate: null, etaSeconds: 0 }, 4)).toBe('copying  [####] 100%  0/0  ?/s  ETA 0s');
    expect(JSON.parse(progressJson({ phase: 'swapped', done: 7, total: 9, rate: 1.234, etaSeconds: 1.62 }))).toEqual({
      event: 'progress',
      phase: 'swapped',
      done: 7,
      total: 9,
      rate: 1.2,
      etaSeconds: 1.6,
    });
  });
});

describe('replay plan', () => {
  const ranges = [
    { topic: 't', partition: 0, low: 0n, high: 100n },
    { topic: 't', partition: 1, low: 40n, high: 90n },
  ];

  it('starts at 0, at --from, or after what the replay wrote; a start below the earliest offset is a gap', () => {
    const fresh = planPartitions({ ranges, written: new Map(), allowPartial: false });
    expect(fresh.partitions.map((p) => p.start)).toEqual([0n, 0n]);
    expect(fresh.gaps).toEqual([{ topic: 't', partition: 1, wanted: 0n, earliest: 40n }]);
    expect(describeGaps(fresh.gaps)).toContain('t partition 1 starts at offset 40 (needed from 0)');
    expect(describeGaps(fresh.gaps)).toContain('--allow-partial');

    const partial = planPartitions({ ranges, written: new Map(), allowPartial: true });
    expect(partial.partitions.map((p) => [p.start, p.origin])).toEqual([
      [0n, 0n],
      [40n, 40n],
    ]);

    const from = new Map([
      ['t\u00000', 60n],
      ['t\u00001', 50n],
    ]);
    const resumed = planPartitions({ ranges, fromOffsets: from, written: new Map([['t\u00000', 79n]]), allowPartial: false });
    expect(resumed.gaps).toEqual([]);
    expect(resumed.partitions.map((p) => [p.start, p.origin])).toEqual([
      [80n, 60n],
      [50n, 50n],
    ]);
  });

  it('scopes: every table, or the listed ones; which overlap', () => {
    expect(scopeOf(undefined)).toBe('*');
    expect(scopeOf(['b', 'a', 'b'])).toBe('a,b');
    expect(scopeTables('*')).toBeNull();
    expect([...scopeTables('a,b')!]).toEqual(['a', 'b']);
    expect(scopesOverlap('*', 'a')).toBe(true);
    expect(scopesOverlap('a,b', 'b,c')).toBe(true);
    expect(scopesOverlap('a', 'b,c')).toBe(false);
  });

  it('a claim is alive while it heartbeats; on this host, only while its process runs', () => {
    const claim: ClaimRecord = { claim: 'c', replay: 'r', scope: '*', host: 'here', pid: 42, startedAt: '', silentFor: 3, released: false };
    expect(claimAlive(claim, 'here', () => true)).toBe(true);
    expect(claimAlive(claim, 'here', () => false)).toBe(false);
    expect(claimAlive(claim, 'elsewhere', () => false)).toBe(true);
    expect(claimAlive({ ...claim, silentFor: 30 }, 'elsewhere', () => true)).toBe(false);
  });
});

describe('replay swap', () => {
  it('EXCHANGE TABLES on Atomic databases, one multi-table RENAME on older servers', () => {
    expect(swapMethod('Atomic')).toBe('exchange');
    expect(swapMethod('Ordinary')).toBe('rename');
    const pairs = [
      { table: 'a', liveExists: true },
      { table: 'b', liveExists: false },
    ];
    expect(swapStatements('rename', 'db', pairs)).toEqual(['RENAME TABLE `db`.`a` TO `db`.`a__replaced`, `db`.`a__replay` TO `db`.`a`, `db`.`b__replay` TO `db`.`b`']);
    expect(swapStatements('exchange', 'db', pairs)).toEqual(['EXCHANGE TABLES `db`.`a` AND `db`.`a__replay`', 'RENAME TABLE `db`.`b__replay` TO `db`.`b`']);
    expect(swapStatements('rename', 'db', [])).toEqual([]);
    expect(oldTableAfterSwap('rename', 'a')).toBe('a__replaced');
    expect(oldTableAfterSwap('exchange', 'a')).toBe('a__replay');
  });
});

describe('replay swap, repeated after a crash or failure in the middle', () => {
  const names = (...list: string[]) => new Map(list.map((name) => [name, `uuid-${name}`]));

  it('RENAME: a pair whose shadow is gone is done; after a half-done RENAME only the shadow moves, past an intruder', () => {
    expect(pendingSwaps('rename', ['a', 'b'], names('a', 'a__replay', 'b', 'b__replay'), {})).toEqual({
      pairs: [
        { table: 'a', liveExists: true },
        { table: 'b', liveExists: true },
      ],
      intruders: [],
    });
    expect(pendingSwaps('rename', ['a'], names('a', 'a__replaced'), {})).toEqual({ pairs: [], intruders: [] });
    expect(pendingSwaps('rename', ['a'], names('a__replaced', 'a__replay'), {})).toEqual({ pairs: [{ table: 'a', liveExists: false }], intruders: [] });
    expect(pendingSwaps('rename', ['a'], names('a', 'a__replaced', 'a__replay'), {})).toEqual({ pairs: [{ table: 'a', liveExists: false }], intruders: ['a'] });
    expect(pendingSwaps('rename', ['new'], names('new__replay'), {})).toEqual({ pairs: [{ table: 'new', liveExists: false }], intruders: [] });
  });

  it('EXCHANGE: done once the live table has the shadow uuid recorded before the swap', () => {
    const before = names('a', 'a__replay');
    const uuids = { a: 'uuid-a__replay' };
    expect(pendingSwaps('exchange', ['a'], before, uuids).pairs).toEqual([{ table: 'a', liveExists: true }]);
    const after = new Map([
      ['a', 'uuid-a__replay'],
      ['a__replay', 'uuid-a'],
    ]);
    expect(pendingSwaps('exchange', ['a'], after, uuids).pairs).toEqual([]);
  });
});

describe('replay --from', () => {
  it('takes ISO 8601 times and refuses anything else', () => {
    expect(parseFrom('2026-11-30T12:00:00Z')).toBe(Date.UTC(2026, 10, 30, 12));
    expect(parseFrom('2026-11-30T12:00:00.5+01:00')).toBe(Date.UTC(2026, 10, 30, 11, 0, 0, 500));
    expect(parseFrom('2026-11-30')).toBe(Date.UTC(2026, 10, 30));
    expect(parseFrom('yesterday')).toBeNull();
    expect(parseFrom('2026-13-40T00:00:00Z')).toBeNull();
    expect(parseFrom('1700000000')).toBeNull();
  });
});
