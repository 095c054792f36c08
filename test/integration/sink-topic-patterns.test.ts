/**
 * A ClickHouse sink whose topics are a pattern, on the real stack: a topic
 * created while the sink runs is written without a restart (its table created
 * at its first event), while a topic it already read keeps flowing through the
 * rejoin with no row lost or written twice; internal and non-matching topics
 * are left alone; lag and `tideline replay` resolve the pattern to the
 * current topics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import type { Daemon } from '../../src/runtime/daemon.js';
import { consumerLag } from '../../src/kafka/group-offsets.js';
import { metrics } from '../../src/metrics/registry.js';
import { ClickHouseServer } from '../../src/sinks/clickhouse/server.js';
import { sinkConnectorYaml } from '../support/fixture.js';
import { eventually, startDaemon, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import { serviceUrls } from '../support/services.js';
import { tideline } from '../support/cli.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { changeEvent, createTopic, encodeEvent, idempotentProducer, int64, tableEvents, testKafka, text, type TableEvents } from '../support/debezium-events.js';

const services = serviceUrls();
const suffix = uniqueSuffix();
const prefix = `stp${suffix}`;
const database = `stp_${suffix}`;
const sinkName = `stp-sink-${suffix}`;
const groupId = `tideline-${sinkName}`;
const topicOf = (table: string) => `${prefix}.public.${table}`;
const kafka = testKafka(services.kafkaBrokers);
const clickhouse = new ClickHouseServer(services.clickhouseUrl, 'default', undefined);

const columns = [
  { name: 'id', schema: int64(), key: true },
  { name: 'label', schema: text(), key: false },
];

/** Produces creates of ids [from, to) to `table`'s topic, one transaction-free send per call. */
async function produce(producer: Producer, events: TableEvents, table: string, from: number, to: number): Promise<void> {
  const messages = [];
  for (let id = from; id < to; id++) messages.push(encodeEvent(events, { key: { id }, event: changeEvent(table, 'c', null, { id, label: `${table}-${id}` }, Date.now()) }));
  await producer.send({ topic: events.topic, messages });
}

