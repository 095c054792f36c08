/**
 * Column filters on the real stack (`tideline run` as a child process): two
 * sources capture one table, one writing json and one avro, with columns left
 * out, masked and hashed; a sink loads the avro topic into ClickHouse. The
 * left-out columns and the clear values appear in no byte of any message
 * (keys, values, key-change headers, snapshot rows) nor in the registered
 * Avro schemas, and the ClickHouse table has no such columns. A hashed value is
 * Debezium's digest, the same in every event and after a restart. A key column
 * the rules leave out is refused with its name, when the table's new primary
 * key appears while streaming and again at the next start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasher } from '../../src/sources/postgres/column-masking.js';
import type { ChangeEvent, Row } from '../../src/core/events.js';
import { keyOf, readTopics, testKafka, valueOf, type ReadMessage } from '../support/debezium-events.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, writeConnectorFiles } from '../support/pipeline.js';
import { testRegistry } from '../support/test-registry.js';

const fixture = new TableFixture('colf');
const { services, suffix, table, database, client, clickhouse } = fixture;
const jsonTopic = `colfj${suffix}.public.${table}`;
const avroTopic = `colfa${suffix}.public.${table}`;
const SALT = `salt-${suffix}-never-logged`;
const kafka = testKafka(services.kafkaBrokers);

/** Values that must never reach Kafka: left-out columns' values and the clear text of masked and hashed ones. */
const PEOPLE = [
  { id: 1, name: 'Ann', email: 'ann@example.com', phone: '555-0101', ssn: '111-22-3333', secret_token: 'tok-ann-7f3a' },
  { id: 2, name: 'Bob', email: 'bob@example.com', phone: '555-0102', ssn: '444-55-6666', secret_token: 'tok-bob-91c2' },
  // Ann's email again: the same hash.
  { id: 3, name: 'Cy', email: 'ann@example.com', phone: '555-0103', ssn: '777-88-9999', secret_token: 'tok-cy-0d4e' },
];
const FORBIDDEN = ['ssn', 'secret_token', ...PEOPLE.flatMap((person) => [person.ssn, person.secret_token, person.email, person.phone]), '000-00-0000', '222-33-4444', 'tok-'];

/** The hash the test expects: Debezium's column.mask.hash.v2.SHA-256 over salt + value, cut to varchar(40). */
const hashOf = hasher({ algorithm: 'SHA-256', salt: SALT, version: 2 }, 40);

function columnsYaml(tableName: string): string {
  return `  columns:
    exclude: ["public.${tableName}.ssn", "public.*.secret_*"]
    mask: [{ column: "public.${tableName}.phone", length: 5 }]
    hash: [{ column: "public.${tableName}.email", salt: "\${COLF_SALT}" }]
`;
}

function sourceYaml(name: string, format: string, slot: string, prefix: string, tables: string, columns: string): string {
  return `name: ${name}
kind: postgres-source
format: ${format}
kafka: { brokers: "${services.kafkaBrokers.join(',')}" }
config:
  url: ${services.pgUrl}
  slot: ${slot}
  tables: [${tables}]
  topicPrefix: ${prefix}
  maxBatchDelayMs: 20
${columns}`;
}

/** Every byte a consumer of the message sees: key, value and headers. */
function rawBytes(message: ReadMessage): string {
  return [message.key?.toString('latin1') ?? '', message.value?.toString('latin1') ?? '', ...Object.entries(message.headers).flat()].join('\n');
}

function expectNothingForbidden(messages: readonly ReadMessage[]): void {
  for (const message of messages) {
    const bytes = rawBytes(message);
    for (const text of FORBIDDEN) expect(bytes, `${message.topic}@${message.offset} holds "${text}"`).not.toContain(text);
  }
}

/** The schema ids an Avro message's key and value name (Confluent's wire format: byte 0, then the id). */
function schemaIds(messages: readonly ReadMessage[]): Set<number> {
  const ids = new Set<number>();
  for (const message of messages) for (const bytes of [message.key, message.value]) if (bytes && bytes[0] === 0) ids.add(bytes.readInt32BE(1));
  return ids;
}

async function readAll(topic: string, count: number): Promise<ReadMessage[]> {
  const messages = await readTopics(kafka, [topic], (seen) => seen.length >= count, { settleMs: 500 });
  expect(messages).toHaveLength(count);
  return messages;
}

async function clickhouseRows<T>(query: string): Promise<T[]> {
  const result = await clickhouse.client.query({ query, format: 'JSONEachRow' });
  return result.json<T>();
}

