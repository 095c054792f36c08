/**
 * The sink's row logic without services: arrays as Array(T), TOAST
 * placeholders resolved from earlier images, tables without a key, TSV and
 * SQL helpers of the TOAST look-up, and how ClickHouse errors are told apart.
 */
import { describe, expect, it } from 'vitest';
import { SemanticType, SourceTypeParameter, UNAVAILABLE_VALUE, unavailablePlaceholder } from '../../src/core/connect-schema.js';
import type { ChangeEvent, ColumnSchema, Op, Row } from '../../src/core/events.js';
import { eventToRows as eventToRowsAt, eventToTsvLine as eventToTsvLineAt, keysToLookUp, resolveUnavailable, rowKeyOf, rowToBinary, rowToTsvLine, UnwritableEventError, writesRowBinary, type KeyChange } from '../../src/sinks/clickhouse/rows.js';
import { isDataError, serverErrorCode, type ServerFeatures } from '../../src/sinks/clickhouse/server.js';
import { sqlLiteral } from '../../src/sinks/clickhouse/sql.js';
import { planTable, type TablePlan } from '../../src/sinks/clickhouse/table-plan.js';
import { unescapeTsv } from '../../src/sinks/clickhouse/tsv.js';
import { mapColumn } from '../../src/sinks/clickhouse/type-mapping.js';
import type { PostgresSourceBlock } from '../../src/sources/postgres/source-block.js';

const OLD: ServerFeatures = { version: '18.16.1', dateTime64: false };
const MODERN: ServerFeatures = { version: '24.8.4.13', dateTime64: true };

/** The sink's functions with the row version the PostgreSQL source block gives (source.lsn). */
const eventToRows = (plan: TablePlan, event: ChangeEvent<PostgresSourceBlock>, keyChange?: KeyChange) => eventToRowsAt(plan, event, event.source.lsn!, keyChange);
const eventToTsvLine = (plan: TablePlan, event: ChangeEvent<PostgresSourceBlock>) => eventToTsvLineAt(plan, event, event.source.lsn!);

function event(op: Op, before: Row | null, after: Row | null, lsn = 500): ChangeEvent<PostgresSourceBlock> {
  return {
    op,
    before,
    after,
    source: { version: '0.1.0', connector: 'postgresql', name: 'p', ts_ms: 1, snapshot: 'false', db: 'd', schema: 'public', table: 't', txId: 1, lsn, xmin: null },
    ts_ms: 2,
  };
}

describe('arrays', () => {
  const array = (items: ColumnSchema['schema'], optional = true) => ({ type: 'array' as const, optional, items });

  it('maps to Array(T) with Nullable elements, never Nullable(Array)', () => {
    expect(mapColumn(array({ type: 'int32', optional: true }), OLD).type).toBe('Array(Nullable(Int32))');
    expect(mapColumn(array({ type: 'string', optional: false }), OLD).type).toBe('Array(String)');
    expect(mapColumn(array({ type: 'int64', optional: true, name: SemanticType.MicroTimestamp }), OLD).type).toBe("Array(Nullable(DateTime('UTC')))");
    expect(mapColumn(array({ type: 'int64', optional: true, name: SemanticType.MicroTimestamp }), MODERN).type).toBe("Array(Nullable(DateTime64(6, 'UTC')))");
    expect(mapColumn(array(array({ type: 'int16', optional: true })), OLD).type).toBe('Array(Array(Nullable(Int16)))');
  });

  it('writes numbers bare, the rest quoted and escaped, NULL elements as NULL, a NULL array as []', () => {
    const ints = mapColumn(array({ type: 'int32', optional: true }), OLD);
    expect(ints.tsv([1, null, -3])).toBe('[1,NULL,-3]');
    expect(ints.nullTsv).toBe('[]');
    const texts = mapColumn(array({ type: 'string', optional: true }), OLD);
    expect(texts.tsv(['a', null, "it's", 'tab\there', 'back\\slash', 'new\nline'])).toBe("['a',NULL,'it\\'s','tab\\there','back\\\\slash','new\\nline']");
    const decimal = { type: 'string' as const, optional: true, parameters: { [SourceTypeParameter.type]: 'NUMERIC', [SourceTypeParameter.length]: '10', [SourceTypeParameter.scale]: '2' } };
    expect(mapColumn(array(decimal), OLD).tsv(['1.50', null])).toBe('[1.50,NULL]');
    expect(mapColumn(array({ type: 'int32', optional: true, name: SemanticType.Date }), OLD).tsv([19783])).toBe("['2024-03-01']");
    expect(mapColumn(array(array({ type: 'int16', optional: true })), OLD).tsv([[1, 2], [], [null]])).toBe('[[1,2],[],[NULL]]');
    expect(() => ints.tsv('not an array')).toThrow('not an array');
  });

  it('keeps json and jsonb as String', () => {
    expect(mapColumn({ type: 'string', optional: true, name: SemanticType.Json }, OLD).type).toBe('Nullable(String)');
  });
});

