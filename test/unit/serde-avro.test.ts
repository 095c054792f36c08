/**
 * The avro format: Connect schemas mapped as Confluent's AvroData maps them
 * (what a Debezium consumer's deserializer expects), Confluent's wire format
 * and subjects, every golden event round-tripped to the values the json
 * format gives, resolution of older schemas, format detection, and a schema
 * the registry refuses.
 */
import { readFileSync } from 'node:fs';
import type { Pgoutput } from 'pg-logical-replication';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import { envelopeSchema, keySchema, type ChangeEvent, type ColumnSchema } from '../../src/core/events.js';
import { MemorySchemaRegistry } from '../../src/registry/memory-registry.js';
import { IncompatibleSchemaError, SchemaNotFoundError, type SchemaRegistry } from '../../src/registry/schema-registry.js';
import { AvroConverter, projectSchema, SchemaNotLoadedError } from '../../src/serde/avro/avro-converter.js';
import { toAvroSchema, toConnectSchema } from '../../src/serde/avro/avro-schema.js';
import { compileType, shortestFloat } from '../../src/serde/avro/avsc-types.js';
import avro from 'avsc';
import { createConverter, DecodeError, type Converter } from '../../src/serde/index.js';
import { ChangeEventBuilder } from '../../src/sources/postgres/change-events.js';
import { postgresSourceBlock } from '../../src/sources/postgres/source-block.js';
import { goldenRecords, type GoldenRecord } from '../support/golden-events.js';

const TOPIC = 'demo.public.orders';
const COLUMNS: ColumnSchema[] = [
  { name: 'id', schema: { type: 'int64', optional: false }, key: true },
  { name: 'note', schema: { type: 'string', optional: true, parameters: { '__debezium.source.column.type': 'TEXT' } }, key: false },
  { name: 'day', schema: { type: 'int32', optional: true, name: 'io.debezium.time.Date', version: 1 }, key: false },
  { name: 'small', schema: { type: 'int16', optional: true }, key: false },
];

/** A registry call log around a MemorySchemaRegistry. */
function countingRegistry(): SchemaRegistry & { registered: string[]; fetched: number[]; inner: MemorySchemaRegistry } {
  const inner = new MemorySchemaRegistry();
  const registered: string[] = [];
  const fetched: number[] = [];
  return {
    inner,
    registered,
    fetched,
    register: (subject, schema) => (registered.push(subject), inner.register(subject, schema)),
    schemaById: (id) => (fetched.push(id), inner.schemaById(id)),
  };
}

/** Loads what `bytes` names (as a consumer does per batch), then decodes. */
async function decodeValue(converter: Converter, bytes: Buffer, hint?: Parameters<Converter['decodeValue']>[1]) {
  await converter.loadSchemas([bytes]);
  return converter.decodeValue(bytes, hint);
}

