/**
 * The events of the golden format test (test/unit/serde-golden.test.ts): a
 * representative set of source change events, aggregate results and transform
 * outputs, built through the real code paths. Their bytes are stored in
 * test/fixtures/golden/events.json; the test asserts the code still produces
 * exactly those bytes. Call with Date.now pinned (the events carry ts_ms).
 */
import type { Pgoutput } from 'pg-logical-replication';
import { createLogger } from '../../src/core/logger.js';
import { createAggregator } from '../../src/processors/aggregate/aggregators.js';
import { ResultEncoder, type ResultColumn } from '../../src/processors/aggregate/results.js';
import { transformConfigSchema } from '../../src/processors/transform/spec.js';
import { TransformProcessor } from '../../src/processors/transform/transform-processor.js';
import { createConverter, type Converter } from '../../src/serde/index.js';
import { ChangeEventBuilder, type KafkaRecord } from '../../src/sources/postgres/change-events.js';
import type { CatalogType } from '../../src/sources/postgres/type-mapping.js';

/** One record's bytes, base64 (null: no key, or a tombstone). */
export interface GoldenRecord {
  name: string;
  topic: string;
  key: string | null;
  value: string | null;
  headers?: Record<string, string>;
}

const LSN = 0x16_b374d848;
const TX = { xid: 771, commitTimeMs: 1_699_999_999_000 };

type Column = Pgoutput.RelationColumn;

function column(name: string, typeOid: number, flags = 0, typeMod = -1): Column {
  return { name, flags, typeOid, typeMod, typeSchema: null, typeName: null, parser: (raw: unknown) => raw };
}

function relation(oid: number, name: string, columns: Column[], keyColumns: string[], replicaIdentity: Pgoutput.MessageRelation['replicaIdentity'] = 'default'): Pgoutput.MessageRelation {
  return { tag: 'relation', relationOid: oid, schema: 'public', name, replicaIdentity, columns, keyColumns };
}

const ORDERS = relation(16_400, 'orders', [column('id', 20, 1), column('note', 25), column('doc', 3802)], ['id']);
const ORDERS_FULL = relation(16_401, 'orders_full', [column('id', 20, 1), column('note', 25, 1), column('doc', 3802, 1)], ['id', 'note', 'doc'], 'full');
const numericTypmod = (precision: number, scale: number): number => ((precision << 16) | scale) + 4;
const MOOD_OID = 16_600;
const MANY = relation(
  16_402,
  'many_types',
  [
    column('id', 20, 1),
    column('amount', 1700, 0, numericTypmod(12, 2)),
    column('ratio', 1700),
    column('at', 1184),
    column('local_at', 1114),
    column('day', 1082),
    column('clock', 1083),
    column('clock_tz', 1266),
    column('span', 1186),
    column('doc', 114),
    column('docb', 3802),
    column('uid', 2950),
    column('blob', 17),
    column('tags', 1009),
    column('scores', 1007),
    column('mood', MOOD_OID),
    column('big', 20),
    column('share', 701),
    column('small', 21),
    column('flag', 16),
    column('code', 1043, 0, 14),
    column('unknown', 600),
  ],
  ['id'],
);

const TYPES = new Map<number, CatalogType>([
  [1009, { oid: 1009, name: '_text', kind: 'b', elementOid: 25, baseOid: 0, labels: null }],
  [1007, { oid: 1007, name: '_int4', kind: 'b', elementOid: 23, baseOid: 0, labels: null }],
  [MOOD_OID, { oid: MOOD_OID, name: 'mood', kind: 'e', elementOid: 0, baseOid: 0, labels: ['sad', 'ok', 'happy'] }],
]);

const MANY_VALUES = {
  id: '9007199254740993',
  amount: '1234567890.12',
  ratio: '0.333333333333333333333',
  at: '2024-03-01 12:34:56.123456+00',
  local_at: '2024-03-01 12:34:56.5',
  day: '2024-03-01',
  clock: '23:59:59.999999',
  clock_tz: '10:00:00+02',
  span: 'P1Y2M3DT4H5M6.5S',
  doc: '{"a": [1, 2.5, "x"]}',
  docb: '{"big": 12345678901234567890}',
  uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  blob: '\\x0102ff00',
  tags: '{a,"b c",NULL,"d\\"e"}',
  scores: '{1,-2,3}',
  mood: 'happy',
  big: '-9223372036854775808',
  share: '0.1',
  small: '-32768',
  flag: 't',
  code: 'ünïcødé "q"\n',
  unknown: '(1,2)',
};

