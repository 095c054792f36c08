/**
 * Proof with a client nobody here wrote: Confluent's Python client
 * (confluent-kafka's SchemaRegistryClient, AvroDeserializer and
 * AvroSerializer, on fastavro), run by test/interop/confluent_client.py with
 * the venv stack/bootstrap builds, against tideline's embedded schema
 * registry served over HTTP (as `tideline run --registry-port` serves it).
 *
 *  - It decodes every event an Avro source writes for a table of every type
 *    the types test covers: values, NULLs, an update, a delete and its
 *    tombstone, and an ALTER TABLE ADD COLUMN mid-stream (value schema
 *    version 2). Each event must equal, field by field, what a second source
 *    over the same table carries in the JSON format (the script documents
 *    the three representation differences it normalizes).
 *  - It writes Debezium-shaped Avro events (schemas written by hand, after
 *    Debezium's) that tideline's ClickHouse sink, reading Avro with the same
 *    registry, loads into ClickHouse.
 */
import { execFile, execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { createSchemaRegistry, type ManagedSchemaRegistry } from '../../src/registry/create-registry.js';
import type { Daemon } from '../../src/runtime/daemon.js';
import { createTopic, testKafka } from '../support/debezium-events.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon, writeConnectorFiles } from '../support/pipeline.js';

const SCRIPT = resolve('test/interop/confluent_client.py');
/** The types test's columns, then the two the ALTER TABLE adds. */
const COLUMNS = [
  'n38', 'nfree', 'i2', 'i4', 'i8', 'f4', 'f8', 'b', 't', 'vc', 'ch', 'by', 'u', 'j', 'jb',
  'd', 'tm', 'ttz', 'ts', 'tstz', 'iv', 'ai', 'at', 'm', 'am', 'pi',
];
const ADDED = ['added', 'note'];

/** The venv's python, found as the stack scripts find it (stack/lib/python.sh). */
function venvPython(): string {
  try {
    return execFileSync('bash', ['-c', 'source stack/lib/common.sh && interop_python'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`no Python venv with Confluent's client: run stack/bootstrap (${stderr || String(error)})`);
  }
}

/** Runs one command of the script; its last stdout line is its JSON summary. Fails with its stderr. */
async function runClient(python: string, common: string[], command: 'compare' | 'produce', args: string[]): Promise<Record<string, unknown>> {
  return new Promise((done, fail) => {
    execFile(python, [SCRIPT, ...common, command, ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`confluent_client.py ${command} failed (${error.message}):\n${stderr}\n${stdout}`));
      else done(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>);
    });
  });
}

function connectorYaml(name: string, kind: string, format: string, brokers: string, config: Record<string, string | number>): string {
  const lines = Object.entries(config).map(([key, value]) => `  ${key}: ${value}\n`);
  return `name: ${name}\nkind: ${kind}\nformat: ${format}\nkafka: { brokers: "${brokers}" }\nconfig:\n${lines.join('')}`;
}