afterAll(async () => {
  await fixture.cleanup();
});

describe('column filters', () => {
  let daemon: DaemonProcess;
  /** Messages on each topic after the writes of the first test. */
  const FIRST_RUN = 9;

  beforeAll(async () => {
    await fixture.create('id integer PRIMARY KEY, name text, email varchar(40), phone text, ssn text, secret_token text, note text');
    await client.query(`ALTER TABLE public.${table} REPLICA IDENTITY FULL`);
    for (const person of PEOPLE.slice(0, 2)) {
      await client.query(`INSERT INTO public.${table} VALUES ($1, $2, $3, $4, $5, $6, 'snapshot')`, [person.id, person.name, person.email, person.phone, person.ssn, person.secret_token]);
    }
    const files = writeConnectorFiles({
      'source-json.yaml': sourceYaml(`colf-json-${suffix}`, 'json', `tl_colfj_${suffix}`, `colfj${suffix}`, `public.${table}`, columnsYaml(table)),
      'source-avro.yaml': sourceYaml(`colf-avro-${suffix}`, 'avro', `tl_colfa_${suffix}`, `colfa${suffix}`, `public.${table}`, columnsYaml(table)),
      'sink.yaml': `name: colf-sink-${suffix}
kind: clickhouse-sink
format: avro
kafka: { brokers: "${services.kafkaBrokers.join(',')}" }
config:
  url: ${services.clickhouseUrl}
  database: ${database}
  topics: [${avroTopic}]
`,
    });
    daemon = new DaemonProcess(files, await freePort(), { COLF_SALT: SALT, TIDELINE_LOG_LEVEL: 'info' });
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    for (const slot of [`tl_colfj_${suffix}`, `tl_colfa_${suffix}`]) {
      await client.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
      await client.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => undefined);
    }
  });

  it('left-out columns and clear values are in no byte of any message, json or avro, nor in the registered schemas', async () => {
    const cy = PEOPLE[2]!;
    await client.query(`INSERT INTO public.${table} VALUES ($1, $2, $3, $4, $5, $6, 'streamed')`, [cy.id, cy.name, cy.email, cy.phone, cy.ssn, cy.secret_token]);
    await client.query(`UPDATE public.${table} SET note = 'updated', ssn = '000-00-0000' WHERE id = 2`);
    // A primary-key change under REPLICA IDENTITY FULL: delete + tombstone + create, linked by key headers.
    await client.query(`UPDATE public.${table} SET id = 10 WHERE id = 1`);
    await client.query(`DELETE FROM public.${table} WHERE id = 3`);

    const json = await readAll(jsonTopic, FIRST_RUN);
    const avro = await readAll(avroTopic, FIRST_RUN);
    expectNothingForbidden([...json, ...avro]);

    // The readers see what they should: the kept columns by name (json's inline schema), and the replacements.
    expect(json[0]!.value!.toString()).toContain('"field":"email"');
    for (const messages of [json, avro]) {
      const events = messages.filter((message) => message.value).map((message) => valueOf<ChangeEvent>(message.value)!);
      expect(events.map((event) => event.op)).toEqual(['r', 'r', 'c', 'u', 'd', 'c', 'd']);
      const ann = { id: 1, name: 'Ann', email: hashOf('ann@example.com'), phone: '*****', note: 'snapshot' };
      expect(events[0]!.after).toEqual(ann);
      expect(events[2]!.after).toEqual({ id: 3, name: 'Cy', email: hashOf('ann@example.com'), phone: '*****', note: 'streamed' });
      expect(events[3]!.before).toEqual({ id: 2, name: 'Bob', email: hashOf('bob@example.com'), phone: '*****', note: 'snapshot' });
      expect(events[4]!.before).toEqual(ann);
      expect(events[5]!.after).toEqual({ ...ann, id: 10 });
      const keyChange = messages.filter((message) => message.headers['__debezium.newkey'] !== undefined || message.headers['__debezium.oldkey'] !== undefined);
      expect(keyChange).toHaveLength(2);
      expect(keyOf<Row>(messages[5]!.key)).toEqual({ id: 1 });
    }
    expect(hashOf('ann@example.com')).toHaveLength(40);

    const ids = schemaIds(avro);
    expect(ids.size).toBe(2);
    const texts = await Promise.all([...ids].map((id) => testRegistry.schemaById(id)));
    for (const text of texts) for (const name of ['ssn', 'secret_token']) expect(text).not.toContain(name);
    expect(texts.join('\n')).toContain('"masked":"true"');
  });

  it('the ClickHouse table has no left-out columns and holds the hashes', async () => {
    const current = await eventually('the rows in ClickHouse', async () => {
      const rows = await clickhouseRows<{ id: number; email: string; phone: string }>(`SELECT id, email, phone FROM ${database}.${table}_current ORDER BY id`).catch(() => []);
      return rows.length === 2 ? rows : undefined;
    });
    expect(current).toEqual([
      { id: 2, email: hashOf('bob@example.com'), phone: '*****' },
      { id: 10, email: hashOf('ann@example.com'), phone: '*****' },
    ]);
    const columns = (await clickhouseRows<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${database}' AND table = '${table}'`)).map((column) => column.name);
    expect(columns).toEqual(expect.arrayContaining(['id', 'name', 'email', 'phone', 'note']));
    expect(columns).not.toContain('ssn');
    expect(columns).not.toContain('secret_token');
  });

  it('a hashed value is the same after a restart, and the salt is in no log line', async () => {
    await daemon.stop();
    await daemon.start();
    await client.query(`INSERT INTO public.${table} (id, name, email, phone, ssn, secret_token) VALUES (4, 'Di', 'ann@example.com', '555-0104', '222-33-4444', 'tok-di-55aa')`);
    for (const topic of [jsonTopic, avroTopic]) {
      const messages = await readAll(topic, FIRST_RUN + 1);
      expectNothingForbidden(messages);
      const first = valueOf<ChangeEvent>(messages[0]!.value)!.after!;
      const restarted = valueOf<ChangeEvent>(messages.at(-1)!.value)!.after!;
      expect(restarted).toMatchObject({ id: 4, email: first.email });
    }
    const log = daemon.log.join('');
    expect(log).toContain('"msg":"column rules"');
    expect(log).not.toContain(SALT);
  });
});

