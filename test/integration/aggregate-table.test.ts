/**
 * Mode table of the aggregate processor end to end, through crashes: a
 * PostgreSQL table of orders (snapshot rows first, then inserts, updates of
 * the amount, updates of the grouped column `customer` that move a row
 * between groups, primary-key changes, deletes) is captured by the source
 * (three partitions), aggregated per customer in one window that holds every
 * row, and written to ClickHouse by the sink, while the daemon is killed
 * with SIGKILL five times. At the end the ClickHouse view equals
 * `SELECT customer, count(*), sum, min, max, count(DISTINCT amount) ... GROUP BY
 * customer` over the current PostgreSQL table (a customer whose rows were all
 * deleted has no row), and in Kafka every result key's versions are 1, 2, 3,
 * ... (deletes included): nothing emitted twice or lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sinkConnectorYaml, sourceConnectorYaml, TableFixture } from '../support/fixture.js';
import { eventually, writeConnectorFiles } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { keyOf, readTopics, testKafka, valueOf } from '../support/debezium-events.js';
import type { ChangeEvent } from '../../src/core/events.js';
import type { ResultSourceBlock } from '../../src/processors/aggregate/result-source.js';

const KILLS = Number(process.env.TIDELINE_TEST_KILLS ?? 5);
const fixture = new TableFixture('aggt');
const { services, suffix, table, topic, database, client, clickhouse } = fixture;
const brokers = services.kafkaBrokers.join(',');
const output = `aggt${suffix}.per_customer`;
const CUSTOMERS = ['ada', 'bob', 'cyd', 'dee', 'eve', 'fay'];

function aggregateYaml(): string {
  return [
    `name: aggt-${suffix}`,
    'kind: aggregate',
    `kafka: { brokers: "${brokers}" }`,
    'config:',
    `  topics: [${topic}]`,
    `  outputTopic: ${output}`,
    '  table: per_customer',
    '  groupBy: { customer: after.customer }',
    // One window (from the epoch, 100 years long) holds every row whatever its commit time.
    '  window: { type: tumbling, size: 36500d }',
    '  aggregates:',
    '    orders: { fn: count }',
    '    total: { fn: sum, expression: after.amount, type: int64 }',
    '    smallest: { fn: min, expression: after.amount, type: int64 }',
    '    largest: { fn: max, expression: after.amount, type: int64 }',
    '    amounts: { fn: countDistinct, expression: after.amount }',
  ].join('\n');
}

/** Random small transactions of inserts, updates (amount, customer, primary key) and deletes. */
class Workload {
  private readonly live: number[] = [];
  private nextId = 1;
  transactions = 0;

  constructor(private readonly client: pg.Client) {}

  async insert(): Promise<void> {
    const id = this.nextId++;
    const customer = CUSTOMERS[Math.floor(Math.random() * CUSTOMERS.length)]!;
    // Few distinct amounts, so min/max/countDistinct see duplicates retracted.
    await this.client.query(`INSERT INTO public.${table} (id, customer, amount) VALUES ($1, $2, $3)`, [id, customer, 1 + Math.floor(Math.random() * 40)]);
    this.live.push(id);
  }

  async transaction(): Promise<void> {
    await this.client.query('BEGIN');
    try {
      const count = 1 + Math.floor(Math.random() * 3);
      for (let i = 0; i < count; i++) {
        const roll = Math.random();
        const index = Math.floor(Math.random() * this.live.length);
        const id = this.live[index]!;
        if (roll < 0.4 || this.live.length < 10) {
          await this.insert();
        } else if (roll < 0.6) {
          await this.client.query(`UPDATE public.${table} SET amount = 1 + (amount * 7) % 40 WHERE id = $1`, [id]);
        } else if (roll < 0.75) {
          const customer = CUSTOMERS[Math.floor(Math.random() * CUSTOMERS.length)]!;
          await this.client.query(`UPDATE public.${table} SET customer = $2, amount = amount + 1 WHERE id = $1`, [id, customer]);
        } else if (roll < 0.82) {
          // A key change: the source emits a delete of the old key and a create of the new one.
          const newId = this.nextId++;
          await this.client.query(`UPDATE public.${table} SET id = $2 WHERE id = $1`, [id, newId]);
          this.live[index] = newId;
        } else {
          await this.client.query(`DELETE FROM public.${table} WHERE id = $1`, [id]);
          this.live.splice(index, 1);
        }
      }
      await this.client.query('COMMIT');
      this.transactions += 1;
    } catch (error) {
      await this.client.query('ROLLBACK');
      throw error;
    }
  }
}

