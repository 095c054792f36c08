/**
 * The admin API on a real daemon (`tideline run` in its own process, with a
 * token) over a real pipeline: PostgreSQL -> source -> Kafka -> sink ->
 * ClickHouse. Pausing the sink stops rows reaching ClickHouse while the
 * source keeps writing to Kafka (the sink's lag grows); pausing the source
 * stops the topic; resuming delivers everything written meanwhile once, and
 * a restart through the API loses and doubles nothing. A transform processor
 * beside them shows its committed offsets and lag. Requests without the
 * token are refused; `tideline status` is checked through the real CLI,
 * table and --json. A source whose table is missing is FAILED with the
 * trace, and runs after a restart once the table exists.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tidelineArgs } from '../support/tideline-command.js';
import { tideline } from '../support/cli.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { testKafka } from '../support/debezium-events.js';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';

const TOKEN = `admin-${Math.random().toString(36).slice(2)}`;
const fixture = new TableFixture('adminapi');
const { table, topic, database, sourceName, sinkName, services } = fixture;
const transformName = `adminapi-copy-${fixture.suffix}`;

interface Status {
  name: string;
  connector: { state: string; worker_id: string; trace?: string };
  tasks: { id: number; state: string }[];
  type: string;
  tideline: { state: string; since: string; restarts: number; lag: { events: number | null; wal_bytes?: number | null }; throughput: { per_second: number | null } };
}

let daemon: DaemonProcess;
let nextId = 1;

async function insertRows(count: number): Promise<void> {
  const ids = Array.from({ length: count }, () => nextId++);
  await fixture.client.query(`INSERT INTO public.${table} (id, name) SELECT i, 'row ' || i FROM unnest($1::bigint[]) AS i`, [ids]);
}

async function clickhouseRows(): Promise<number> {
  const [row] = await fixture.clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table}_current`).catch(() => [{ n: '0' }]);
  return Number(row?.n ?? 0);
}

async function untilClickHouseHas(count: number): Promise<void> {
  await eventually(`ClickHouse to hold ${count} rows`, async () => ((await clickhouseRows()) === count ? true : undefined), 60_000);
}

async function expectNoDoubles(): Promise<void> {
  const [doubled] = await fixture.clickhouse.rows<{ n: string }>(
    `SELECT toString(count()) AS n FROM (SELECT id, _version, count() AS c FROM ${database}.${table} GROUP BY id, _version HAVING c > 1)`,
  );
  expect(doubled?.n).toBe('0');
}

/** The topic's end offset (sum over partitions). */
async function topicEnd(): Promise<number> {
  const admin = testKafka(services.kafkaBrokers).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, partition) => sum + Number(partition.high), 0);
  } finally {
    await admin.disconnect();
  }
}

async function api<T>(method: string, path: string, expected: number): Promise<T> {
  const response = await daemon.request(path, { method });
  const text = await response.text();
  expect(response.status, `${method} ${path}: ${text}`).toBe(expected);
  return (text ? JSON.parse(text) : undefined) as T;
}

const status = (name: string) => api<Status>('GET', `/connectors/${name}/status`, 200);

async function untilState(name: string, state: string): Promise<Status> {
  return eventually(`${name} to be ${state}`, async () => {
    const current = await status(name);
    return current.connector.state === state && current.tideline.state === state.toLowerCase() ? current : undefined;
  }, 30_000);
}