describe('avro schemas, as AvroData maps Connect schemas', () => {
  it('maps a Debezium key and envelope to the records a Debezium consumer expects', () => {
    expect(toAvroSchema(keySchema(TOPIC, COLUMNS))).toEqual({
      type: 'record',
      name: 'Key',
      namespace: TOPIC,
      fields: [{ name: 'id', type: 'long' }],
      'connect.name': `${TOPIC}.Key`,
    });
    const value = {
      type: 'record',
      name: 'Value',
      namespace: TOPIC,
      fields: [
        { name: 'id', type: 'long' },
        { name: 'note', type: ['null', { type: 'string', 'connect.parameters': { '__debezium.source.column.type': 'TEXT' } }], default: null },
        { name: 'day', type: ['null', { type: 'int', 'connect.version': 1, 'connect.name': 'io.debezium.time.Date' }], default: null },
        { name: 'small', type: ['null', { type: 'int', 'connect.type': 'int16' }], default: null },
      ],
      'connect.name': `${TOPIC}.Value`,
    };
    expect(toAvroSchema(envelopeSchema(TOPIC, COLUMNS, postgresSourceBlock.schema))).toEqual({
      type: 'record',
      name: 'Envelope',
      namespace: TOPIC,
      fields: [
        { name: 'before', type: ['null', value], default: null },
        // A named type is defined once; its second use is a reference.
        { name: 'after', type: ['null', `${TOPIC}.Value`], default: null },
        {
          name: 'source',
          type: {
            type: 'record',
            name: 'Source',
            namespace: 'io.debezium.connector.postgresql',
            fields: [
              { name: 'version', type: 'string' },
              { name: 'connector', type: 'string' },
              { name: 'name', type: 'string' },
              { name: 'ts_ms', type: 'long' },
              {
                name: 'snapshot',
                type: ['null', { type: 'string', 'connect.version': 1, 'connect.parameters': { allowed: 'true,last,false,incremental' }, 'connect.name': 'io.debezium.data.Enum' }],
                default: null,
              },
              { name: 'db', type: 'string' },
              { name: 'schema', type: 'string' },
              { name: 'table', type: 'string' },
              { name: 'txId', type: ['null', 'long'], default: null },
              { name: 'lsn', type: ['null', 'long'], default: null },
              { name: 'xmin', type: ['null', 'long'], default: null },
            ],
            'connect.name': 'io.debezium.connector.postgresql.Source',
          },
        },
        { name: 'op', type: 'string' },
        { name: 'ts_ms', type: ['null', 'long'], default: null },
      ],
      'connect.name': `${TOPIC}.Envelope`,
    });
  });

  it('maps every Connect type and Debezium semantic type tideline emits', () => {
    const field = (schema: ConnectSchema) => toAvroSchema({ type: 'struct', optional: false, name: 'x.R', fields: [{ ...schema, field: 'f' }] }) as { fields: { type: unknown; default?: unknown }[] };
    const type = (schema: ConnectSchema) => field(schema).fields[0]!.type;
    expect(type({ type: 'int8', optional: false })).toEqual({ type: 'int', 'connect.type': 'int8' });
    expect(type({ type: 'int32', optional: false })).toBe('int');
    expect(type({ type: 'float', optional: false })).toBe('float');
    expect(type({ type: 'double', optional: true })).toEqual(['null', 'double']);
    expect(type({ type: 'boolean', optional: false })).toBe('boolean');
    expect(type({ type: 'bytes', optional: true })).toEqual(['null', 'bytes']);
    // MicroTimestamp a long, ZonedTimestamp a string, each with its Connect name (no Avro logical type: AvroData adds those only for Connect's own).
    expect(type({ type: 'int64', optional: false, name: 'io.debezium.time.MicroTimestamp', version: 1 })).toEqual({ type: 'long', 'connect.version': 1, 'connect.name': 'io.debezium.time.MicroTimestamp' });
    expect(type({ type: 'string', optional: false, name: 'io.debezium.time.ZonedTimestamp', version: 1 })).toEqual({ type: 'string', 'connect.version': 1, 'connect.name': 'io.debezium.time.ZonedTimestamp' });
    expect(type({ type: 'string', optional: false, name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'sad,ok,happy' } })).toEqual({
      type: 'string',
      'connect.version': 1,
      'connect.parameters': { allowed: 'sad,ok,happy' },
      'connect.name': 'io.debezium.data.Enum',
    });
    // Connect's Decimal: bytes with Avro's decimal logical type (decimal.handling.mode=precise).
    expect(type({ type: 'bytes', optional: false, name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: '2', 'connect.decimal.precision': '12' } })).toEqual({
      type: 'bytes',
      scale: 2,
      precision: 12,
      'connect.version': 1,
      'connect.parameters': { scale: '2', 'connect.decimal.precision': '12' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    });
    expect(type({ type: 'array', optional: true, items: { type: 'string', optional: true } })).toEqual(['null', { type: 'array', items: ['null', 'string'] }]);
    expect(field({ type: 'string', optional: true }).fields[0]!.default).toBeNull();
    expect(field({ type: 'string', optional: false }).fields[0]).not.toHaveProperty('default');
    // Unnamed structs get AvroData's placeholder name; invalid name characters become _.
    expect(toAvroSchema({ type: 'struct', optional: false, fields: [] })).toMatchObject({ name: 'ConnectDefault', namespace: 'io.confluent.connect.avro' });
    expect(toAvroSchema({ type: 'struct', optional: false, name: 'my-app.public.2024 data.Value', fields: [{ type: 'int32', optional: false, field: 'a-b' }] })).toMatchObject({
      name: 'Value',
      namespace: 'my_app.public._2024_data',
      fields: [{ name: 'a_b' }],
      'connect.name': 'my-app.public.2024 data.Value',
    });
  });

  it('maps the Avro schema back to the same Connect schema (what a reader that fetched it by id sees)', () => {
    for (const schema of [keySchema(TOPIC, COLUMNS), envelopeSchema(TOPIC, COLUMNS, postgresSourceBlock.schema)]) {
      expect(toConnectSchema(JSON.parse(JSON.stringify(toAvroSchema(schema))))).toEqual(schema);
    }
    // A schema of another writer (no connect.* properties) reads as AvroData reads it.
    expect(toConnectSchema({ type: 'record', name: 'R', namespace: 'n', fields: [{ name: 'd', type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 5, scale: 1 }] }, { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A'] } }] })).toEqual({
      type: 'struct',
      optional: false,
      name: 'n.R',
      fields: [
        { type: 'bytes', optional: true, field: 'd', name: 'org.apache.kafka.connect.data.Decimal', parameters: { scale: '1', 'connect.decimal.precision': '5' } },
        { type: 'string', optional: false, field: 'e' },
      ],
    });
  });
});

