/**
 * Incremental snapshots on Debezium signals, on the real stack with the
 * daemon as a child process.
 *
 *  1. Under fire: a 200,000-row table (composite primary key) captured with
 *     snapshotMode never is re-snapshotted by an INSERT into the signal table
 *     while a writer updates, deletes and inserts rows of that same table, and
 *     the daemon is SIGKILLed twice mid-snapshot. Half of the writer's changes
 *     hit rows just ahead of the snapshot, inside its chunks' windows. The
 *     ClickHouse view then equals the table, every column (row versions: no
 *     row is older than its newest committed change); the topic replayed in
 *     offset order (Debezium's consumers: last event per key wins) equals it
 *     too (the window drops every row a streamed change overtook); and the
 *     snapshot resumed instead of starting over.
 *  2. Signal routes: a snapshot started through the Kafka signal topic and one
 *     through the admin API (with an additional condition) emit the rows they
 *     should; pause-snapshot holds one until resume-snapshot; stop-snapshot
 *     stops one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { keyOf, loadSchemas, valueOf } from '../support/debezium-events.js';

interface SnapshotStatus {
  state: string;
  table: string;
  rowsDone: number;
  rowsEstimate: number | null;
}

/** The source's incremental snapshot in its status, or null when none runs. */
async function snapshotStatus(daemon: DaemonProcess, source: string): Promise<SnapshotStatus | null> {
  const statuses = await daemon.statuses<{ name: string; state: string; snapshot?: SnapshotStatus }>();
  return statuses.find((status) => status.name === source)?.snapshot ?? null;
}