const COLUMNS: ColumnSchema[] = [
  { name: 'id', key: true, schema: { type: 'int64', optional: false } },
  { name: 'body', key: false, schema: { type: 'string', optional: true } },
  { name: 'tags', key: false, schema: { type: 'array', optional: true, items: { type: 'string', optional: true } } },
  { name: 'blob', key: false, schema: { type: 'bytes', optional: true } },
  { name: 'n', key: false, schema: { type: 'int32', optional: true } },
];
const plan = planTable('db', 't', '_current', COLUMNS, ['id'], OLD);
const TEXT = unavailablePlaceholder({ type: 'string' });
const LIST = unavailablePlaceholder({ type: 'array' });
const BYTES = unavailablePlaceholder({ type: 'bytes' });

describe('TOAST placeholders', () => {
  it('recognises all three forms (text, array, bytea) in an update', () => {
    const [row] = eventToRows(plan, event('u', null, { id: 1, body: TEXT, tags: LIST, blob: BYTES, n: 5 }));
    expect([...row!.unavailable!.keys()]).toEqual([1, 2, 3]);
  });

  it('fills from the newest earlier image of the key in the batch, then from ClickHouse, else writes the placeholder or NULL', () => {
    const rows = [
      ...eventToRows(plan, event('c', null, { id: 1, body: 'first', tags: ['a'], blob: 'AQ==', n: 1 }, 10)),
      ...eventToRows(plan, event('u', null, { id: 1, body: 'second', tags: LIST, blob: BYTES, n: 2 }, 20)),
      ...eventToRows(plan, event('u', null, { id: 1, body: TEXT, tags: LIST, blob: BYTES, n: 3 }, 30)),
      ...eventToRows(plan, event('u', null, { id: 2, body: TEXT, tags: ['x'], blob: null, n: 4 }, 40)),
      ...eventToRows(plan, event('u', null, { id: 3, body: TEXT, tags: LIST, blob: null, n: 5 }, 50)),
      ...eventToRows(plan, event('u', null, { id: 2, body: TEXT, tags: ['y'], blob: null, n: 6 }, 60)),
    ];
    expect([...keysToLookUp(rows)]).toEqual(['2', '3']);
    const stored = new Map([['2', new Map([['body', 'stored body']])]]);
    expect(resolveUnavailable(rows, stored)).toBe(2);
    expect(rows.map(rowToTsvLine)).toEqual([
      "1\tfirst\t['a']\tAQ==\t1\t10\t0",
      "1\tsecond\t['a']\tAQ==\t2\t20\t0",
      "1\tsecond\t['a']\tAQ==\t3\t30\t0",
      "2\tstored body\t['x']\t\\N\t4\t40\t0",
      `3\t${UNAVAILABLE_VALUE}\t['${UNAVAILABLE_VALUE}']\t\\N\t5\t50\t0`,
      "2\tstored body\t['y']\t\\N\t6\t60\t0",
    ]);
  });

  it('does not fill from an image deleted since', () => {
    const rows = [
      ...eventToRows(plan, event('c', null, { id: 1, body: 'old', tags: null, blob: null, n: 1 }, 10)),
      ...eventToRows(plan, event('d', { id: 1 }, null, 20)),
      ...eventToRows(plan, event('u', null, { id: 1, body: TEXT, tags: null, blob: null, n: 2 }, 30)),
    ];
    expect([...keysToLookUp(rows)]).toEqual(['1']);
    resolveUnavailable(rows, new Map());
    expect(rowToTsvLine(rows[2]!)).toBe(`1\t${UNAVAILABLE_VALUE}\t[]\t\\N\t2\t30\t0`);
  });
});