describe('avro wire format and subjects', () => {
  it('writes byte 0, the big-endian schema id, then the Avro binary; subjects <topic>-key and <topic>-value', async () => {
    const registry = countingRegistry();
    const converter = new AvroConverter(registry);
    const keyEncoder = await converter.encoder(TOPIC, 'key', keySchema(TOPIC, COLUMNS));
    const valueEncoder = await converter.encoder(TOPIC, 'value', envelopeSchema(TOPIC, COLUMNS, postgresSourceBlock.schema));
    await converter.encoder(TOPIC, 'key', keySchema(TOPIC, COLUMNS));
    expect(registry.registered).toEqual([`${TOPIC}-key`, `${TOPIC}-value`]); // registered once per schema
    const key = keyEncoder.encode({ id: 300 });
    expect(key[0]).toBe(0);
    expect(key.readInt32BE(1)).toBe(registry.inner.versions(`${TOPIC}-key`)[0]);
    expect([...key.subarray(5)]).toEqual([0xd8, 0x04]); // zigzag varint of 300
    const value = valueEncoder.encode({ before: null, after: { id: 1, note: 'x', day: 19_000, small: -2 }, source: { version: '1', connector: 'postgresql', name: 'demo', ts_ms: 5, snapshot: 'false', db: 'app', schema: 'public', table: 'orders', txId: 9, lsn: 10, xmin: null }, op: 'c', ts_ms: 6 });
    expect(value.readInt32BE(1)).toBe(registry.inner.versions(`${TOPIC}-value`)[0]);
    expect(value.length).toBeLessThan(80);
  });

  it('fetches unknown ids once per batch, decodes synchronously after, and names an id the registry lacks', async () => {
    const registry = countingRegistry();
    const writer = new AvroConverter(registry);
    const encoder = await writer.encoder(TOPIC, 'key', keySchema(TOPIC, COLUMNS));
    const reader = new AvroConverter(registry);
    const bytes = encoder.encode({ id: 7 });
    expect(() => reader.decodeKey(bytes)).toThrow(SchemaNotLoadedError);
    await reader.loadSchemas([bytes, null, encoder.encode({ id: 8 })]);
    expect(registry.fetched).toHaveLength(1);
    expect(reader.loadSchemas([bytes])).toBeNull(); // nothing left to load: no Promise
    expect(reader.decodeKey(bytes)).toMatchObject({ value: { id: 7 }, schema: { schema: keySchema(TOPIC, COLUMNS) } });
    const unknown = Buffer.from(bytes);
    unknown.writeInt32BE(999, 1);
    await reader.loadSchemas([unknown]);
    expect(() => reader.decodeKey(unknown)).toThrow(DecodeError);
    expect(() => reader.decodeKey(unknown)).toThrow('schema id 999, which the schema registry does not have');
    expect(() => reader.decodeKey(Buffer.from([0, 0]))).toThrow(DecodeError);
    // A schema of another writer with no Connect mapping (an Avro map): its messages are dead letters, not a retried batch.
    const mapId = await registry.inner.register('other-value', JSON.stringify({ type: 'map', values: 'long' }));
    const mapMessage = Buffer.from([0, 0, 0, 0, mapId, 0]);
    await reader.loadSchemas([mapMessage]);
    expect(() => reader.decodeValue(mapMessage)).toThrow(/schema id \d+, whose schema cannot be read: Avro type "map" has no Connect mapping/);
    expect(() => reader.decodeKey(Buffer.concat([bytes, Buffer.from([1])]))).toThrow('1 bytes after the value');
    await expect(registry.schemaById(999)).rejects.toThrow(SchemaNotFoundError);
  });

  it('the in-memory registry can derive ids from the schema text: the same in every process, distinct per schema', async () => {
    const first = new MemorySchemaRegistry('BACKWARD', 'content');
    const second = new MemorySchemaRegistry('BACKWARD', 'content');
    const key = JSON.stringify(toAvroSchema(keySchema(TOPIC, COLUMNS)));
    const value = JSON.stringify(toAvroSchema(envelopeSchema(TOPIC, COLUMNS, postgresSourceBlock.schema)));
    const id = await first.register(`${TOPIC}-key`, key);
    expect(await second.register(`${TOPIC}-key`, key)).toBe(id);
    expect(id).toBeGreaterThan(0);
    expect(await first.register(`${TOPIC}-value`, value)).not.toBe(id);
    expect(await first.schemaById(id)).toBe(key);
    // Unknown in a process that has not registered it (yet): retryable, not a dead letter.
    await expect(new MemorySchemaRegistry('BACKWARD', 'content').schemaById(id)).rejects.toThrow('not registered in this process yet');
    await expect(new MemorySchemaRegistry('BACKWARD', 'content').schemaById(id)).rejects.not.toThrow(SchemaNotFoundError);
  });

  it('reads JSON messages too (a topic written before the switch) and tells them apart by the first byte', async () => {
    const avro = new AvroConverter(new MemorySchemaRegistry());
    const json = createConverter('json');
    const schema = keySchema(TOPIC, COLUMNS);
    const fromJson = (await json.encoder(TOPIC, 'key', schema)).encode({ id: 9_007_199_254_740_993n });
    expect(avro.loadSchemas([fromJson])).toBeNull();
    expect(avro.decodeKey(fromJson)).toMatchObject({ value: { id: 9_007_199_254_740_993n }, schema: { schema } });
    expect(avro.decodeValue(Buffer.from('{"id":1}')).value).toEqual({ id: 1 });
    expect(avro.decodeKey(avro.nullKey()).value).toBeNull();
    const fromAvro = (await avro.encoder(TOPIC, 'key', schema)).encode({ id: 1 });
    expect(() => json.decodeKey(fromAvro)).toThrow(DecodeError);
    // Entries of both kinds are distinct for the converter's life.
    expect(avro.decodeKey(fromAvro).schema.id).not.toBe(avro.decodeKey(fromJson).schema.id);
  });

  it('writes and reads int64 beyond 2^53 exactly, and float4 as the decimal it was written from', async () => {
    const converter = new AvroConverter(new MemorySchemaRegistry());
    const schema: ConnectSchema = { type: 'struct', optional: false, name: 'x.R', fields: [
      { type: 'int64', optional: false, field: 'min' },
      { type: 'int64', optional: true, field: 'max' },
      { type: 'int64', optional: false, field: 'micros' },
      { type: 'float', optional: true, field: 'f' },
      { type: 'bytes', optional: true, field: 'b' },
    ] };
    const encoder = await converter.encoder('x', 'value', schema);
    const value = { min: -(2n ** 63n), max: 2n ** 63n - 1n, micros: 1_709_296_496_500_000, f: 3.14, b: Buffer.from([0, 255]).toString('base64') };
    expect(converter.decodeValue(encoder.encode(value)).value).toEqual(value);
    expect(converter.decodeValue(encoder.encode({ ...value, max: null, f: 1e-7, b: null })).value).toEqual({ ...value, max: null, f: 1e-7, b: null });
    expect(() => encoder.encode({ ...value, min: 2n ** 64n })).toThrow('invalid "long"');
    expect(shortestFloat(Math.fround(0.1))).toBe(0.1);
    expect(shortestFloat(Math.fround(16777217))).toBe(16777216);
  });
});

