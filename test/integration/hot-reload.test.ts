/**
 * Hot reload of the daemon (`tideline run` as a child process) on the real
 * stack. One table streams through a source and sink A the whole time; more
 * sinks copy the same topic into their own databases: B is changed, C removed
 * and D added by editing the watched connector directory. Checked:
 *  - A and the source are never restarted (same supervisor start time, no
 *    restart, the same PostgreSQL backend on the slot) and A receives rows
 *    while the reload stops and starts the others;
 *  - B resumes from its stored offsets: its view equals PostgreSQL with no
 *    (key, _version) written twice; C stops receiving rows; D catches up;
 *  - a file with a schema error keeps B's running version, with the error in
 *    B's status, the log and the config metrics; fixing it clears them;
 *  - SIGHUP reloads a daemon that does not watch its files.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sinkConnectorYaml, sourceConnectorYaml, TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';

const fixture = new TableFixture('reload');
const { services, suffix, table, topic, database, client, clickhouse } = fixture;
const brokers = services.kafkaBrokers.join(',');

/** The extra sinks: their connector name, file and database. */
const copy = (letter: string) => ({ name: `reload-${letter}-${suffix}`, file: `copy-${letter}.yaml`, database: `${database}_${letter}` });
const B = copy('b');
const C = copy('c');
const D = copy('d');
const E = copy('e');

function sinkYaml(sink: { name: string; database: string }, extra: Record<string, number> = {}): string {
  return sinkConnectorYaml(sink.name, brokers, { url: services.clickhouseUrl, database: sink.database, topics: `[${topic}]`, ...extra });
}

/** Writes as editors do: a temporary file renamed over the old one. */
function save(dir: string, file: string, text: string): void {
  writeFileSync(join(dir, `.${file}.tmp`), text);
  renameSync(join(dir, `.${file}.tmp`), join(dir, file));
}

interface Status {
  name: string;
  state: string;
  restarts: number;
  startedAt?: string;
  reloadError?: string;
}

/** The daemon's connector statuses, by name (tideline's own, from /healthz). */
async function statuses(daemon: DaemonProcess): Promise<Map<string, Status>> {
  const list = await daemon.statuses<Status>();
  return new Map(list.map((status) => [status.name, status]));
}

