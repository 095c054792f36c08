/**
 * The `columns` setting where a table's columns become its schemas
 * (ChangeEventBuilder.onRelation): left-out columns are absent from keys,
 * values, schemas, before images, key-change headers, snapshot rows and dead
 * letters, in both formats; masked and hashed columns carry only the
 * replacement; a key column the rules would touch refuses the table.
 */
import type { Pgoutput } from 'pg-logical-replication';
import { describe, expect, it } from 'vitest';
import { SourceTypeParameter } from '../../src/core/connect-schema.js';
import type { ChangeEvent, Row } from '../../src/core/events.js';
import { MemorySchemaRegistry } from '../../src/registry/memory-registry.js';
import { createConverter, type Converter } from '../../src/serde/index.js';
import { ChangeEventBuilder, type KafkaRecord } from '../../src/sources/postgres/change-events.js';
import { hasher } from '../../src/sources/postgres/column-masking.js';
import { ColumnRuleError, ColumnRules } from '../../src/sources/postgres/column-rules.js';
import { columnsConfigSchema } from '../../src/sources/postgres/spec.js';

const LSN = 0x16_b374d848;
const TX = { xid: 771, commitTimeMs: 1_699_999_999_000 };
const SALT = 'pepper';
const SSN = '123-45-6789';
const SECRET = 'the-launch-code';

function column(name: string, typeOid: number, typeMod = -1): Pgoutput.RelationColumn {
  return { name, flags: name === 'id' ? 1 : 0, typeOid, typeMod, typeSchema: null, typeName: null, parser: (raw: unknown) => raw };
}

function relation(overrides: Partial<Pgoutput.MessageRelation> = {}): Pgoutput.MessageRelation {
  return {
    tag: 'relation',
    relationOid: 16_700,
    schema: 'public',
    name: 'users',
    replicaIdentity: 'default',
    // id int8, name text, email varchar(20), ssn text, secret_note text, score int4
    columns: [column('id', 20), column('name', 25), column('email', 1043, 20 + 4), column('ssn', 25), column('secret_note', 25), column('score', 23)],
    keyColumns: ['id'],
    ...overrides,
  };
}

const USERS = relation();
const FULL = relation({ relationOid: 16_701, replicaIdentity: 'full' });

const RULES = {
  exclude: ['public.users.ssn', 'public.*.secret_*'],
  mask: [{ column: 'public.users.name', length: 4 }],
  hash: [{ column: 'public.users.email', salt: SALT }],
};

function rules(config: unknown = RULES): ColumnRules {
  return new ColumnRules(columnsConfigSchema.parse(config));
}

async function builder(converter: Converter = createConverter('json'), config: unknown = RULES, rel = USERS): Promise<ChangeEventBuilder> {
  const result = new ChangeEventBuilder({
    converter,
    topicPrefix: 'demo',
    database: 'app',
    tombstones: true,
    primaryKeys: new Map([['public.users', ['id']]]),
    columnRules: rules(config),
    deadLetters: { topic: 'demo.dlq', connector: 'src' },
  });
  await result.onRelation(rel);
  return result;
}

const ROW = { id: '1', name: 'Alice', email: 'alice@example.com', ssn: SSN, secret_note: SECRET, score: '7' };
const emailHash = hasher({ algorithm: 'SHA-256', salt: SALT, version: 2 }, 20)('alice@example.com');

const json = createConverter('json');
const valueOf = (record: KafkaRecord): ChangeEvent => json.decodeValue<ChangeEvent>(record.value!).value;
const keyOf = (bytes: Buffer): Row => json.decodeKey<Row>(bytes).value;

/** No byte of a record (key, value, headers) holds a left-out column's name or value. */
function expectClean(records: KafkaRecord[]): void {
  expect(records.length).toBeGreaterThan(0);
  for (const record of records) {
    const bytes = Buffer.concat([record.key ?? Buffer.alloc(0), record.value ?? Buffer.alloc(0), ...Object.values(record.headers ?? {})]).toString('latin1');
    for (const secret of ['ssn', SSN, 'secret_note', SECRET, 'Alice', 'alice@example.com']) expect(bytes, `record of ${record.topic}`).not.toContain(secret);
  }
}