describe('avro longs', () => {
  it('read every length of varint exactly: numbers while safe, bigints beyond, truncated ones refused', () => {
    const type = compileType('long' as avro.Schema);
    const values: (number | bigint)[] = [0, -1, 1, 63, -64, 64, -65];
    for (let bits = 6; bits <= 63; bits++) {
      for (const delta of [-1n, 0n, 1n]) {
        for (const sign of [1n, -1n]) {
          const value = sign * (2n ** BigInt(bits) + delta);
          if (value < -(2n ** 63n) || value >= 2n ** 63n) continue;
          values.push(Number.isSafeInteger(Number(value)) ? Number(value) : value);
        }
      }
    }
    for (const value of values) {
      const bytes = type.toBuffer(value);
      const decoded = type.decode(bytes, 0);
      expect(decoded.value, `${value} (${bytes.length} bytes)`).toEqual(value);
      expect(decoded.offset).toBe(bytes.length);
      // Cut short by one byte: avsc's truncated result (offset -1), never a value.
      expect(type.decode(bytes.subarray(0, bytes.length - 1), 0).offset, `${value} truncated`).toBe(-1);
    }
  });
});

describe('avro strings', () => {
  it("decode as avsc decodes them, each field's repeated value reused", () => {
    const schema = {
      type: 'record',
      name: 'R',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: ['null', 'string'], default: null },
        { name: 'c', type: { type: 'array', items: 'string' } },
      ],
    } as const;
    const ours = compileType(schema as unknown as avro.Schema);
    const plain = avro.Type.forSchema(schema as unknown as avro.Schema);
    const texts = ['', 'postgresql', 'postgresql', 'postgresqm', 'Postgresql', 'ünïcode', 'ünïcode', 'x'.repeat(64), 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(65), 'é', 'a\u0000b'];
    const values = texts.flatMap((text, index) => [
      { a: text, b: index % 3 === 0 ? null : text, c: [text, text, texts[(index + 1) % texts.length]!] },
      { a: text, b: text, c: [] },
    ]);
    for (const value of values) expect(ours.decode(plain.toBuffer(value)).value).toEqual(value);
    // Bytes that are not valid UTF-8 come out as avsc gives them (replacement characters), also after an equal-length ASCII value.
    const invalid = Buffer.concat([Buffer.from([2 * 2]), Buffer.from([0xff, 0xfe]), Buffer.from([0]), Buffer.from([0])]);
    ours.decode(plain.toBuffer({ a: 'ab', b: null, c: [] }));
    expect(ours.decode(invalid).value).toEqual(plain.decode(invalid).value);
    // Through a resolver (an older writer schema read with this one).
    const older = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }, { name: 'c', type: { type: 'array', items: 'string' } }] });
    const resolver = ours.createResolver(older);
    for (const text of texts) expect(ours.decode(older.toBuffer({ a: text, c: [text] }), 0, resolver).value).toEqual({ a: text, b: null, c: [text] });
  });
});