/** Inserts a row every ~25 ms and updates an earlier one every third round, until stopped. */
class Writer {
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  inserted = 0;

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const id = ++this.inserted;
        await client.query(`INSERT INTO public.${table} (id, name, amount) VALUES ($1, $2, $3)`, [id, `row ${id}`, id]);
        if (id % 3 === 0) await client.query(`UPDATE public.${table} SET amount = amount + 1, name = name || '+' WHERE id = $1`, [Math.ceil(Math.random() * id)]);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

const count = async (db: string): Promise<number> => {
  const [row] = await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${db}.${table}_current`).catch(() => [{ n: '0' }]);
  return Number(row?.n ?? 0);
};

async function slotBackend(): Promise<number | null> {
  const { rows } = await client.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [fixture.slot]);
  return rows[0]?.active_pid ?? null;
}

/** The view of `db` equals the PostgreSQL table, and no (key, _version) was written twice. */
async function expectEqualToPostgres(db: string): Promise<void> {
  const expected = (await client.query(`SELECT id::text, name, amount::text FROM public.${table} ORDER BY id`)).rows;
  const query = `SELECT toString(id) AS id, name, toString(amount) AS amount FROM ${db}.${table}_current ORDER BY id`;
  await eventually(`${db} to equal the PostgreSQL table`, async () => (JSON.stringify(await clickhouse.rows(query)) === JSON.stringify(expected) ? true : undefined), 60_000).catch(async (error: unknown) => {
    expect(await clickhouse.rows(query)).toEqual(expected);
    throw error;
  });
  const [doubled] = await clickhouse.rows<{ n: string }>(
    `SELECT toString(count()) AS n FROM (SELECT id, _version, count() AS c FROM ${db}.${table} GROUP BY id, _version HAVING c > 1)`,
  );
  expect(doubled?.n, `(key, _version) pairs written twice in ${db}`).toBe('0');
}

describe('hot reload', () => {
  let dir = '';
  let daemon: DaemonProcess | undefined;
  const writer = new Writer();

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14,2) NOT NULL');
    dir = fixture.connectorFiles();
    writeFileSync(join(dir, B.file), sinkYaml(B, { maxBatchRows: 1000 }));
    writeFileSync(join(dir, C.file), sinkYaml(C));
    daemon = new DaemonProcess(dir, await freePort(), { TIDELINE_LOG_LEVEL: 'info', TIDELINE_RELOAD_DEBOUNCE_MS: '200' });
    await daemon.start();
    writer.start();
  });

  afterAll(async () => {
    await writer.stop();
    await daemon?.stop();
    await fixture.cleanup();
    for (const sink of [B, C, D, E]) await clickhouse.command(`DROP DATABASE IF EXISTS ${sink.database}`).catch(() => undefined);
  });

  it('adds, changes and removes connectors on a file change while the untouched pipeline keeps streaming', async () => {
    const running = daemon!;
    await eventually('rows in A, B and C', async () => ((await count(database)) > 20 && (await count(B.database)) > 20 && (await count(C.database)) > 20 ? true : undefined));
    const before = await statuses(running);
    const backend = await slotBackend();
    expect(backend).not.toBeNull();

    // The edits: B changed, C removed, D added (one debounced reload).
    const edited = Date.now();
    const aAtEdit = await count(database);
    save(dir, B.file, sinkYaml(B, { maxBatchRows: 500 }));
    rmSync(join(dir, C.file));
    save(dir, D.file, sinkYaml(D));

    // Until the reload is done (B restarted and running), sample A: it must receive rows meanwhile.
    const samples: [number, number][] = [];
    const after = await eventually('the reload to be applied', async () => {
      samples.push([Date.now() - edited, await count(database)]);
      const now = await statuses(running);
      const b = now.get(B.name);
      const restarted = b?.state === 'running' && b.startedAt !== before.get(B.name)!.startedAt;
      return restarted && now.get(D.name)?.state === 'running' && !now.has(C.name) ? now : undefined;
    }, 60_000, 100);
    const aAtReloaded = samples.at(-1)![1];
    console.log(`reload applied ${samples.at(-1)![0]} ms after the edit; rows in A: ${aAtEdit} at the edit, ${aAtReloaded} then; samples ${JSON.stringify(samples)}`);
    expect(aAtReloaded).toBeGreaterThan(aAtEdit);

    // The untouched source and sink A: the same supervisor runs (no restart), on the same PostgreSQL connection.
    for (const name of [fixture.sourceName, fixture.sinkName]) {
      expect(after.get(name), name).toMatchObject({ state: 'running', startedAt: before.get(name)!.startedAt, restarts: before.get(name)!.restarts });
    }
    expect(await slotBackend()).toBe(backend);
    const summary = running.log.join('').split('\n').find((line) => line.includes('connectors reloaded (file change)'));
    expect(summary).toBeDefined();
    expect(JSON.parse(summary!)).toMatchObject({ added: [D.name], removed: [C.name], changed: [B.name], unchanged: [fixture.sourceName, fixture.sinkName].sort(), errors: [] });

    // Rows keep flowing: C gets none after its removal; A, B and D end equal to PostgreSQL.
    const cAtRemoval = await count(C.database);
    const inserted = writer.inserted;
    await eventually('40 more rows written', async () => (writer.inserted > inserted + 40 ? true : undefined));
    await writer.stop();
    for (const db of [database, B.database, D.database]) await expectEqualToPostgres(db);
    expect(await count(C.database)).toBe(cAtRemoval);
    expect(await slotBackend()).toBe(backend);
    writer.start();
  });

  it('keeps the running version of a connector whose file is broken, shows the error, and applies the fix', async () => {
    const running = daemon!;
    const before = (await statuses(running)).get(B.name)!;
    const reloads = await running.metric('tideline_config_reloads_total');

    save(dir, B.file, sinkYaml(B, { maxBatchRows: 0 }));
    const broken = await eventually('B to show the reload error', async () => {
      const status = (await statuses(running)).get(B.name);
      return status?.reloadError ? status : undefined;
    }, 30_000, 100);
    expect(broken.reloadError).toContain(`${join(dir, B.file)}: config.maxBatchRows:`);
    expect(broken).toMatchObject({ state: 'running', startedAt: before.startedAt, restarts: before.restarts });
    expect(await running.metric('tideline_config_last_reload_successful')).toBe(0);
    expect(await running.metric('tideline_config_file_problems')).toBe(1);
    expect(await running.metric('tideline_config_reloads_total')).toBeGreaterThan(reloads);
    // The status can be read before the child's log line has come through its stdout pipe.
    await eventually('the refusal in the log', async () => (running.log.join('').includes(`connector file refused on reload: ${join(dir, B.file)}: config.maxBatchRows:`) ? true : undefined), 10_000, 100);

    // The old version still streams: rows written now reach B.
    const inB = await count(B.database);
    await eventually('new rows in B while its file is broken', async () => ((await count(B.database)) > inB + 10 ? true : undefined));

    save(dir, B.file, sinkYaml(B, { maxBatchRows: 200 }));
    const fixed = await eventually('the fixed file to be applied', async () => {
      const status = (await statuses(running)).get(B.name);
      return status && !status.reloadError && status.startedAt !== before.startedAt && status.state === 'running' ? status : undefined;
    }, 60_000, 100);
    expect(fixed.reloadError).toBeUndefined();
    expect(await running.metric('tideline_config_last_reload_successful')).toBe(1);
    expect(await running.metric('tideline_config_file_problems')).toBe(0);
  });

  it('restarts a changed source, which resumes from its stored position without losing or doubling a change', async () => {
    const running = daemon!;
    const before = await statuses(running);
    const backend = await slotBackend();
    save(dir, 'source.yaml', sourceConnectorYaml(fixture.sourceName, brokers, {
      url: services.pgUrl,
      slot: fixture.slot,
      tables: `[public.${table}]`,
      topicPrefix: fixture.prefix,
      maxBatchDelayMs: 50,
    }));
    const after = await eventually('the source to run its new definition', async () => {
      const now = await statuses(running);
      const source = now.get(fixture.sourceName);
      return source?.state === 'running' && source.startedAt !== before.get(fixture.sourceName)!.startedAt ? now : undefined;
    }, 60_000, 100);
    expect(after.get(fixture.sourceName)!.restarts).toBe(0);
    for (const name of [fixture.sinkName, B.name, D.name]) expect(after.get(name), name).toMatchObject({ state: 'running', startedAt: before.get(name)!.startedAt });
    // A new replication connection took the slot over.
    await eventually('the slot to be streaming again', async () => ((await slotBackend()) ?? backend) !== backend ? true : undefined);

    const inserted = writer.inserted;
    await eventually('40 more rows written', async () => (writer.inserted > inserted + 40 ? true : undefined));
    await writer.stop();
    for (const db of [database, B.database, D.database]) await expectEqualToPostgres(db);
    // No connector failed or warned through the reloads: the only complaints are the refused file's.
    const complaints = running.log.join('').split('\n').filter((line) => /"level":"(warn|error|fatal)"/.test(line));
    expect(complaints.filter((line) => !line.includes('connector file refused on reload'))).toEqual([]);
    writer.start();
  });

  it('reloads on SIGHUP when the daemon does not watch its files', async () => {
    await daemon!.stop();
    expect(daemon!.lastExitCode).toBe(0);
    daemon = new DaemonProcess(dir, await freePort(), { TIDELINE_LOG_LEVEL: 'info', TIDELINE_RELOAD_WATCH: 'false' });
    await daemon.start();
    writeFileSync(join(dir, E.file), sinkYaml(E));
    // Not watching: nothing happens until the signal (the default debounce is 500 ms).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await statuses(daemon)).has(E.name)).toBe(false);
    daemon.hangUp();
    await eventually('E to run after SIGHUP', async () => ((await statuses(daemon!)).get(E.name)?.state === 'running' ? true : undefined), 60_000, 100);
    const running = daemon;
    const reloads = await eventually('the reload line in the log', async () => {
      const lines = running.log.join('').split('\n').filter((line) => line.includes('connectors reloaded'));
      return lines.length > 0 ? lines : undefined;
    }, 10_000, 100);
    expect(reloads).toHaveLength(1);
    expect(JSON.parse(reloads[0]!)).toMatchObject({ trigger: 'SIGHUP', added: [E.name] });
    await eventually('rows in E', async () => ((await count(E.database)) > 0 ? true : undefined));
  });
});
