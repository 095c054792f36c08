/**
 * The fault matrix: each case runs the daemon (a child process) on one table
 * while a writer keeps committing mixed inserts, updates and deletes, and
 * injects one kind of fault twice or for 20 s:
 *  - the Kafka broker, ClickHouse and PostgreSQL each restarted twice
 *    (stack/down and stack/up: connections refused, then a fresh server);
 *  - black holes: Kafka frozen (SIGSTOP: its connections stay open and
 *    nothing answers), then ClickHouse and PostgreSQL behind a proxy that
 *    holds every byte for 20 s, so requests time out instead of being refused.
 * Each case ends with the ClickHouse view equal to PostgreSQL on every column,
 * no (key, _version) written twice, every connector running, and SIGTERM
 * ending the daemon within 10 s.
 *
 * It restarts the stack's services, so it needs the native stack (stack/).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { freezeService, requireNativeStack, startService, stopService, type StackService } from '../support/stack-control.js';
import { expectViewToEqual } from '../support/view-check.js';

const fixture = new TableFixture('faults');
const { services, table, database } = fixture;
/** How long a restarted service stays down, and a black hole lasts. */
const DOWN_MS = 6_000;
const BLACK_HOLE_MS = 20_000;
const SIGTERM_LIMIT_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Commits transactions of 1–3 random changes on its own connection until
 * stopped; while PostgreSQL is away it reconnects and carries on (what it
 * could not commit is simply not in the table the view is compared with).
 */
class MixedWriter {
  private client: pg.Client | null = null;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly live: number[] = [];
  private nextId = 1;
  committed = 0;