/** Makes the converter each code path encodes with (json for the fixture; the avro test passes its own). */
export type ConverterFactory = () => Converter;
const JSON_CONVERTER: ConverterFactory = () => createConverter('json');

async function sourceBuilder(converter: ConverterFactory): Promise<ChangeEventBuilder> {
  const builder = new ChangeEventBuilder({
    converter: converter(),
    topicPrefix: 'golden',
    database: 'app',
    tombstones: true,
    primaryKeys: new Map([
      ['public.orders', ['id']],
      ['public.orders_full', ['id']],
      ['public.many_types', ['id']],
    ]),
    types: TYPES,
  });
  for (const rel of [ORDERS, ORDERS_FULL, MANY]) await builder.onRelation(rel);
  return builder;
}

function golden(name: string, records: readonly KafkaRecord[]): GoldenRecord[] {
  return records.map((record, index) => {
    const out: GoldenRecord = {
      name: records.length > 1 ? `${name} #${index + 1}` : name,
      topic: record.topic,
      key: record.key ? record.key.toString('base64') : null,
      value: record.value ? record.value.toString('base64') : null,
    };
    if (record.headers) out.headers = Object.fromEntries(Object.entries(record.headers).map(([header, bytes]) => [header, bytes.toString('base64')]));
    return out;
  });
}

async function sourceEvents(converter: ConverterFactory): Promise<GoldenRecord[]> {
  const b = await sourceBuilder(converter);
  const insert = (rel: Pgoutput.MessageRelation, values: Record<string, unknown>): Pgoutput.MessageInsert => ({ tag: 'insert', relation: rel, new: values });
  const update = (rel: Pgoutput.MessageRelation, values: Record<string, unknown>, key: Record<string, unknown> | null, old: Record<string, unknown> | null): Pgoutput.MessageUpdate => ({
    tag: 'update',
    relation: rel,
    key,
    old,
    new: values,
  });
  return [
    ...golden('insert', b.build(insert(ORDERS, { id: '1', note: 'hello', doc: '{"k": 1}' }), LSN, TX).records),
    ...golden('update', b.build(update(ORDERS, { id: '1', note: 'changed', doc: null }, null, null), LSN + 8, TX).records),
    ...golden('update with old image', b.build(update(ORDERS_FULL, { id: '1', note: 'new', doc: '[]' }, null, { id: '1', note: 'old', doc: '[]' }), LSN + 16, TX).records),
    ...golden('delete + tombstone', b.build({ tag: 'delete', relation: ORDERS, key: { id: '1' }, old: null }, LSN + 24, TX).records),
    ...golden('key change, replica identity default', b.build(update(ORDERS, { id: '2', note: 'moved', doc: undefined }, { id: '1' }, null), LSN + 32, TX).records),
    ...golden('key change, replica identity full', b.build(update(ORDERS_FULL, { id: '3', note: 'n', doc: undefined }, null, { id: '2', note: 'n', doc: '{"kept": true}' }), LSN + 40, TX).records),
    ...golden('truncate', b.buildTruncate(ORDERS, LSN + 48, TX).records),
    ...golden('snapshot read', b.buildRead(ORDERS, { id: '7', note: 'seven', doc: null }, 1234, { xid: null, commitTimeMs: TX.commitTimeMs }, 'true').records),
    ...golden('unchanged toast', b.build(update(MANY, { ...MANY_VALUES, blob: undefined, tags: undefined, docb: undefined, doc: undefined }, null, null), LSN + 56, TX).records),
    ...golden('many types', b.build(insert(MANY, MANY_VALUES), LSN + 64, TX).records),
    ...golden('many types, nulls', b.build(insert(MANY, { ...Object.fromEntries(Object.keys(MANY_VALUES).map((name) => [name, null])), id: '5' }), LSN + 72, TX).records),
    // double precision NaN, ±Infinity and -0, as Kafka's JsonConverter (Jackson) writes them: "NaN", "Infinity", "-Infinity", -0.0.
    ...['NaN', 'Infinity', '-Infinity', '-0'].flatMap((share, index) =>
      golden(`many types, share ${share}`, b.build(insert(MANY, { ...MANY_VALUES, id: String(10 + index), share }), LSN + 80 + index * 8, TX).records),
    ),
  ];
}

