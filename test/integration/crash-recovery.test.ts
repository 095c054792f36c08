/**
 * Exactly once through crashes: a mixed insert/update/delete workload runs
 * while the daemon process is killed with SIGKILL and restarted several times.
 * Afterwards the change topic holds exactly one event per committed change,
 * per key in commit order (read_committed), and the ClickHouse view equals
 * the PostgreSQL table row for row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { DEFAULT_FORMAT } from '../../src/serde/index.js';
import { keyOf, loadSchemas, valueOf } from '../support/debezium-events.js';
import { expectViewToEqual } from '../support/view-check.js';

const KILLS = Number(process.env.TIDELINE_TEST_KILLS ?? 10);
const fixture = new TableFixture('crash');
const { services, suffix, table, topic, database, client, clickhouse } = fixture;

type Op = 'c' | 'u' | 'd';

/** Runs transactions of 1–4 random changes; records each committed change per key, in commit order. */
class Workload {
  readonly committed = new Map<number, Op[]>();
  private readonly live: number[] = [];
  private nextId = 1;
  private version = 0;
  changes = 0;

  constructor(private readonly client: pg.Client) {}

  async transaction(): Promise<void> {
    const ops: [number, Op][] = [];
    await this.client.query('BEGIN');
    try {
      const count = 1 + Math.floor(Math.random() * 4);
      for (let i = 0; i < count; i++) {
        const roll = Math.random();
        this.version += 1;
        if (roll < 0.5 || this.live.length < 5) {
          const id = this.nextId++;
          await this.client.query(`INSERT INTO public.${table} (id, name, amount, version) VALUES ($1, $2, $3, $4)`, [id, `row ${id}`, (id * 1.01).toFixed(2), this.version]);
          this.live.push(id);
          ops.push([id, 'c']);
        } else if (roll < 0.85) {
          const id = this.live[Math.floor(Math.random() * this.live.length)]!;
          await this.client.query(`UPDATE public.${table} SET amount = amount + 1, version = $2, name = name || '+' WHERE id = $1`, [id, this.version]);
          ops.push([id, 'u']);
        } else {
          const index = Math.floor(Math.random() * this.live.length);
          const id = this.live[index]!;
          this.live.splice(index, 1);
          await this.client.query(`DELETE FROM public.${table} WHERE id = $1`, [id]);
          ops.push([id, 'd']);
        }
      }
      await this.client.query('COMMIT');
    } catch (error) {
      await this.client.query('ROLLBACK');
      throw error;
    }
    for (const [id, op] of ops) {
      const list = this.committed.get(id) ?? [];
      list.push(op);
      this.committed.set(id, list);
      this.changes += 1;
    }
  }
}

describe('crash recovery (SIGKILL)', () => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14,2) NOT NULL, version bigint NOT NULL');
    daemon = new DaemonProcess(fixture.connectorFiles(), await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it(`keeps exactly one event per committed change and an equal ClickHouse table through ${KILLS} kills`, async () => {
    const workload = new Workload(client);
    // Keep writing while the daemon is killed at random moments and restarted.
    let writing = true;
    const writer = (async () => {
      while (writing) await workload.transaction();
    })();
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 1000 + Math.random() * 2500));
      await daemon.kill();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
      await daemon.start();
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    writing = false;
    await writer;
    expect(workload.changes).toBeGreaterThan(50);

    // Kafka: every committed change exactly once, per key in commit order.
    const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `crash-reader-${suffix}`, readUncommitted: false });
    const seen = new Map<number, Op[]>();
    /** First bytes of the values: the format the daemon wrote (avro: Confluent's magic byte 0). */
    const firstBytes = new Set<number>();
    let events = 0;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return; // tombstone
        firstBytes.add(message.value[0]!);
        await loadSchemas(message.key, message.value);
        const id = Number(keyOf<{ id: number }>(message.key)!.id);
        const op = valueOf(message.value)!.op as Op;
        const list = seen.get(id) ?? [];
        list.push(op);
        seen.set(id, list);
        events += 1;
      },
    });
    try {
      await eventually(`all ${workload.changes} changes in Kafka`, async () => (events >= workload.changes ? true : undefined), 120_000);
      // Anything doubled would arrive with or right after the rest.
      await new Promise((resolve) => setTimeout(resolve, 2000));
    } finally {
      await consumer.disconnect();
    }
    expect(events).toBe(workload.changes);
    expect([...firstBytes]).toEqual([(process.env.TIDELINE_FORMAT || DEFAULT_FORMAT) === 'avro' ? 0 : '{'.charCodeAt(0)]);
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(workload.committed));

    // ClickHouse: the view equals the table, every column.
    const expected = (await client.query(`SELECT id::text, name, amount::text, version::text FROM public.${table} ORDER BY id`)).rows;
    const query = `SELECT toString(id) AS id, name, toString(amount) AS amount, toString(version) AS version FROM ${database}.${table}_current ORDER BY id`;
    await expectViewToEqual(clickhouse, query, expected, 120_000);
    // No (key, _version) pair twice once merged.
    await clickhouse.command(`OPTIMIZE TABLE ${database}.${table} FINAL`);
    const [duplicates] = await clickhouse.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM (SELECT id, _version, count() AS c FROM ${database}.${table} GROUP BY id, _version HAVING c > 1)`,
    );
    expect(duplicates?.n).toBe('0');
    // Eleven daemon starts, each with a worker thread per connector that loads
    // its module graph (about 0.5 s of CPU each): 60–100 s on two loaded cores.
  }, 300_000);
});
