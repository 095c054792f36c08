/**
 * Tables appearing while streaming, and partitioned tables, on the real stack
 * (the daemon in-process). The source captures the pattern `<schema>.*`:
 *
 *  1. A table created while streaming, its first rows inserted in its
 *     creating transaction (so before any catalog check can see it), is
 *     discovered without a restart: its existing rows arrive as `r` events
 *     (the incremental snapshot), later inserts, updates and deletes as
 *     c/u/d, and the topic folded by key equals the table.
 *  2. A restart neither reads it again nor loses it.
 *  3. A partitioned table: rows of two partitions arrive in the root's one
 *     topic (snapshot and stream), as do rows of a partition attached and one
 *     created while streaming; no partition has a topic of its own. The
 *     publication, made beforehand without publish_via_partition_root, has it.
 *  4. Dropping a discovered table while streaming fails nothing.
 *
 * A ClickHouse sink in the same daemon reads the topic pattern
 * `<prefix>.<schema>.*`: the discovered table and the partitioned one appear
 * in ClickHouse, equal to PostgreSQL, without a restart (issue 13's
 * acceptance test for new tables).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { metrics } from '../../src/metrics/registry.js';
import type { Daemon } from '../../src/runtime/daemon.js';
import { keyOf, loadSchemas, testKafka, valueOf } from '../support/debezium-events.js';
import { ClickHouseServer } from '../../src/sinks/clickhouse/server.js';
import { sinkConnectorYaml, sourceConnectorYaml } from '../support/fixture.js';
import { expectViewToEqual } from '../support/view-check.js';
import { eventually, startDaemon, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import { serviceUrls } from '../support/services.js';

const services = serviceUrls();
const suffix = uniqueSuffix();
const schema = `nt_${suffix}`;
const prefix = `nt${suffix}`;
const slot = `tl_nt_${suffix}`;
const sourceName = `nt-source-${suffix}`;
const signalTable = `public.nt_${suffix}_signal`;
const kafka = testKafka(services.kafkaBrokers);
const client = new pg.Client({ connectionString: services.pgUrl });
const clickhouse = new ClickHouseServer(services.clickhouseUrl, 'default', undefined);
const database = `nt_${suffix}`;
const topicOf = (table: string): string => `${prefix}.${schema}.${table}`;

interface Event {
  op: string;
  key: string;
  after: Record<string, unknown> | null;
}

/** Events of one topic (read_committed, from the start) once `done` holds, plus a short settle. */
async function eventsOf(topic: string, done: (events: Event[]) => boolean, timeoutMs = 60_000): Promise<Event[]> {
  await eventually(`topic ${topic}`, async () => ((await topics()).includes(topic) ? true : undefined), timeoutMs, 200);
  const consumer = kafka.consumer({ groupId: `nt-${suffix}-${Math.random()}`, readUncommitted: false, maxWaitTimeInMs: 200 });
  const events: Event[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value === null) return; // tombstones
        await loadSchemas(message.key, message.value);
        const value = valueOf<{ op: string; after: Record<string, unknown> | null }>(message.value)!;
        events.push({ op: value.op, key: JSON.stringify(keyOf(message.key)), after: value.after });
      },
    });
    await eventually(`events on ${topic}`, async () => (done(events) ? true : undefined), timeoutMs, 200);
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    await consumer.disconnect();
  }
  return [...events];
}

async function topics(): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

/** Each key's last image (deletes remove it), as "id|..." text sorted. */
function fold(events: readonly Event[], columns: string[]): string[] {
  const rows = new Map<string, string>();
  for (const event of events) {
    if (event.after) rows.set(event.key, columns.map((column) => String(event.after![column])).join('|'));
    else rows.delete(event.key);
  }
  return [...rows.values()].sort();
}

async function tableRows(table: string, columns: string[]): Promise<string[]> {
  const { rows } = await client.query<Record<string, unknown>>(`SELECT ${columns.join(', ')} FROM ${schema}.${table}`);
  return rows.map((row) => columns.map((column) => String(row[column])).join('|')).sort();
}

/** Rows as ClickHouse's view query returns them: every column as text, ordered by the first ones. */
async function pgRows(table: string, columns: string[]): Promise<Record<string, string>[]> {
  const { rows } = await client.query<Record<string, string>>(`SELECT ${columns.map((column) => `${column}::text AS ${column}`).join(', ')} FROM ${schema}.${table} ORDER BY ${columns.slice(0, 2).join(', ')}`);
  return rows;
}

const count = (events: readonly Event[], op: string): number => events.filter((event) => event.op === op).length;

async function metricValue(metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }): Promise<number> {
  return (await metric.get()).values.find((value) => value.labels.connector === sourceName)?.value ?? 0;
}

