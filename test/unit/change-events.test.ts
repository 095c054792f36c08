import type { Pgoutput } from 'pg-logical-replication';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isUnavailablePlaceholder, SourceTypeParameter, type ConnectSchema } from '../../src/core/connect-schema.js';
import type { ChangeEvent, Row } from '../../src/core/events.js';
import { createConverter } from '../../src/serde/index.js';
import { ChangeEventBuilder, type ChangeEventOptions, type KafkaRecord } from '../../src/sources/postgres/change-events.js';

const NOW = 1_700_000_000_000;
const LSN = 0x16_b374d848;
const TX = { xid: 771, commitTimeMs: 1_699_999_999_000 };

type Column = Pgoutput.RelationColumn;

function column(name: string, typeOid: number, flags = 0, typeMod = -1, typeName: string | null = null): Column {
  return { name, flags, typeOid, typeMod, typeSchema: null, typeName, parser: (raw: unknown) => raw };
}

function relation(columns: Column[], keyColumns: string[], overrides: Partial<Pgoutput.MessageRelation> = {}): Pgoutput.MessageRelation {
  return { tag: 'relation', relationOid: 16_400, schema: 'public', name: 'orders', replicaIdentity: 'default', columns, keyColumns, ...overrides };
}

const ORDERS = relation([column('id', 20, 1), column('note', 25)], ['id']);

function insert(rel: Pgoutput.MessageRelation, values: Record<string, unknown>): Pgoutput.MessageInsert {
  return { tag: 'insert', relation: rel, new: values };
}

function update(
  rel: Pgoutput.MessageRelation,
  values: Record<string, unknown>,
  extra: { key?: Record<string, unknown>; old?: Record<string, unknown> } = {},
): Pgoutput.MessageUpdate {
  return { tag: 'update', relation: rel, key: extra.key ?? null, old: extra.old ?? null, new: values };
}

function del(rel: Pgoutput.MessageRelation, extra: { key?: Record<string, unknown>; old?: Record<string, unknown> }): Pgoutput.MessageDelete {
  return { tag: 'delete', relation: rel, key: extra.key ?? null, old: extra.old ?? null };
}

async function builder(options: Partial<ChangeEventOptions> = {}): Promise<ChangeEventBuilder> {
  const result = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: true, ...options });
  await result.onRelation(ORDERS);
  return result;
}

const converter = createConverter('json');

function decodeKey(bytes: Buffer): { schema: ConnectSchema | null; payload: Row } {
  const decoded = converter.decodeKey<Row>(bytes);
  return { schema: decoded.schema.schema, payload: decoded.value };
}

function key(record: KafkaRecord): { schema: ConnectSchema | null; payload: Row } {
  expect(record.key).not.toBeNull();
  return decodeKey(record.key!);
}

function value(record: KafkaRecord): { schema: ConnectSchema | null; payload: ChangeEvent } {
  expect(record.value).not.toBeNull();
  const decoded = converter.decodeValue<ChangeEvent>(record.value!);
  return { schema: decoded.schema.schema, payload: decoded.value };
}

const SOURCE = {
  version: '0.1.0',
  connector: 'postgresql',
  name: 'demo',
  ts_ms: TX.commitTimeMs,
  snapshot: 'false',
  db: 'app',
  schema: 'public',
  table: 'orders',
  txId: 771,
  lsn: LSN,
  xmin: null,
};