describe('avro round trip of the golden events', () => {
  it('every key, value and key header decodes to what the json format gives, schema included', async () => {
    const golden = JSON.parse(readFileSync(new URL('../fixtures/golden/events.json', import.meta.url), 'utf8')) as GoldenRecord[];
    // Compatibility off: the two golden transform chains write one output topic with different key types.
    const registry = new MemorySchemaRegistry('NONE');
    const writer = new AvroConverter(registry);
    const reader = new AvroConverter(registry);
    const json = createConverter('json');
    let checked = 0;
    for (const record of golden) {
      const parts: ['key' | 'value', string | null | undefined][] = [['key', record.key], ['value', record.value], ...Object.values(record.headers ?? {}).map((header) => ['key', header] as ['key', string])];
      for (const [part, base64] of parts) {
        if (!base64) continue;
        const fromJson = part === 'key' ? json.decodeKey(Buffer.from(base64, 'base64')) : json.decodeValue(Buffer.from(base64, 'base64'));
        const bytes = (await writer.encoder(record.topic, part, fromJson.schema.schema)).encode(fromJson.value);
        await reader.loadSchemas([bytes]);
        const fromAvro = part === 'key' ? reader.decodeKey(bytes) : reader.decodeValue(bytes);
        expect(fromAvro.value, `${record.name}: ${part}`).toEqual(fromJson.value);
        expect(fromAvro.schema.schema, `${record.name}: ${part} schema`).toEqual(fromJson.schema.schema);
        if (fromJson.schema.schema) expect(bytes[0], `${record.name}: ${part} is Avro`).toBe(0);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });
});

describe('avro through the real code paths of the golden events', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the source, the aggregate results and the transform (reading and writing avro) give the json format\'s values', async () => {
    const now = 1_700_000_000_000;
    vi.spyOn(Date, 'now').mockReturnValue(now);
    // One registry for every converter; compatibility off: the two golden transform chains write one topic with different key types.
    const registry = new MemorySchemaRegistry('NONE');
    const avro = await goldenRecords(now, () => new AvroConverter(registry));
    const json = await goldenRecords(now);
    expect(avro.map((record) => [record.name, record.topic])).toEqual(json.map((record) => [record.name, record.topic]));
    const reader = new AvroConverter(registry);
    const jsonReader = createConverter('json');
    const bytes = (base64: string | null | undefined) => (base64 ? Buffer.from(base64, 'base64') : null);
    let avroMessages = 0;
    for (const [index, record] of avro.entries()) {
      const expected = json[index]!;
      const parts: ['key' | 'value', string | null | undefined, string | null | undefined][] = [['key', record.key, expected.key], ['value', record.value, expected.value]];
      for (const header of Object.keys(expected.headers ?? {})) parts.push(['key', record.headers?.[header], expected.headers![header]]);
      for (const [part, actual, wanted] of parts) {
        const [actualBytes, wantedBytes] = [bytes(actual), bytes(wanted)];
        expect(actualBytes === null, `${record.name}: ${part} presence`).toBe(wantedBytes === null);
        if (!actualBytes || !wantedBytes) continue;
        await reader.loadSchemas([actualBytes]);
        const decoded = part === 'key' ? reader.decodeKey(actualBytes) : reader.decodeValue(actualBytes);
        const want = part === 'key' ? jsonReader.decodeKey(wantedBytes) : jsonReader.decodeValue(wantedBytes);
        expect(decoded.value, `${record.name}: ${part}`).toEqual(want.value);
        expect(decoded.schema.schema, `${record.name}: ${part} schema`).toEqual(want.schema.schema);
        if (actualBytes[0] === 0) avroMessages++;
      }
    }
    expect(avroMessages).toBeGreaterThan(30);
  });
});

