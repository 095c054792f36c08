/**
 * ClickHouse unreachable for 60 s mid-stream: the sink reports degraded,
 * retries with backoff, and once ClickHouse answers again every row arrives —
 * without the daemon or the connector being restarted. The outage is made by
 * a proxy between the sink and the real ClickHouse, so it works against any
 * stack (native, testcontainers or given by the environment).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/runtime/daemon.js';
import { TableFixture } from '../support/fixture.js';
import { eventually, startDaemon } from '../support/pipeline.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const OUTAGE_MS = Number(process.env.TIDELINE_TEST_OUTAGE_MS ?? 60_000);
const fixture = new TableFixture('outage');
const { services, table, database, sinkName, client, clickhouse } = fixture;

describe('ClickHouse outage', () => {
  const target = new URL(services.clickhouseUrl);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 8123));
  let daemon: Daemon | undefined;

  const count = async (): Promise<number> =>
    Number((await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table}_current`))[0]?.n ?? 0);
  const sinkStatus = () => daemon!.statuses().find((status) => status.name === sinkName)!;

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL');
    target.port = String(await proxy.start());
    daemon = await startDaemon(
      fixture.connectorFiles({ source: { maxBatchDelayMs: 100 }, sink: { url: target.toString().replace(/\/$/, ''), maxRetryDelayMs: 5000 } }),
    );
    await eventually('both connectors running', async () => (daemon!.statuses().every((s) => s.state === 'running') ? true : undefined));
  });

  afterAll(async () => {
    await proxy.restore();
    await daemon?.stop();
    await proxy.cut();
    await fixture.cleanup();
  });

  it(`loses no row when ClickHouse is unreachable for ${OUTAGE_MS / 1000} s, and recovers without a restart`, async () => {
    await client.query(`INSERT INTO public.${table} SELECT g, 'before ' || g FROM generate_series(1, 100) AS g`);
    await eventually('the first rows', async () => ((await count()) === 100 ? true : undefined));

    await proxy.cut();
    const outageEnds = Date.now() + OUTAGE_MS;
    let inserted = 100;
    let sawDegraded = false;
    while (Date.now() < outageEnds) {
      await client.query(`INSERT INTO public.${table} SELECT g, 'during ' || g FROM generate_series($1::bigint + 1, $1::bigint + 50) AS g`, [inserted]);
      inserted += 50;
      sawDegraded ||= sinkStatus().state === 'degraded';
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(sawDegraded).toBe(true);
    expect(sinkStatus().detail).toMatch(/ClickHouse/);
    await proxy.restore();

    await eventually(`all ${inserted} rows after the outage`, async () => ((await count()) === inserted ? true : undefined), 120_000);
    await eventually('the sink running again', async () => (sinkStatus().state === 'running' ? true : undefined));
    expect(sinkStatus().restarts).toBe(0);
    const [doubled] = await clickhouse.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM (SELECT id, count() AS c FROM ${database}.${table} FINAL GROUP BY id HAVING c > 1)`,
    );
    expect(doubled?.n).toBe('0');
  });
});