async function aggregateResults(now: number, converter: ConverterFactory): Promise<GoldenRecord[]> {
  const options = { maxDistinctValues: 10, hasExpression: true };
  const columns: ResultColumn[] = [
    { name: 'orders', fn: 'count', type: 'int64', aggregator: createAggregator('count', 'orders', { ...options, hasExpression: false }) },
    { name: 'revenue', fn: 'sum', type: 'int64', aggregator: createAggregator('sum', 'revenue', options) },
    { name: 'average', fn: 'avg', type: 'double', aggregator: createAggregator('avg', 'average', options) },
    { name: 'buyers', fn: 'countDistinct', type: 'int64', aggregator: createAggregator('countDistinct', 'buyers', options) },
  ];
  const group = [
    { name: 'customer_id', type: 'int64' },
    { name: 'region', type: 'string' },
  ] as const;
  const encoder = await ResultEncoder.create(converter(), 'orders_per_minute', group as never, columns, 60_000, { processor: 'agg', table: 'orders_per_minute' });
  const entry = (seq: number, accumulators: unknown[]) => ({ group: [7, 'eu'], start: 60_000, seq, accumulators, maxTs: 90_500, rows: 2, shown: true });
  const result = (name: string, encoded: { key: Buffer; value: Buffer }): GoldenRecord => ({ name, topic: 'orders_per_minute', key: encoded.key.toString('base64'), value: encoded.value.toString('base64') });
  const distinct = ['a', 'b'];
  return [
    result('aggregate first result', encoder.encode(entry(1, [2, 24, [7, 3], distinct]) as never, now)),
    result('aggregate update, null average', encoder.encode(entry(2, [3, null, [0, 0], distinct]) as never, now)),
    result('aggregate delete', encoder.encode(entry(3, [0, 2 ** 53 + 2, [1, 3], distinct]) as never, now, 'd')),
  ];
}

async function transformOutputs(converter: ConverterFactory): Promise<GoldenRecord[]> {
  const b = await sourceBuilder(converter);
  const inputs = [
    ...b.build({ tag: 'insert', relation: MANY, new: { ...MANY_VALUES, id: '1', amount: '10.50' } }, LSN, TX).records,
    ...b.build({ tag: 'delete', relation: ORDERS, key: { id: '4' }, old: null }, LSN + 8, TX).records,
  ];
  const schemaless = { topic: 'golden.public.plain', key: Buffer.from('{"id":5}'), value: Buffer.from('{"id":5,"n":9007199254740993,"s":"x"}') };
  const outputs: GoldenRecord[] = [];
  const chains = {
    'transform envelope': [
      { type: 'rename', fields: { amount: 'price' } },
      { type: 'mask', fields: ['code'], replacement: '***' },
      { type: 'cast', fields: { price: 'double', id: 'string' } },
      { type: 'compute', fields: { label: { expression: "code & '-' & $string(share)" } } },
      { type: 'drop', fields: ['blob', 'unknown'] },
    ],
    'transform unwrap': [{ type: 'unwrap', dropTombstones: false }, { type: 'keep', fields: ['id', 'note', 'big', 'tags', '__op', '__deleted'] }],
  };
  for (const [name, steps] of Object.entries(chains)) {
    const config = transformConfigSchema.parse({ topics: ['golden.public.many_types'], outputTopic: '{topic}.out', steps });
    const processorConverter = converter();
    const processor = new TransformProcessor({ name: 'golden-transform', kind: 'transform', config, kafka: { brokers: ['127.0.0.1:1'] }, converter: processorConverter, logger: createLogger({ level: 'silent' }), setState: () => undefined } as never);
    const run = (processor as unknown as { transform(topic: string, message: unknown, defaultTopic: string): Promise<{ topic: string; key: Buffer | null; value: Buffer | null } | null> }).transform.bind(processor);
    const records: KafkaRecord[] = [];
    for (const input of [...inputs, schemaless]) {
      // What the processor loop does before each batch.
      await processorConverter.loadSchemas([input.key, input.value]);
      const output = await run(input.topic, { key: input.key, value: input.value, headers: {}, offset: '0', timestamp: '0', attributes: 0 }, `${input.topic}.out`);
      if (output) records.push({ topic: output.topic, key: output.key, value: output.value });
    }
    outputs.push(...golden(name, records));
  }
  return outputs;
}

/** Every golden record, in a fixed order. `now` must be what Date.now returns. */
export async function goldenRecords(now: number, converter: ConverterFactory = JSON_CONVERTER): Promise<GoldenRecord[]> {
  return [...(await sourceEvents(converter)), ...(await aggregateResults(now, converter)), ...(await transformOutputs(converter))];
}