describe('primary-key changes (headers __debezium.newkey / __debezium.oldkey)', () => {
  const NEW_KEY = { newKey: true };
  const FROM_1 = { oldKey: { id: 1 } };

  it('in one batch: the delete keeps the old row, the create takes its unchanged TOASTed values', () => {
    const rows = [
      ...eventToRows(plan, event('c', null, { id: 1, body: 'large', tags: ['t'], blob: 'AQ==', n: 1 }, 10)),
      ...eventToRows(plan, event('d', { id: 1, body: null, tags: null, blob: null, n: null }, null, 20), NEW_KEY),
      ...eventToRows(plan, event('c', null, { id: 2, body: TEXT, tags: LIST, blob: BYTES, n: 2 }, 20), FROM_1),
    ];
    expect([...keysToLookUp(rows)]).toEqual([]);
    expect(resolveUnavailable(rows, new Map())).toBe(0);
    expect(rows.map(rowToTsvLine)).toEqual([
      "1\tlarge\t['t']\tAQ==\t1\t10\t0",
      "1\tlarge\t['t']\tAQ==\t1\t20\t1",
      "2\tlarge\t['t']\tAQ==\t2\t20\t0",
    ]);
  });

  it('across batches: the delete is completed from ClickHouse, and the create from the stored delete', () => {
    const first = eventToRows(plan, event('d', { id: 1, body: null, tags: null, blob: null, n: null }, null, 20), NEW_KEY);
    expect([...keysToLookUp(first)]).toEqual(['1']);
    resolveUnavailable(first, new Map([['1', new Map([['body', 'large'], ['tags', "['t']"], ['blob', 'AQ=='], ['n', '1']])]]));
    expect(rowToTsvLine(first[0]!)).toBe("1\tlarge\t['t']\tAQ==\t1\t20\t1");
    // The next batch reads key 1 as the delete stored it.
    const second = eventToRows(plan, event('c', null, { id: 2, body: TEXT, tags: LIST, blob: BYTES, n: 2 }, 20), FROM_1);
    expect([...keysToLookUp(second)]).toEqual(['1']);
    expect(resolveUnavailable(second, new Map([['1', new Map([['body', 'large'], ['tags', "['t']"], ['blob', 'AQ=='], ['n', '1']])]]))).toBe(0);
    expect(rowToTsvLine(second[0]!)).toBe("2\tlarge\t['t']\tAQ==\t2\t20\t0");
  });

  it('the old key never written: the delete stays NULL and the create writes the placeholder, counted', () => {
    const rows = [
      ...eventToRows(plan, event('d', { id: 1, body: null, tags: null, blob: null, n: null }, null, 20), NEW_KEY),
      ...eventToRows(plan, event('c', null, { id: 2, body: TEXT, tags: null, blob: null, n: 2 }, 20), FROM_1),
    ];
    expect([...keysToLookUp(rows)]).toEqual(['1']);
    expect(resolveUnavailable(rows, new Map())).toBe(1);
    expect(rows.map(rowToTsvLine)).toEqual(['1\t\\N\t[]\t\\N\t\\N\t20\t1', `2\t${UNAVAILABLE_VALUE}\t[]\t\\N\t2\t20\t0`]);
  });

  it('a create without the header looks only at its own key', () => {
    const rows = eventToRows(plan, event('c', null, { id: 2, body: TEXT, tags: null, blob: null, n: 2 }, 20));
    expect(rows[0]!.unavailable).toBeNull();
  });
});

describe('tables without a primary key', () => {
  const keyless = planTable('db', 'log', '_current', COLUMNS.map((column) => ({ ...column, key: false })), [], OLD);

  it('writes _row_key, the same for the same non-null values whatever columns were added since', () => {
    const [row] = eventToRows(keyless, event('c', null, { id: 1, body: 'x', tags: null, blob: null, n: null }));
    const line = rowToTsvLine(row!);
    expect(line).toMatch(/^1\tx\t\[\]\t\\N\t\\N\t[0-9a-f]{32}\t500\t0$/);
    const fewer = planTable('db', 'log', '_current', COLUMNS.slice(0, 2).map((column) => ({ ...column, key: false })), [], OLD);
    expect(rowKeyOf(eventToRows(fewer, event('c', null, { id: 1, body: 'x' }))[0]!)).toBe(rowKeyOf(row!));
  });

  it('turns an update with the old row (REPLICA IDENTITY FULL) into delete old + write new; a no-op update into the write alone', () => {
    const rows = eventToRows(keyless, event('u', { id: 1, body: 'x', n: 1 }, { id: 1, body: 'y', n: 1 }));
    expect(rows.map((row) => row.deleted)).toEqual([true, false]);
    expect(rowKeyOf(rows[0]!)).toBe(rowKeyOf(eventToRows(keyless, event('c', null, { id: 1, body: 'x', n: 1 }))[0]!));
    expect(eventToRows(keyless, event('u', { id: 1, body: 'x' }, { id: 1, body: 'x' }))).toHaveLength(1);
    expect(eventToTsvLine(keyless, event('d', { id: 1, body: 'x', n: 1 }, null))).toMatch(/\t1$/);
  });
});