beforeEach(() => {
  vi.spyOn(Date, 'now').mockReturnValue(NOW);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ChangeEventBuilder', () => {
  it('names topics <prefix>.<schema>.<table>', async () => {
    expect((await builder()).topicFor('public', 'orders')).toBe('demo.public.orders');
    expect((await builder({ topicPrefix: 'x.y' })).topicFor('sales', 'items')).toBe('x.y.sales.items');
  });

  it('builds an insert as op c with the key, after image and source block', async () => {
    const { records, events } = (await builder()).build(insert(ORDERS, { id: '1', note: 'hello' }), LSN, TX);
    expect(events).toEqual([{ table: 'public.orders', op: 'c' }]);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record!.topic).toBe('demo.public.orders');
    expect(key(record!).payload).toEqual({ id: 1 });
    expect(value(record!).payload).toEqual({ before: null, after: { id: 1, note: 'hello' }, source: SOURCE, op: 'c', ts_ms: NOW });
  });

  it('writes the Debezium key and envelope schemas', async () => {
    const [record] = (await builder()).build(insert(ORDERS, { id: '1', note: null }), LSN, TX).records;
    const idField = { type: 'int64', optional: false, field: 'id' };
    const noteField = { type: 'string', optional: true, field: 'note', parameters: { [SourceTypeParameter.type]: 'TEXT' } };
    expect(key(record!).schema).toEqual({ type: 'struct', optional: false, name: 'demo.public.orders.Key', fields: [idField] });

    const schema = value(record!).schema!;
    expect(schema.name).toBe('demo.public.orders.Envelope');
    expect(schema.type).toBe('struct');
    expect(schema.optional).toBe(false);
    expect(schema.fields!.map((field) => field.field)).toEqual(['before', 'after', 'source', 'op', 'ts_ms']);
    const valueStruct = { type: 'struct', optional: true, name: 'demo.public.orders.Value', fields: [idField, noteField] };
    expect(schema.fields![0]).toEqual({ ...valueStruct, field: 'before' });
    expect(schema.fields![1]).toEqual({ ...valueStruct, field: 'after' });
    expect(schema.fields![2]!.name).toBe('io.debezium.connector.postgresql.Source');
    expect(schema.fields![3]).toEqual({ type: 'string', optional: false, field: 'op' });
    expect(schema.fields![4]).toEqual({ type: 'int64', optional: true, field: 'ts_ms' });
    expect(value(record!).payload.after).toEqual({ id: 1, note: null });
  });

  it('builds an update as op u, with the old image when the relation sends one', async () => {
    const b = await builder();
    const plain = b.build(update(ORDERS, { id: '1', note: 'new' }), LSN, TX);
    expect(plain.events).toEqual([{ table: 'public.orders', op: 'u' }]);
    expect(plain.records).toHaveLength(1);
    expect(key(plain.records[0]!).payload).toEqual({ id: 1 });
    expect(value(plain.records[0]!).payload).toEqual({ before: null, after: { id: 1, note: 'new' }, source: SOURCE, op: 'u', ts_ms: NOW });

    const withOld = b.build(update(ORDERS, { id: '1', note: 'new' }, { old: { id: '1', note: 'old' } }), LSN, TX);
    expect(value(withOld.records[0]!).payload.before).toEqual({ id: 1, note: 'old' });
    expect(value(withOld.records[0]!).payload.after).toEqual({ id: 1, note: 'new' });
  });

  it('builds a delete as op d followed by a tombstone with the same key', async () => {
    const { records, events } = (await builder()).build(del(ORDERS, { key: { id: '7' } }), LSN, TX);
    expect(events).toEqual([{ table: 'public.orders', op: 'd' }]);
    expect(records).toHaveLength(2);
    const [deletion, tombstone] = records;
    expect(deletion!.topic).toBe('demo.public.orders');
    expect(key(deletion!).payload).toEqual({ id: 7 });
    expect(value(deletion!).payload).toEqual({ before: { id: 7, note: null }, after: null, source: SOURCE, op: 'd', ts_ms: NOW });
    expect(tombstone!.topic).toBe('demo.public.orders');
    expect(tombstone!.value).toBeNull();
    expect(tombstone!.key!.equals(deletion!.key!)).toBe(true);
  });

  it('uses the full old image of a delete when the relation sends one', async () => {
    const { records } = (await builder()).build(del(ORDERS, { old: { id: '7', note: 'gone' } }), LSN, TX);
    expect(value(records[0]!).payload.before).toEqual({ id: 7, note: 'gone' });
  });

  it('writes no tombstone when tombstones are off', async () => {
    const { records, events } = (await builder({ tombstones: false })).build(del(ORDERS, { key: { id: '7' } }), LSN, TX);
    expect(events).toEqual([{ table: 'public.orders', op: 'd' }]);
    expect(records).toHaveLength(1);
    expect(value(records[0]!).payload.op).toBe('d');
  });

  it('turns a key change into delete + tombstone + create', async () => {
    const { records, events } = (await builder()).build(update(ORDERS, { id: '2', note: 'moved' }, { key: { id: '1' } }), LSN, TX);
    expect(events).toEqual([
      { table: 'public.orders', op: 'd' },
      { table: 'public.orders', op: 'c' },
    ]);
    expect(records).toHaveLength(3);
    const [deletion, tombstone, creation] = records;
    expect(key(deletion!).payload).toEqual({ id: 1 });
    expect(value(deletion!).payload).toEqual({ before: { id: 1, note: null }, after: null, source: SOURCE, op: 'd', ts_ms: NOW });
    expect(key(tombstone!).payload).toEqual({ id: 1 });
    expect(tombstone!.value).toBeNull();
    expect(key(creation!).payload).toEqual({ id: 2 });
    expect(value(creation!).payload).toEqual({ before: null, after: { id: 2, note: 'moved' }, source: SOURCE, op: 'c', ts_ms: NOW });
  });

  it('links the two halves of a key change with Debezium headers', async () => {
    const { records } = (await builder()).build(update(ORDERS, { id: '2', note: undefined }, { key: { id: '1' } }), LSN, TX);
    const [deletion, tombstone, creation] = records;
    expect(decodeKey(deletion!.headers!['__debezium.newkey']!).payload).toEqual({ id: 2 });
    expect(decodeKey(creation!.headers!['__debezium.oldkey']!).payload).toEqual({ id: 1 });
    expect(Object.keys(deletion!.headers!)).toEqual(['__debezium.newkey']);
    expect(Object.keys(creation!.headers!)).toEqual(['__debezium.oldkey']);
    expect(tombstone!.headers).toBeUndefined();
    // REPLICA IDENTITY DEFAULT: the unchanged TOASTed value is not sent; the sink fills it from the old key.
    expect(value(creation!).payload.after).toEqual({ id: 2, note: '__debezium_unavailable_value' });
    expect((await builder()).build(update(ORDERS, { id: '1', note: 'x' }), LSN, TX).records[0]!.headers).toBeUndefined();
  });

  it('under REPLICA IDENTITY FULL takes unchanged TOASTed values from the old tuple', async () => {
    const full = relation(ORDERS.columns, ['id'], { replicaIdentity: 'full', relationOid: 16_402 });
    const b = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: false, primaryKeys: new Map([['public.orders', ['id']]]) });
    await b.onRelation(full);
    const moved = b.build(update(full, { id: '2', note: undefined }, { old: { id: '1', note: 'kept' } }), LSN, TX).records;
    expect(moved.map((record) => value(record).payload.op)).toEqual(['d', 'c']);
    expect(value(moved[1]!).payload.after).toEqual({ id: 2, note: 'kept' });
    expect(decodeKey(moved[1]!.headers!['__debezium.oldkey']!).payload).toEqual({ id: 1 });
    const same = b.build(update(full, { id: '1', note: undefined }, { old: { id: '1', note: 'kept' } }), LSN, TX).records;
    expect(value(same[0]!).payload.after).toEqual({ id: 1, note: 'kept' });
  });

  it('key change without tombstones yields delete + create', async () => {
    const { records } = (await builder({ tombstones: false })).build(update(ORDERS, { id: '2', note: 'x' }, { key: { id: '1' } }), LSN, TX);
    expect(records.map((record) => value(record).payload.op)).toEqual(['d', 'c']);
  });

  it('marks an unchanged TOASTed value with the unavailable-value placeholder', async () => {
    const { records } = (await builder()).build(update(ORDERS, { id: '1', note: undefined }), LSN, TX);
    expect(value(records[0]!).payload.after).toEqual({ id: 1, note: '__debezium_unavailable_value' });
  });

  it('keeps SQL NULL as null', async () => {
    const { records } = (await builder()).build(insert(ORDERS, { id: '1', note: null }), LSN, TX);
    expect(value(records[0]!).payload.after).toEqual({ id: 1, note: null });
  });

  it('converts values with the column type mapping', async () => {
    const rel = relation(
      [
        column('id', 23, 1),
        column('paid', 16),
        column('amount', 1700, 0, ((12 << 16) | 2) + 4),
        column('day', 1082),
        column('at', 1184),
        column('blob', 17),
      ],
      ['id'],
      { relationOid: 16_401, name: 'payments' },
    );
    const b = await builder();
    await b.onRelation(rel);
    const { records } = b.build(
      insert(rel, { id: '5', paid: 't', amount: '1234567890.12', day: '2024-03-01', at: '2024-03-01 12:34:56.123456+00', blob: '\\x0102ff' }),
      LSN,
      TX,
    );
    expect(records[0]!.topic).toBe('demo.public.payments');
    expect(value(records[0]!).payload.after).toEqual({
      id: 5,
      paid: true,
      amount: '1234567890.12',
      day: 19783,
      at: '2024-03-01T12:34:56.123456Z',
      blob: 'AQL/',
    });
    expect(value(records[0]!).payload.source.table).toBe('payments');
  });

  it('emits null and reports a value that cannot be converted', async () => {
    const onBadValue = vi.fn();
    const rel = relation([column('id', 20, 1), column('day', 1082)], ['id'], { relationOid: 16_402, name: 'days' });
    const b = await builder({ onBadValue });
    await b.onRelation(rel);
    const { records } = b.build(insert(rel, { id: '1', day: 'infinity' }), LSN, TX);
    expect(value(records[0]!).payload.after).toEqual({ id: 1, day: null });
    expect(onBadValue).toHaveBeenCalledTimes(1);
    expect(onBadValue.mock.calls[0]!.slice(0, 3)).toEqual(['public.days', 'day', 'infinity']);
    expect(onBadValue.mock.calls[0]![3]).toBeInstanceOf(Error);
  });

  it('reports columns of unknown types once, when the relation arrives', async () => {
    const onUnknownType = vi.fn();
    const b = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: true, onUnknownType });
    const rel = relation([column('id', 20, 1), column('tags', 16_500, 0, -1, 'citext')], ['id'], { schema: 'sales' });
    await b.onRelation(rel);
    expect(onUnknownType).toHaveBeenCalledTimes(1);
    expect(onUnknownType).toHaveBeenCalledWith('sales.orders', 'tags', { oid: 16_500, typeMod: -1, name: 'citext' });
    const { records } = b.build(insert(rel, { id: '1', tags: 'Hello' }), LSN, TX);
    expect(records[0]!.topic).toBe('demo.sales.orders');
    expect(value(records[0]!).payload.after).toEqual({ id: 1, tags: 'Hello' });
    expect(onUnknownType).toHaveBeenCalledTimes(1);
  });

  it('writes a null key for a table without key columns', async () => {
    const rel = relation([column('a', 25)], [], { relationOid: 16_403, name: 'log' });
    const b = await builder();
    await b.onRelation(rel);
    const { records } = b.build(insert(rel, { a: 'x' }), LSN, TX);
    expect(records[0]!.key).toBeNull();
    expect(value(records[0]!).payload.after).toEqual({ a: 'x' });
  });

  it('builds composite keys in key-column order', async () => {
    const rel = relation([column('note', 25), column('tenant', 23, 1), column('id', 20, 1)], ['tenant', 'id'], { relationOid: 16_404 });
    const b = await builder();
    await b.onRelation(rel);
    const [record] = b.build(insert(rel, { note: 'n', tenant: '3', id: '9' }), LSN, TX).records;
    expect(record!.key!.toString()).toContain('"payload":{"tenant":3,"id":9}');
    expect(key(record!).schema!.fields!.map((field) => field.field)).toEqual(['tenant', 'id']);
  });

  it('uses the newest Relation message of a table', async () => {
    const b = await builder();
    await b.onRelation(relation([column('id', 20, 1), column('note', 25), column('qty', 23)], ['id']));
    const [record] = b.build(insert(ORDERS, { id: '1', note: 'n', qty: '4' }), LSN, TX).records;
    expect(value(record!).payload.after).toEqual({ id: 1, note: 'n', qty: 4 });
  });

  it('refuses a change that arrives before its Relation message', async () => {
    const b = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: true });
    expect(() => b.build(insert(ORDERS, { id: '1', note: 'x' }), LSN, TX)).toThrow(
      'change for relation public.orders before its Relation message',
    );
  });
});

