import { describe, expect, it } from 'vitest';
import { SemanticType, SourceTypeParameter, UNAVAILABLE_VALUE } from '../../src/core/connect-schema.js';
import type { ChangeEvent, ColumnSchema, Op, Row } from '../../src/core/events.js';
import { eventToRows as eventToRowsAt, eventToTsvLine as eventToTsvLineAt, UnwritableEventError } from '../../src/sinks/clickhouse/rows.js';
import type { PostgresSourceBlock } from '../../src/sources/postgres/source-block.js';
import type { ServerFeatures } from '../../src/sinks/clickhouse/server.js';
import {
  addColumnSql,
  compatibleType,
  createTableSql,
  createViewSql,
  insertColumns,
  planTable,
  PlanError,
  truncateSql,
  type TablePlan,
} from '../../src/sinks/clickhouse/table-plan.js';

const MODERN: ServerFeatures = { version: '24.8.4.13', dateTime64: true };

/** The sink's functions with the row version the PostgreSQL source block gives (source.lsn). */
const eventToRows = (plan: TablePlan, event: ChangeEvent<PostgresSourceBlock>) => eventToRowsAt(plan, event, event.source.lsn!);
const eventToTsvLine = (plan: TablePlan, event: ChangeEvent<PostgresSourceBlock>) => eventToTsvLineAt(plan, event, event.source.lsn!);

const COLUMNS: ColumnSchema[] = [
  { name: 'id', key: true, schema: { type: 'int64', optional: false } },
  { name: 'note', key: false, schema: { type: 'string', optional: true, parameters: { [SourceTypeParameter.type]: 'TEXT' } } },
  {
    name: 'amount',
    key: false,
    schema: { type: 'string', optional: true, parameters: { [SourceTypeParameter.type]: 'NUMERIC', [SourceTypeParameter.length]: '12', [SourceTypeParameter.scale]: '2' } },
  },
  { name: 'created', key: false, schema: { type: 'int64', optional: true, name: SemanticType.MicroTimestamp, version: 1 } },
];

function plan(): TablePlan {
  return planTable('tideline', 'orders', '_current', COLUMNS, ['id'], MODERN);
}

function source(lsn: number | null): PostgresSourceBlock {
  return {
    version: '0.1.0',
    connector: 'postgresql',
    name: 'demo',
    ts_ms: 1_700_000_000_000,
    snapshot: 'false',
    db: 'app',
    schema: 'public',
    table: 'orders',
    txId: 1,
    lsn,
    xmin: null,
  };
}

function event(op: Op, before: Row | null, after: Row | null, lsn: number | null = 9_000): ChangeEvent<PostgresSourceBlock> {
  return { op, before, after, source: source(lsn), ts_ms: 1_700_000_000_001 };
}

describe('planTable', () => {
  it('maps every column and orders by the key', () => {
    const result = plan();
    expect(result.database).toBe('tideline');
    expect(result.table).toBe('orders');
    expect(result.view).toBe('orders_current');
    expect(result.orderBy).toEqual(['id']);
    expect(result.columns.map((column) => [column.name, column.mapping.type])).toEqual([
      ['id', 'Int64'],
      ['note', 'Nullable(String)'],
      ['amount', 'Nullable(Decimal(12, 2))'],
      ['created', "Nullable(DateTime64(6, 'UTC'))"],
    ]);
  });

  it('never makes key columns Nullable, even when the schema says optional', () => {
    const columns: ColumnSchema[] = [
      { name: 'tenant', key: true, schema: { type: 'string', optional: true, name: SemanticType.Uuid, version: 1 } },
      { name: 'id', key: true, schema: { type: 'int32', optional: true } },
      { name: 'v', key: false, schema: { type: 'int32', optional: true } },
    ];
    const result = planTable('db', 't', '_v', columns, ['tenant', 'id'], MODERN);
    expect(result.columns.map((column) => column.mapping.type)).toEqual(['UUID', 'Int32', 'Nullable(Int32)']);
    expect(result.orderBy).toEqual(['tenant', 'id']);
  });

  it('orders a table without key columns by _row_key, a hash of the row', () => {
    const result = planTable('db', 'log', '_current', COLUMNS, [], MODERN);
    expect(result.rowKey).toBe(true);
    expect(result.orderBy).toEqual(['_row_key']);
    expect(createTableSql(result)).toContain('  `_row_key` String,\n  `_version` UInt64,');
    expect(createTableSql(result)).toContain('ORDER BY (`_row_key`)');
    expect(insertColumns(result)).toEqual(['id', 'note', 'amount', 'created', '_row_key', '_version', '_deleted']);
    expect(createViewSql(result, ['id', 'note', 'amount', 'created', '_row_key', '_version', '_deleted'])).toContain('SELECT `id`, `note`, `amount`, `created` FROM');
  });

  it('takes an ORDER BY override that holds the key, and makes its columns non-Nullable', () => {
    const result = planTable('db', 'orders', '_current', COLUMNS, ['id'], MODERN, { orderBy: ['created', 'id'], settings: { index_granularity: 1024, storage_policy: 'hot' } });
    expect(result.orderBy).toEqual(['created', 'id']);
    expect(result.columns.find((column) => column.name === 'created')!.mapping.type).toBe("DateTime64(6, 'UTC')");
    expect(createTableSql(result)).toContain("ORDER BY (`created`, `id`)\nSETTINGS index_granularity = 1024, storage_policy = 'hot'");
  });

  it('refuses an ORDER BY override without every key column, or with unknown columns', () => {
    expect(() => planTable('db', 'orders', '_current', COLUMNS, ['id'], MODERN, { orderBy: ['created'] })).toThrow(PlanError);
    expect(() => planTable('db', 'orders', '_current', COLUMNS, ['id'], MODERN, { orderBy: ['created'] })).toThrow('lacks the key column(s) id');
    expect(() => planTable('db', 'orders', '_current', COLUMNS, ['id'], MODERN, { orderBy: ['id', 'nope'] })).toThrow('unknown column(s) nope');
  });
});

