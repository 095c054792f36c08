/**
 * Schema changes with format avro, on the real stack: an ALTER TABLE that adds
 * a column registers version 2 of the table's value subject and the new column
 * reaches ClickHouse; a change the registry refuses as incompatible (a column
 * retyped from integer to text) sends that table's events to the source's
 * dead-letter topic, with an error naming the table and the column, while
 * another table's events keep flowing, and the table flows again once its
 * schema is compatible again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySchemaRegistry } from '../../src/registry/memory-registry.js';
import type { Daemon } from '../../src/runtime/daemon.js';
import { createConverter } from '../../src/serde/index.js';
import type { ChangeEvent } from '../../src/core/events.js';
import { readTopics, testKafka } from '../support/debezium-events.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const fixture = new TableFixture('avrochange');
const { services, table, topic, prefix, database, client, clickhouse, sourceName } = fixture;
const other = `${table}_other`;
const otherTopic = `${prefix}.public.${other}`;
const deadLetterTopic = `${sourceName}.dlq`;

describe('avro schema changes through the pipeline', () => {
  const registry = new MemorySchemaRegistry();
  let daemon: Daemon | undefined;

  async function rows(query: string, count: number): Promise<string> {
    return eventually(`${count} rows from: ${query}`, async () => {
      const result = await clickhouse.client.query({ query, format: 'TabSeparated' }).catch(() => undefined);
      const text = result ? await result.text() : '';
      return text.split('\n').filter(Boolean).length === count ? text : undefined;
    });
  }

  beforeAll(async () => {
    await fixture.create('id integer PRIMARY KEY, note text');
    await client.query(`CREATE TABLE public.${other} (id integer PRIMARY KEY, note text)`);
    const files = fixture.connectorFiles({
      source: { tables: `[public.${table}, public.${other}]` },
      sink: { topics: `[${topic}, ${otherTopic}]` },
    });
    daemon = await startDaemon(files, { format: 'avro', registry });
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await client.query(`DROP TABLE IF EXISTS public.${other}`).catch(() => undefined);
    await fixture.cleanup();
  });

  it('an added column registers version 2 and reaches ClickHouse', async () => {
    await client.query(`INSERT INTO public.${table} VALUES (1, 'before')`);
    await rows(`SELECT id FROM ${database}.${table}_current`, 1);
    await client.query(`ALTER TABLE public.${table} ADD COLUMN qty integer`);
    await client.query(`INSERT INTO public.${table} VALUES (2, 'after', 5)`);
    expect(await rows(`SELECT id, note, qty FROM ${database}.${table}_current ORDER BY id`, 2)).toBe('1\tbefore\t\\N\n2\tafter\t5\n');
    expect(registry.versions(`${topic}-value`)).toHaveLength(2);
    expect(registry.versions(`${topic}-key`)).toHaveLength(1);
  });

  it('an incompatible change goes to the dead-letter topic with its error, and later events flow', async () => {
    await client.query(`ALTER TABLE public.${table} ALTER COLUMN qty TYPE text`);
    await client.query(`INSERT INTO public.${table} VALUES (3, 'retyped', 'many')`);
    await client.query(`INSERT INTO public.${other} VALUES (1, 'still flowing')`);
    expect(await rows(`SELECT id, note FROM ${database}.${other}_current`, 1)).toBe('1\tstill flowing\n');

    const kafka = testKafka(services.kafkaBrokers);
    const letters = await readTopics(kafka, [deadLetterTopic], (messages) => messages.length >= 1, { settleMs: 500 });
    expect(letters).toHaveLength(1);
    const [letter] = letters;
    expect(letter!.headers['tideline.source.topic']).toBe(topic);
    expect(letter!.headers['tideline.connector']).toBe(sourceName);
    expect(letter!.headers['tideline.error']).toContain(`table public.${table}`);
    expect(letter!.headers['tideline.error']).toContain('column qty changed from int32 to string');
    // The event itself, as JsonConverter writes it: nothing is lost.
    expect(createConverter('json').decodeValue<ChangeEvent>(letter!.value!).value.after).toEqual({ id: 3, note: 'retyped', qty: 'many' });
    expect(registry.versions(`${topic}-value`)).toHaveLength(2);

    // Back to a compatible schema (version 2 again): the table flows again.
    await client.query(`DELETE FROM public.${table} WHERE id = 3`);
    await client.query(`ALTER TABLE public.${table} ALTER COLUMN qty TYPE integer USING qty::integer`);
    await client.query(`INSERT INTO public.${table} VALUES (4, 'compatible again', 7)`);
    expect(await rows(`SELECT id, note, qty FROM ${database}.${table}_current ORDER BY id`, 3)).toBe('1\tbefore\t\\N\n2\tafter\t5\n4\tcompatible again\t7\n');
    const letters2 = await readTopics(kafka, [deadLetterTopic], () => false, { timeoutMs: 1_000, settleMs: 500 });
    // The delete of row 3 was still under the refused schema: a dead letter too.
    expect(letters2.map((message) => createConverter('json').decodeValue<ChangeEvent>(message.value!).value.op)).toEqual(['c', 'd']);
  });
});