describe('admin API on a running daemon', () => {
  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL');
    const dir = fixture.connectorFiles();
    writeFileSync(
      join(dir, 'transform.yaml'),
      [
        `name: ${transformName}`,
        'kind: transform',
        `kafka: { brokers: "${services.kafkaBrokers.join(',')}" }`,
        'config:',
        `  topics: [${topic}]`,
        '  outputTopic: "{topic}.copy"',
        `  steps: [{ type: filter, expression: "op != 't'" }]`,
      ].join('\n'),
    );
    daemon = new DaemonProcess(dir, await freePort(), { TIDELINE_ADMIN_TOKEN: TOKEN });
    await daemon.start();
    await insertRows(20);
    await untilClickHouseHas(20);
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it('refuses requests without the token, and lists, shows and configures connectors with it', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token']) {
      const response = await fetch(`http://127.0.0.1:${daemon.adminPort}/connectors`, { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error_code: 401, message: expect.stringContaining('token') });
    }
    expect((await fetch(`http://127.0.0.1:${daemon.adminPort}/metrics`)).status).toBe(401);

    // In the daemon's order: its files sorted by name (sink.yaml, source.yaml, transform.yaml).
    expect(await api<string[]>('GET', '/connectors', 200)).toEqual([sinkName, sourceName, transformName]);
    const info = await api<{ type: string; config: Record<string, unknown> }>('GET', `/connectors/${sourceName}`, 200);
    expect(info.type).toBe('source');
    expect(info.config).toMatchObject({ 'connector.class': 'postgres-source', slot: fixture.slot });
    // The connection string's password is masked (the stack's is "tideline").
    expect(String(info.config.url)).toMatch(/^postgres:\/\/tideline:\*\*\*@/);
    expect(await api('GET', `/connectors/${sourceName}/config`, 200)).toEqual(info.config);
    expect(await api('GET', '/connectors/nope/status', 404)).toEqual({ error_code: 404, message: 'Connector nope not found' });

    const sink = await status(sinkName);
    expect(sink).toMatchObject({ connector: { state: 'RUNNING' }, tasks: [{ id: 0, state: 'RUNNING' }], type: 'sink' });
    const expanded = await api<Record<string, { status: Status }>>('GET', '/connectors?expand=status', 200);
    expect(expanded[sourceName]!.status.connector.state).toBe('RUNNING');

    // Offsets where each connector keeps them: the source's position in Kafka, the sink's in ClickHouse.
    const sourceOffsets = await api<{ offsets: { partition: { connector: string }; offset: { lsn?: string } }[] }>('GET', `/connectors/${sourceName}/offsets`, 200);
    expect(sourceOffsets.offsets).toHaveLength(1);
    expect(sourceOffsets.offsets[0]!.partition).toEqual({ connector: sourceName });
    expect(JSON.stringify(sourceOffsets.offsets[0]!.offset)).toMatch(/[0-9A-F]+\/[0-9A-F]+/); // an LSN
    const sinkOffsets = await api<{ offsets: { partition: { kafka_topic: string; kafka_partition: number }; offset: { kafka_offset: number } }[] }>('GET', `/connectors/${sinkName}/offsets`, 200);
    expect(sinkOffsets.offsets.map((entry) => entry.partition.kafka_topic)).toEqual([topic]);
    // The next offset to read follows the 20 events (transaction markers add offsets).
    expect(sinkOffsets.offsets[0]!.offset.kafka_offset).toBeGreaterThanOrEqual(20);
    expect(sinkOffsets.offsets[0]!.offset.kafka_offset).toBeLessThanOrEqual(await topicEnd());
    // The processor's: its group's, committed in its transactions.
    const transformOffsets = await eventually('the transform to have committed the 20 events', async () => {
      const body = await api<{ offsets: { partition: { kafka_topic: string }; offset: { kafka_offset: number } }[] }>('GET', `/connectors/${transformName}/offsets`, 200);
      return body.offsets.length > 0 && body.offsets.every((entry) => entry.offset.kafka_offset >= 20) ? body.offsets : undefined;
    }, 30_000);
    expect(transformOffsets.map((entry) => entry.partition.kafka_topic)).toEqual([topic]);
    expect((await status(transformName)).type).toBe('processor');
  });

  it('pausing the sink stops rows reaching ClickHouse while the source goes on; resuming delivers them once', async () => {
    await api('PUT', `/connectors/${sinkName}/pause`, 202);
    await untilState(sinkName, 'PAUSED');
    const endBefore = await topicEnd();
    await insertRows(30);
    // The source wrote them to Kafka, and the paused sink's lag shows them.
    await eventually('the paused sink to lag by the new events', async () => {
      const sink = await status(sinkName);
      return (sink.tideline.lag.events ?? 0) >= 30 ? true : undefined;
    }, 30_000);
    expect(await topicEnd()).toBeGreaterThanOrEqual(endBefore + 30);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await clickhouseRows()).toBe(20);
    expect((await status(sinkName)).connector.state).toBe('PAUSED');

    await api('PUT', `/connectors/${sinkName}/resume`, 202);
    await untilState(sinkName, 'RUNNING');
    await untilClickHouseHas(50);
    await expectNoDoubles();
  });

  it('pausing the source stops the topic; resuming streams what was committed meanwhile, once', async () => {
    await api('PUT', `/connectors/${sourceName}/pause`, 202);
    await untilState(sourceName, 'PAUSED');
    const endBefore = await topicEnd();
    await insertRows(25);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await topicEnd()).toBe(endBefore);
    expect(await clickhouseRows()).toBe(50);

    await api('PUT', `/connectors/${sourceName}/resume`, 202);
    await untilState(sourceName, 'RUNNING');
    await untilClickHouseHas(75);
    await expectNoDoubles();
  });

  it('restarts a connector through the API without losing or doubling anything', async () => {
    const before = await status(sinkName);
    await api(`POST`, `/connectors/${sinkName}/restart`, 204);
    const after = await eventually('a new run of the sink', async () => {
      const current = await status(sinkName);
      return current.tideline.state === 'running' && current.tideline.since > before.tideline.since ? current : undefined;
    }, 30_000);
    expect(after.tideline.restarts).toBe(before.tideline.restarts); // not a failure's restart
    const restarted = await api<Status>('POST', `/connectors/${sourceName}/restart?includeTasks=true`, 202);
    expect(restarted.connector.state).toBe('RESTARTING');
    await untilState(sourceName, 'RUNNING');
    // A paused connector is not restarted: it says so.
    await api('PUT', `/connectors/${sinkName}/pause`, 202);
    await untilState(sinkName, 'PAUSED');
    expect(await api('POST', `/connectors/${sinkName}/restart`, 409)).toMatchObject({ error_code: 409 });
    await api('PUT', `/connectors/${sinkName}/resume`, 202);
    await insertRows(10);
    await untilClickHouseHas(85);
    await expectNoDoubles();
  });

  it('`tideline status` shows the connectors as a table and as JSON, with the token', async () => {
    const url = `http://127.0.0.1:${daemon.adminPort}`;
    await eventually('the sink to have caught up', async () => ((await status(sinkName)).tideline.lag.events === 0 ? true : undefined), 30_000);
    // A processor commits the offset past its batch's last record, the commit marker that ends a
    // source transaction included (as Kafka's Java consumer does): caught up, its lag is 0.
    await eventually('the transform to have caught up', async () => ((await status(transformName)).tideline.lag.events === 0 ? true : undefined), 30_000);
    const [table, json, refused] = await Promise.all([
      tideline(['status', '--url', url], { TIDELINE_ADMIN_TOKEN: TOKEN }),
      tideline(['status', '--url', url, '--json'], { TIDELINE_ADMIN_TOKEN: TOKEN }),
      tideline(['status', '--url', url], { TIDELINE_ADMIN_TOKEN: '' }),
    ]);
    expect(table.code, table.stderr).toBe(0);
    console.log(table.stdout); // for the record (README's example)
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONNECTOR\s+KIND\s+STATE\s+LAG\s+THROUGHPUT\s+PROGRESS\s+LAST ERROR$/);
    expect(lines.find((line) => line.startsWith(sourceName))).toMatch(new RegExp(`^${sourceName}\\s+postgres-source\\s+RUNNING\\s+\\S+`));
    expect(lines.find((line) => line.startsWith(sinkName))).toMatch(new RegExp(`^${sinkName}\\s+clickhouse-sink\\s+RUNNING\\s+0 \\(0 s\\)\\s+`));

    expect(json.code, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout) as { name: string; state: string; kind: string; lagEvents: number | null; throughputPerSecond: number | null }[];
    expect(rows.map((row) => [row.name, row.kind, row.state])).toEqual([
      [sinkName, 'clickhouse-sink', 'RUNNING'],
      [sourceName, 'postgres-source', 'RUNNING'],
      [transformName, 'transform', 'RUNNING'],
    ]);
    expect(rows[0]!.lagEvents).toBe(0);
    // The daemon sampled throughput for a while by now: a number, not unknown.
    expect(typeof rows[0]!.throughputPerSecond).toBe('number');

    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/answered 401.*TIDELINE_ADMIN_TOKEN/);
  });

  it('`tideline status --watch` refreshes until interrupted', async () => {
    const child = spawn(process.execPath, tidelineArgs('status', '--url', `http://127.0.0.1:${daemon.adminPort}`, '--json', '--watch', '1'), {
      env: { ...process.env, TIDELINE_ADMIN_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await eventually('two refreshes', async () => (out.split('\n').filter((line) => line.startsWith('[')).length >= 2 ? true : undefined), 60_000);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    const refreshes = out.split('\n').filter((line) => line.startsWith('[')).map((line) => JSON.parse(line) as { name: string }[]);
    for (const rows of refreshes) expect(rows.map((row) => row.name)).toEqual([sinkName, sourceName, transformName]);
  });

  it('refuses to listen on an address other than loopback without a token', async () => {
    const run = await tideline(['run', fixture.connectorFiles(), '--admin-host', '0.0.0.0', '--admin-port', String(await freePort())], { TIDELINE_ADMIN_TOKEN: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing to serve the admin API on 0\.0\.0\.0.*TIDELINE_ADMIN_TOKEN/);
  });
});

describe('admin API on a failing connector', () => {
  const missing = new TableFixture('adminfail');
  let failing: DaemonProcess;

  beforeAll(async () => {
    // The source's table does not exist yet: every run fails (a configuration fault, not an outage).
    await missing.client.connect();
    failing = new DaemonProcess(missing.connectorFiles({ sink: false }), await freePort());
    await failing.start({ healthy: false });
  });

  afterAll(async () => {
    await failing?.stop();
    await missing.cleanup();
  });

  it('shows FAILED with the error\'s trace; restarting it once fixed (onlyFailed) runs it again', async () => {
    const failed = await eventually('the source to fail', async () => {
      const body = (await (await failing.request(`/connectors/${missing.sourceName}/status`)).json()) as Status;
      return body.connector.state === 'FAILED' ? body : undefined;
    }, 60_000);
    expect(failed.connector.trace).toMatch(/captured tables do not exist[\s\S]*\n\s+at /);
    expect(failed.tasks[0]).toMatchObject({ id: 0, state: 'FAILED', trace: failed.connector.trace });
    expect((failed.tideline as unknown as { last_error: { message: string } }).last_error.message).toMatch(/captured tables do not exist/);
    expect((await failing.request('/healthz')).status).toBe(503);

    await missing.client.query(`CREATE TABLE public.${missing.table} (id bigint PRIMARY KEY)`);
    const response = await failing.request(`/connectors/${missing.sourceName}/restart?onlyFailed=true`, { method: 'POST' });
    expect(response.status).toBe(202);
    expect(((await response.json()) as Status).connector.state).toBe('RESTARTING');
    await eventually('the source to run', async () => {
      const body = (await (await failing.request(`/connectors/${missing.sourceName}/status`)).json()) as Status;
      return body.connector.state === 'RUNNING' ? true : undefined;
    }, 60_000);
    expect((await failing.request('/healthz')).status).toBe(200);
  });
});