describe('ChangeEventBuilder with REPLICA IDENTITY FULL', () => {
  // pgoutput marks every column as key under FULL; the Kafka key must still be the primary key.
  const FULL = relation([column('id', 20, 1), column('note', 25, 1)], ['id', 'note'], { replicaIdentity: 'full', relationOid: 16_401 });

  async function fullBuilder(): Promise<ChangeEventBuilder> {
    const result = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: true, primaryKeys: new Map([['public.orders', ['id']]]) });
    await result.onRelation(FULL);
    return result;
  }

  it('keys events by the primary key, not by every column', async () => {
    const { records } = (await fullBuilder()).build(update(FULL, { id: '1', note: 'new' }, { old: { id: '1', note: 'old' } }), LSN, TX);
    expect(records).toHaveLength(1);
    expect(key(records[0]!).payload).toEqual({ id: 1 });
    const event = value(records[0]!).payload;
    expect(event.op).toBe('u');
    expect(event.before).toEqual({ id: 1, note: 'old' });
    expect(event.after).toEqual({ id: 1, note: 'new' });
  });

  it('turns an update that changes the primary key into delete, tombstone and create', async () => {
    const { records } = (await fullBuilder()).build(update(FULL, { id: '2', note: 'x' }, { old: { id: '1', note: 'x' } }), LSN, TX);
    expect(records.map((record) => (record.value === null ? 'tombstone' : value(record).payload.op))).toEqual(['d', 'tombstone', 'c']);
    expect(key(records[0]!).payload).toEqual({ id: 1 });
    expect(key(records[1]!).payload).toEqual({ id: 1 });
    expect(key(records[2]!).payload).toEqual({ id: 2 });
  });

  it('has no key for a FULL table without a primary key', async () => {
    const result = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: true });
    await result.onRelation(FULL);
    const { records } = result.build(insert(FULL, { id: '1', note: 'a' }), LSN, TX);
    expect(records[0]!.key).toBeNull();
  });
});