describe('compatibleType', () => {
  it('accepts the same type (spacing aside) and a Nullable column for a now NOT NULL one', () => {
    expect(compatibleType('Decimal(12, 2)', 'Decimal(12,2)')).toBe(true);
    expect(compatibleType('Nullable(Int32)', 'Int32')).toBe(true);
  });

  it('refuses a changed type and a NOT NULL column for a now nullable one', () => {
    expect(compatibleType('Int32', 'Int64')).toBe(false);
    expect(compatibleType('Int32', 'Nullable(Int32)')).toBe(false);
    expect(compatibleType('String', 'Array(Nullable(String))')).toBe(false);
  });
});

describe('truncateSql', () => {
  it('rewrites every live row older than the truncate as deleted at its version, positionally', () => {
    expect(truncateSql('db', 't', ['id', 'note', '_version', '_deleted'], 777)).toBe(
      'INSERT INTO `db`.`t` (`id`, `note`, `_version`, `_deleted`) SELECT `id`, `note`, toUInt64(777), toUInt8(1) FROM `db`.`t` FINAL WHERE `_deleted` = 0 AND `_version` < 777',
    );
  });
});

describe('createTableSql', () => {
  it('creates a ReplacingMergeTree on _version ordered by the key', () => {
    expect(createTableSql(plan())).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `tideline`.`orders` (',
        '  `id` Int64,',
        '  `note` Nullable(String),',
        '  `amount` Nullable(Decimal(12, 2)),',
        "  `created` Nullable(DateTime64(6, 'UTC')),",
        '  `_version` UInt64,',
        '  `_deleted` UInt8',
        ') ENGINE = ReplacingMergeTree(`_version`)',
        'ORDER BY (`id`)',
      ].join('\n'),
    );
  });

  it('orders by every key column and quotes odd names', () => {
    const columns: ColumnSchema[] = [
      { name: 'a`b', key: true, schema: { type: 'int32', optional: false } },
      { name: 'id', key: true, schema: { type: 'int64', optional: false } },
    ];
    const sql = createTableSql(planTable('d', 't', '_c', columns, ['a`b', 'id'], MODERN));
    expect(sql).toContain('ORDER BY (`a\\`b`, `id`)');
    expect(sql).toContain('  `a\\`b` Int32,\n');
  });
});

describe('createViewSql', () => {
  it('reads FINAL and hides deleted rows', () => {
    expect(createViewSql(plan())).toBe(
      'CREATE VIEW IF NOT EXISTS `tideline`.`orders_current` AS SELECT `id`, `note`, `amount`, `created` FROM `tideline`.`orders` FINAL WHERE `_deleted` = 0',
    );
  });
});

describe('addColumnSql', () => {
  it('adds a column with its mapped type', () => {
    const result = plan();
    expect(addColumnSql(result, result.columns[1]!)).toBe('ALTER TABLE `tideline`.`orders` ADD COLUMN `note` Nullable(String)');
  });
});