describe('columns left out, masked and hashed (json)', () => {
  it('are absent from the value schema, and the rest keep their order and types', async () => {
    const [record] = (await builder()).build({ tag: 'insert', relation: USERS, new: ROW }, LSN, TX).records;
    const schema = json.decodeValue(record!.value!).schema.schema!;
    const after = schema.fields!.find((field) => field.field === 'after')!;
    expect(after.fields!.map((field) => field.field)).toEqual(['id', 'name', 'email', 'score']);
    expect(after.fields![1]).toEqual({ type: 'string', optional: true, field: 'name', parameters: { [SourceTypeParameter.type]: 'TEXT', masked: 'true' } });
    expect(after.fields![2]).toEqual({
      type: 'string',
      optional: true,
      field: 'email',
      parameters: { [SourceTypeParameter.type]: 'VARCHAR', [SourceTypeParameter.length]: '20', masked: 'true' },
    });
    expect(valueOf(record!).after).toEqual({ id: 1, name: '****', email: emailHash, score: 7 });
    expect(emailHash).toHaveLength(20);
    expectClean([record!]);
  });

  it('hash the same value to the same text in every event and builder, and mask null while a hash keeps it', async () => {
    const one = (await builder()).build({ tag: 'insert', relation: USERS, new: ROW }, LSN, TX).records[0]!;
    const two = (await builder()).build({ tag: 'insert', relation: USERS, new: { ...ROW, id: '2' } }, LSN + 1, TX).records[0]!;
    expect(valueOf(two).after!.email).toBe(valueOf(one).after!.email);
    const nulls = (await builder()).build({ tag: 'insert', relation: USERS, new: { ...ROW, name: null, email: null } }, LSN, TX).records[0]!;
    expect(valueOf(nulls).after).toMatchObject({ name: '****', email: null });
  });

  it('are absent from before images (REPLICA IDENTITY FULL and key-only deletes) and updates carry the replacement', async () => {
    const full = await builder(json, RULES, FULL);
    const updated = full.build({ tag: 'update', relation: FULL, key: null, old: ROW, new: { ...ROW, score: '8' } }, LSN, TX).records;
    expect(valueOf(updated[0]!)).toMatchObject({ op: 'u', before: { id: 1, name: '****', email: emailHash, score: 7 }, after: { id: 1, name: '****', email: emailHash, score: 8 } });
    const deleted = (await builder()).build({ tag: 'delete', relation: USERS, key: { id: '1' }, old: null }, LSN, TX).records;
    expect(valueOf(deleted[0]!).before).toEqual({ id: 1, name: '****', email: null, score: null });
    expectClean([...updated, ...deleted]);
  });

  it('keep an unchanged TOASTed hashed value as the placeholder (the sink keeps the stored hash), a masked one as the mask', async () => {
    const [record] = (await builder()).build({ tag: 'update', relation: USERS, key: null, old: null, new: { ...ROW, name: undefined, email: undefined, ssn: undefined } }, LSN, TX).records;
    expect(valueOf(record!).after).toEqual({ id: 1, name: '****', email: '__debezium_unavailable_value', score: 7 });
  });

  it('are absent from both halves of a key change and from its headers', async () => {
    const full = await builder(json, RULES, FULL);
    const records = full.build({ tag: 'update', relation: FULL, key: null, old: ROW, new: { ...ROW, id: '2' } }, LSN, TX).records;
    expect(records.map((record) => (record.value ? valueOf(record).op : 'tombstone'))).toEqual(['d', 'tombstone', 'c']);
    expect(keyOf(records[0]!.headers!['__debezium.newkey']!)).toEqual({ id: 2 });
    expect(keyOf(records[2]!.headers!['__debezium.oldkey']!)).toEqual({ id: 1 });
    expect(valueOf(records[2]!).after).toEqual({ id: 2, name: '****', email: emailHash, score: 7 });
    expectClean(records);
  });

  it('apply to snapshot rows, and the snapshot reads only the columns that reach Kafka', async () => {
    const b = await builder();
    expect(b.columnsOf(USERS)).toEqual(['id', 'name', 'email', 'score']);
    const { records } = b.buildRead(USERS, { id: '1', name: 'Alice', email: 'alice@example.com', score: '7' }, 99, { xid: null, commitTimeMs: 0 }, 'true');
    expect(valueOf(records[0]!)).toMatchObject({ op: 'r', after: { id: 1, name: '****', email: emailHash, score: 7 } });
    expectClean(records);
  });

  it('keep only included columns', async () => {
    const b = await builder(json, { include: ['public.users.id', 'public.users.s*'] });
    expect(b.columnsOf(USERS)).toEqual(['id', 'ssn', 'secret_note', 'score']);
    const [record] = b.build({ tag: 'insert', relation: USERS, new: ROW }, LSN, TX).records;
    expect(valueOf(record!).after).toEqual({ id: 1, ssn: SSN, secret_note: SECRET, score: 7 });
  });

  it('change nothing for a table no rule matches', async () => {
    const b = await builder(json, { exclude: ['public.orders.secret'] });
    expect(b.columnsOf(USERS)).toEqual(['id', 'name', 'email', 'ssn', 'secret_note', 'score']);
  });
});

