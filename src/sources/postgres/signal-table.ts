/**
 * The signal table, Debezium's layout `(id varchar primary key, type varchar,
 * data varchar)`: users insert signals into it, and the incremental snapshot
 * writes its watermarks into it (`snapshot-window-open` / `-close` rows), so
 * that both arrive through the replication stream in commit order. It is
 * created when missing and added to the publication; its own changes are read
 * as signals and never written to Kafka.
 */
import type pg from 'pg';
import { TidelineError } from '../../core/errors.js';
import { qualifiedIdent, splitTableName } from './sql.js';

/** Debezium's documented layout (ids the source writes fit in 42 characters). */
const CREATE_COLUMNS = 'id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048) NULL';

/** "schema.table" of the configured signal table. */
export function signalTableName(config: string): string {
  const { schema, table } = splitTableName(config);
  return `${schema}.${table}`;
}

/** Creates the signal table when missing; fails naming what is wrong with an existing one. */
export async function ensureSignalTable(client: pg.Client, qualified: string): Promise<void> {
  const { schema, table } = splitTableName(qualified);
  const { rows } = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [qualifiedIdent(qualified)],
  );
  if (rows.length === 0) {
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS ${qualifiedIdent(qualified)} (${CREATE_COLUMNS})`);
    } catch (error) {
      throw new TidelineError(`signalTable ${schema}.${table} does not exist and could not be created (${(error as Error).message}); create it with: CREATE TABLE ${schema}.${table} (${CREATE_COLUMNS})`);
    }
    return;
  }
  const missing = ['id', 'type', 'data'].filter((column) => !rows.some((row) => row.name === column));
  if (missing.length > 0) {
    throw new TidelineError(`signalTable ${schema}.${table} lacks column(s) ${missing.join(', ')}: it needs Debezium's layout (${CREATE_COLUMNS})`);
  }
}

/**
 * Inserts a signal row in its own transaction. A row with this id already
 * there is left alone (a Kafka signal inserted again after a crash), and
 * false is returned.
 */
export async function insertSignal(client: pg.Client, qualified: string, id: string, type: string, data: string | null): Promise<boolean> {
  const result = await client.query(`INSERT INTO ${qualifiedIdent(qualified)} (id, type, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, [id, type, data]);
  return (result.rowCount ?? 0) > 0;
}
