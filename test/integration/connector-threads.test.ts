/**
 * Connectors in worker threads (`tideline run` with TIDELINE_THREADS=true):
 * the source and the sink run in threads of their own, the pipeline delivers
 * as without threads, /metrics shows every thread's metrics once, and a
 * restart through the admin API does not reset the connector's counters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { expectViewToEqual } from '../support/view-check.js';

const fixture = new TableFixture('threads');
const { table, database, client, clickhouse } = fixture;

describe('connectors in worker threads', () => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, name text NOT NULL');
    daemon = new DaemonProcess(fixture.connectorFiles(), await freePort(), { TIDELINE_THREADS: 'true', TIDELINE_LOG_LEVEL: 'info' });
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  const insert = (from: number, to: number) => client.query(`INSERT INTO public.${table} SELECT g, 'row ' || g FROM generate_series(${from}, ${to}) g`);
  const expected = async () => (await client.query(`SELECT id::text, name FROM public.${table} ORDER BY id`)).rows;
  const view = `SELECT toString(id) AS id, name FROM ${database}.${table}_current ORDER BY id`;

  it('runs the source and the sink each in a thread of its own and delivers every row', async () => {
    await insert(1, 300);
    await client.query(`UPDATE public.${table} SET name = name || '+' WHERE id % 3 = 0`);
    await client.query(`DELETE FROM public.${table} WHERE id % 10 = 0`);
    await expectViewToEqual(clickhouse, view, await expected());

    // Each connector's lines carry its thread: two threads, neither the main one (0).
    const threads = new Map<string, number>();
    for (const line of daemon.log.join('').split('\n')) {
      if (!line.includes('connector thread started')) continue;
      const entry = JSON.parse(line) as { connector: string; thread: number };
      threads.set(entry.connector, entry.thread);
    }
    expect([...threads.keys()].sort()).toEqual([fixture.sinkName, fixture.sourceName].sort());
    expect(new Set(threads.values()).size).toBe(2);
    expect([...threads.values()].every((thread) => thread > 0)).toBe(true);
  });

  it('shows every thread\'s metrics in one /metrics, each metric once', async () => {
    const text = await (await daemon.request('/metrics')).text();
    // The worker's counters (source events, sink rows) and the main thread's (state, process).
    expect(await daemon.metric('tideline_source_events_total')).toBeGreaterThanOrEqual(300 + 100 + 30);
    expect(await daemon.metric('tideline_sink_rows_written_total')).toBeGreaterThanOrEqual(300);
    expect(text).toMatch(new RegExp(`tideline_connector_up\\{connector="${fixture.sourceName}",kind="postgres-source"\\} 1`));
    for (const name of ['tideline_source_events_total', 'tideline_sink_rows_written_total', 'tideline_connector_up', 'process_cpu_user_seconds_total', 'tideline_sink_end_to_end_seconds']) {
      expect(text.match(new RegExp(`^# TYPE ${name} `, 'gm')), name).toHaveLength(1);
    }
    // Process metrics come from the main thread only (not summed over threads).
    expect(text.match(/^process_resident_memory_bytes /gm)).toHaveLength(1);
  });

  it('keeps counting across a restart through the admin API (the thread stays)', async () => {
    const before = await daemon.metric('tideline_source_events_total');
    const response = await daemon.request(`/connectors/${fixture.sourceName}/restart`, { method: 'POST' });
    expect(response.status).toBe(204);
    await eventually('the source running again', async () => ((await daemon.statuses()).find((status) => status.name === fixture.sourceName)?.state === 'running' ? true : undefined));
    await insert(301, 350);
    await expectViewToEqual(clickhouse, view, await expected());
    expect(await daemon.metric('tideline_source_events_total')).toBeGreaterThanOrEqual(before + 50);
  });
});