describe('columns left out, masked and hashed (avro)', () => {
  it('are absent from the registered key and value schemas and from the bytes', async () => {
    const registry = new MemorySchemaRegistry();
    const avro = createConverter('avro', registry);
    const full = await builder(avro, RULES, FULL);
    const records = [
      ...full.build({ tag: 'insert', relation: FULL, new: ROW }, LSN, TX).records,
      ...full.build({ tag: 'update', relation: FULL, key: null, old: ROW, new: { ...ROW, id: '2' } }, LSN, TX).records,
    ];
    expectClean(records);
    const texts = await Promise.all(registry.versions('demo.public.users-value').concat(registry.versions('demo.public.users-key')).map((id) => registry.schemaById(id)));
    expect(texts).toHaveLength(2);
    for (const text of texts) {
      expect(text).not.toContain('ssn');
      expect(text).not.toContain('secret_note');
    }
    expect(texts[0]).toContain('"masked":"true"');
    await avro.loadSchemas([records[0]!.value]);
    expect(avro.decodeValue<ChangeEvent>(records[0]!.value!).value.after).toEqual({ id: 1, name: '****', email: emailHash, score: 7 });
  });
});

describe('a key column the rules would touch', () => {
  it('refuses the table when its Relation arrives, naming the column (primary key or replica-identity index)', async () => {
    await expect(builder(json, { exclude: ['public.users.id'] })).rejects.toThrow(
      'columns: column public.users.id is a key column of public.users and cannot be left out (columns.exclude lists it); the key must reach Kafka',
    );
    await expect(builder(json, { hash: [{ column: 'public.users.id', salt: 's' }] })).rejects.toBeInstanceOf(ColumnRuleError);
    const byIndex = new ChangeEventBuilder({ converter: json, topicPrefix: 'demo', database: 'app', tombstones: true, columnRules: rules({ exclude: ['public.users.email'] }) });
    await expect(byIndex.onRelation(relation({ replicaIdentity: 'index', keyColumns: ['email'] }))).rejects.toThrow('column public.users.email is a key column of public.users');
  });

  it('is no key under REPLICA IDENTITY FULL without a primary key: every column may be left out', async () => {
    const b = new ChangeEventBuilder({ converter: json, topicPrefix: 'demo', database: 'app', tombstones: true, columnRules: rules({ exclude: ['public.users.id'] }) });
    await b.onRelation(relation({ replicaIdentity: 'full', keyColumns: ['id', 'name'] }));
    expect(b.columnsOf(USERS)).toEqual(['name', 'email', 'ssn', 'secret_note', 'score']);
  });
});
