/**
 * A schema registry restart never stops a running pipeline: a daemon (format
 * avro, the default) uses the embedded registry served by another process
 * (`tideline registry`, by URL) while rows keep being written. The registry
 * is killed (SIGKILL) for 5 s, and the source's replication connection cut
 * meanwhile (it reconnects and makes its encoders again): every row written
 * meanwhile reaches ClickHouse while the registry is still down, since the
 * daemon's client caches the ids it has. Restarted on its topic, it
 * serves the same ids, and an ALTER TABLE then registers version 2 through
 * it. At the end ClickHouse equals PostgreSQL row for row, and every event on
 * the topic is Avro.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tidelineArgs } from '../support/tideline-command.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { readTopics, testKafka } from '../support/debezium-events.js';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { testRegistryTopic } from '../support/test-registry.js';

const fixture = new TableFixture('regrestart');
const { services, table, topic, database, slot, client, clickhouse } = fixture;

/** `tideline registry` in its own process, on a fixed port so that a restart answers at the same URL. */
class RegistryProcess {
  private child: ChildProcess | null = null;
  readonly log: string[] = [];

  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, tidelineArgs('registry', '--port', String(this.port), '--topic', testRegistryTopic(), '--brokers', services.kafkaBrokers.join(',')), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TIDELINE_LOG_LEVEL: 'warn' },
    });
    child.stdout?.on('data', (chunk: Buffer) => this.log.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.log.push(chunk.toString()));
    this.child = child;
    await eventually('the registry to answer', async () => {
      if (child.exitCode !== null) throw new Error(`tideline registry exited with ${child.exitCode}: ${this.log.join('')}`);
      return (await fetch(`${this.url}/subjects`).catch(() => null))?.ok ? true : undefined;
    }, 60_000);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill(signal);
    await exited;
    this.child = null;
  }

  async json<T>(path: string): Promise<T> {
    const response = await fetch(`${this.url}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }
}

async function clickhouseCount(where = '1'): Promise<number> {
  const [row] = await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table}_current WHERE ${where}`).catch(() => [{ n: '0' }]);
  return Number(row?.n ?? 0);
}

describe('schema registry restarted mid-stream', () => {
  let registry: RegistryProcess;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14,2) NOT NULL');
    registry = new RegistryProcess(await freePort());
    await registry.start();
    daemon = new DaemonProcess(fixture.connectorFiles(), await freePort(), { TIDELINE_REGISTRY_URL: registry.url });
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await registry?.kill('SIGTERM');
    await fixture.cleanup();
  });

  it('loses nothing: rows flow while the registry is down, and a schema change registers once it is back', async () => {
    let nextId = 1;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const id = nextId;
        await client.query('BEGIN');
        await client.query(`INSERT INTO public.${table} (id, name, amount) VALUES ($1, $2, $3), ($4, $5, $6)`, [id, `row ${id}`, '1.25', id + 1, `row ${id + 1}`, '2.50']);
        if (id > 4) await client.query(`UPDATE public.${table} SET amount = amount + 1 WHERE id = $1`, [id - 4]);
        await client.query('COMMIT');
        nextId += 2;
        await new Promise((done) => setTimeout(done, 20));
      }
    })();
    try {
      await eventually('rows in ClickHouse with the registry up', async () => ((await clickhouseCount()) >= 20 ? true : undefined));
      const subject = `${topic}-value`;
      const before = await registry.json<{ id: number; version: number }>(`/subjects/${subject}/versions/latest`);
      expect(before.version).toBe(1);

      // Down for 5 s of writes: the daemon keeps its ids, so every row
      // committed meanwhile reaches ClickHouse before the registry is back.
      await registry.kill();
      const firstWhileDown = nextId;
      await expect(fetch(`${registry.url}/subjects`)).rejects.toThrow();
      // The source's replication connection cut: it reconnects, PostgreSQL
      // sends the table's Relation again, and the source makes its encoders
      // again, registering the schema it has: answered from the client's cache.
      const cut = await client.query('SELECT pg_terminate_backend(active_pid) AS cut FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot]);
      expect(cut.rows).toEqual([{ cut: true }]);
      await new Promise((done) => setTimeout(done, 5_000));
      const lastWhileDown = nextId - 1; // nextId moves on after each commit
      expect(lastWhileDown - firstWhileDown + 1).toBeGreaterThanOrEqual(20);
      await eventually('every row written while the registry is down to reach ClickHouse', async () =>
        (await clickhouseCount(`id BETWEEN ${firstWhileDown} AND ${lastWhileDown}`)) === lastWhileDown - firstWhileDown + 1 ? true : undefined,
      );
      await expect(fetch(`${registry.url}/subjects`)).rejects.toThrow();
      expect((await fetch(`http://127.0.0.1:${daemon.adminPort}/healthz`)).status).toBe(200);

      // Back on its topic: the same ids, and new schemas register through it.
      await registry.start();
      expect(await registry.json(`/subjects/${subject}/versions/1`)).toMatchObject({ id: before.id, version: 1 });
      await client.query(`ALTER TABLE public.${table} ADD COLUMN note text`);
      await client.query(`UPDATE public.${table} SET note = 'after the restart' WHERE id <= 10`);
      await eventually('the new column in ClickHouse', async () => ((await clickhouseCount(`note = 'after the restart'`)) === 10 ? true : undefined));
      expect(await registry.json<number[]>(`/subjects/${subject}/versions`)).toEqual([1, 2]);
    } finally {
      writing = false;
      await writer;
    }

    // Nothing lost, nothing doubled: the view equals the table, every column.
    const expected = (await client.query(`SELECT id::text, name, amount::text, coalesce(note, '') AS note FROM public.${table} ORDER BY id`)).rows;
    expect(expected.length).toBeGreaterThan(100);
    const query = `SELECT toString(id) AS id, name, toString(amount) AS amount, ifNull(note, '') AS note FROM ${database}.${table}_current ORDER BY id`;
    await eventually('the ClickHouse view to equal the PostgreSQL table', async () =>
      JSON.stringify(await clickhouse.rows(query)) === JSON.stringify(expected) ? true : undefined,
    ).catch(async (error: unknown) => {
      expect(await clickhouse.rows(query)).toEqual(expected);
      throw error;
    });
    // Every event was written as Avro (none fell back to a dead letter as json).
    const messages = await readTopics(testKafka(services.kafkaBrokers), [topic], () => true, { settleMs: 1_000 });
    expect(messages.length).toBeGreaterThan(expected.length);
    expect(messages.filter((message) => message.value !== null && message.value[0] !== 0)).toEqual([]);
    expect(daemon.exited).toBe(false);
    // The cut was a reconnect of the source (its encoders made again while the registry was down).
    expect(daemon.log.join('')).toMatch(/"connector":"[^"]*-source-[^"]*".*postgresql unreachable, retrying/);
  });
});
