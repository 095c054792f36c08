/**
 * `tideline slots` on a real server: lists slots with their lag, drops an
 * inactive one on request, and refuses clearly what it cannot do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { tideline } from '../support/cli.js';
import { uniqueSuffix } from '../support/pipeline.js';
import { serviceUrls } from '../support/services.js';

const { pgUrl } = serviceUrls();
const slot = `tl_slots_${uniqueSuffix()}`;

describe('tideline slots', () => {
  const client = new pg.Client({ connectionString: pgUrl });

  beforeAll(async () => {
    await client.connect();
    await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    // Some WAL after the slot's position, so it has lag to show.
    await client.query('CREATE TEMP TABLE filler AS SELECT g FROM generate_series(1, 1000) AS g');
  });

  afterAll(async () => {
    await client.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
    await client.end();
  });

  it('lists the slot with its lag, as a table and as JSON', async () => {
    const table = await tideline(['slots', '--url', pgUrl]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^SLOT\s+PLUGIN\s+ACTIVE\s+CONFIRMED\s+LAG\s+RETAINED WAL/);
    expect(table.stdout).toMatch(new RegExp(`^${slot}\\s+pgoutput\\s+no\\s+[0-9A-F]+/[0-9A-F]+\\s+\\d`, 'm'));

    const json = await tideline(['slots', '--json'], { TIDELINE_PG_URL: pgUrl });
    const entry = (JSON.parse(json.stdout) as { slot_name: string; lag_bytes: number; active: boolean }[]).find((row) => row.slot_name === slot);
    expect(entry).toMatchObject({ slot_name: slot, active: false });
    expect(entry!.lag_bytes).toBeGreaterThan(0);
  }, 60_000);

  it('drops an inactive slot on request and names a missing one', async () => {
    const dropped = await tideline(['slots', '--url', pgUrl, '--drop', slot]);
    expect(dropped.code).toBe(0);
    expect(dropped.stdout).toContain(`dropped slot ${slot}`);
    const { rowCount } = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    expect(rowCount).toBe(0);

    const missing = await tideline(['slots', '--url', pgUrl, '--drop', slot]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no replication slot named "${slot}"`);
  }, 60_000);

  it('never prints the password of the connection string in an error', async () => {
    const refused = await tideline(['slots', '--url', pgUrl.replace(/:[^:@/]+@/, ':wrong-secret@').replace(/\/[^/]*$/, '/no_such_db')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).not.toContain('wrong-secret');
  }, 60_000);
});