describe('ChangeEventBuilder int8 beyond 2^53', () => {
  it('writes the exact value as a JSON number and reads it back exactly', async () => {
    const { records } = (await builder()).build(insert(ORDERS, { id: '9223372036854775807', note: null }), LSN, TX);
    expect(records[0]!.value!.toString()).toContain('"after":{"id":9223372036854775807,"note":null}');
    expect(key(records[0]!).payload).toEqual({ id: 9_223_372_036_854_775_807n });
    expect(value(records[0]!).payload.after).toEqual({ id: 9_223_372_036_854_775_807n, note: null });
  });
});

describe('ChangeEventBuilder snapshot reads, truncates and skipped operations', () => {
  it('builds a snapshot row as op r with source.snapshot and the given version', async () => {
    const { records, events } = (await builder()).buildRead(ORDERS, { id: '7', note: 'seven' }, 1234, { xid: null, commitTimeMs: NOW }, 'true');
    expect(events).toEqual([{ table: 'public.orders', op: 'r' }]);
    const payload = value(records[0]!).payload;
    expect(payload).toMatchObject({ op: 'r', before: null, after: { id: 7, note: 'seven' } });
    expect(payload.source).toMatchObject({ snapshot: 'true', lsn: 1234, txId: null, ts_ms: NOW });
    expect(key(records[0]!).payload).toEqual({ id: 7 });
  });

  it('builds a truncate as op t with a null key (in JsonConverter bytes) and no images', async () => {
    const { records, events } = (await builder()).buildTruncate(ORDERS, LSN, TX);
    expect(events).toEqual([{ table: 'public.orders', op: 't' }]);
    expect(records).toHaveLength(1);
    expect(decodeKey(records[0]!.key!)).toEqual({ schema: null, payload: null });
    expect(value(records[0]!).payload).toMatchObject({ op: 't', before: null, after: null, source: { lsn: LSN } });
  });

  it('emits nothing for skipped operations, not even the tombstone of a skipped delete', async () => {
    const skipping = await builder({ skippedOperations: new Set(['d', 't'] as const) });
    expect(skipping.build(del(ORDERS, { key: { id: '1' } }), LSN, TX)).toEqual({ records: [], events: [] });
    expect(skipping.buildTruncate(ORDERS, LSN, TX)).toEqual({ records: [], events: [] });
    expect(skipping.build(insert(ORDERS, { id: '1', note: 'a' }), LSN, TX).events).toEqual([{ table: 'public.orders', op: 'c' }]);
  });

  it('gives an unchanged TOASTed bytea and array the placeholder in their own shape', async () => {
    const TOASTY = relation([column('id', 20, 1), column('blob', 17), column('tags', 1009), column('doc', 3802)], ['id'], { relationOid: 16_500, name: 'toasty' });
    const types = new Map([[1009, { oid: 1009, name: '_text', kind: 'b', elementOid: 25, baseOid: 0, labels: null }]]);
    const result = new ChangeEventBuilder({ converter: createConverter('json'), topicPrefix: 'demo', database: 'app', tombstones: true, types });
    await result.onRelation(TOASTY);
    const { records } = result.build(update(TOASTY, { id: '1', blob: undefined, tags: undefined, doc: undefined }), LSN, TX);
    const after = value(records[0]!).payload.after!;
    expect(Buffer.from(after.blob as string, 'base64').toString()).toBe('__debezium_unavailable_value');
    expect(after.tags).toEqual(['__debezium_unavailable_value']);
    expect(after.doc).toBe('__debezium_unavailable_value');
    for (const name of ['blob', 'tags', 'doc']) expect(isUnavailablePlaceholder(after[name]), name).toBe(true);
    expect(isUnavailablePlaceholder('a real value')).toBe(false);
    expect(isUnavailablePlaceholder(['__debezium_unavailable_value', 'x'])).toBe(false);
  });
});