/** Events of one op the source wrote in this process (tideline_source_events_total{op}). */
async function eventsOf(daemon: DaemonProcess, op: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${daemon.adminPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('tideline_source_events_total{') && line.includes(`op="${op}"`)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/** Folds a topic (read_committed, offset order) into "tenant|id" → "val|note|changes" of each key's last event. */
async function replayTopic(brokers: string[], topic: string, group: string, expectedSize: number): Promise<Map<string, string>> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: group, readUncommitted: false });
  const rows = new Map<string, string>();
  let lastOffset = -1;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const admin = kafka.admin();
  await admin.connect();
  const end = Number((await admin.fetchTopicOffsets(topic))[0]!.high);
  await admin.disconnect();
  await consumer.run({
    eachMessage: async ({ message }) => {
      lastOffset = Number(message.offset);
      await loadSchemas(message.key, message.value);
      const key = keyOf<{ tenant: number; id: number }>(message.key)!;
      const id = `${key.tenant}|${key.id}`;
      const after = message.value ? (valueOf(message.value)!.after as { val: number; note: string; changes: number } | null) : null;
      if (after) rows.set(id, `${after.val}|${after.note}|${after.changes}`);
      else rows.delete(id);
    },
  });
  try {
    // The end offset counts transaction markers: stop once the last record before it was seen.
    await eventually('the topic replayed', async () => (lastOffset >= end - 2 && rows.size >= expectedSize * 0.5 ? true : undefined), 90_000, 200);
    await sleep(500);
  } finally {
    await consumer.disconnect();
  }
  return rows;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('incremental snapshot under concurrent writes and two SIGKILLs', () => {
  const ROWS = 200_000;
  const fixture = new TableFixture('incsnap');
  const { services, table, topic, suffix, database, client, clickhouse, sourceName } = fixture;
  const signalTable = `public.${table}_signal`;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('tenant integer NOT NULL, id bigint NOT NULL, val integer NOT NULL, note text NOT NULL, changes integer NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id)');
    await client.query(`INSERT INTO public.${table} (tenant, id, val, note) SELECT g % 4, g, g % 1000, 'row ' || g FROM generate_series(1, ${ROWS}) g`);
    await client.query(`ANALYZE public.${table}`);
    daemon = new DaemonProcess(fixture.connectorFiles({ source: { snapshotMode: 'never', signalTable, incrementalSnapshotChunkSize: 2048 } }), await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await client.query(`DROP TABLE IF EXISTS ${signalTable}`).catch(() => undefined);
    await fixture.cleanup();
  });

  it(`re-snapshots ${ROWS} rows while they change, through two kills, to a ClickHouse view equal to the table`, async () => {
    const started = Date.now();
    // Where the snapshot is: rows are read in (tenant, id) order, ROWS / 4 per tenant, ids ≡ tenant (mod 4).
    let position = 0;
    const tracking = setInterval(() => {
      snapshotStatus(daemon, sourceName).then((status) => (position = status?.rowsDone ?? position), () => undefined);
    }, 100);
    /** A row id just ahead of the snapshot (half the time), else anywhere. */
    const target = (): number => {
      if (Math.random() < 0.5) return 1 + Math.floor(Math.random() * ROWS);
      const rank = Math.min(ROWS - 1, position + Math.floor(Math.random() * 3000));
      const tenant = Math.floor(rank / (ROWS / 4));
      const id = (rank % (ROWS / 4)) * 4 + tenant;
      return id === 0 ? 4 : id;
    };
    // Transactions that hold their rows across a few statements, so chunks meet rows changed by transactions still in progress.
    let writing = true;
    let transactions = 0;
    const writer = (async () => {
      const connection = new pg.Client({ connectionString: services.pgUrl });
      await connection.connect();
      let nextId = ROWS + 1;
      try {
        while (writing) {
          await connection.query('BEGIN');
          for (let i = 0; i < 4; i++) {
            const roll = Math.random();
            const id = target();
            if (roll < 0.2) await connection.query(`INSERT INTO public.${table} (tenant, id, val, note) VALUES ($1, $2, 0, 'new')`, [nextId % 4, nextId++]);
            else if (roll < 0.85) await connection.query(`UPDATE public.${table} SET val = val + 1, note = note || '+', changes = changes + 1 WHERE tenant = $1 AND id = $2`, [id % 4, id]);
            else await connection.query(`DELETE FROM public.${table} WHERE tenant = $1 AND id = $2`, [id % 4, id]);
            if (i === 1) await sleep(3);
          }
          await connection.query('COMMIT');
          transactions += 1;
          await sleep(2);
        }
      } finally {
        await connection.end();
      }
    })();

    await client.query(`INSERT INTO ${signalTable} (id, type, data) VALUES ('resnap-1', 'execute-snapshot', $1)`, [
      JSON.stringify({ 'data-collections': [`public.${table}`], type: 'incremental' }),
    ]);
    const progress: number[] = [];
    for (const threshold of [40_000, 110_000]) {
      const done = await eventually(`the incremental snapshot past ${threshold} rows`, async () => {
        const status = await snapshotStatus(daemon, sourceName);
        return status && status.rowsDone >= threshold ? status.rowsDone : undefined;
      }, 60_000, 50);
      progress.push(done);
      await daemon.kill();
      await daemon.start();
      // Resumed from the stored position, not from the start.
      const resumed = await eventually('the snapshot to show again after the restart', async () => (await snapshotStatus(daemon, sourceName)) ?? undefined, 30_000, 100);
      expect(resumed.rowsDone).toBeGreaterThan(threshold / 2);
    }
    await eventually('the incremental snapshot to finish', async () => ((await snapshotStatus(daemon, sourceName)) === null ? true : undefined), 60_000, 100);
    const snapshotSeconds = (Date.now() - started) / 1000;
    await sleep(500);
    writing = false;
    clearInterval(tracking);
    await writer;
    expect(progress[0]).toBeLessThan(ROWS);
    expect(progress[1]).toBeLessThan(ROWS);
    expect(transactions).toBeGreaterThan(50);

    const expected = (await client.query<{ row: string }>(`SELECT tenant || '|' || id || '|' || val || '|' || note || '|' || changes AS row FROM public.${table} ORDER BY tenant, id`)).rows.map((r) => r.row);
    const query = `SELECT concat(toString(tenant), '|', toString(id), '|', toString(val), '|', note, '|', toString(changes)) AS row FROM ${database}.${table}_current ORDER BY tenant, id`;
    await eventually('the ClickHouse view to equal the table', async () => {
      const rows = (await clickhouse.rows<{ row: string }>(query)).map((r) => r.row);
      return rows.length === expected.length && rows.every((row, index) => row === expected[index]) ? true : undefined;
    }, 90_000, 500).catch(async (error: unknown) => {
      const rows = new Set((await clickhouse.rows<{ row: string }>(query)).map((r) => r.row));
      const wanted = new Set(expected);
      expect({ missing: expected.filter((row) => !rows.has(row)).slice(0, 5), extra: [...rows].filter((row) => !wanted.has(row)).slice(0, 5), size: rows.size }).toEqual({ missing: [], extra: [], size: expected.length });
      throw error;
    });

    // Kafka in offset order, as Debezium's consumers apply it.
    const replayed = await replayTopic(services.kafkaBrokers, topic, `incsnap-replay-${suffix}`, expected.length);
    const table2 = new Map(expected.map((row) => {
      const [tenant, id, ...rest] = row.split('|');
      return [`${tenant}|${id}`, rest.join('|')];
    }));
    const differing = [...table2].filter(([key, row]) => replayed.get(key) !== row).slice(0, 5).map(([key, row]) => [key, row, replayed.get(key)]);
    expect({ size: replayed.size, differing }).toEqual({ size: table2.size, differing: [] });
    console.log(`incremental snapshot of ${ROWS} rows with 2 kills: ${snapshotSeconds.toFixed(1)} s; ${transactions} writer transactions; whole test ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});

describe('incremental snapshot signal routes', () => {
  const ROWS = 20_000;
  const fixture = new TableFixture('incsig');
  const { services, table, prefix, database, client, clickhouse, sourceName } = fixture;
  const signalTable = `public.${table}_signal`;
  const signalTopic = `${prefix}.signals`;
  let daemon: DaemonProcess;

  const signalRow = (id: string, type: string, data: object | null): Promise<unknown> =>
    client.query(`INSERT INTO ${signalTable} (id, type, data) VALUES ($1, $2, $3)`, [id, type, data === null ? null : JSON.stringify(data)]);
  const everyRow = { 'data-collections': [`public.${table}`], type: 'incremental' };
  const viewCount = async (): Promise<number> => Number((await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table}_current`))[0]?.n ?? 0);

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, val text NOT NULL');
    await client.query(`INSERT INTO public.${table} SELECT g, 'v' || g FROM generate_series(1, ${ROWS}) g`);
    daemon = new DaemonProcess(fixture.connectorFiles({ source: { snapshotMode: 'never', signalTable, signalTopic, incrementalSnapshotChunkSize: 500 } }), await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await client.query(`DROP TABLE IF EXISTS ${signalTable}`).catch(() => undefined);
    await fixture.cleanup();
  });

  it('runs a snapshot sent on the Kafka signal topic', async () => {
    const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    try {
      // Another connector's signal (other key) is not ours.
      await producer.send({ topic: signalTopic, messages: [{ key: 'someone-else', value: JSON.stringify({ type: 'execute-snapshot', data: everyRow }) }] });
      await producer.send({ topic: signalTopic, messages: [{ key: prefix, value: JSON.stringify({ type: 'execute-snapshot', data: everyRow }) }] });
    } finally {
      await producer.disconnect();
    }
    await eventually('every row in ClickHouse', async () => ((await viewCount()) === ROWS ? true : undefined), 60_000);
    await eventually('the snapshot to finish', async () => ((await snapshotStatus(daemon, sourceName)) === null ? true : undefined), 30_000);
    expect(await eventsOf(daemon, 'r')).toBe(ROWS);
  });

  it('runs a snapshot sent to the admin API, with an additional condition', async () => {
    const before = await eventsOf(daemon, 'r');
    const url = `http://127.0.0.1:${daemon.adminPort}/connectors/${sourceName}/signals`;
    const refused = await fetch(url, { method: 'POST', body: JSON.stringify({ type: 'execute-snapshot', data: { 'data-collections': ['public.no_such_table'] } }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toContain('public.no_such_table');
    expect((await fetch(`http://127.0.0.1:${daemon.adminPort}/connectors/nobody/signals`, { method: 'POST', body: '{"type":"pause-snapshot"}' })).status).toBe(404);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'execute-snapshot', data: { ...everyRow, 'additional-conditions': [{ 'data-collection': `public.${table}`, filter: 'id % 10 = 0' }] } }),
    });
    expect(response.status).toBe(202);
    expect(((await response.json()) as { inserted: boolean }).inserted).toBe(true);
    await eventually('the filtered snapshot to emit its rows', async () => ((await eventsOf(daemon, 'r')) - before === ROWS / 10 ? true : undefined), 60_000);
    await eventually('the snapshot to finish', async () => ((await snapshotStatus(daemon, sourceName)) === null ? true : undefined), 30_000);
    await sleep(500);
    expect((await eventsOf(daemon, 'r')) - before).toBe(ROWS / 10);
  });

  it('holds a paused snapshot until resume-snapshot', async () => {
    const before = await eventsOf(daemon, 'r');
    // Paused in the same transaction: at most the chunk already asked for is read.
    await client.query('BEGIN');
    await signalRow('pause-test-run', 'execute-snapshot', everyRow);
    await signalRow('pause-test-pause', 'pause-snapshot', null);
    await client.query('COMMIT');
    const paused = await eventually('the snapshot to show paused', async () => {
      const status = await snapshotStatus(daemon, sourceName);
      return status?.state === 'paused' ? status : undefined;
    }, 30_000);
    await sleep(1500);
    const still = await snapshotStatus(daemon, sourceName);
    expect(still?.state).toBe('paused');
    expect(still!.rowsDone).toBeLessThanOrEqual(500);
    expect((await eventsOf(daemon, 'r')) - before).toBe(still!.rowsDone);
    expect(paused.rowsEstimate).toBeGreaterThan(0);
    await signalRow('pause-test-resume', 'resume-snapshot', null);
    await eventually('the resumed snapshot to finish', async () => ((await snapshotStatus(daemon, sourceName)) === null ? true : undefined), 60_000);
    expect((await eventsOf(daemon, 'r')) - before).toBe(ROWS);
  });

  it('waits at a row changed by a transaction still open, so the change it commits later wins', async () => {
    const before = await eventsOf(daemon, 'r');
    const holder = new pg.Client({ connectionString: services.pgUrl });
    await holder.connect();
    try {
      // Changed before the snapshot's window opens, committed after the chunk would have closed:
      // its event's LSN is below the chunk's version, so the row read must not be emitted.
      await holder.query('BEGIN');
      await holder.query(`UPDATE public.${table} SET val = 'held' WHERE id = 250`);
      await signalRow('held-run', 'execute-snapshot', everyRow);
      const waiting = await eventually('the snapshot to stop before the held row', async () => {
        const status = await snapshotStatus(daemon, sourceName);
        return status && status.rowsDone === 249 ? status : undefined;
      }, 30_000, 50);
      await sleep(1000);
      expect((await snapshotStatus(daemon, sourceName))?.rowsDone).toBe(waiting.rowsDone);
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    await eventually('the snapshot to finish', async () => ((await snapshotStatus(daemon, sourceName)) === null ? true : undefined), 60_000);
    // The commit landed inside the open window: row 250 comes from its update event, not from a read.
    expect((await eventsOf(daemon, 'r')) - before).toBe(ROWS - 1);
    await eventually('the committed change in ClickHouse', async () => {
      const [row] = await clickhouse.rows<{ val: string }>(`SELECT val FROM ${database}.${table}_current WHERE id = 250`);
      return row?.val === 'held' ? true : undefined;
    }, 30_000);
    // And it stays: nothing older arrives after it.
    await sleep(1000);
    const [row] = await clickhouse.rows<{ val: string }>(`SELECT val FROM ${database}.${table}_current WHERE id = 250`);
    expect(row?.val).toBe('held');
  });

  it('stops a snapshot on stop-snapshot', async () => {
    const before = await eventsOf(daemon, 'r');
    await client.query('BEGIN');
    await signalRow('stop-test-run', 'execute-snapshot', everyRow);
    await signalRow('stop-test-pause', 'pause-snapshot', null);
    await client.query('COMMIT');
    await eventually('the snapshot to show paused', async () => ((await snapshotStatus(daemon, sourceName))?.state === 'paused' ? true : undefined), 30_000);
    await signalRow('stop-test-stop', 'stop-snapshot', { 'data-collections': [`public.${table}`], type: 'incremental' });
    await eventually('the snapshot to be gone', async () => ((await snapshotStatus(daemon, sourceName)) === null ? true : undefined), 30_000);
    const emitted = (await eventsOf(daemon, 'r')) - before;
    // Resuming a stopped snapshot does nothing: nothing is left to read.
    await signalRow('stop-test-resume', 'resume-snapshot', null);
    await sleep(1500);
    expect((await eventsOf(daemon, 'r')) - before).toBe(emitted);
    expect(emitted).toBeLessThanOrEqual(500);
    expect(await snapshotStatus(daemon, sourceName)).toBeNull();
  });
});