describe('Confluent Python client against tideline (Avro, embedded registry over HTTP)', () => {
  const fixture = new TableFixture('interop');
  const { services, suffix, table, topic, prefix, slot, database, client, clickhouse } = fixture;
  const jsonPrefix = `${prefix}json`;
  const jsonTopic = `${jsonPrefix}.public.${table}`;
  const pyPrefix = `${prefix}py`;
  const pyTable = `py_${suffix}`;
  const pyTopic = `${pyPrefix}.public.${pyTable}`;
  const mood = `mood_${suffix}`;
  const posint = `posint_${suffix}`;
  const brokers = services.kafkaBrokers.join(',');
  let python: string;
  let registry: ManagedSchemaRegistry | undefined;
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    python = venvPython();
    await client.connect();
    await client.query(`CREATE TYPE ${mood} AS ENUM ('sad', 'ok', 'happy')`);
    await client.query(`CREATE DOMAIN ${posint} AS integer CHECK (VALUE > 0)`);
    // The types test's table.
    await client.query(`CREATE TABLE public.${table} (
      id integer PRIMARY KEY,
      n38 numeric(38, 10), nfree numeric, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
      b boolean, t text, vc varchar(20), ch char(5), by bytea, u uuid, j json, jb jsonb,
      d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
      ai integer[], at text[], m ${mood}, am ${mood}[], pi ${posint})`);

    const logger = createLogger({ level: process.env.TIDELINE_TEST_LOG_LEVEL ?? 'warn' });
    // What `tideline run --registry-port 0` makes: the embedded registry on its own topic, served over HTTP.
    registry = await createSchemaRegistry(
      { kind: 'embedded', topic: `_schemas_interop_${suffix}`, serve: { host: '127.0.0.1', port: 0 } },
      { logger, kafka: { brokers: services.kafkaBrokers, ssl: false } },
    );
    const source = { url: services.pgUrl, tables: `[public.${table}]`, maxBatchDelayMs: 20, decimalHandling: 'precise' };
    const dir = writeConnectorFiles({
      'avro-source.yaml': connectorYaml(fixture.sourceName, 'postgres-source', 'avro', brokers, { ...source, slot, topicPrefix: prefix }),
      'json-source.yaml': connectorYaml(`${fixture.sourceName}-json`, 'postgres-source', 'json', brokers, { ...source, slot: `${slot}_json`, topicPrefix: jsonPrefix }),
      'sink.yaml': connectorYaml(fixture.sinkName, 'clickhouse-sink', 'avro', brokers, { url: services.clickhouseUrl, database, topics: `[${pyTopic}]` }),
    });
    // The sink subscribes to the topic the Python client writes later.
    await createTopic(testKafka(services.kafkaBrokers), pyTopic, 2);
    daemon = await startDaemon(dir, { registry });
    await eventually('every connector running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await registry?.close();
    const quiet = () => undefined;
    await client.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [`${slot}_json`]).catch(quiet);
    await client.query(`DROP PUBLICATION IF EXISTS ${slot}_json`).catch(quiet);
    await client.query(`DROP TABLE IF EXISTS public.${table}`).catch(quiet);
    await client.query(`DROP TYPE IF EXISTS ${mood}`).catch(quiet);
    await client.query(`DROP DOMAIN IF EXISTS ${posint}`).catch(quiet);
    await fixture.cleanup();
  });

  it("AvroDeserializer decodes every event to what the JSON format carries, across a schema change", async () => {
    await client.query(`INSERT INTO public.${table} VALUES (1,
      '1234567890123456789012345678.0123456789', '3.14159265358979323846264338327950288419716939937510',
      -32768, 2147483647, 9223372036854775807, 3.14, 2.718281828459045,
      true, E'text with\\ttab', 'varchar', 'ab', '\\x0102ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      '{"a": [1, 2]}', '{"b": 1, "a": [1, 2]}',
      '2024-02-29', '23:59:59.999999', '12:00:00.5+02', '2024-02-29 12:34:56.789012', '2024-02-29 14:34:56.789012+02',
      '1 year 2 mons 3 days 04:05:06.789',
      '{1,NULL,3}', '{a,"b c",NULL,"\\"q\\""}', 'happy', '{sad,happy}', 7)`);
    await client.query(`INSERT INTO public.${table} (id) VALUES (2)`);
    await client.query(`UPDATE public.${table} SET n38 = -0.0000000001, i8 = -9223372036854775808, f4 = -1.5e-7, by = '\\x', am = '{}' WHERE id = 1`);
    await client.query(`DELETE FROM public.${table} WHERE id = 2`);
    // Mid-stream: the next event's value schema is version 2.
    await client.query(`ALTER TABLE public.${table} ADD COLUMN added numeric(12, 3), ADD COLUMN note text`);
    await client.query(`INSERT INTO public.${table} (id, i4, added, note) VALUES (3, 3, 123456789.125, 'after the change')`);
    await client.query(`UPDATE public.${table} SET added = NULL, note = NULL, t = 'v2 update' WHERE id = 3`);
    // c 1, c 2, u 1, d 2, tombstone 2, c 3, u 3
    const expected = 7;

    const summary = await runClient(python, ['--brokers', brokers, '--registry', registry!.servedAt!], 'compare', ['--avro-topic', topic, '--json-topic', jsonTopic, '--expect', String(expected)]);
    expect(summary).toMatchObject({
      compared: expected,
      ops: { c: 3, u: 2, d: 1 },
      tombstones: 1,
      versions: { [`${topic}-key`]: [1], [`${topic}-value`]: [1, 2] },
      records: [`${topic}.Envelope`, 'io.debezium.connector.postgresql.Source'],
      problems: [],
    });
    expect(summary.columns).toEqual(['id', ...COLUMNS, ...ADDED].sort());
    expect(summary.valueSchemaIds).toHaveLength(2);
  });

  it('AvroSerializer writes Debezium-shaped events that the ClickHouse sink loads', async () => {
    const summary = await runClient(python, ['--brokers', brokers, '--registry', registry!.servedAt!], 'produce', ['--topic', pyTopic, '--prefix', pyPrefix, '--table', pyTable]);
    expect(summary).toEqual({ produced: 6, versions: { [`${pyTopic}-key`]: [1], [`${pyTopic}-value`]: [1] } });

    // Id 3 was created and deleted: its delete is the newest row version (the view hides it).
    // The topic has two partitions, which the sink may write in different batches: wait for every row.
    const query = async (sql: string) => (await (await clickhouse.client.query({ query: sql, format: 'TabSeparated' })).text());
    await eventually('the delete of id 3, the create of id 1 and the update of id 2 in ClickHouse', async () => {
      const sql = `SELECT count() FROM ${database}.${pyTable} FINAL WHERE (id = 1 AND _deleted = 0) OR (id = 2 AND name = 'second, updated') OR (id = 3 AND _deleted = 1)`;
      return (await query(sql).catch(() => '')) === '3\n' ? true : undefined;
    });
    // created as epoch seconds: ClickHouse before 20.1 (Debian's 18.16) has no DateTime64, so the sink keeps whole seconds there.
    expect(await query(`SELECT id, name, qty, price, active, amount, toUnixTimestamp(created), day, status FROM ${database}.${pyTable}_current ORDER BY id`)).toBe(
      '1\tfirst\t9007199254740993\t2.5\t1\t12345678.90\t1709210096\t2024-02-29\tnew\n' +
        '2\tsecond, updated\t-42\t\\N\t\\N\t0.50\t\\N\t\\N\tpaid\n',
    );
  });
});