describe('avro schema changes', () => {
  const v1 = envelopeSchema(TOPIC, COLUMNS, postgresSourceBlock.schema);
  const withQty = envelopeSchema(TOPIC, [...COLUMNS, { name: 'qty', schema: { type: 'int32', optional: true }, key: false }], postgresSourceBlock.schema);
  const source = { version: '1', connector: 'postgresql', name: 'demo', ts_ms: 5, snapshot: 'false', db: 'app', schema: 'public', table: 'orders', txId: 9, lsn: 10, xmin: null };

  it('registers a new version; an older message read with a newer hint comes out in the newer shape', async () => {
    const registry = new MemorySchemaRegistry();
    const writer = new AvroConverter(registry);
    const old = (await writer.encoder(TOPIC, 'value', v1)).encode({ before: null, after: { id: 1, note: 'a', day: null, small: null }, source, op: 'c', ts_ms: 1 });
    const newer = (await writer.encoder(TOPIC, 'value', withQty)).encode({ before: null, after: { id: 2, note: 'b', day: null, small: null, qty: 3 }, source, op: 'c', ts_ms: 2 });
    expect(registry.versions(`${TOPIC}-value`)).toHaveLength(2);
    const reader = new AvroConverter(registry);
    const latest = await decodeValue(reader, newer);
    const resolved = await decodeValue(reader, old, latest.schema);
    expect(resolved.schema).toBe(latest.schema);
    expect((resolved.value as ChangeEvent).after).toEqual({ id: 1, note: 'a', day: null, small: null, qty: null });
    // Without a hint, or with an older one, a message reads with its own schema.
    const own = await decodeValue(reader, old);
    expect(own.schema).not.toBe(latest.schema);
    expect((own.value as ChangeEvent).after).toEqual({ id: 1, note: 'a', day: null, small: null });
    expect((reader.decodeValue(newer, own.schema).value as ChangeEvent).after).toMatchObject({ qty: 3 });
  });

  it('reads only the projected fields of the source block, of a message of its own schema and of an older one', async () => {
    const registry = new MemorySchemaRegistry();
    const writer = new AvroConverter(registry);
    const event = { before: null, after: { id: 1, note: 'a', day: 19_000, small: 3 }, source, op: 'u', ts_ms: 1 };
    const old = (await writer.encoder(TOPIC, 'value', v1)).encode(event);
    const newer = (await writer.encoder(TOPIC, 'value', withQty)).encode({ ...event, after: { ...event.after, qty: 4 } });
    const reader = new AvroConverter(registry);
    const projection = { source: ['connector', 'ts_ms', 'lsn'] };
    const latest = await decodeValue(reader, newer);
    await reader.loadSchemas([old]);
    for (const [bytes, qty] of [[newer, 4], [old, null]] as const) {
      const projected = reader.decodeValue<ChangeEvent>(bytes, latest.schema, projection);
      // The entry is the hint's (callers key their state by it); the rest of the value is whole.
      expect(projected.schema).toBe(latest.schema);
      expect(projected.value).toEqual({ ...event, after: { ...event.after, qty }, source: { connector: 'postgresql', ts_ms: 5, lsn: 10 } });
    }
    // Without the projection, and in the json format (which reads everything), the block is whole.
    expect(reader.decodeValue<ChangeEvent>(newer, latest.schema).value.source).toEqual(source);
    const json = createConverter('json');
    const text = (await json.encoder(TOPIC, 'value', v1)).encode(event);
    expect(json.decodeValue<ChangeEvent>(text, undefined, projection).value.source).toEqual(source);
  });

  it('leaves a schema a projection does not apply to as it is', () => {
    const schema = toAvroSchema(v1) as Record<string, unknown>;
    expect(projectSchema(schema, { transaction: ['id'] })).toBeNull(); // a union, not a record: read whole
    expect(projectSchema(schema, { nothing: ['id'] })).toBeNull();
    expect(projectSchema(schema, { source: postgresSourceBlock.schema.fields!.map((field) => field.field!) })).toBeNull(); // every field kept
    expect(projectSchema('string', { source: ['lsn'] })).toBeNull();
    const cut = projectSchema(schema, { source: ['lsn', 'absent'] }) as { fields: { name: string; type: { name?: string; namespace?: string; fields?: { name: string }[] } }[] };
    const block = cut.fields.find((field) => field.name === 'source')!.type;
    // Named as the writer's block, so that the writer's resolves to it.
    expect(`${block.namespace}.${block.name}`).toBe('io.debezium.connector.postgresql.Source');
    expect(block.fields!.map((field) => field.name)).toEqual(['lsn']);
  });

  it('the registry refuses an incompatible version (BACKWARD)', async () => {
    const converter = new AvroConverter(new MemorySchemaRegistry());
    await converter.encoder(TOPIC, 'value', v1);
    const retyped = envelopeSchema(TOPIC, COLUMNS.map((column) => (column.name === 'day' ? { ...column, schema: { type: 'string', optional: true } } : column)), postgresSourceBlock.schema);
    await expect(converter.encoder(TOPIC, 'value', retyped)).rejects.toThrow(IncompatibleSchemaError);
    await expect(converter.encoder(TOPIC, 'value', withQty)).resolves.toBeDefined();
  });
});