describe('eventToTsvLine', () => {
  it('writes the after image of a create with _version = lsn and _deleted = 0', () => {
    const line = eventToTsvLine(plan(), event('c', null, { id: 1, note: 'hi', amount: '12.50', created: 1_709_296_496_123_456 }));
    expect(line).toBe('1\thi\t12.50\t2024-03-01 12:34:56.123456\t9000\t0');
  });

  it('writes updates and snapshot reads from the after image', () => {
    expect(eventToTsvLine(plan(), event('u', { id: 1, note: 'old' }, { id: 1, note: 'new', amount: null, created: null }))).toBe(
      '1\tnew\t\\N\t\\N\t9000\t0',
    );
    expect(eventToTsvLine(plan(), event('r', null, { id: 2, note: 'x', amount: '1.00', created: 0 }))).toBe(
      '2\tx\t1.00\t1970-01-01 00:00:00.000000\t9000\t0',
    );
  });

  it('writes the before image of a delete with _deleted = 1', () => {
    const line = eventToTsvLine(plan(), event('d', { id: 7, note: null, amount: null, created: null }, null, 123_456));
    expect(line).toBe('7\t\\N\t\\N\t\\N\t123456\t1');
  });

  it('writes missing columns as \\N', () => {
    expect(eventToTsvLine(plan(), event('d', { id: 7 }, null))).toBe('7\t\\N\t\\N\t\\N\t9000\t1');
  });

  it('escapes text fields', () => {
    expect(eventToTsvLine(plan(), event('c', null, { id: 1, note: 'a\tb\nc\\d', amount: null, created: null }))).toBe(
      '1\ta\\tb\\nc\\\\d\t\\N\t\\N\t9000\t0',
    );
  });

  it('leaves the unavailable-value placeholder of an update unresolved, for the sink to fill', () => {
    const [row] = eventToRows(plan(), event('u', null, { id: 1, note: UNAVAILABLE_VALUE, amount: UNAVAILABLE_VALUE, created: null }));
    expect([...row!.unavailable!.keys()]).toEqual([1, 2]);
    expect(row!.key).toBe('1');
    // Nothing resolves it: text keeps the placeholder (as Debezium sinks do), other types get NULL.
    expect(eventToTsvLine(plan(), event('u', null, { id: 1, note: UNAVAILABLE_VALUE, amount: UNAVAILABLE_VALUE, created: null }))).toBe(
      `1\t${UNAVAILABLE_VALUE}\t\\N\t\\N\t9000\t0`,
    );
  });

  it('takes an unchanged TOAST value from the before image when it has it (REPLICA IDENTITY FULL)', () => {
    const [row] = eventToRows(plan(), event('u', { id: 1, note: 'long text' }, { id: 1, note: UNAVAILABLE_VALUE, amount: null, created: null }));
    expect(row!.unavailable).toBeNull();
    expect(row!.fields[1]).toBe('long text');
  });

  it('treats the placeholder as a value outside updates', () => {
    expect(eventToTsvLine(plan(), event('c', null, { id: 1, note: UNAVAILABLE_VALUE, amount: null, created: null }))).toBe(`1\t${UNAVAILABLE_VALUE}\t\\N\t\\N\t9000\t0`);
  });

  it('refuses an event without the image it needs', () => {
    expect(() => eventToTsvLine(plan(), event('c', null, null))).toThrow(new UnwritableEventError('op "c" event without after image'));
    expect(() => eventToTsvLine(plan(), event('d', null, { id: 1 }))).toThrow(new UnwritableEventError('op "d" event without before image'));
  });
});

describe('eventToTsvLine with values a column cannot take', () => {
  it('refuses a timestamp it cannot format as an unwritable event (dead letter), not a crash', () => {
    const zoned: ColumnSchema[] = [
      { name: 'id', key: true, schema: { type: 'int64', optional: false } },
      { name: 'at', key: false, schema: { type: 'string', optional: true, name: SemanticType.ZonedTimestamp, version: 1 } },
    ];
    const zonedPlan = planTable('tideline', 'events', '_current', zoned, ['id'], MODERN);
    expect(() => eventToTsvLine(zonedPlan, event('c', null, { id: 1, at: 'infinity' }))).toThrow(UnwritableEventError);
    expect(() => eventToTsvLine(zonedPlan, event('c', null, { id: 1, at: 'infinity' }))).toThrow('column at: not an ISO-8601 UTC timestamp: "infinity"');
  });

  it('writes an int64 beyond 2^53 exactly', () => {
    expect(eventToTsvLine(plan(), event('c', null, { id: 9_223_372_036_854_775_807n, note: null, amount: null, created: null }))).toBe(
      '9223372036854775807\t\\N\t\\N\t\\N\t9000\t0',
    );
  });
});

describe('planTable with a negative numeric scale', () => {
  it('keeps numeric(5,-2) as String, since ClickHouse has no negative scale', () => {
    const columns: ColumnSchema[] = [
      { name: 'id', key: true, schema: { type: 'int64', optional: false } },
      { name: 'n', key: false, schema: { type: 'string', optional: true, parameters: { [SourceTypeParameter.type]: 'NUMERIC', [SourceTypeParameter.length]: '5', [SourceTypeParameter.scale]: '-2' } } },
    ];
    expect(planTable('tideline', 't', '_current', columns, ['id'], MODERN).columns[1]!.mapping.type).toBe('Nullable(String)');
  });
});