describe('a key column the column rules leave out', () => {
  const keyed = `${table}_k`;
  const slot = `tl_colfk_${suffix}`;
  const topic = `colfk${suffix}.public.${keyed}`;
  let daemon: DaemonProcess | undefined;
  const refusal = `column public.${keyed}.code is a key column of public.${keyed} and cannot be left out (columns.exclude lists it); the key must reach Kafka`;

  afterAll(async () => {
    await daemon?.stop();
    await client.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
    await client.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => undefined);
    await client.query(`DROP TABLE IF EXISTS public.${keyed}`).catch(() => undefined);
  });

  it('is refused by name when a primary key on it appears while streaming, and at the next start; no event leaves without its key', async () => {
    // No primary key yet: the table has no key, so leaving out code is allowed.
    await client.query(`CREATE TABLE public.${keyed} (code text NOT NULL, amount integer)`);
    const files = writeConnectorFiles({
      'source.yaml': sourceYaml(`colf-key-${suffix}`, 'json', slot, `colfk${suffix}`, `public.${keyed}`, `  snapshotMode: never\n  columns:\n    exclude: ["public.${keyed}.code"]\n`),
    });
    daemon = new DaemonProcess(files, await freePort(), { TIDELINE_LOG_LEVEL: 'info' });
    await daemon.start();
    await client.query(`INSERT INTO public.${keyed} VALUES ('A-1', 1)`);
    const [before] = await readTopics(kafka, [topic], (seen) => seen.length >= 1, { settleMs: 0 });
    expect(valueOf<ChangeEvent>(before!.value)!.after).toEqual({ amount: 1 });

    await client.query(`ALTER TABLE public.${keyed} ADD PRIMARY KEY (code)`);
    await client.query(`INSERT INTO public.${keyed} VALUES ('B-2', 2)`);
    const running = daemon;
    const status = async () => (await running.statuses())[0]!;
    const failed = await eventually('the connector to fail on the new key', async () => {
      const current = await status();
      return current.state === 'failed' ? current : undefined;
    });
    expect(failed.detail).toBe(`columns: ${refusal}`);
    // The next run (after a 1 s backoff) is refused by the start check, before it streams anything.
    const again = await eventually('the refusal at the next start', async () => {
      const current = await status();
      return current.state === 'failed' && current.restarts >= 1 ? current : undefined;
    }, 30_000);
    expect(again.detail).toBe(`columns: ${refusal}`);
    expect(daemon.log.join('').split('"msg":"streaming changes"').length - 1).toBe(1);
    const after = await readTopics(kafka, [topic], (seen) => seen.length >= 1, { settleMs: 2_000 });
    expect(after).toHaveLength(1);
  });
});