const count = async (table: string, db = database): Promise<number> => {
  const [row] = await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${db}.${table}_current`);
  return Number(row?.n ?? 0);
};

/** Raw rows of a table (before FINAL): all of them, and distinct (key, _version) pairs. */
const rawCounts = async (table: string, db = database) => {
  const [row] = await clickhouse.rows<{ rows: string; distinct: string; ids: string }>(
    `SELECT toString(count()) AS rows, toString(uniqExact(id, _version)) AS distinct, toString(uniqExact(id)) AS ids FROM ${db}.${table}`,
  );
  return { rows: Number(row?.rows), distinct: Number(row?.distinct), ids: Number(row?.ids) };
};

const rowsWritten = async (table: string, sink = sinkName): Promise<number> => {
  const { values } = await metrics.sinkRowsWritten.get();
  return values.filter((value) => value.labels.connector === sink && String(value.labels.table).endsWith(table)).reduce((sum, value) => sum + value.value, 0);
};

/**
 * The sink's own count of rows written per table equals the events: no batch was written twice. The
 * counter moves once the batch's offsets are stored, a moment after its rows are visible: wait for it, then
 * check that it stays.
 */
async function expectRowsWritten(sink: string, expected: Record<string, number>): Promise<void> {
  const all = async () => Object.fromEntries(await Promise.all(Object.keys(expected).map(async (table) => [table, await rowsWritten(table, sink)] as const)));
  await eventually('the rows counted', async () => (Object.entries(await all()).every(([table, n]) => n >= expected[table]!) ? true : undefined), 10_000, 100);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(await all()).toEqual(expected);
}

describe('clickhouse sink with a topic pattern', () => {
  let daemon: Daemon | undefined;
  let producer: Producer;
  let orders: TableEvents;
  let dir: string;
  let produced = 0;

  beforeAll(async () => {
    producer = await idempotentProducer(kafka);
    orders = await tableEvents(topicOf('orders'), columns);
    await createTopic(kafka, orders.topic, 2);
    // Match the pattern but are not change topics of it: the sink's own dead-letter topic; and one outside the pattern.
    await createTopic(kafka, topicOf('errors'), 1);
    await createTopic(kafka, `${prefix}.other.orders`, 1);
    await producer.send({ topic: topicOf('errors'), messages: [encodeEvent(await tableEvents(topicOf('errors'), columns), { key: { id: 1 }, event: changeEvent('errs', 'c', null, { id: 1, label: 'x' }, Date.now()) })] });
    await producer.send({ topic: `${prefix}.other.orders`, messages: [encodeEvent(await tableEvents(`${prefix}.other.orders`, columns), { key: { id: 1 }, event: changeEvent('others', 'c', null, { id: 1, label: 'x' }, Date.now()) })] });
    await produce(producer, orders, 'orders', 0, 200);

    const brokers = services.kafkaBrokers.join(',');
    dir = writeConnectorFiles({
        'sink.yaml': sinkConnectorYaml(sinkName, brokers, {
          url: services.clickhouseUrl,
          database,
          topics: `["${prefix}.public.*"]`,
          deadLetterTopic: topicOf('errors'),
          topicDiscoveryIntervalMs: 500,
          maxBatchDelayMs: 50,
        }),
      });
    daemon = await startDaemon(dir);
    await eventually('the existing topic written', async () => ((await count('orders').catch(() => 0)) === 200 ? true : undefined), 30_000);
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await producer?.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topicOf('orders'), topicOf('items'), topicOf('errors'), `${prefix}.other.orders`] }).catch(() => undefined);
    await admin.disconnect();
    await clickhouse.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await clickhouse.close();
  });

  it('writes a topic created while it runs, and keeps the existing topic flowing with no row lost or doubled', async () => {
    // The existing topic keeps receiving while the new one appears (so the rejoin happens mid-stream).
    let next = 200;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await produce(producer, orders, 'orders', next, next + 25);
        next += 25;
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, 300));
    const items = await tableEvents(topicOf('items'), columns);
    await createTopic(kafka, items.topic, 2);
    const created = Date.now();
    await produce(producer, items, 'items', 0, 150);
    await eventually('the new topic written', async () => ((await count('items').catch(() => 0)) === 150 ? true : undefined), 30_000, 100);
    const delayMs = Date.now() - created;
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await writer;
    produced = next;
    await produce(producer, items, 'items', 150, 160); // after the rejoin, the new topic keeps flowing too

    await eventually('every order written', async () => ((await count('orders')) === produced ? true : undefined), 30_000);
    await eventually('every item written', async () => ((await count('items')) === 160 ? true : undefined), 30_000);

    // Each event stored once: as many (key, _version) pairs as events (creates of distinct ids), no pair twice in
    // the raw table, and the sink's own count of rows written equals the events (no batch written again).
    expect(await rawCounts('orders')).toEqual({ rows: produced, distinct: produced, ids: produced });
    expect(await rawCounts('items')).toEqual({ rows: 160, distinct: 160, ids: 160 });
    await expectRowsWritten(sinkName, { orders: produced, items: 160 });

    // Without a restart: the same run of the sink did all of it.
    const status = daemon!.statuses().find((s) => s.name === sinkName)!;
    expect(status).toMatchObject({ state: 'running', restarts: 0 });
    // The dead-letter topic and the topic outside the pattern were never read.
    const tables = (await clickhouse.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`)).map((row) => row.name);
    expect(tables).toEqual(['_tideline_sink_offsets', 'items', 'items_current', 'orders', 'orders_current']);
    // Offsets stored for both topics' partitions.
    const stored = await clickhouse.rows<{ topic: string; partition: number }>(`SELECT DISTINCT topic, partition FROM ${database}._tideline_sink_offsets ORDER BY topic, partition`);
    expect(stored.map((row) => `${row.topic}:${row.partition}`)).toEqual([`${items.topic}:0`, `${items.topic}:1`, `${orders.topic}:0`, `${orders.topic}:1`]);
    // For the report: creation to the last of 150 rows in ClickHouse, with checks every 500 ms.
    console.log(`new topic written ${delayMs} ms after it was created`);
  }, 90_000);

  it('measures lag over the topics the pattern matches now', async () => {
    const lags = await eventually(
      'the committed group offsets',
      async () => {
        const found = await consumerLag(kafka, [{ groupId, topics: [`${prefix}.public.*`], excludeTopics: [topicOf('errors')] }]);
        return found.every((lag) => lag.lag === 0) ? found : undefined;
      },
      20_000,
    );
    expect(lags.map((lag) => `${lag.topic}:${lag.partition}`).sort()).toEqual([`${topicOf('items')}:0`, `${topicOf('items')}:1`, `${topicOf('orders')}:0`, `${topicOf('orders')}:1`]);
  }, 30_000);

  it('replays the tables of every topic the pattern matches', async () => {
    const result = await tideline(['replay', sinkName, '-c', dir, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { event?: string });
    expect(lines.at(-1)?.event).toBe('done');
    expect(await count('orders')).toBe(produced);
    expect(await count('items')).toBe(160);
    const tables = (await clickhouse.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${database}' AND name NOT LIKE '\\_tideline%' ORDER BY name`)).map((row) => row.name);
    expect(tables).toEqual(['items', 'items_current', 'orders', 'orders_current']);
  }, 90_000); // ~19 s here: process start, the replay's group join and its catch-up rule
});

