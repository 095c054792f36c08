import { describe, expect, it } from 'vitest';
import { kafkaSignalId } from '../../src/sources/postgres/incremental-snapshot.js';
import { decodePosition, encodePosition, positionAt, PositionFormatError, type IncrementalPosition } from '../../src/sources/postgres/position.js';
import { parseKafkaSignal, parseSignal, SignalError } from '../../src/sources/postgres/signals.js';
import { emittableRows, inProgressXids, keyText, SnapshotWindow, type ChunkRow } from '../../src/sources/postgres/snapshot-window.js';

const where = 'signal table row "s"';

describe('parseSignal', () => {
  it("reads Debezium 2.x's execute-snapshot with additional-conditions, naming tables schema.table", () => {
    const data = JSON.stringify({
      'data-collections': ['public.a', 'b', 'sales.c'],
      type: 'INCREMENTAL',
      'additional-conditions': [{ 'data-collection': 'public.b', filter: 'id > 100' }],
    });
    expect(parseSignal('s', 'execute-snapshot', data, where)).toEqual({
      id: 's',
      type: 'execute-snapshot',
      tables: [
        { table: 'public.a', filter: null },
        { table: 'public.b', filter: 'id > 100' },
        { table: 'sales.c', filter: null },
      ],
    });
  });

  it("reads 1.x's single additional-condition as every table's, and data given as an object (Kafka, admin API)", () => {
    expect(parseSignal('s', 'execute-snapshot', { 'data-collections': ['public.a', 'public.b'], 'additional-condition': "kind = 'x'" }, where)).toMatchObject({
      tables: [
        { table: 'public.a', filter: "kind = 'x'" },
        { table: 'public.b', filter: "kind = 'x'" },
      ],
    });
  });

  it('refuses what it cannot run, saying what and where', () => {
    const refused = (type: string, data: unknown): string => {
      try {
        parseSignal('s', type, data, where);
      } catch (error) {
        expect(error).toBeInstanceOf(SignalError);
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused('execute-snapshot', '{}')).toBe('signal table row "s": data-collections is missing (a list of "schema.table")');
    expect(refused('execute-snapshot', '{"data-collections": []}')).toContain('data-collections is empty');
    expect(refused('execute-snapshot', '{"data-collections": [1]}')).toContain('data-collections must be a list');
    expect(refused('execute-snapshot', 'not json')).toContain('data is not JSON');
    expect(refused('execute-snapshot', '[1]')).toContain('data must be a JSON object');
    expect(refused('execute-snapshot', '{"data-collections": ["public.a"], "type": "blocking"}')).toContain('snapshot type "blocking" is not supported');
    expect(refused('execute-snapshot', { 'data-collections': ['public.a'], 'additional-conditions': [{ 'data-collection': 'public.z', filter: 'x' }] })).toContain(
      'additional-conditions[0]: public.z is not in data-collections',
    );
    expect(refused('execute-snapshot', { 'data-collections': ['public.a'], 'additional-conditions': [{ 'data-collection': 'public.a' }] })).toContain('filter must be a string');
    expect(refused('log', null)).toContain('unknown signal type "log"');
  });

  it('reads stop-snapshot with and without tables, and the data-less signals', () => {
    expect(parseSignal('s', 'stop-snapshot', '{"data-collections": ["public.a"], "type": "incremental"}', where)).toEqual({ id: 's', type: 'stop-snapshot', tables: ['public.a'] });
    expect(parseSignal('s', 'stop-snapshot', '{"type": "incremental"}', where)).toEqual({ id: 's', type: 'stop-snapshot', tables: null });
    expect(parseSignal('s', 'stop-snapshot', null, where)).toEqual({ id: 's', type: 'stop-snapshot', tables: null });
    expect(parseSignal('s', 'pause-snapshot', null, where)).toEqual({ id: 's', type: 'pause-snapshot' });
    expect(parseSignal('s', 'resume-snapshot', '', where)).toEqual({ id: 's', type: 'resume-snapshot' });
    expect(parseSignal('c-1-open', 'snapshot-window-open', '{"openWindowTimestamp": "x"}', where)).toEqual({ id: 'c-1-open', type: 'snapshot-window-open' });
  });
});

describe('parseKafkaSignal', () => {
  const value = Buffer.from('{"type": "execute-snapshot", "data": {"data-collections": ["public.a"]}}');

  it('takes records keyed with the topic prefix and leaves other connectors\' alone', () => {
    expect(parseKafkaSignal(Buffer.from('shop'), value, 'shop', 'here')).toEqual({ type: 'execute-snapshot', data: { 'data-collections': ['public.a'] } });
    expect(parseKafkaSignal(Buffer.from('other'), value, 'shop', 'here')).toBeNull();
    expect(parseKafkaSignal(null, value, 'shop', 'here')).toBeNull();
  });

  it('refuses a value that is not {"type", "data"}', () => {
    expect(() => parseKafkaSignal(Buffer.from('shop'), Buffer.from('nope'), 'shop', 'topic s offset 4')).toThrow('topic s offset 4: value is not JSON');
    expect(() => parseKafkaSignal(Buffer.from('shop'), Buffer.from('{"data": {}}'), 'shop', 'here')).toThrow(SignalError);
    expect(() => parseKafkaSignal(Buffer.from('shop'), null, 'shop', 'here')).toThrow('no value');
  });

  it('gives each record one signal id that fits the signal table', () => {
    const id = kafkaSignalId('a.rather.long.signal.topic.name', 12, '123456789012345');
    expect(id).toBe(kafkaSignalId('a.rather.long.signal.topic.name', 12, '123456789012345'));
    expect(id).not.toBe(kafkaSignalId('another.topic', 12, '123456789012345'));
    expect(id.length).toBeLessThanOrEqual(42);
  });
});

function rows(...keys: [number, number][]): ChunkRow[] {
  return keys.map(([tenant, id]) => {
    const tuple = { tenant: String(tenant), id: String(id), val: 'x' };
    return { key: keyText(['tenant', 'id'], tuple)!, tuple };
  });
}

describe('SnapshotWindow', () => {
  const composite = ['tenant', 'id'];

  it('drops the rows whose key a streamed change touched between the watermarks, and only those', () => {
    const window = new SnapshotWindow('run-1', 'public.t');
    expect([window.openId, window.closeId]).toEqual(['run-1-open', 'run-1-close']);
    // Before the low watermark: the read already saw these changes.
    window.touch(keyText(composite, { tenant: '1', id: '1' }));
    window.open(500n);
    window.open(900n);
    expect(window.lowLsn).toBe(500n);
    window.touch(keyText(composite, { tenant: '1', id: '2', val: 'y' }));
    // Same id, other tenant: another key.
    window.touch(keyText(composite, { tenant: '2', id: '3' }));
    window.fill(rows([1, 1], [1, 2], [1, 3]));
    window.touch(keyText(composite, { tenant: '1', id: '3' }));
    expect(window.close()).toEqual({ rows: rows([1, 1]), dropped: 2, retry: false });
  });

  it('emits nothing after a truncate inside the window', () => {
    const window = new SnapshotWindow('c', 'public.t');
    window.truncate();
    window.open(1n);
    window.fill(rows([1, 1]));
    expect(window.close()).toEqual({ rows: rows([1, 1]), dropped: 0, retry: false });
    const truncated = new SnapshotWindow('d', 'public.t');
    truncated.open(1n);
    truncated.truncate();
    truncated.fill(rows([1, 1]));
    expect(truncated.close()).toEqual({ rows: [], dropped: 1, retry: false });
  });

  it('reads the chunk again when a change in the window had no readable key, or the window never opened', () => {
    const window = new SnapshotWindow('c', 'public.t');
    window.open(1n);
    window.fill(rows([1, 1]));
    window.touch(keyText(composite, { tenant: '1' }));
    expect(window.close().retry).toBe(true);
    const unopened = new SnapshotWindow('e', 'public.t');
    unopened.fill(rows([1, 1]));
    expect(unopened.close().retry).toBe(true);
  });

  it('keys tuples by their key columns\' text, keeping NULL apart from the text "null"', () => {
    expect(keyText(['a', 'b'], { a: '1', b: 'x', c: 'z' })).toBe('["1","x"]');
    expect(keyText(['a'], { a: null })).not.toBe(keyText(['a'], { a: 'null' }));
    expect(keyText(['a'], { b: '1' })).toBeNull();
    expect(keyText(['a'], null)).toBeNull();
  });
});

describe('cutting a chunk before rows held by transactions in progress', () => {
  it('reads the in-progress ids of a snapshot as the 32-bit ids tuples carry', () => {
    expect(inProgressXids('100:105:101,103')).toEqual(new Set(['101', '103']));
    expect(inProgressXids('100:100:')).toEqual(new Set());
    // After wraparound: epoch 1, xid 7.
    expect(inProgressXids(`${2 ** 32 + 5}:${2 ** 32 + 9}:${2 ** 32 + 7}`)).toEqual(new Set(['7']));
    expect(() => inProgressXids('garbage')).toThrow('unexpected transaction snapshot');
  });

  it('keeps the rows before the first one whose xmax is in progress', () => {
    const inProgress = new Set(['101', '103']);
    expect(emittableRows(['0', '99', '0'], inProgress)).toBe(3);
    expect(emittableRows(['0', '0', '103', '0'], inProgress)).toBe(2);
    expect(emittableRows(['101', '0'], inProgress)).toBe(0);
    // An xmax of a finished transaction (aborted, or a lock released) holds nothing.
    expect(emittableRows(['102'], inProgress)).toBe(1);
    expect(emittableRows([], inProgress)).toBe(0);
  });
});

describe('the incremental snapshot in the stored position', () => {
  const incremental: IncrementalPosition = {
    tables: [
      { table: 'public.t', filter: 'id > 100' },
      { table: 'public.u', filter: null },
    ],
    lastKey: ['2', '41'],
    maxKey: ['3', '99999'],
    paused: true,
    rowsDone: 4096,
    tableRowsDone: 1024,
    startedAt: 1_700_000_000_000,
  };

  it('round-trips with the rest of the position, and is absent when none runs', () => {
    const position = positionAt({ commitLsn: 500n, xid: 9, commitTimeMs: 1 }, -1n, ['public.t'], null, incremental);
    const stored = JSON.parse(JSON.stringify(encodePosition(position))) as unknown;
    expect(decodePosition(stored).incremental).toEqual(incremental);
    expect('incremental' in (encodePosition(positionAt(null, 5n, [], null)) as Record<string, unknown>)).toBe(false);
  });

  it('refuses a stored incremental snapshot this source never wrote', () => {
    const base = encodePosition(positionAt(null, 5n, [], null)) as Record<string, unknown>;
    expect(() => decodePosition({ ...base, incremental: { ...incremental, tables: 'public.t' } })).toThrow(PositionFormatError);
    expect(() => decodePosition({ ...base, incremental: { ...incremental, paused: 'no' } })).toThrow('incremental.paused');
    expect(() => decodePosition({ ...base, incremental: { ...incremental, rowsDone: -0.5 } })).toThrow('incremental.rowsDone');
  });
});
