/**
 * A transform chain on the real stack: filter → mask → unwrap → route over a
 * Debezium-shaped topic (inserts, updates, deletes with tombstones, one
 * undecodable message). The routed topics hold exactly the expected records,
 * in order per key, with schemas that describe them; the bad message is in
 * the dead-letter topic with the error in its headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/runtime/daemon.js';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import type { Row } from '../../src/core/events.js';
import { serviceUrls } from '../support/services.js';
import { eventually, startDaemon, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import {
  changeEvent,
  createTopic,
  encodeEvent,
  idempotentProducer,
  int32,
  int64,
  readTopics,
  tableEvents,
  testConverter,
  testKafka,
  text,
  type ProducedEvent,
} from '../support/debezium-events.js';

const services = serviceUrls();
const suffix = uniqueSuffix();
const name = `ptransform-${suffix}`;
const input = `pt${suffix}.public.customers`;
const routed = (region: string) => `pt${suffix}.customers.${region}`;
const kafka = testKafka(services.kafkaBrokers);

const table = await tableEvents(input, [
  { name: 'id', schema: int64(), key: true },
  { name: 'email', schema: text(), key: false },
  { name: 'region', schema: text(false), key: false },
  { name: 'amount', schema: int32(), key: false },
]);

/** The workload: inserts, updates and deletes over 60 customers in two regions. */
function workload(): ProducedEvent[] {
  const events: ProducedEvent[] = [];
  const rows = new Map<number, Row>();
  let ts = Date.UTC(2026, 0, 1);
  for (let id = 1; id <= 60; id++) {
    const row = { id, email: `c${id}@example.com`, region: id % 3 === 0 ? 'eu' : 'us', amount: (id * 7) % 20 };
    rows.set(id, row);
    events.push({ key: { id }, event: changeEvent('customers', 'c', null, row, (ts += 10)) });
  }
  for (let id = 1; id <= 60; id += 4) {
    const before = rows.get(id)!;
    const after = { ...before, amount: (before.amount as number) + 5 };
    rows.set(id, after);
    events.push({ key: { id }, event: changeEvent('customers', 'u', before, after, (ts += 10)) });
  }
  for (let id = 2; id <= 60; id += 9) {
    events.push({ key: { id }, event: changeEvent('customers', 'd', rows.get(id)!, null, (ts += 10)) });
    events.push({ key: { id }, event: null });
  }
  return events;
}

/** What filter (amount >= 10, deletes kept) → mask(email) → unwrap → route(region) makes of the workload. */
function expectedOutputs(events: ProducedEvent[]): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const { event } of events) {
    if (!event) continue; // tombstones: passed by filter and mask, dropped by unwrap
    if (event.op !== 'd' && (event.after!.amount as number) < 10) continue;
    const image = { ...(event.op === 'd' ? event.before! : event.after!) };
    image.email = '****';
    const row = { ...image, __op: event.op, __source_ts_ms: event.source.ts_ms, __deleted: event.op === 'd' ? 'true' : 'false' };
    const topic = routed(String(image.region));
    out.set(topic, [...(out.get(topic) ?? []), row]);
  }
  return out;
}

describe('transform processor', () => {
  let daemon: Daemon;
  const events = workload();

  beforeAll(async () => {
    await createTopic(kafka, input, 2);
    const producer = await idempotentProducer(kafka);
    await producer.send({ topic: input, acks: -1, messages: events.slice(0, 40).map((event) => encodeEvent(table, event)) });
    // A message that is not JSON: it must go to the dead-letter topic, not stop the processor.
    await producer.send({ topic: input, acks: -1, messages: [{ key: table.keyEncoder.encode({ id: 1000 }), value: Buffer.from('{not json') }] });
    await producer.send({ topic: input, acks: -1, messages: events.slice(40).map((event) => encodeEvent(table, event)) });
    await producer.disconnect();

    const yaml = [
      `name: ${name}`,
      'kind: transform',
      `kafka: { brokers: "${services.kafkaBrokers.join(',')}" }`,
      'config:',
      `  topics: [${input}]`,
      '  outputTopic: "{topic}.unrouted"',
      '  steps:',
      `    - { type: filter, expression: "op = 'd' or after.amount >= 10" }`,
      '    - { type: mask, fields: [email] }',
      '    - { type: unwrap }',
      `    - { type: route, expression: "'pt${suffix}.customers.' & region" }`,
    ].join('\n');
    daemon = await startDaemon(writeConnectorFiles({ 'transform.yaml': yaml }));
  });

  afterAll(async () => {
    await daemon?.stop();
  });

  it('produces exactly the expected records on the routed topics', async () => {
    const expected = expectedOutputs(events);
    const total = [...expected.values()].reduce((sum, rows) => sum + rows.length, 0);
    const admin = kafka.admin();
    await admin.connect();
    await eventually('the routed topics to exist', async () => {
      const topics = new Set(await admin.listTopics());
      return [...expected.keys(), `${name}.dlq`].every((topic) => topics.has(topic)) ? true : undefined;
    });
    await admin.disconnect();

    const messages = await readTopics(kafka, [...expected.keys(), `${name}.dlq`], (read) => read.length >= total + 1, { settleMs: 2_000 });
    const outputs = messages.filter((message) => message.topic !== `${name}.dlq`);
    const byTopic = new Map<string, Map<number, Row[]>>();
    let schema: ConnectSchema | undefined;
    for (const message of outputs) {
      const value = testConverter.decodeValue<Row>(message.value!);
      const key = testConverter.decodeKey<{ id: number }>(message.key!).value;
      schema = value.schema.schema!;
      const perKey = byTopic.get(message.topic) ?? new Map<number, Row[]>();
      perKey.set(key.id, [...(perKey.get(key.id) ?? []), value.value]);
      byTopic.set(message.topic, perKey);
    }
    // Exactly the expected rows, per key in input order, nothing twice.
    expect(outputs.length).toBe(total);
    for (const [topic, rows] of expected) {
      const perKey = new Map<number, Row[]>();
      for (const row of rows) perKey.set(row.id as number, [...(perKey.get(row.id as number) ?? []), row]);
      expect(Object.fromEntries(byTopic.get(topic) ?? [])).toEqual(Object.fromEntries(perKey));
    }
    // The schema describes the flat row: masked email is text, Debezium's added fields are there.
    expect(schema?.fields?.map((field) => [field.field, field.type])).toEqual([
      ['id', 'int64'],
      ['email', 'string'],
      ['region', 'string'],
      ['amount', 'int32'],
      ['__op', 'string'],
      ['__source_ts_ms', 'int64'],
      ['__deleted', 'string'],
    ]);

    const deadLetters = messages.filter((message) => message.topic === `${name}.dlq`);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]!.value!.toString()).toBe('{not json');
    expect(deadLetters[0]!.headers['tideline.error']).toMatch(/JSON/);
    expect(deadLetters[0]!.headers['tideline.source.topic']).toBe(input);
  });
});
