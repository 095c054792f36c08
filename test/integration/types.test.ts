/**
 * Every common PostgreSQL type round-trips through the source into Kafka with
 * its exact value (Debezium's representation), NULL in every column included,
 * and the sink still writes such rows: in each format. With avro, the events
 * read from Kafka (through the schema registry the daemon registered them in)
 * must equal what the json format carries, and ClickHouse must hold exactly
 * the values it holds with json. The avro run also takes precise decimals
 * (decimalHandling: precise): numeric(38,10) as a Connect Decimal, which
 * ClickHouse must still hold as the same Decimal(38, 10) value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import type { ChangeEvent } from '../../src/core/events.js';
import { decimalToUnscaledBase64 } from '../../src/core/decimal.js';
import { MemorySchemaRegistry } from '../../src/registry/memory-registry.js';
import type { Daemon } from '../../src/runtime/daemon.js';
import { createConverter, type FormatName } from '../../src/serde/index.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const COLUMNS = [
  'n38', 'nfree', 'i2', 'i4', 'i8', 'f4', 'f8', 'b', 't', 'vc', 'ch', 'by', 'u', 'j', 'jb',
  'd', 'tm', 'ttz', 'ts', 'tstz', 'iv', 'ai', 'at', 'm', 'am', 'pi',
];

/** Every column of both rows as ClickHouse returns them (TabSeparated), by format. */
const clickhouseRows = new Map<FormatName, string>();

