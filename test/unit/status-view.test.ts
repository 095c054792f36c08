/** `tideline status`'s rows and table from the admin API's answer (pure formatting). */
import { describe, expect, it } from 'vitest';
import { formatTable, statusRows } from '../../src/cli/status-view.js';
import { RateWindow } from '../../src/runtime/connector-insight.js';

const answer = {
  pg: {
    status: {
      name: 'pg',
      connector: { state: 'RUNNING', worker_id: 'h:8089' },
      type: 'source',
      tideline: {
        kind: 'postgres-source',
        state: 'running',
        lag: { events: null, seconds: null, wal_bytes: 3 * 1024 * 1024 },
        throughput: { per_second: 1234.4, unit: 'events written to Kafka', total: 50_000 },
        progress: { phase: 'snapshot', done: 250, total: 1000, eta_seconds: 75 },
      },
    },
  },
  ch: {
    status: {
      connector: { state: 'FAILED', trace: 'Error: x' },
      type: 'sink',
      tideline: { kind: 'clickhouse-sink', state: 'failed', detail: 'Code: 241. Memory limit (total) exceeded: would use 9.31 GiB (attempt to allocate chunk of 4194304 bytes)', lag: { events: 12, seconds: null }, throughput: { per_second: null }, progress: null },
    },
  },
  agg: { status: { connector: { state: 'RUNNING' }, type: 'processor', tideline: { kind: 'aggregate', state: 'degraded', detail: 'kafka unreachable', lag: { events: 0, seconds: 0 }, throughput: { per_second: 2.25 } } } },
  fresh: { status: {} },
};

describe('tideline status view', () => {
  it('makes one row per connector, with "-" where nothing is known', () => {
    const rows = statusRows(answer);
    expect(rows.map((row) => row.name)).toEqual(['pg', 'ch', 'agg', 'fresh']);
    expect(rows[0]).toMatchObject({ state: 'RUNNING', walBytes: 3 * 1024 * 1024, lagEvents: null, throughputPerSecond: 1234.4, progress: { done: 250, total: 1000, etaSeconds: 75 } });
    expect(rows[1]).toMatchObject({ state: 'FAILED', lagEvents: 12, lastError: expect.stringMatching(/^Code: 241/) });
    expect(rows[3]).toMatchObject({ state: null, kind: null, lagEvents: null, lastError: null });
    const table = formatTable(rows).split('\n');
    expect(table[0]).toMatch(/^CONNECTOR\s+KIND\s+STATE\s+LAG\s+THROUGHPUT\s+PROGRESS\s+LAST ERROR$/);
    expect(table[1]).toMatch(/^pg\s+postgres-source\s+RUNNING\s+3\.0 MiB WAL\s+1234\/s\s+snapshot 25% \(250\/1000\), ETA 1 m 15 s\s+-$/);
    expect(table[2]).toMatch(/^ch\s+clickhouse-sink\s+FAILED\s+12\s+-\s+-\s+Code: 241\. Memory limit .*…$/);
    expect(table[3]).toMatch(/^agg\s+aggregate\s+RUNNING \(degraded\)\s+0 \(0 s\)\s+2\.3\/s\s+-\s+kafka unreachable$/);
    expect(table[4]).toMatch(/^fresh\s+-\s+-\s+-\s+-\s+-\s+-$/);
    // Columns line up: every row's LAG starts where the header's does.
    const lagAt = table[0]!.indexOf('LAG');
    expect(table[1]!.slice(lagAt)).toMatch(/^3\.0 MiB/);
    expect(table[2]!.slice(lagAt)).toMatch(/^12 /);
  });

  it('refuses an answer that is not connectors by name', () => {
    expect(() => statusRows(['pg', 'ch'])).toThrow(/connectors by name/);
    expect(formatTable([])).toBe('no connectors\n');
  });
});

describe('RateWindow', () => {
  it('gives the rate over its window once it has two samples, and starts over when the counter is reset', () => {
    const window = new RateWindow(10_000);
    window.add(0, 100);
    expect(window.rate()).toBeNull();
    window.add(2_000, 300);
    expect(window.rate()).toBe(100);
    // 200 more every 2 s: still 100/s over the window, whichever samples it kept.
    for (let at = 4_000; at <= 30_000; at += 2_000) window.add(at, 300 + (at - 2_000) / 10);
    expect(window.rate()).toBeCloseTo(100, 5);
    window.add(32_000, 10);
    expect(window.rate()).toBeNull();
    expect(window.total).toBe(10);
  });
});
