/**
 * Two sink instances on one consumer group: two daemon processes run the
 * same ClickHouse sink connector over a 4-partition change topic while a
 * mixed writer (inserts, updates, deletes) runs in PostgreSQL. Each is killed
 * with SIGKILL in turn and restarted. Afterwards the ClickHouse view equals
 * the PostgreSQL table on every column (doubles compared by their bits); a
 * (key, _version) stored more than once (a batch rewritten after a crash)
 * holds the same row each time, and none is left doubled after a merge; each
 * instance held partitions (tideline_sink_partitions_assigned, sampled from
 * its /metrics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Daemon } from '../../src/runtime/daemon.js';
import { sinkConnectorYaml, TableFixture } from '../support/fixture.js';
import { eventually, startDaemon, writeConnectorFiles } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { expectViewToEqual } from '../support/view-check.js';

const fixture = new TableFixture('sink2');
const { services, table, topic, database, sinkName, client, clickhouse } = fixture;
const PARTITIONS = 4;

/** Transactions of 1–4 random changes: inserts, updates and deletes of live rows. */
class MixedWriter {
  private readonly live: number[] = [];
  private nextId = 1;
  changes = 0;

  constructor(private readonly client: pg.Client) {}

  async transaction(): Promise<void> {
    await this.client.query('BEGIN');
    const live = [...this.live];
    let nextId = this.nextId;
    try {
      const count = 1 + Math.floor(Math.random() * 4);
      for (let i = 0; i < count; i++) {
        const roll = Math.random();
        if (roll < 0.5 || live.length < 8) {
          const id = nextId++;
          await this.client.query(
            `INSERT INTO public.${table} (id, name, amount, ratio, seen) VALUES ($1, $2, $3, $4::float8 / 7, to_timestamp($5))`,
            [id, `row ${id}`, (id * 1.01).toFixed(2), id, 1_700_000_000 + id],
          );
          live.push(id);
        } else if (roll < 0.85) {
          const id = live[Math.floor(Math.random() * live.length)]!;
          await this.client.query(
            `UPDATE public.${table} SET amount = amount + 1, ratio = ratio * 3 / 7, name = name || '+', seen = seen + interval '1 second' WHERE id = $1`,
            [id],
          );
        } else {
          const id = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
          await this.client.query(`DELETE FROM public.${table} WHERE id = $1`, [id]);
        }
      }
      await this.client.query('COMMIT');
      this.live.splice(0, this.live.length, ...live);
      this.nextId = nextId;
      this.changes += count;
    } catch (error) {
      await this.client.query('ROLLBACK');
      throw error;
    }
  }
}

describe('clickhouse sink on two instances (SIGKILL each in turn)', () => {
  let source: Daemon | undefined;
  const sinks: DaemonProcess[] = [];
  /** The most partitions each instance was seen holding. */
  const held = [0, 0];

  const sample = async (): Promise<number[]> => {
    const counts = await Promise.all(sinks.map((sink) => (sink.exited ? Promise.resolve(0) : sink.metric('tideline_sink_partitions_assigned').catch(() => 0))));
    counts.forEach((count, index) => (held[index] = Math.max(held[index]!, count)));
    return counts;
  };

  /** Waits until the live instances hold every partition between them, each at least one. */
  const balanced = (what: string) =>
    eventually(what, async () => {
      const counts = await sample();
      return counts.every((count) => count > 0) && counts.reduce((sum, count) => sum + count, 0) === PARTITIONS ? counts : undefined;
    }, 40_000);

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14, 2) NOT NULL, ratio double precision, seen timestamptz NOT NULL');
    source = await startDaemon(fixture.connectorFiles({ sink: false, source: { topicPartitions: PARTITIONS } }));
    await eventually('the source running', async () => (source!.statuses().every((s) => s.state === 'running') ? true : undefined));
    const dir = writeConnectorFiles({
      'sink.yaml': sinkConnectorYaml(sinkName, services.kafkaBrokers.join(','), {
        url: services.clickhouseUrl,
        database,
        topics: `[${topic}]`,
        maxBatchDelayMs: 50,
      }),
    });
    sinks.push(new DaemonProcess(dir, await freePort()), new DaemonProcess(dir, await freePort()));
    await Promise.all(sinks.map((sink) => sink.start()));
  });

  afterAll(async () => {
    await Promise.all(sinks.map((sink) => sink.stop()));
    await source?.stop();
    await fixture.cleanup();
  });

  it('keeps the view equal to PostgreSQL with nothing doubled, each instance having held partitions', async () => {
    const writer = new MixedWriter(client);
    let writing = true;
    const writes = (async () => {
      while (writing) await writer.transaction();
    })();
    try {
      await balanced('both instances holding partitions');
      for (const sink of sinks) {
        await new Promise((resolve) => setTimeout(resolve, 1_500 + Math.random() * 1_500));
        await sink.kill();
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_000));
        await sink.start();
        await balanced('the restarted instance holding partitions again');
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      writing = false;
      await writes;
    }
    expect(writer.changes).toBeGreaterThan(50);
    expect(held.every((count) => count > 0)).toBe(true);
    expect(held.every((count) => count < PARTITIONS)).toBe(true);

    // Every column; the double by its bits, the timestamp in seconds (18.16's DateTime).
    const expected = (
      await client.query(
        `SELECT id::text, name, amount::text, ('x' || encode(float8send(ratio), 'hex'))::bit(64)::bigint::text AS ratio, extract(epoch FROM seen)::bigint::text AS seen FROM public.${table} ORDER BY id`,
      )
    ).rows;
    const query =
      `SELECT toString(id) AS id, name, toString(amount) AS amount, toString(reinterpretAsInt64(reinterpretAsString(assumeNotNull(ratio)))) AS ratio, toString(toUInt32(seen)) AS seen ` +
      `FROM ${database}.${table}_current ORDER BY id`;
    await expectViewToEqual(clickhouse, query, expected);
    expect(expected.length).toBeGreaterThan(8);

    // A (key, _version) may be stored twice before a merge (a batch rewritten
    // after a crash); it must then be the same row, or FINAL would keep either.
    const [conflicting] = await clickhouse.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ` +
        `(SELECT id, _version, uniqExact(name, amount, ratio, seen, _deleted) AS variants FROM ${database}.${table} GROUP BY id, _version HAVING variants > 1)`,
    );
    expect(conflicting?.n).toBe('0');
    await clickhouse.command(`OPTIMIZE TABLE ${database}.${table} FINAL`);
    const [doubled] = await clickhouse.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM (SELECT id, _version, count() AS c FROM ${database}.${table} GROUP BY id, _version HAVING c > 1)`,
    );
    expect(doubled?.n).toBe('0');
  });
});