describe('RowBinary rows', () => {
  const columns: ColumnSchema[] = [
    { name: 'id', schema: { type: 'int32', optional: false }, key: true },
    { name: 'x', schema: { type: 'double', optional: false }, key: false },
    { name: 'n', schema: { type: 'string', optional: true, parameters: { [SourceTypeParameter.type]: 'NUMERIC', [SourceTypeParameter.length]: '4', [SourceTypeParameter.scale]: '2' } }, key: false },
  ];

  it('writes the columns, then _version and _deleted, in the types the table has', () => {
    const floats = planTable('db', 'f', '_current', columns, ['id'], OLD);
    expect(writesRowBinary(floats)).toBe(true);
    const [row] = eventToRows(floats, event('c', null, { id: 1, x: Number.NaN, n: '1.5' }, 0x102));
    const nan = Buffer.alloc(8);
    nan.writeDoubleLE(Number.NaN);
    expect(rowToBinary(row!).toString('hex')).toBe(`01000000${nan.toString('hex')}00${'96000000'}${'0201000000000000'}00`);
    // The table has x as Nullable(Float64) (the event's schema says NOT NULL): the NULL flag byte is written.
    const stored = planTable('db', 'f', '_current', columns, ['id'], OLD);
    stored.storedTypes = ['Int32', 'Nullable(Float64)', 'Nullable(Decimal(4, 2))'];
    const [again] = eventToRows(stored, event('d', { id: 1, x: -0, n: null }, null, 0x102));
    expect(rowToBinary(again!).toString('hex')).toBe(`01000000000000000000000080010201000000000000${'01'}`);
  });

  it('refuses a value its column cannot hold, naming the column', () => {
    const floats = planTable('db', 'f', '_current', columns, ['id'], OLD);
    const [row] = eventToRows(floats, event('c', null, { id: 1, x: 1, n: '123.45' }));
    expect(() => rowToBinary(row!)).toThrow(UnwritableEventError);
    expect(() => rowToBinary(row!)).toThrow('column n: 123.45 does not fit Decimal(4, 2)');
    expect(() => eventToRows(floats, event('c', null, { id: 1, x: 1, n: 'NaN' }))).toThrow("column n: numeric NaN has no value in ClickHouse's Decimal(4, 2)");
  });

  it("writes a row's cells as the bytes its TabSeparated fields give, or refuses it with the same reason", () => {
    const kinds: ColumnSchema[] = [
      { name: 'id', schema: { type: 'int64', optional: false }, key: true },
      { name: 'i8', schema: { type: 'int8', optional: true }, key: false },
      { name: 'i16', schema: { type: 'int16', optional: true }, key: false },
      { name: 'i32', schema: { type: 'int32', optional: true }, key: false },
      { name: 'i64', schema: { type: 'int64', optional: true }, key: false },
      { name: 'f32', schema: { type: 'float', optional: true }, key: false },
      { name: 'f64', schema: { type: 'double', optional: true }, key: false },
      { name: 'flag', schema: { type: 'boolean', optional: true }, key: false },
      { name: 'day', schema: { type: 'int32', optional: true, name: SemanticType.Date }, key: false },
      { name: 'at', schema: { type: 'int64', optional: true, name: SemanticType.MicroTimestamp }, key: false },
      { name: 'zoned', schema: { type: 'string', optional: true, name: SemanticType.ZonedTimestamp }, key: false },
      { name: 'text', schema: { type: 'string', optional: true }, key: false },
      { name: 'amount', schema: { type: 'string', optional: true, parameters: { [SourceTypeParameter.type]: 'NUMERIC', [SourceTypeParameter.length]: '12', [SourceTypeParameter.scale]: '2' } }, key: false },
      { name: 'ints', schema: { type: 'array', optional: true, items: { type: 'int32', optional: true } }, key: false },
    ];
    const values: Record<string, unknown[]> = {
      i8: [0, -128, 127, 128, -129, 1.5, null],
      i16: [-32768, 32767, 32768, -1],
      i32: [-(2 ** 31), 2 ** 31 - 1, 2 ** 31, -0],
      i64: [0, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60, 2n ** 62n, -(2n ** 63n), 2n ** 63n, '123'],
      f32: [3.14, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-45, 3.4e38, 'NaN'],
      f64: [0.1, -0, Number.NaN, Number.NEGATIVE_INFINITY, 5e-324, 1.7976931348623157e308, 2.857142857142857],
      flag: [true, false],
      day: [0, 19783, 65535, 65536, -1, 1.5],
      at: [0, 1_700_000_000_123_456, 1_700_000_000_999_999, -1, -1_000_001, 4_294_967_295_999_999, 4_294_967_296_000_000, 2 ** 60],
      zoned: ['2024-05-01T12:00:00.123456Z', '1970-01-01T00:00:00Z', 'not a time'],
      text: ['plain', 'tab\there', 'back\\slash', '\\N', 'new\nline', '', 'ünïcode ✓ '.repeat(20)],
      amount: ['0.00', '-12.5', '9999999999.99', '12345678901.00', '1.234', 'NaN'],
      ints: [[1, null, -3], [], null],
    };
    const row: Row = Object.fromEntries(kinds.map((column) => [column.name, null]));
    for (const features of [OLD, MODERN]) {
      const base = planTable('db', 'k', '_current', kinds, ['id'], features);
      // As created, every column Nullable, and types changed by hand (String, DateTime64(3), Float64, Int64).
      const nullable = planTable('db', 'k', '_current', kinds, ['id'], features);
      nullable.storedTypes = nullable.columns.map((column) => (column.mapping.type.startsWith('Nullable(') || column.mapping.type.startsWith('Array(') ? column.mapping.type : `Nullable(${column.mapping.type})`));
      const changed = planTable('db', 'k', '_current', kinds, ['id'], features);
      const retyped: Record<string, string> = { i8: 'Nullable(String)', i32: 'Int64', f32: 'Nullable(Float64)', at: features.dateTime64 ? "Nullable(DateTime64(3, 'UTC'))" : 'Nullable(Int64)', day: 'Nullable(String)', flag: 'Int8' };
      changed.storedTypes = changed.columns.map((column) => retyped[column.name] ?? column.mapping.type);
      for (const plan of [base, nullable, changed]) {
        expect(writesRowBinary(plan)).toBe(true);
        let id = 0;
        for (const [name, list] of Object.entries(values)) {
          for (const value of list) {
            const image = { ...row, id: ++id, [name]: value };
            const encode = (asText: boolean): string => {
              try {
                const [image0] = eventToRows(plan, event('c', null, image));
                if (asText) image0!.toText();
                return rowToBinary(image0!).toString('hex');
              } catch (error) {
                return `refused: ${String(error)}`;
              }
            };
            expect(encode(false), `${name} = ${String(value)} as ${plan.storedTypes?.join() ?? 'created'}`).toBe(encode(true));
          }
        }
      }
    }
  });

  it('stays TabSeparated for a table with a column type it has no encoder for', () => {
    const enums = planTable('db', 'e', '_current', columns, ['id'], OLD);
    enums.storedTypes = ['Int32', "Enum8('a' = 1)", 'Nullable(Decimal(4, 2))'];
    expect(writesRowBinary(enums)).toBe(false);
  });
});

describe('TOAST look-up helpers', () => {
  it('undoes ClickHouse TabSeparated escaping', () => {
    expect(unescapeTsv("it\\'s\\ta\\\\b\\n")).toBe("it's\ta\\b\n");
    expect(unescapeTsv('plain')).toBe('plain');
  });

  it('writes key literals by type', () => {
    expect(sqlLiteral('42', 'Int64')).toBe('42');
    expect(sqlLiteral("o'k", 'String')).toBe("'o\\'k'");
    expect(sqlLiteral('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'UUID')).toBe("CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS UUID)");
  });
});

describe('ClickHouse errors', () => {
  it('reads the code from 18.16 messages and from ClickHouseError, and none from connection errors', () => {
    expect(serverErrorCode(new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input'))).toBe(27);
    expect(serverErrorCode(Object.assign(new Error('x'), { code: '53' }))).toBe(53);
    expect(serverErrorCode(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(isDataError(new Error('Code: 130, e.displayText() = DB::Exception: Cannot read array from text'))).toBe(true);
    expect(isDataError(new Error('Code: 252, e.displayText() = DB::Exception: Too many parts'))).toBe(false);
  });
});
