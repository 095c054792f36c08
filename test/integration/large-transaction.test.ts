/**
 * A single PostgreSQL transaction of 1,000,000 rows streams into Kafka without
 * being held in memory whole: the daemon process's peak RSS (VmHWM) stays
 * under 512 MB, and the source's committed offset reaches the transaction's
 * commit with every event in the topic.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { readSourceOffset } from '../../src/kafka/source-offsets.js';
import { decodePosition } from '../../src/sources/postgres/position.js';
import { parseLsn } from '../../src/sources/postgres/lsn.js';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';

const ROWS = 1_000_000;
const RSS_LIMIT_MB = 512;
const fixture = new TableFixture('bigtx');
const { services, table, topic, client, sourceName } = fixture;
const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });

/** Peak resident set size of a process, from /proc (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]);
  return kb / 1024;
}

describe('a 1,000,000-row transaction', () => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('id integer PRIMARY KEY, amount integer NOT NULL, label text NOT NULL');
    // No heartbeats: the only transaction after the start is the big one.
    daemon = new DaemonProcess(fixture.connectorFiles({ sink: false, source: { heartbeatIntervalMs: 0 } }), await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
    // About a gigabyte of events: give the disk back.
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it(`streams through with the daemon's peak RSS under ${RSS_LIMIT_MB} MB`, async () => {
    const before = parseLsn((await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
    const started = Date.now();
    await client.query(`INSERT INTO public.${table} SELECT g, g % 1000, 'label ' || g FROM generate_series(1, ${ROWS}) g`);

    // Both: the offset alone may move past `before` with another session's
    // logical message (the stream receives every emitter's), the topic alone
    // holds the rows before the commit marker is written.
    await eventually('the source offset to pass the transaction and its commit marker in the topic', async () => {
      const stored = await readSourceOffset(kafka, sourceName);
      if (stored === null || BigInt(decodePosition(stored).lsn) <= before) return undefined;
      return (await eventsInTopic()) >= ROWS ? true : undefined;
    }, 600_000, 2000);
    const seconds = (Date.now() - started) / 1000;
    const peak = peakRssMb(daemon.pid!);
    console.log(`1,000,000-row transaction: in Kafka after ${seconds.toFixed(1)} s; daemon peak RSS ${peak.toFixed(0)} MB (limit ${RSS_LIMIT_MB} MB)`);
    expect(await eventsInTopic()).toBe(ROWS);
    expect(peak).toBeLessThan(RSS_LIMIT_MB);
  });
});

/**
 * Records in the topic: its end offset less the one commit marker of the one
 * Kafka transaction (an aborted attempt would leave more records and fail the count).
 */
async function eventsInTopic(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high), 0) - 1;
  } finally {
    await admin.disconnect();
  }
}