const EXPECTED_SQL = `
  SELECT customer, count(*)::text AS orders, sum(amount)::text AS total, min(amount)::text AS smallest,
         max(amount)::text AS largest, count(DISTINCT amount)::text AS amounts
  FROM public.${table} GROUP BY customer ORDER BY customer`;
const actualSql = () => `
  SELECT customer, toString(orders) AS orders, toString(total) AS total, toString(smallest) AS smallest,
         toString(largest) AS largest, toString(amounts) AS amounts
  FROM ${database}.per_customer_current ORDER BY customer`;

describe('aggregate mode table through SIGKILL', () => {
  let daemon: DaemonProcess;
  const workload = new Workload(client);

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, customer text NOT NULL, amount integer NOT NULL');
    // Read by the source's snapshot (op r): they count as creates.
    for (let i = 0; i < 30; i++) await workload.insert();
    const dir = writeConnectorFiles({
      'source.yaml': sourceConnectorYaml(fixture.sourceName, brokers, {
        url: services.pgUrl,
        slot: fixture.slot,
        tables: `[public.${table}]`,
        topicPrefix: fixture.prefix,
        topicPartitions: 3,
        maxBatchDelayMs: 20,
      }),
      'sink.yaml': sinkConnectorYaml(fixture.sinkName, brokers, { url: services.clickhouseUrl, database, topics: `[${output}]` }),
      'aggregate.yaml': aggregateYaml(),
    });
    daemon = new DaemonProcess(dir, await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    if (process.env.TIDELINE_TEST_DAEMON_LOG) (await import('node:fs')).writeFileSync(process.env.TIDELINE_TEST_DAEMON_LOG, daemon?.log.join('') ?? '');
    await fixture.cleanup();
  });

  it(`equals GROUP BY over the current table after ${KILLS} kills, every result version once`, async () => {
    const started = Date.now();
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await workload.transaction();
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.random() * 1_500));
      await daemon.kill();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 500));
      await daemon.start();
    }
    writing = false;
    await writer;
    // One customer loses every row: its result must be deleted, not left at its last values.
    await client.query(`DELETE FROM public.${table} WHERE customer = 'ada'`);
    expect(workload.transactions).toBeGreaterThan(100);

    const expected = (await client.query(EXPECTED_SQL)).rows as Record<string, string>[];
    expect(expected.map((row) => row.customer)).not.toContain('ada');
    expect(expected.length).toBeGreaterThan(3);
    await eventually('the aggregate in ClickHouse to equal GROUP BY over PostgreSQL', async () => {
      const actual = await clickhouse.rows(actualSql()).catch(() => []);
      return JSON.stringify(actual) === JSON.stringify(expected) ? true : undefined;
    }, 60_000).catch(async (error: unknown) => {
      expect(await clickhouse.rows(actualSql())).toEqual(expected);
      throw error;
    });

    // In Kafka (read_committed): per result key, versions 1..n, each once; a tombstone after each delete.
    const kafka = testKafka(services.kafkaBrokers);
    const results = await readTopics(kafka, [output], () => true, { settleMs: 2_000 });
    const versions = new Map<string, number[]>();
    const ops = new Map<string, string[]>();
    for (const message of results) {
      const key = JSON.stringify(keyOf(message.key));
      if (!message.value) {
        expect(ops.get(key)?.at(-1)).toBe('d');
        continue;
      }
      const payload = valueOf<ChangeEvent<ResultSourceBlock>>(message.value)!;
      versions.set(key, [...(versions.get(key) ?? []), payload.source.lsn!]);
      ops.set(key, [...(ops.get(key) ?? []), payload.op]);
    }
    expect(ops.get(JSON.stringify({ customer: 'ada', window_start: 0 }))?.at(-1)).toBe('d');
    for (const [key, list] of versions) expect({ key, list }).toEqual({ key, list: list.map((_, index) => index + 1) });
    // Nothing was refused on the way (a dead letter would make equality above a coincidence of the workload).
    expect(await readTopics(kafka, [`aggt-${suffix}.dlq`], () => true, { settleMs: 1_000 })).toEqual([]);
    console.log(`aggregate-table: ${workload.transactions} transactions, ${results.length} result records, ${((Date.now() - started) / 1000).toFixed(1)} s after setup`);
  });
});