  start(): void {
    this.running = true;
    this.loop = this.write();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  private async write(): Promise<void> {
    while (this.running) {
      try {
        this.client ??= await this.connect();
        await this.transaction(this.client);
        this.committed += 1;
        await sleep(20);
      } catch {
        await this.client?.end().catch(() => undefined);
        this.client = null;
        await sleep(500);
      }
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: services.pgUrl, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined); // a restart kills the connection; the next query fails and reconnects
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  private async transaction(client: pg.Client): Promise<void> {
    const inserted: number[] = [];
    const deleted: number[] = [];
    await client.query('BEGIN');
    try {
      for (let i = 1 + Math.floor(Math.random() * 3); i > 0; i--) {
        const roll = Math.random();
        if (roll < 0.5 || this.live.length < 10) {
          const id = this.nextId++;
          await client.query(`INSERT INTO public.${table} (id, name, amount, ratio) VALUES ($1, $2, $3, $4)`, [id, `row ${id}`, (id * 1.01).toFixed(2), id / 4]);
          inserted.push(id);
        } else if (roll < 0.85) {
          const id = this.live[Math.floor(Math.random() * this.live.length)]!;
          await client.query(`UPDATE public.${table} SET amount = amount + 1, name = name || '+', ratio = ratio + 0.5 WHERE id = $1`, [id]);
        } else {
          const [id] = this.live.splice(Math.floor(Math.random() * this.live.length), 1);
          await client.query(`DELETE FROM public.${table} WHERE id = $1`, [id]);
          deleted.push(id!);
        }
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A delete that did not commit leaves its row live.
      this.live.push(...deleted);
      throw error;
    }
    this.live.push(...inserted);
  }
}

describe('fault matrix', () => {
  const pgTarget = new URL(services.pgUrl);
  const chTarget = new URL(services.clickhouseUrl);
  const pgProxy = new TcpProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
  const chProxy = new TcpProxy(chTarget.hostname, Number(chTarget.port || 8123));
  let dir = '';
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    await requireNativeStack();
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14,2) NOT NULL, ratio double precision NOT NULL');
    pgTarget.port = String(await pgProxy.start());
    chTarget.port = String(await chProxy.start());
    dir = fixture.connectorFiles({
      source: { url: pgTarget.toString() },
      sink: { url: chTarget.toString().replace(/\/$/, ''), maxRetryDelayMs: 2000 },
    });
  });

  afterAll(async () => {
    pgProxy.release();
    chProxy.release();
    await daemon?.kill();
    await fixture.reconnect().catch(() => undefined);
    await fixture.cleanup();
    await pgProxy.cut();
    await chProxy.cut();
  });

  /** Runs the daemon and a writer through `inject`, then checks everything the matrix asks. */
  async function underLoad(inject: () => Promise<void>): Promise<DaemonProcess> {
    // A case that failed half-way must not leave its daemon on the slot for the next one.
    await daemon?.kill();
    daemon = new DaemonProcess(dir, await freePort(), { TIDELINE_LOG_LEVEL: 'info' });
    await daemon.start();
    const writer = new MixedWriter();
    writer.start();
    let beforeFault = 0;
    try {
      await eventually('the writer to commit 20 transactions', async () => (writer.committed >= 20 ? true : undefined));
      beforeFault = writer.committed;
      await inject();
      await eventually('the writer to commit after the fault', async () => (writer.committed > beforeFault + 5 ? true : undefined));
    } finally {
      await writer.stop();
    }
    expect(writer.committed).toBeGreaterThan(beforeFault);
    await fixture.reconnect();
    await expectViewEqualsTable();
    await expectNoDoubles();
    await eventually('every connector running again', async () => {
      // /healthz keeps tideline's own states ('running', not 'degraded': Kafka Connect's RUNNING covers both).
      const { connectors: statuses } = (await (await daemon!.request('/healthz')).json()) as { connectors: { state: string }[] };
      if (statuses.every((status) => status.state === 'running')) return true;
      throw new Error(JSON.stringify(statuses)); // the last one is in the timeout's message
    }, 60_000);
    const asked = Date.now();
    await daemon.stop();
    const stopMs = Date.now() - asked;
    // The outage and recovery lines, for the record (README, Faults).
    const health = lines(daemon, '', /unreachable, retrying|reachable again after/);
    console.log([...health.map((entry) => `${entry.connector ?? entry.component}: ${entry.msg}${entry.reason ? ` (${entry.reason})` : ''}`), `SIGTERM to exit: ${stopMs} ms`].join('\n'));
    if (daemon.lastExitCode !== 0) {
      // What the shutdown was waiting for (the deadline's report) or why stopping failed.
      const tail = daemon.log.join('').split('\n').filter((line) => /"level":"(error|warn)"|stopp|shutdown/.test(line)).slice(-30);
      console.log(`exit code ${daemon.lastExitCode}; the daemon's last warnings, errors and shutdown lines:\n${tail.join('\n')}`);
    }
    expect(stopMs).toBeLessThan(SIGTERM_LIMIT_MS);
    // 0: every connector stopped by itself; 1 would be the shutdown deadline forcing the exit.
    expect(daemon.lastExitCode).toBe(0);
    return daemon;
  }

  async function restartTwice(service: StackService): Promise<void> {
    for (let round = 0; round < 2; round++) {
      await stopService(service);
      await sleep(DOWN_MS);
      await startService(service);
      await sleep(3000);
    }
  }

  async function expectViewEqualsTable(): Promise<void> {
    const expected = (await fixture.client.query(`SELECT id::text, name, amount::text, ratio::text FROM public.${table} ORDER BY id`)).rows;
    const query = `SELECT toString(id) AS id, name, toString(amount) AS amount, toString(ratio) AS ratio FROM ${database}.${table}_current ORDER BY id`;
    await expectViewToEqual(fixture.clickhouse, query, expected, 90_000);
  }

  /** No row version written twice: counted before any merge could fold doubles away. */
  async function expectNoDoubles(): Promise<void> {
    const [doubled] = await fixture.clickhouse.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM (SELECT id, _version, count() AS c FROM ${database}.${table} GROUP BY id, _version HAVING c > 1)`,
    );
    expect(doubled?.n).toBe('0');
  }

  /** Log lines of one connector ('' for all) whose message matches. */
  function lines(process: DaemonProcess, connector: string, message: RegExp): { level: string; msg: string; connector?: string; component?: string; reason?: string }[] {
    return process.log
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; msg: string; connector?: string; component?: string; reason?: string })
      .filter((entry) => (connector === '' || entry.connector === connector) && message.test(entry.msg));
  }

  it('Kafka broker restarted twice: one warn and one recovery line per outage and connector', async () => {
    const stopped = await underLoad(() => restartTwice('kafka'));
    for (const connector of [fixture.sourceName, fixture.sinkName]) {
      const down = lines(stopped, connector, /^kafka unreachable/);
      const up = lines(stopped, connector, /^kafka reachable again after/);
      expect(down.every((line) => line.level === 'warn')).toBe(true);
      expect(up.every((line) => line.level === 'info')).toBe(true);
      // Two outages: at most one warn line each (an idle connector may not notice one), each ended by one info line.
      expect(down.length).toBeGreaterThanOrEqual(1);
      expect(down.length).toBeLessThanOrEqual(2);
      expect(up.length).toBe(down.length);
    }
    // The library's retry chatter is at debug: no kafkajs line at error.
    const libraryErrors = stopped.log
      .join('')
      .split('\n')
      .filter((line) => line.includes('"level":"error"') && line.includes('"kafka":'));
    expect(libraryErrors).toEqual([]);
  }, 300_000);

  it('ClickHouse restarted twice', async () => {
    const stopped = await underLoad(() => restartTwice('clickhouse'));
    expect(lines(stopped, fixture.sinkName, /^clickhouse unreachable/).length).toBeGreaterThanOrEqual(1);
  }, 300_000);

  it('PostgreSQL restarted twice', async () => {
    const stopped = await underLoad(() => restartTwice('postgres'));
    expect(lines(stopped, fixture.sourceName, /^postgresql unreachable/).length).toBeGreaterThanOrEqual(1);
  }, 300_000);

  it(`black holes of ${BLACK_HOLE_MS / 1000} s: Kafka, then ClickHouse, then PostgreSQL`, async () => {
    await underLoad(async () => {
      const thaw = await freezeService('kafka');
      await sleep(BLACK_HOLE_MS).finally(thaw);
      await sleep(3000);
      chProxy.blackHole();
      await sleep(BLACK_HOLE_MS).finally(() => chProxy.release());
      await sleep(3000);
      pgProxy.blackHole();
      await sleep(BLACK_HOLE_MS).finally(() => pgProxy.release());
    });
  }, 400_000);
});
