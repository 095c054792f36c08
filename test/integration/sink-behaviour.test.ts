/**
 * Sink behaviour on the real stack: a message that cannot be written goes to
 * the dead-letter topic with its error and the messages after it are written;
 * a column added in PostgreSQL mid-stream appears in ClickHouse with its values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { Daemon } from '../../src/runtime/daemon.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const fixture = new TableFixture('sinkb');
const { services, suffix, table, topic, database, sinkName, client, clickhouse } = fixture;

describe('clickhouse sink behaviour', () => {
  const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
  let daemon: Daemon | undefined;

  const viewRows = (columns: string) =>
    clickhouse.rows<Record<string, unknown>>(`SELECT ${columns} FROM ${database}.${table}_current ORDER BY id`);

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL');
    daemon = await startDaemon(fixture.connectorFiles());
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it('sends a poison message to the dead-letter topic with its error and writes the messages after it', async () => {
    await client.query(`INSERT INTO public.${table} (id, name) VALUES (1, 'before')`);
    await eventually('the first row in ClickHouse', async () => ((await viewRows('toString(id) AS id')).length === 1 ? true : undefined));

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: '{"payload":{"id":99}}', value: 'this is not JSON' }] });
    await producer.disconnect();
    await client.query(`INSERT INTO public.${table} (id, name) VALUES (2, 'after')`);

    const rows = await eventually('the row written after the poison message', async () => {
      const current = await viewRows('toString(id) AS id, name');
      return current.length === 2 ? current : undefined;
    });
    expect(rows).toEqual([{ id: '1', name: 'before' }, { id: '2', name: 'after' }]);

    const consumer = kafka.consumer({ groupId: `sinkb-dlq-${suffix}` });
    const letters: { value: string; headers: Record<string, string> }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: `${sinkName}.dlq`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        letters.push({ value: message.value?.toString() ?? '', headers });
      },
    });
    try {
      await eventually('the dead letter', async () => (letters.length > 0 ? true : undefined));
    } finally {
      await consumer.disconnect();
    }
    expect(letters).toHaveLength(1);
    expect(letters[0]!.value).toBe('this is not JSON');
    expect(letters[0]!.headers['tideline.error']).toMatch(/JSON/);
    expect(letters[0]!.headers['tideline.source.topic']).toBe(topic);
    expect(letters[0]!.headers['tideline.connector']).toBe(sinkName);
  });

  it('adds a column added in PostgreSQL mid-stream, with its values', async () => {
    await client.query(`ALTER TABLE public.${table} ADD COLUMN note text`);
    await client.query(`INSERT INTO public.${table} (id, name, note) VALUES (3, 'with note', 'hello')`);
    await client.query(`UPDATE public.${table} SET note = 'later' WHERE id = 1`);
    const rows = await eventually('the new column with its values', async () => {
      const current = await viewRows('toString(id) AS id, name, note').catch(() => []);
      return current.length === 3 && current[0]!.note === 'later' ? current : undefined;
    });
    expect(rows).toEqual([
      { id: '1', name: 'before', note: 'later' },
      { id: '2', name: 'after', note: null },
      { id: '3', name: 'with note', note: 'hello' },
    ]);
  });
});
