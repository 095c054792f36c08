/**
 * A primary-key change keeps the row's unchanged TOASTed values.
 *
 * Under REPLICA IDENTITY DEFAULT, `UPDATE ... SET id = ...` that leaves a large
 * out-of-line column alone sends neither its old nor its new value. The source
 * emits delete(old key, header __debezium.newkey) + create(new key, header
 * __debezium.oldkey, placeholder for the value); the sink keeps the old row's
 * values in the delete it writes and fills the create from it. Proven with a
 * 9 kB incompressible text column stored out of line:
 *  - the old row written in an earlier batch (value read from ClickHouse),
 *  - insert and key change in one batch, and a key changed twice in one transaction,
 *  - the sink killed (failpoint) after the delete half and before the create half.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';

const fixture = new TableFixture('pkmove');
const { table, database, client, clickhouse } = fixture;
const MOVE = 1_000_000;
/** ~9 kB of random hex: out of line (STORAGE EXTERNAL) and not compressible by much anyway. */
const BIG = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 288))";

describe('primary-key change with an unchanged TOASTed column', () => {
  let daemon: DaemonProcess;

  const pgRows = async () =>
    (await client.query<{ id: string; big: string; n: string }>(`SELECT id::text AS id, md5(big) AS big, n::text AS n FROM public.${table} ORDER BY id`)).rows;
  const chRows = () =>
    clickhouse.rows<{ id: string; big: string; n: string }>(
      `SELECT toString(id) AS id, lower(hex(MD5(big))) AS big, toString(n) AS n FROM ${database}.${table}_current ORDER BY id`,
    );
  const converged = (what: string) =>
    eventually(what, async () => {
      const [expected, actual] = await Promise.all([pgRows(), chRows().catch(() => [])]);
      return JSON.stringify(actual) === JSON.stringify(expected) ? true : undefined;
    }, 60_000).catch(async (error: unknown) => {
      expect(await chRows()).toEqual(await pgRows());
      throw error;
    });

  beforeAll(async () => {
    await fixture.create('id bigint PRIMARY KEY, big text NOT NULL, n int NOT NULL');
    await client.query(`ALTER TABLE public.${table} ALTER COLUMN big SET STORAGE EXTERNAL`);
    await client.query(`ALTER TABLE public.${table} REPLICA IDENTITY DEFAULT`);
    daemon = new DaemonProcess(fixture.connectorFiles(), await freePort());
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it('fills the new key from the old row written in an earlier batch, and from the same batch', async () => {
    for (let id = 1; id <= 6; id++) await client.query(`INSERT INTO public.${table} VALUES (${id}, ${BIG}, 0)`);
    const [{ size }] = (await client.query<{ size: number }>(`SELECT min(octet_length(big)) AS size FROM public.${table}`)).rows as [{ size: number }];
    expect(size).toBeGreaterThanOrEqual(8192);
    await converged('the inserted rows in ClickHouse');

    // The old rows are in ClickHouse (earlier batches): moves of single rows, one with another column changed.
    await client.query(`UPDATE public.${table} SET id = id + ${MOVE} WHERE id = 1`);
    await client.query(`UPDATE public.${table} SET id = id + ${MOVE}, n = 5 WHERE id = 2`);
    // Insert and move in one transaction (one batch); a key moved twice; a move that also rewrites the value.
    await client.query('BEGIN');
    await client.query(`INSERT INTO public.${table} VALUES (7, ${BIG}, 7)`);
    await client.query(`UPDATE public.${table} SET id = id + ${MOVE} WHERE id = 7`);
    await client.query(`UPDATE public.${table} SET id = 30 WHERE id = 3`);
    await client.query(`UPDATE public.${table} SET id = 31, n = n + 1 WHERE id = 30`);
    await client.query(`UPDATE public.${table} SET id = id + ${MOVE}, big = ${BIG} WHERE id = 4`);
    await client.query('COMMIT');
    await converged('the moved rows with their values');
    const placeholders = await clickhouse.rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${database}.${table} WHERE big LIKE '%unavailable_value%'`);
    expect(placeholders[0]?.n).toBe('0');
    expect(await daemon.metric('tideline_sink_unavailable_values_total')).toBe(0);
  });

  it('fills the new key after the sink was killed between the two halves', async () => {
    await daemon.stop();
    daemon = new DaemonProcess(fixture.connectorFiles(), await freePort(), { TIDELINE_FAILPOINTS: 'clickhouse-sink.crash-inside-key-change' });
    await daemon.start();
    await client.query(`UPDATE public.${table} SET id = id + ${MOVE} WHERE id = 5`);
    // The exit may be reported before the last output is read: wait for both.
    await eventually(
      'the sink to kill the daemon inside the key change',
      async () => (daemon.exited && daemon.log.join('').includes('failpoint reached') ? true : undefined),
      60_000,
    );
    // The delete half is stored, the create half is not.
    const halves = await clickhouse.rows<{ key: string; deleted: string }>(
      `SELECT toString(id) AS key, toString(_deleted) AS deleted FROM ${database}.${table} FINAL WHERE id IN (5, ${5 + MOVE}) ORDER BY key`,
    );
    expect(halves).toEqual([{ key: '5', deleted: '1' }]);

    await daemon.start({ env: { TIDELINE_FAILPOINTS: '' } });
    await converged('the moved row with its value after the restart');
    const [moved] = await chRows().then((rows) => rows.filter((row) => row.id === String(5 + MOVE)));
    expect(moved?.big).toMatch(/^[0-9a-f]{32}$/);
    expect(await daemon.metric('tideline_sink_unavailable_values_total')).toBe(0);
  });
});
