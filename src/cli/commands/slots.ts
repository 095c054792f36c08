import type { Command } from 'commander';
import pg from 'pg';
import { TidelineError } from '../../core/errors.js';
import { ExitCode } from '../exit-codes.js';
import { alignColumns, formatBytes } from '../text-table.js';

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

function bytesCell(text: string | null): string {
  return text === null ? '-' : formatBytes(Number(text));
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
          console.log(`dropped slot ${options.drop} (it held ${bytesCell(slot.retained_bytes)} of WAL)`);
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
            bytesCell(row.lag_bytes),
            bytesCell(row.retained_bytes),
            row.wal_status ?? '-',
          ]),
        ];
        for (const line of alignColumns(table)) console.log(line);
      } finally {
        await client.end();
      }
    });
}