describe('the source with a schema the registry refuses', () => {
  const column = (name: string, typeOid: number, flags = 0): Pgoutput.RelationColumn => ({ name, flags, typeOid, typeMod: -1, typeSchema: null, typeName: null, parser: (raw: unknown) => raw });
  const orders = (qty: number): Pgoutput.MessageRelation => ({ tag: 'relation', relationOid: 1, schema: 'public', name: 'orders', replicaIdentity: 'default', columns: [column('id', 20, 1), column('qty', qty)], keyColumns: ['id'] });
  const other: Pgoutput.MessageRelation = { tag: 'relation', relationOid: 2, schema: 'public', name: 'other', replicaIdentity: 'default', columns: [column('id', 20, 1)], keyColumns: ['id'] };
  const tx = { xid: 1, commitTimeMs: 1 };

  it('sends the table events to the dead-letter topic naming table and column; other tables, and a compatible schema later, flow', async () => {
    const converter = new AvroConverter(new MemorySchemaRegistry());
    const refusals: string[] = [];
    const builder = new ChangeEventBuilder({
      converter,
      topicPrefix: 'demo',
      database: 'app',
      tombstones: true,
      deadLetters: { topic: 'src.dlq', connector: 'src' },
      onSchemaRefused: async (table, error) => void refusals.push(`${table}: ${error.columns.join(',')}`),
    });
    await builder.onRelation(orders(23));
    await builder.onRelation(other);
    expect(builder.build({ tag: 'insert', relation: orders(23), new: { id: '1', qty: '5' } }, 10, tx).records[0]!.topic).toBe('demo.public.orders');
    await builder.onRelation(orders(25)); // ALTER TABLE orders ALTER qty TYPE text: int → string is not BACKWARD compatible
    expect(refusals).toEqual(['public.orders: qty']);
    const refused = builder.build({ tag: 'insert', relation: orders(25), new: { id: '2', qty: 'many' } }, 20, tx);
    expect(refused.records).toHaveLength(1);
    expect(refused.events).toEqual([]);
    expect(refused.deadLettered).toEqual(['public.orders']);
    const [letter] = refused.records;
    expect(letter!.topic).toBe('src.dlq');
    const error = letter!.headers!['tideline.error']!.toString();
    expect(error).toContain('table public.orders');
    expect(error).toContain('column qty changed from int32 to string');
    expect(letter!.headers!['tideline.source.topic']!.toString()).toBe('demo.public.orders');
    // The dead letter is the event as JsonConverter writes it, readable whatever the format.
    expect(createConverter('json').decodeValue<ChangeEvent>(letter!.value!).value.after).toEqual({ id: 2, qty: 'many' });
    expect(builder.build({ tag: 'insert', relation: other, new: { id: '3' } }, 30, tx).records[0]!.topic).toBe('demo.public.other');
    await builder.onRelation(orders(23)); // changed back: the registered version again
    expect(builder.build({ tag: 'insert', relation: orders(23), new: { id: '4', qty: '6' } }, 40, tx).records[0]!.topic).toBe('demo.public.orders');
  });

  it('dead-letters an event whose value Avro cannot hold (the TOAST placeholder in an integer array) instead of failing', async () => {
    const withArray: Pgoutput.MessageRelation = { ...orders(23), relationOid: 3, name: 'scores', columns: [column('id', 20, 1), column('scores', 1007)] };
    const builder = new ChangeEventBuilder({
      converter: new AvroConverter(new MemorySchemaRegistry()),
      topicPrefix: 'demo',
      database: 'app',
      tombstones: true,
      deadLetters: { topic: 'src.dlq', connector: 'src' },
      types: new Map([[1007, { oid: 1007, name: '_int4', kind: 'b', elementOid: 23, baseOid: 0, labels: null }]]),
    });
    await builder.onRelation(withArray);
    expect(builder.build({ tag: 'insert', relation: withArray, new: { id: '1', scores: '{1,2}' } }, 10, tx).records[0]!.topic).toBe('demo.public.scores');
    const unchanged = builder.build({ tag: 'update', relation: withArray, key: null, old: null, new: { id: '1', scores: undefined } }, 20, tx);
    expect(unchanged.records.map((record) => record.topic)).toEqual(['src.dlq']);
    expect(unchanged.records[0]!.headers!['tideline.error']!.toString()).toMatch(/^table public.scores: the u event does not fit the avro schema of demo.public.scores: invalid \["null","int"\]: "__debezium_unavailable_value"/);
  });

  it('without a dead-letter topic a refusal fails, as any registry error does', async () => {
    const builder = new ChangeEventBuilder({ converter: new AvroConverter(new MemorySchemaRegistry()), topicPrefix: 'demo', database: 'app', tombstones: true });
    await builder.onRelation(orders(23));
    await expect(builder.onRelation(orders(25))).rejects.toThrow(IncompatibleSchemaError);
  });
});