function connectorFiles(): string {
  return writeConnectorFiles({
    'source.yaml': sourceConnectorYaml(sourceName, services.kafkaBrokers.join(','), {
      url: services.pgUrl,
      slot,
      tables: `["${schema}.*"]`,
      excludeTables: `["${schema}.ignored_*"]`,
      topicPrefix: prefix,
      maxBatchDelayMs: 20,
      signalTable,
      tableDiscoveryIntervalMs: 500,
      incrementalSnapshotChunkSize: 100,
    }),
    'sink.yaml': sinkConnectorYaml(`nt-sink-${suffix}`, services.kafkaBrokers.join(','), {
      url: services.clickhouseUrl,
      database,
      topics: `["${prefix}.${schema}.*"]`,
      topicDiscoveryIntervalMs: 500,
    }),
  });
}

describe('tables appearing while streaming, and partitioned tables', () => {
  let daemon: Daemon | null = null;

  beforeAll(async () => {
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.base (id int PRIMARY KEY, val text NOT NULL)`);
    await client.query(`INSERT INTO ${schema}.base VALUES (1, 'one')`);
    await client.query(`CREATE TABLE ${schema}.events (id int NOT NULL, region text NOT NULL, val text NOT NULL, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`);
    await client.query(`CREATE TABLE ${schema}.events_eu PARTITION OF ${schema}.events FOR VALUES IN ('eu')`);
    await client.query(`CREATE TABLE ${schema}.events_us PARTITION OF ${schema}.events FOR VALUES IN ('us')`);
    await client.query(`INSERT INTO ${schema}.events VALUES (1, 'eu', 'a'), (2, 'eu', 'b'), (3, 'us', 'c')`);
    // Made beforehand without the option, as an older version or a person would have.
    await client.query(`CREATE PUBLICATION ${slot} FOR TABLE ${schema}.base`);
    daemon = await startDaemon(connectorFiles());
  });

  afterAll(async () => {
    await daemon?.stop();
    const quiet = (): undefined => undefined;
    await client.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(quiet);
    await client.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(quiet);
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(quiet);
    await client.query(`DROP TABLE IF EXISTS ${signalTable}`).catch(quiet);
    await client.end().catch(quiet);
    await clickhouse.command(`DROP DATABASE IF EXISTS ${database}`).catch(quiet);
    await clickhouse.close();
  });

  const LATE_ROWS = 300;
  const lateColumns = ['id', 'val'];

  it('captures a table created while streaming: existing rows as r, later changes as c/u/d', async () => {
    // Snapshot read and streaming: the base table's row is there.
    await eventsOf(topicOf('base'), (events) => events.length >= 1);
    const discoveredBefore = await metricValue(metrics.sourceTablesDiscovered);
    // Created and filled in one transaction: no catalog check can see the table before its rows.
    await client.query('BEGIN');
    await client.query(`CREATE TABLE ${schema}.late (id int PRIMARY KEY, val text NOT NULL)`);
    await client.query(`INSERT INTO ${schema}.late SELECT g, 'row ' || g FROM generate_series(1, ${LATE_ROWS}) g`);
    await client.query(`CREATE TABLE ${schema}.ignored_late (id int PRIMARY KEY)`);
    await client.query(`CREATE TABLE ${schema}.nokey (id int, val text)`);
    await client.query(`INSERT INTO ${schema}.nokey VALUES (1, 'before')`);
    await client.query('COMMIT');

    const snapshot = await eventsOf(topicOf('late'), (events) => count(events, 'r') >= LATE_ROWS);
    expect(count(snapshot, 'r')).toBe(LATE_ROWS);
    expect(count(snapshot, 'c')).toBe(0);
    expect(await metricValue(metrics.sourceTablesDiscovered)).toBe(discoveredBefore + 2); // late and nokey

    await client.query(`UPDATE ${schema}.late SET val = 'changed ' || id WHERE id <= 10`);
    await client.query(`DELETE FROM ${schema}.late WHERE id > ${LATE_ROWS - 10}`);
    await client.query(`INSERT INTO ${schema}.late SELECT g, 'new ' || g FROM generate_series(${LATE_ROWS + 1}, ${LATE_ROWS + 10}) g`);
    const all = await eventsOf(topicOf('late'), (events) => count(events, 'c') >= 10 && count(events, 'u') >= 10 && count(events, 'd') >= 10);
    expect([count(all, 'r'), count(all, 'c'), count(all, 'u'), count(all, 'd')]).toEqual([LATE_ROWS, 10, 10, 10]);
    expect(fold(all, lateColumns)).toEqual(await tableRows('late', lateColumns));
    // The sink's topic pattern picked the new topic up: the table is in ClickHouse, existing rows and all.
    await expectViewToEqual(clickhouse, `SELECT toString(id) AS id, val FROM ${database}.late_current ORDER BY id`, await pgRows('late', ['id', 'val']), 30_000);
    // Excluded by excludeTables: never captured.
    expect(await topics()).not.toContain(topicOf('ignored_late'));
    // Without a primary key: captured from discovery on, its existing rows not read (a warning says so).
    expect(await topics()).toContain(topicOf('nokey'));
    await client.query(`INSERT INTO ${schema}.nokey VALUES (2, 'after')`);
    const nokey = await eventsOf(topicOf('nokey'), (events) => events.length >= 1);
    expect(nokey.map((event) => [event.op, event.after?.val])).toEqual([['c', 'after']]);
  });

  it('does not read the discovered table again after a restart, and keeps capturing it', async () => {
    await daemon!.stop();
    daemon = await startDaemon(connectorFiles());
    await client.query(`INSERT INTO ${schema}.late VALUES (${LATE_ROWS + 100}, 'after restart')`);
    const all = await eventsOf(topicOf('late'), (events) => count(events, 'c') >= 11);
    expect([count(all, 'r'), count(all, 'c')]).toEqual([LATE_ROWS, 11]);
    expect(fold(all, lateColumns)).toEqual(await tableRows('late', lateColumns));
  });

  it('publishes every partition, also one attached and one created while streaming, through the root\'s topic', async () => {
    const { rows } = await client.query<{ viaroot: boolean }>('SELECT pubviaroot AS viaroot FROM pg_publication WHERE pubname = $1', [slot]);
    expect(rows[0]?.viaroot).toBe(true);
    const columns = ['id', 'region', 'val'];
    await client.query(`INSERT INTO ${schema}.events_eu VALUES (4, 'eu', 'd')`);
    await client.query(`INSERT INTO ${schema}.events VALUES (5, 'us', 'e')`);
    await client.query(`UPDATE ${schema}.events SET val = 'a2' WHERE id = 1`);
    // Attached in its creating transaction, so discovery never sees it as a table of its own.
    await client.query('BEGIN');
    await client.query(`CREATE TABLE ${schema}.events_asia (id int NOT NULL, region text NOT NULL, val text NOT NULL, PRIMARY KEY (id, region))`);
    await client.query(`ALTER TABLE ${schema}.events ATTACH PARTITION ${schema}.events_asia FOR VALUES IN ('asia')`);
    await client.query('COMMIT');
    await client.query(`CREATE TABLE ${schema}.events_other PARTITION OF ${schema}.events DEFAULT`);
    await client.query(`INSERT INTO ${schema}.events_asia VALUES (6, 'asia', 'f')`);
    await client.query(`INSERT INTO ${schema}.events VALUES (7, 'asia', 'g'), (8, 'mars', 'h')`);
    await client.query(`DELETE FROM ${schema}.events WHERE id = 3`);

    const all = await eventsOf(topicOf('events'), (events) => count(events, 'd') >= 1 && count(events, 'c') >= 5);
    expect([count(all, 'r'), count(all, 'c'), count(all, 'u'), count(all, 'd')]).toEqual([3, 5, 1, 1]);
    expect(fold(all, columns)).toEqual(await tableRows('events', columns));
    await expectViewToEqual(clickhouse, `SELECT toString(id) AS id, region, val FROM ${database}.events_current ORDER BY id, region`, await pgRows('events', columns), 30_000);
    const partitionTopics = (await topics()).filter((topic) => topic.startsWith(`${topicOf('events')}_`));
    expect(partitionTopics).toEqual([]);
  });

  it('forgets discovered tables that are dropped, one while its incremental snapshot runs, and streams on', async () => {
    const captured = await metricValue(metrics.sourceCapturedTables);
    await client.query(`CREATE TABLE ${schema}.big (id int PRIMARY KEY, val text NOT NULL)`);
    await client.query(`INSERT INTO ${schema}.big SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g`);
    // 1,000 chunks of 100: dropped once the first are in Kafka, long before the last.
    const started = await eventsOf(topicOf('big'), (events) => count(events, 'r') >= 200);
    expect(count(started, 'r')).toBeLessThan(100_000);
    await client.query(`DROP TABLE ${schema}.big`);
    await client.query(`DROP TABLE ${schema}.late`);
    await eventually('the dropped tables forgotten', async () => ((await metricValue(metrics.sourceCapturedTables)) === captured - 1 ? true : undefined), 30_000, 200);
    await eventually('the snapshot of the dropped table abandoned', async () => ((await metricValue(metrics.incrementalSnapshotState)) === 0 ? true : undefined), 30_000, 200);
    await client.query(`INSERT INTO ${schema}.base VALUES (2, 'two')`);
    await eventsOf(topicOf('base'), (events) => count(events, 'c') >= 1);
    const status = daemon!.statuses().find((entry) => entry.name === sourceName);
    expect([status?.state, status?.restarts]).toEqual(['running', 0]);
  });
});
