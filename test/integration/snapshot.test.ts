/**
 * Initial snapshot consistent with the stream: a 100,000-row table is
 * snapshotted while a writer keeps inserting, updating and deleting, and the
 * daemon is killed with SIGKILL once mid-snapshot (it resumes after the last
 * committed chunk). Replaying the topic (read_committed, last event per key
 * wins, tombstones delete) must give exactly the table's final state, and the
 * ClickHouse view must equal the table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { keyOf, loadSchemas, valueOf } from '../support/debezium-events.js';

const ROWS = 100_000;
const fixture = new TableFixture('snap');
const { services, suffix, table, topic, database, client, clickhouse } = fixture;

/** Small random transactions until stopped; ids above ROWS are new rows. */
async function writeUntil(stop: () => boolean): Promise<number> {
  const writer = new pg.Client({ connectionString: services.pgUrl });
  await writer.connect();
  let nextId = ROWS + 1;
  let transactions = 0;
  try {
    while (!stop()) {
      await writer.query('BEGIN');
      for (let i = 0; i < 5; i++) {
        const roll = Math.random();
        const id = 1 + Math.floor(Math.random() * (nextId - 1));
        if (roll < 0.3) await writer.query(`INSERT INTO public.${table} (id, val, note) VALUES ($1, 0, 'new')`, [nextId++]);
        else if (roll < 0.9) await writer.query(`UPDATE public.${table} SET val = val + 1, note = note || '+' WHERE id = $1`, [id]);
        else await writer.query(`DELETE FROM public.${table} WHERE id = $1`, [id]);
      }
      await writer.query('COMMIT');
      transactions += 1;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } finally {
    await writer.end();
  }
  return transactions;
}

interface Replay {
  rows: Map<string, string>;
  /** Snapshot ("r") events per id. */
  reads: Map<string, number>;
  stop(): Promise<void>;
}

/** Folds the topic into the table it describes: key id to "val|note" of the newest event. */
async function replayTopic(): Promise<Replay> {
  const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `snap-replay-${suffix}`, readUncommitted: false });
  const replay: Replay = { rows: new Map(), reads: new Map(), stop: () => consumer.disconnect() };
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      await loadSchemas(message.key, message.value);
      const id = String(keyOf<{ id: number }>(message.key)!.id);
      if (!message.value) {
        replay.rows.delete(id);
        return;
      }
      const { op, after } = valueOf(message.value)! as { op: string; after: { val: number; note: string } | null };
      if (op === 'r') replay.reads.set(id, (replay.reads.get(id) ?? 0) + 1);
      if (after) replay.rows.set(id, `${after.val}|${after.note}`);
      else replay.rows.delete(id);
    },
  });
  return replay;
}

describe('initial snapshot under concurrent writes', () => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, val integer NOT NULL, note text NOT NULL');
    await client.query(`INSERT INTO public.${table} SELECT g, g % 1000, 'row ' || g FROM generate_series(1, ${ROWS}) g`);
    daemon = new DaemonProcess(fixture.connectorFiles({ source: { snapshotChunkRows: 2000 } }), await freePort());
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it(`replays to the table's final state after a ${ROWS}-row snapshot with writes and a kill mid-snapshot`, async () => {
    let writing = true;
    const writer = writeUntil(() => !writing);

    await daemon.start({ healthy: false });
    // Kill once some chunks are committed but the snapshot is far from done.
    const readBeforeKill = await eventually('the snapshot to be under way', async () => {
      const rows = await daemon.metric('tideline_snapshot_rows').catch(() => 0);
      return rows >= 10_000 ? rows : undefined;
    }, 120_000, 50);
    await daemon.kill();
    await daemon.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    writing = false;
    const transactions = await writer;
    expect(transactions).toBeGreaterThan(20);
    expect(readBeforeKill).toBeLessThan(ROWS);

    const expected = new Map(
      (await client.query<{ id: string; row: string }>(`SELECT id::text, val || '|' || note AS row FROM public.${table}`)).rows.map((r) => [r.id, r.row]),
    );
    const replay = await replayTopic();
    try {
      await eventually('the replayed topic to equal the table', async () => {
        if (replay.rows.size !== expected.size) return undefined;
        for (const [id, row] of expected) if (replay.rows.get(id) !== row) return undefined;
        return true;
      }, 180_000).catch((error: unknown) => {
        const differing = [...expected].filter(([id, row]) => replay.rows.get(id) !== row).slice(0, 5);
        expect({ size: replay.rows.size, differing: differing.map(([id, row]) => [id, row, replay.rows.get(id)]) }).toEqual({ size: expected.size, differing: [] });
        throw error;
      });
      // Resumed, not restarted: no row was read twice (chunks of the killed
      // run's open transaction were aborted, so read_committed never sees them).
      expect([...replay.reads.values()].filter((count) => count > 1).length).toBe(0);
      expect(replay.reads.size).toBeGreaterThan(ROWS / 2);
    } finally {
      await replay.stop();
    }

    // The sink orders by LSN: snapshot rows never win over streamed changes.
    const query = `SELECT toString(id) AS id, concat(toString(val), '|', note) AS row FROM ${database}.${table}_current`;
    await eventually('the ClickHouse view to equal the table', async () => {
      const rows = await clickhouse.rows<{ id: string; row: string }>(query);
      if (rows.length !== expected.size) return undefined;
      return rows.every((r) => expected.get(r.id) === r.row) ? true : undefined;
    }, 180_000);
  });
});