describe('clickhouse sink with a topic pattern, a new topic while ClickHouse is unreachable', () => {
  const outagePrefix = `stpo${suffix}`;
  const outageDatabase = `stpo_${suffix}`;
  const outageSink = `stpo-sink-${suffix}`;
  const target = new URL(services.clickhouseUrl);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 8123));
  let daemon: Daemon | undefined;
  let producer: Producer;

  beforeAll(async () => {
    producer = await idempotentProducer(kafka);
    const port = await proxy.start();
    daemon = await startDaemon(
      writeConnectorFiles({
        'sink.yaml': sinkConnectorYaml(outageSink, services.kafkaBrokers.join(','), {
          url: `http://127.0.0.1:${port}`,
          database: outageDatabase,
          topics: `["${outagePrefix}.public.*"]`,
          topicDiscoveryIntervalMs: 300,
          maxBatchDelayMs: 50,
          maxRetryDelayMs: 500,
        }),
      }),
    );
  }, 30_000);

  afterAll(async () => {
    await proxy.restore();
    await daemon?.stop();
    await producer?.disconnect();
    await proxy.cut();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [`${outagePrefix}.public.orders`, `${outagePrefix}.public.items`] }).catch(() => undefined);
    await admin.disconnect();
    await clickhouse.command(`DROP DATABASE IF EXISTS ${outageDatabase}`).catch(() => undefined);
  });

  it('rejoins once the fetched batch is written, then writes both topics, each row once', async () => {
    // No topic matches yet: the sink waits, degraded, and starts on the first that appears.
    const status = () => daemon!.statuses().find((s) => s.name === outageSink)!;
    await eventually('waiting for a match', async () => (status().detail?.startsWith('waiting for topics matching') ? true : undefined), 10_000, 100);
    const orders = await tableEvents(`${outagePrefix}.public.orders`, columns);
    await createTopic(kafka, orders.topic, 2);
    await produce(producer, orders, 'orders', 0, 100);
    await eventually('the first topic written', async () => ((await count('orders', outageDatabase).catch(() => 0)) === 100 ? true : undefined), 30_000, 100);

    await proxy.cut();
    await produce(producer, orders, 'orders', 100, 150); // fetched, and its write retried while ClickHouse is cut off
    await eventually('the sink degraded', async () => (status().state === 'degraded' ? true : undefined), 15_000, 100);
    const items = await tableEvents(`${outagePrefix}.public.items`, columns);
    await createTopic(kafka, items.topic, 1);
    await produce(producer, items, 'items', 0, 40);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // several checks: the rejoin waits for the write
    await proxy.restore();

    await eventually('every order written', async () => ((await count('orders', outageDatabase)) === 150 ? true : undefined), 30_000);
    await eventually('every item written', async () => ((await count('items', outageDatabase).catch(() => 0)) === 40 ? true : undefined), 30_000);
    expect(await rawCounts('orders', outageDatabase)).toEqual({ rows: 150, distinct: 150, ids: 150 });
    expect(await rawCounts('items', outageDatabase)).toEqual({ rows: 40, distinct: 40, ids: 40 });
    await expectRowsWritten(outageSink, { orders: 150, items: 40 });
    await eventually('running again', async () => (status().state === 'running' ? true : undefined), 10_000, 100);
    expect(status().restarts).toBe(0);
  }, 90_000);
});
