/**
 * Switching a pipeline from json to avro: the topic holds JsonConverter
 * messages written before the switch and Avro messages after it. The sink
 * (format avro) tells them apart per message and drains both into one table;
 * a transform (format avro) reads both and writes Avro results with schemas it
 * registers, which a reader sharing the registry decodes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/core/events.js';
import { MemorySchemaRegistry } from '../../src/registry/memory-registry.js';
import type { Daemon } from '../../src/runtime/daemon.js';
import { AvroConverter } from '../../src/serde/avro/avro-converter.js';
import { readTopics, testKafka } from '../support/debezium-events.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';

const fixture = new TableFixture('avroswitch');
const { services, suffix, table, topic, database, client, clickhouse } = fixture;
const transformName = `avroswitch-transform-${suffix}`;
const outputTopic = `${topic}.out`;

async function running(daemon: Daemon): Promise<void> {
  await eventually('every connector running', async () => (daemon.statuses().every((s) => s.state === 'running') ? true : undefined));
}

describe('switching a pipeline from json to avro', () => {
  const registry = new MemorySchemaRegistry();
  const kafka = testKafka(services.kafkaBrokers);
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    await fixture.create('id integer PRIMARY KEY, note text, amount integer');
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it('drains json written before the switch and avro after it, in the sink and in a transform', async () => {
    // Before the switch: the source alone, format json.
    const before = await startDaemon(fixture.connectorFiles({ sink: false }), { format: 'json' });
    await running(before);
    await client.query(`INSERT INTO public.${table} VALUES (1, 'one', 5), (2, 'two', 15)`);
    await readTopics(kafka, [topic], (messages) => messages.length >= 2, { settleMs: 200 });
    await before.stop();

    // After: source, sink and a transform, format avro.
    const dir = fixture.connectorFiles();
    writeFileSync(
      join(dir, 'transform.yaml'),
      [
        `name: ${transformName}`,
        'kind: transform',
        `kafka: { brokers: "${services.kafkaBrokers.join(',')}" }`,
        'config:',
        `  topics: [${topic}]`,
        `  outputTopic: ${outputTopic}`,
        '  steps:',
        '    - { type: rename, fields: { amount: price } }',
        '    - { type: unwrap }',
      ].join('\n'),
    );
    daemon = await startDaemon(dir, { format: 'avro', registry });
    await running(daemon);
    await client.query(`INSERT INTO public.${table} VALUES (3, 'three', 25)`);
    await client.query(`UPDATE public.${table} SET note = 'uno' WHERE id = 1`);

    const rows = await eventually('every row in ClickHouse', async () => {
      const result = await clickhouse.client.query({ query: `SELECT id, note, amount FROM ${database}.${table}_current ORDER BY id`, format: 'TabSeparated' }).catch(() => undefined);
      const text = result ? await result.text() : '';
      return text.includes('uno') && text.split('\n').filter(Boolean).length === 3 ? text : undefined;
    });
    expect(rows).toBe('1\tuno\t5\n2\ttwo\t15\n3\tthree\t25\n');

    const raw = await readTopics(kafka, [topic], (messages) => messages.length >= 4, { settleMs: 200 });
    expect(raw.map((message) => (message.value![0] === 0 ? 'avro' : String.fromCharCode(message.value![0]!)))).toEqual(['{', '{', 'avro', 'avro']);

    const outputs = await readTopics(kafka, [outputTopic], (messages) => messages.length >= 4, { settleMs: 500 });
    const reader = new AvroConverter(registry);
    const values: Row[] = [];
    for (const message of outputs) {
      expect(message.value![0], 'transform results are avro').toBe(0);
      await reader.loadSchemas([message.key, message.value]);
      values.push(reader.decodeValue<Row>(message.value!).value);
    }
    expect(values.map((row) => [row['id'], row['note'], row['price']])).toEqual([
      [1, 'one', 5],
      [2, 'two', 15],
      [3, 'three', 25],
      [1, 'uno', 5],
    ]);
    expect(registry.versions(`${outputTopic}-value`)).toHaveLength(1);
  });
});
