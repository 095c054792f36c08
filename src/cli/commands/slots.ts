import type { Command } from 'commander';
import pg from 'pg';
import { TidelineError } from '../../core/errors.js';
import { ExitCode } from '../exit-codes.js';

interface SlotRow {
  slot_name: string;
  plugin: string | null;
  slot_type: string;
  active: boolean;
  confirmed_flush_lsn: string | null;
  /** WAL bytes between the server's position and what the slot's consumer confirmed. */
  lag_bytes: string | null;
  /** WAL bytes the slot keeps on disk (from restart_lsn). */
  retained_bytes: string | null;
  wal_status: string | null;
}

const SLOTS_SQL = `
  SELECT slot_name, plugin, slot_type, active, confirmed_flush_lsn::text,
         pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag_bytes,
         pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::text AS retained_bytes,
         wal_status
    FROM pg_catalog.pg_replication_slots ORDER BY slot_name`;

function formatBytes(text: string | null): string {
  if (text === null) return '-';
  const bytes = Number(text);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `tideline slots`: replication slots with their lag; `--drop NAME` removes an inactive one. */
export function registerSlots(program: Command): void {
  program
    .command('slots')
    .description('List the replication slots of a PostgreSQL server with their lag and retained WAL; --drop removes an inactive slot.')
    .option('--url <url>', 'PostgreSQL connection string (default: $TIDELINE_PG_URL)', process.env.TIDELINE_PG_URL)
    .option('--drop <slot>', 'drop this slot (refused while a consumer is streaming from it)')
    .option('--json', 'print the slots as JSON')
    .action(async (options: { url?: string; drop?: string; json?: boolean }) => {
      if (!options.url) throw new TidelineError('no PostgreSQL URL: pass --url or set TIDELINE_PG_URL');
      const client = new pg.Client({ connectionString: options.url, application_name: 'tideline:slots' });
      await client.connect();
      try {
        const { rows } = await client.query<SlotRow>(SLOTS_SQL);
        if (options.drop) {
          const slot = rows.find((row) => row.slot_name === options.drop);
          if (!slot) throw new TidelineError(`no replication slot named "${options.drop}" (slots: ${rows.map((row) => row.slot_name).join(', ') || 'none'})`);
          if (slot.active) throw new TidelineError(`slot "${options.drop}" is active: stop the connector that streams from it first`);
          await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [options.drop]);
          console.log(`dropped slot ${options.drop} (it held ${formatBytes(slot.retained_bytes)} of WAL)`);
          process.exitCode = ExitCode.ok;
          return;
        }
        if (options.json) {
          console.log(JSON.stringify(rows.map((row) => ({ ...row, lag_bytes: row.lag_bytes === null ? null : Number(row.lag_bytes), retained_bytes: row.retained_bytes === null ? null : Number(row.retained_bytes) })), null, 2));
          return;
        }
        if (rows.length === 0) {
          console.log('no replication slots');
          return;
        }
        const table = [
          ['SLOT', 'PLUGIN', 'ACTIVE', 'CONFIRMED', 'LAG', 'RETAINED WAL', 'WAL STATUS'],
          ...rows.map((row) => [
            row.slot_name,
            row.plugin ?? row.slot_type,
            row.active ? 'yes' : 'no',
            row.confirmed_flush_lsn ?? '-',
            formatBytes(row.lag_bytes),
            formatBytes(row.retained_bytes),
            row.wal_status ?? '-',
          ]),
        ];
        const widths = table[0]!.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
        for (const line of table) console.log(line.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
      } finally {
        await client.end();
      }
    });
}
