/**
 * A windowed aggregation end to end on the real stack, through crashes: a
 * per-customer, per-minute count and sum over a generated order stream (three
 * input partitions, so events are re-keyed by customer), written to ClickHouse
 * by clickhouse-sink, equals the same aggregation computed with SQL over the
 * raw orders (written to ClickHouse by the same sink), after the daemon was
 * killed with SIGKILL five times mid-stream. In Kafka, every result key's
 * versions (source.lsn) are 1, 2, 3, ... with none repeated or skipped: no
 * update was emitted twice or lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { ClickHouseServer } from '../../src/sinks/clickhouse/server.js';
import { serviceUrls } from '../support/services.js';
import { eventually, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { createTopic, idempotentProducer, keyOf, readTopics, testKafka, valueOf } from '../support/debezium-events.js';
import { OrderStream, ordersTable } from '../support/orders.js';
import type { ChangeEvent } from '../../src/core/events.js';
import type { ResultSourceBlock } from '../../src/processors/aggregate/result-source.js';

const KILLS = Number(process.env.TIDELINE_TEST_KILLS ?? 5);
const MAX_ORDERS = 6_500;
const services = serviceUrls();
const suffix = uniqueSuffix();
const brokers = services.kafkaBrokers.join(',');
const input = `pa${suffix}.public.orders`;
const output = `pa${suffix}.orders_per_minute`;
const database = `pa_${suffix}`;
const processorName = `pagg-${suffix}`;
const kafka = testKafka(services.kafkaBrokers);
const clickhouse = new ClickHouseServer(services.clickhouseUrl, 'default', undefined);

export function aggregateYaml(name: string, inputTopic: string, outputTopic: string): string {
  return [
    `name: ${name}`,
    'kind: aggregate',
    `kafka: { brokers: "${brokers}" }`,
    'config:',
    `  topics: [${inputTopic}]`,
    `  outputTopic: ${outputTopic}`,
    '  table: orders_per_minute',
    '  groupBy: { customer_id: { expression: after.customer_id, type: int64 } }',
    '  window: { type: tumbling, size: 1m }',
    // Longer than the whole stream's event-time span: no event is late, whatever
    // the order in which the input partitions are re-keyed after a crash.
    '  allowedLateness: 1h',
    `  filter: "op = 'c'"`,
    '  aggregates:',
    '    orders: { fn: count }',
    '    revenue_cents: { fn: sum, expression: after.amount_cents, type: int64 }',
  ].join('\n');
}

const EXPECTED_SQL = `
  SELECT toString(customer_id) AS customer, toString(intDiv(ts_ms, 60000) * 60) AS minute,
         toString(count()) AS orders, toString(sum(amount_cents)) AS revenue
  FROM ${database}.orders_current GROUP BY customer_id, minute ORDER BY customer_id, minute`;
const ACTUAL_SQL = `
  SELECT toString(customer_id) AS customer, toString(toUInt32(window_start)) AS minute,
         toString(orders) AS orders, toString(revenue_cents) AS revenue
  FROM ${database}.orders_per_minute_current ORDER BY customer_id, minute`;

const ordersEvents = await ordersTable(input);

describe('aggregate processor through SIGKILL', () => {
  let daemon: DaemonProcess;
  let producer: Producer;
  const orders = new OrderStream(ordersEvents, { customers: 12, stepMs: 40, jitterMs: 3_000 });

  beforeAll(async () => {
    await createTopic(kafka, input, 3);
    producer = await idempotentProducer(kafka);
    await orders.produce(producer, 500);
    const dir = writeConnectorFiles({
      'aggregate.yaml': aggregateYaml(processorName, input, output),
      'sink.yaml': [
        `name: pa-sink-${suffix}`,
        'kind: clickhouse-sink',
        `kafka: { brokers: "${brokers}" }`,
        'config:',
        `  url: ${services.clickhouseUrl}`,
        `  database: ${database}`,
        `  topics: [${input}, ${output}]`,
      ].join('\n'),
    });
    daemon = new DaemonProcess(dir, await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    if (process.env.TIDELINE_TEST_DAEMON_LOG) (await import('node:fs')).writeFileSync(process.env.TIDELINE_TEST_DAEMON_LOG, daemon?.log.join('') ?? '');
    await producer?.disconnect();
    if (!process.env.TIDELINE_TEST_KEEP) await clickhouse.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await clickhouse.close();
  });

  it(`equals SQL over the raw rows after ${KILLS} kills, with every result version exactly once`, async () => {
    // ~250 orders/s up to a bound, so the work to catch up on does not grow
    // with how long the restarts take on a loaded machine.
    let producing = true;
    const writer = (async () => {
      while (producing && orders.produced < MAX_ORDERS) {
        await orders.produce(producer, 50);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 1_500 + Math.random() * 2_500));
      await daemon.kill();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_000));
      await daemon.start();
    }
    producing = false;
    await writer;
    expect(orders.produced).toBeGreaterThan(2_000);

    await eventually(`all ${orders.produced} raw orders in ClickHouse`, async () => {
      const [row] = await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.orders_current`);
      return row?.n === String(orders.produced) ? true : undefined;
    }, 150_000);
    const expected = await clickhouse.rows(EXPECTED_SQL);
    expect(expected.length).toBeGreaterThan(12);
    await eventually('the aggregated table to equal SQL over the raw rows', async () => {
      const actual = await clickhouse.rows(ACTUAL_SQL).catch(() => []);
      return JSON.stringify(actual) === JSON.stringify(expected) ? true : undefined;
    }, 150_000).catch(async (error: unknown) => {
      const actual = await clickhouse.rows(ACTUAL_SQL);
      const text = (rows: unknown[]) => new Set(rows.map((row) => JSON.stringify(row)));
      const [want, got] = [text(expected), text(actual)];
      expect({ missing: [...want].filter((row) => !got.has(row)), unexpected: [...got].filter((row) => !want.has(row)) }).toEqual({ missing: [], unexpected: [] });
      throw error;
    });

    // In Kafka (read_committed): per result key, versions 1..n, each once.
    const results = await readTopics(kafka, [output], () => true, { settleMs: 3_000 });
    const versions = new Map<string, number[]>();
    for (const message of results) {
      const lsn = valueOf<ChangeEvent<ResultSourceBlock>>(message.value)!.source.lsn;
      const key = JSON.stringify(keyOf(message.key));
      versions.set(key, [...(versions.get(key) ?? []), lsn]);
    }
    expect(versions.size).toBe(expected.length);
    for (const [key, list] of versions) expect({ key, list }).toEqual({ key, list: list.map((_, index) => index + 1) });
  });
});
