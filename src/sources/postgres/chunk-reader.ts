/**
 * Reading one chunk of an incremental snapshot: the next rows after the last
 * key, in primary-key order (row comparison, so composite keys work), up to
 * the table's largest key when its reading began, with the signal's
 * additional condition, in one REPEATABLE READ READ ONLY transaction whose
 * snapshot is known (txid_current_snapshot) so the chunk can be cut before a
 * row that a transaction still in progress has changed (snapshot-window.ts).
 */
import type pg from 'pg';
import { TidelineError } from '../../core/errors.js';
import { describeTable, textValues, type SnapshotTable } from './snapshot-reader.js';
import { emittableRows, inProgressXids, keyText, type ChunkRow } from './snapshot-window.js';
import { qualifiedIdent, quoteIdent } from './sql.js';

export interface ChunkRequest {
  /** "schema.table" */
  table: string;
  primaryKey: readonly string[];
  /** An SQL condition from the signal, or null. */
  filter: string | null;
  /** Read keys after this one (text form); null: from the start. */
  after: readonly string[] | null;
  /** Read keys up to this one (text form). */
  max: readonly string[];
  limit: number;
}

export interface Chunk {
  /** The table as a Relation message would describe it (for encoding the rows). */
  table: SnapshotTable;
  rows: ChunkRow[];
  /** Last key of the rows kept; null when none were. */
  lastKey: string[] | null;
  /** No rows are left after these: the table is done once they are emitted. */
  exhausted: boolean;
  /** The transaction id that stopped the chunk at its first row (the caller waits and reads again), else null. */
  blockedBy: string | null;
}

/** A malformed additional condition or a table that changed under the snapshot: not worth retrying. */
export class ChunkQueryError extends TidelineError {}

function keyColumns(table: SnapshotTable): string {
  return table.key.map((column) => quoteIdent(column.name)).join(', ');
}

/** `(k1, k2) <op> ($n::t1, $n+1::t2)`, pushing the values onto params. */
function keyBound(table: SnapshotTable, op: string, values: readonly string[], params: string[]): string {
  const placeholders = table.key.map((column, index) => {
    params.push(values[index] ?? '');
    return `$${params.length}::${column.sqlType}`;
  });
  return `(${keyColumns(table)}) ${op} (${placeholders.join(', ')})`;
}

/** Syntax errors, undefined columns or functions, bad casts: the filter or the table is wrong, not the connection. */
function isQueryError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('42') || code.startsWith('22'));
}

async function inReadTransaction<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (isQueryError(error)) throw new ChunkQueryError((error as Error).message, { cause: error });
    throw error;
  }
}

/** The table's largest key (with the filter) as text, or null when no row matches. */
export async function readMaxKey(client: pg.Client, table: string, primaryKey: readonly string[], filter: string | null): Promise<string[] | null> {
  return inReadTransaction(client, async () => {
    const keys = primaryKey.map(quoteIdent);
    const where = filter ? ` WHERE (${filter})` : '';
    const order = keys.map((key) => `${key} DESC`).join(', ');
    const result = await client.query<string[]>({ text: `SELECT ${keys.join(', ')} FROM ${qualifiedIdent(table)}${where} ORDER BY ${order} LIMIT 1`, rowMode: 'array', types: textValues });
    const row = result.rows[0];
    return row ? row.map((value) => value ?? '') : null;
  });
}

/** Reads the next chunk (see the module comment). */
export async function readChunk(client: pg.Client, request: ChunkRequest): Promise<Chunk> {
  return inReadTransaction(client, async () => {
    // The first statement fixes the transaction's snapshot: this is the one the rows are read in.
    const snapshot = await client.query<{ s: string }>('SELECT txid_current_snapshot()::text AS s');
    const inProgress = inProgressXids(snapshot.rows[0]?.s ?? '');
    const exists = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [qualifiedIdent(request.table)]);
    if (exists.rows[0]?.oid === null) throw new ChunkQueryError(`table ${request.table} no longer exists (dropped or renamed)`);
    const table = await describeTable(client, request.table, request.primaryKey, { estimate: false });
    if (table.key.length === 0) throw new ChunkQueryError(`table ${request.table} has no primary key any more`);
    const columns = table.relation.columns.map((column) => column.name);
    const params: string[] = [];
    const conditions = [keyBound(table, '<=', request.max, params)];
    if (request.after) conditions.push(keyBound(table, '>', request.after, params));
    if (request.filter) conditions.push(`(${request.filter})`);
    const sql =
      `SELECT xmax::text, ${columns.map(quoteIdent).join(', ')} FROM ${qualifiedIdent(request.table)}` +
      ` WHERE ${conditions.join(' AND ')} ORDER BY ${keyColumns(table)} LIMIT ${request.limit}`;
    const result = await client.query<(string | null)[]>({ text: sql, values: params, rowMode: 'array', types: textValues });
    const keep = emittableRows(result.rows.map((values) => values[0] ?? '0'), inProgress);
    const keyNames = table.key.map((column) => column.name);
    const rows: ChunkRow[] = result.rows.slice(0, keep).map((values) => {
      const tuple: Record<string, string | null> = {};
      columns.forEach((column, index) => (tuple[column] = values[index + 1] ?? null));
      return { key: keyText(keyNames, tuple)!, tuple };
    });
    const last = rows.at(-1);
    return {
      table,
      rows,
      lastKey: last ? keyNames.map((name) => last.tuple[name] ?? '') : null,
      exhausted: keep === result.rows.length && result.rows.length < request.limit,
      blockedBy: keep === 0 && result.rows.length > 0 ? (result.rows[0]?.[0] ?? null) : null,
    };
  });
}

/** pg_class.reltuples of each table (null when never analyzed), for the progress estimate. */
export async function estimateRows(client: pg.Client, tables: readonly string[]): Promise<Map<string, number | null>> {
  const estimates = new Map<string, number | null>();
  if (tables.length === 0) return estimates;
  const { rows } = await client.query<{ name: string; reltuples: number }>(
    `SELECT t.name, c.reltuples::float8 AS reltuples FROM unnest($1::text[]) AS t(name)
       JOIN pg_catalog.pg_class c ON c.oid = to_regclass(t.name)`,
    [tables.map(qualifiedIdent)],
  );
  for (const table of tables) {
    const found = rows.find((row) => row.name === qualifiedIdent(table));
    estimates.set(table, found && found.reltuples > 0 ? Math.round(found.reltuples) : null);
  }
  return estimates;
}
