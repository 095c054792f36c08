/**
 * The source's behaviour around the edges, on the real stack: table patterns
 * with exclusions kept in the publication, TRUNCATE as an op "t" event, a
 * column type without a mapping sent as text with one warning, and heartbeats
 * that move the slot while the captured tables are idle and another table is busy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { parseLsn } from '../../src/sources/postgres/lsn.js';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { loadSchemas, testConverter, valueOf } from '../support/debezium-events.js';

const fixture = new TableFixture('beh');
const { services, suffix, table, prefix, slot, client } = fixture;
const other = { a: `${table}_a`, b: `${table}_b`, skipped: `${table}_skip`, busy: `${table}_busy` };
const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });

async function eventsOf(topic: string, count: number): Promise<{ key: string | null; value: { op: string; after: Record<string, unknown> | null } | null }[]> {
  const consumer = kafka.consumer({ groupId: `beh-${suffix}-${topic}`, readUncommitted: false });
  const seen: { key: string | null; value: { op: string; after: Record<string, unknown> | null } | null }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      await loadSchemas(message.value);
      seen.push({ key: message.key?.toString() ?? null, value: valueOf(message.value) });
    },
  });
  try {
    await eventually(`${count} events on ${topic}`, async () => (seen.length >= count ? true : undefined), 60_000);
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

async function confirmedFlush(): Promise<bigint> {
  const { rows } = await client.query<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return parseLsn(rows[0]!.lsn);
}

describe('postgres-source behaviour', () => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('id integer PRIMARY KEY');
    for (const name of Object.values(other)) await client.query(`CREATE TABLE public.${name} (id integer PRIMARY KEY, spot point, note text)`);
    const files = fixture.connectorFiles({
      sink: false,
      source: {
        tables: `["public.${table}_?", "public.${table}_*"]`,
        excludeTables: `[public.${other.skipped}, "public.*_busy"]`,
        heartbeatIntervalMs: 1000,
        snapshotMode: 'never',
      },
    });
    daemon = new DaemonProcess(files, await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    for (const name of Object.values(other)) await client.query(`DROP TABLE IF EXISTS public.${name}`).catch(() => undefined);
    await fixture.cleanup();
  });

  it('captures the tables the patterns select, less the excluded ones', async () => {
    const { rows } = await client.query<{ name: string }>('SELECT tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1', [slot]);
    expect(rows.map((row) => row.name)).toEqual([other.a, other.b]);
  });

  it('sends a type without a mapping as its text form, warning once per column', async () => {
    await client.query(`INSERT INTO public.${other.a} VALUES (1, point(1.5, -2), 'one'), (2, point(3, 4), 'two')`);
    const events = await eventsOf(`${prefix}.public.${other.a}`, 2);
    expect(events.map((event) => event.value?.after)).toEqual([
      { id: 1, spot: '(1.5,-2)', note: 'one' },
      { id: 2, spot: '(3,4)', note: 'two' },
    ]);
    const warnings = daemon.log.join('').split('\n').filter((line) => line.includes('no specific mapping') && line.includes('"column":"spot"'));
    expect(warnings).toHaveLength(1);
  });

  it('emits TRUNCATE as an op t event with a null key (JsonConverter bytes, so a compacted topic takes it)', async () => {
    await client.query(`INSERT INTO public.${other.b} VALUES (1, NULL, 'x')`);
    await client.query(`TRUNCATE public.${other.b}`);
    const events = await eventsOf(`${prefix}.public.${other.b}`, 2);
    expect(events.map((event) => event.value?.op)).toEqual(['c', 't']);
    expect(events[1]).toMatchObject({ key: testConverter.nullKey(`${prefix}.public.${other.b}`).toString(), value: { op: 't', after: null } });
  });

  it('moves the slot forward with heartbeats while only an uncaptured table changes', async () => {
    const before = await confirmedFlush();
    const until = Date.now() + 3000;
    for (let id = 1; Date.now() < until; id++) await client.query(`INSERT INTO public.${other.busy} VALUES ($1, NULL, 'busy')`, [id]);
    const written = parseLsn((await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
    expect(written).toBeGreaterThan(before);
    await eventually('the slot to pass the busy table\'s writes', async () => ((await confirmedFlush()) > written ? true : undefined), 30_000, 500);
    expect(await daemon.metric('tideline_source_heartbeats_total')).toBeGreaterThan(0);
  });
});