describe.each(['json', 'avro'] as const)('PostgreSQL types into Kafka and ClickHouse, format %s', (format) => {
  const fixture = new TableFixture('types');
  const { services, suffix, table, topic, database, client, clickhouse } = fixture;
  const mood = `mood_${suffix}`;
  const posint = `posint_${suffix}`;
  // Shared with the daemon, so that this test reads what it registered.
  const registry = new MemorySchemaRegistry();
  const converter = createConverter(format, registry);
  let daemon: Daemon | undefined;

  async function decodeEvent(bytes: Buffer): Promise<{ schema: ConnectSchema | null; payload: ChangeEvent }> {
    await converter.loadSchemas([bytes]);
    const decoded = converter.decodeValue<ChangeEvent>(bytes);
    return { schema: decoded.schema.schema, payload: decoded.value };
  }

  beforeAll(async () => {
    await client.connect();
    await client.query(`CREATE TYPE ${mood} AS ENUM ('sad', 'ok', 'happy')`);
    await client.query(`CREATE DOMAIN ${posint} AS integer CHECK (VALUE > 0)`);
    await client.query(`CREATE TABLE public.${table} (
      id integer PRIMARY KEY,
      n38 numeric(38, 10), nfree numeric, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
      b boolean, t text, vc varchar(20), ch char(5), by bytea, u uuid, j json, jb jsonb,
      d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
      ai integer[], at text[], m ${mood}, am ${mood}[], pi ${posint})`);
    const source: Record<string, string> = format === 'avro' ? { decimalHandling: 'precise' } : {};
    daemon = await startDaemon(fixture.connectorFiles({ source }), { format, registry });
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await client.query(`DROP TABLE IF EXISTS public.${table}`).catch(() => undefined);
    await client.query(`DROP TYPE IF EXISTS ${mood}`).catch(() => undefined);
    await client.query(`DROP DOMAIN IF EXISTS ${posint}`).catch(() => undefined);
    await fixture.cleanup();
  });

  it('emits the exact value of every type, and null for every NULL', async () => {
    await client.query(`INSERT INTO public.${table} VALUES (1,
      '1234567890123456789012345678.0123456789', '3.14159265358979323846264338327950288419716939937510',
      -32768, 2147483647, 9223372036854775807, 1.5, 2.718281828459045,
      true, E'text with\\ttab', 'varchar', 'ab', '\\x0102ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      '{"a": [1, 2]}', '{"b": 1, "a": [1, 2]}',
      '2024-02-29', '23:59:59.999999', '12:00:00.5+02', '2024-02-29 12:34:56.789012', '2024-02-29 14:34:56.789012+02',
      '1 year 2 mons 3 days 04:05:06.789',
      '{1,NULL,3}', '{a,"b c",NULL,"\\"q\\""}', 'happy', '{sad,happy}', 7)`);
    await client.query(`INSERT INTO public.${table} (id) VALUES (2)`);

    const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `types-reader-${suffix}`, readUncommitted: false });
    const events: { schema: ConnectSchema | null; payload: ChangeEvent }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void (message.value && events.push(await decodeEvent(message.value))) });
    try {
      await eventually('both rows in Kafka', async () => (events.length >= 2 ? true : undefined));
    } finally {
      await consumer.disconnect();
    }

    const [full, empty] = events;
    expect(full!.payload.after).toEqual({
      id: 1,
      n38: format === 'avro' ? decimalToUnscaledBase64('1234567890123456789012345678.0123456789', 10) : '1234567890123456789012345678.0123456789',
      nfree: '3.14159265358979323846264338327950288419716939937510',
      i2: -32768,
      i4: 2147483647,
      i8: 9_223_372_036_854_775_807n,
      f4: 1.5,
      f8: 2.718281828459045,
      b: true,
      t: 'text with\ttab',
      vc: 'varchar',
      ch: 'ab   ',
      by: 'AQL/',
      u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      j: '{"a": [1, 2]}',
      jb: '{"a": [1, 2], "b": 1}',
      d: 19_782,
      tm: 86_399_999_999,
      ttz: '10:00:00.500000Z',
      ts: Date.UTC(2024, 1, 29, 12, 34, 56) * 1000 + 789_012,
      tstz: '2024-02-29T12:34:56.789012Z',
      iv: 'P1Y2M3DT4H5M6.789S',
      ai: [1, null, 3],
      at: ['a', 'b c', null, '"q"'],
      m: 'happy',
      am: ['sad', 'happy'],
      pi: 7,
    });
    expect(empty!.payload.after).toEqual({ id: 2, ...Object.fromEntries(COLUMNS.map((column) => [column, null])) });

    const fields = new Map(full!.schema!.fields!.find((field) => field.field === 'after')!.fields!.map((field) => [field.field, field]));
    expect(fields.get('n38')).toMatchObject(
      format === 'avro'
        ? { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal', parameters: { scale: '10', 'connect.decimal.precision': '38', '__debezium.source.column.length': '38' } }
        : { type: 'string', parameters: { '__debezium.source.column.length': '38', '__debezium.source.column.scale': '10' } },
    );
    expect(fields.get('ai')).toMatchObject({ type: 'array', items: { type: 'int32', optional: true } });
    expect(fields.get('m')).toMatchObject({ type: 'string', name: 'io.debezium.data.Enum', parameters: { allowed: 'sad,ok,happy' } });
    expect(fields.get('pi')).toMatchObject({ type: 'int32' });
    expect(fields.get('tstz')).toMatchObject({ type: 'string', name: 'io.debezium.time.ZonedTimestamp' });

    // The sink writes both rows (arrays as Array(Nullable(T)), where a NULL
    // array becomes [] as ClickHouse has no Nullable(Array); decimals exact). Read as
    // TabSeparated text: JSON would round the decimal, and 18.16's
    // toString(Decimal128) prints NUL bytes for large values (the stored value is right).
    const rows = await eventually('both rows in ClickHouse', async () => {
      const result = await clickhouse.client.query({ query: `SELECT id, n38, ai FROM ${database}.${table}_current ORDER BY id`, format: 'TabSeparated' }).catch(() => undefined);
      const text = result ? await result.text() : '';
      return text.split('\n').filter(Boolean).length === 2 ? text : undefined;
    });
    expect(rows).toBe('1\t1234567890123456789012345678.0123456789\t[1,NULL,3]\n2\t\\N\t[]\n');
    // Every column as ClickHouse has it (the sink writes RowBinary: each type's binary form checked here).
    const all = await clickhouse.text(`SELECT * FROM ${database}.${table}_current WHERE id = 1`);
    const clickhouseHasDateTime64 = (await clickhouse.features()).dateTime64;
    expect(all.split('\t')).toEqual([
      '1', '1234567890123456789012345678.0123456789', '3.14159265358979323846264338327950288419716939937510',
      '-32768', '2147483647', '9223372036854775807', '1.5', '2.718281828459045', '1', 'text with\\ttab', 'varchar', 'ab   ', 'AQL/',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"a": [1, 2], "b": 1}', '2024-02-29', '86399999999', '10:00:00.500000Z',
      // DateTime('UTC') on 18.16 (whole seconds); DateTime64(6) keeps the fraction on newer servers.
      ...(clickhouseHasDateTime64 ? ['2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012'] : ['2024-02-29 12:34:56', '2024-02-29 12:34:56']),
      'P1Y2M3DT4H5M6.789S', '[1,NULL,3]', `['a','b c',NULL,'"q"']`, 'happy', "['sad','happy']", '7\n',
    ]);
    if (format === 'avro') {
      expect(events.every((event) => event.payload.op === 'c')).toBe(true);
      expect(registry.versions(`${topic}-value`)).toHaveLength(1);
      expect(registry.versions(`${topic}-key`)).toHaveLength(1);
    }
  });

  it('writes every column to ClickHouse, with the same values in every format', async () => {
    const result = await clickhouse.client.query({ query: `SELECT id, ${COLUMNS.join(', ')} FROM ${database}.${table}_current ORDER BY id`, format: 'TabSeparated' });
    const text = await result.text();
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
    clickhouseRows.set(format, text);
    if (format === 'avro') {
      expect(clickhouseRows.get('json'), 'the json run wrote its rows first').toBeDefined();
      expect(text).toBe(clickhouseRows.get('json'));
    }
  });
});
