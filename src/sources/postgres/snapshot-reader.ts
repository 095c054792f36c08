/**
 * Reading tables for a snapshot: the consistent view (a slot's exported
 * snapshot, or a fresh REPEATABLE READ one), each table's description as a
 * pgoutput Relation would give it, and its rows in primary-key order through a
 * cursor, as PostgreSQL's text form (the same text pgoutput sends, so the
 * stream's type mapping applies unchanged).
 */
import pg from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import { TidelineError } from '../../core/errors.js';
import { SESSION_OPTIONS } from './replication-stream.js';
import { quoteIdent, quoteLiteral, splitTableName } from './sql.js';

export interface SnapshotTable {
  qualified: string;
  relation: Pgoutput.MessageRelation;
  /** Primary-key columns in key order, with their SQL types (for the resume condition). Empty: no primary key. */
  key: { name: string; sqlType: string }[];
  /** Estimated rows, or null when unknown. */
  estimate: number | null;
}

export interface SlotWithSnapshot {
  consistentPoint: string;
  snapshotName: string;
  /** The replication connection: the exported snapshot lives as long as it stays open and idle. */
  connection: pg.Client;
}

/** CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT on a replication connection. */
export async function createSlotWithSnapshot(url: string, slot: string, applicationName: string): Promise<SlotWithSnapshot> {
  // `replication` is a connection parameter node-pg passes through but does not type.
  const config = { connectionString: url, replication: 'database', application_name: applicationName } as pg.ClientConfig;
  const connection = new pg.Client(config);
  await connection.connect();
  try {
    const { rows } = await connection.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`,
    );
    const row = rows[0];
    if (!row?.snapshot_name) throw new TidelineError(`creating slot "${slot}" returned no exported snapshot`);
    return { consistentPoint: row.consistent_point, snapshotName: row.snapshot_name, connection };
  } catch (error) {
    await connection.end().catch(() => undefined);
    throw error;
  }
}

/** A connection for reading the snapshot, with the session settings that fix values' text form. */
export function snapshotConnection(url: string, applicationName: string): pg.Client {
  return new pg.Client({ connectionString: url, options: SESSION_OPTIONS, application_name: applicationName });
}

/** Starts the read-only REPEATABLE READ transaction every table is read in; imports an exported snapshot when given. */
export async function beginSnapshot(client: pg.Client, exportedSnapshot: string | null): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (exportedSnapshot) await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(exportedSnapshot)}`);
}

const REPLICA_IDENTITY: Record<string, Pgoutput.MessageRelation['replicaIdentity']> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };

/** Describes a table as a Relation message would; `estimate: false` skips the row estimate (null). */
export async function describeTable(client: pg.Client, qualified: string, primaryKey: readonly string[], { estimate: wanted = true } = {}): Promise<SnapshotTable> {
  const { schema, table } = splitTableName(qualified);
  const relation = await client.query<{ oid: number; ident: string; reltuples: number }>(
    `SELECT c.oid::int AS oid, c.relreplident AS ident, c.reltuples::float8 AS reltuples
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  const info = relation.rows[0];
  if (!info) throw new TidelineError(`table ${qualified} disappeared before its snapshot`);
  const { rows: columns } = await client.query<{ name: string; type_oid: number; type_mod: number; type_name: string; type_schema: string; sql_type: string }>(
    `SELECT a.attname AS name, a.atttypid::int AS type_oid, a.atttypmod AS type_mod, t.typname AS type_name,
            tn.nspname AS type_schema, pg_catalog.format_type(a.atttypid, a.atttypmod) AS sql_type
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [info.oid],
  );
  const keySet = new Set(primaryKey);
  const described: Pgoutput.MessageRelation = {
    tag: 'relation',
    relationOid: info.oid,
    schema,
    name: table,
    replicaIdentity: REPLICA_IDENTITY[info.ident] ?? 'default',
    columns: columns.map((column) => ({
      flags: keySet.has(column.name) ? 1 : 0,
      name: column.name,
      typeOid: column.type_oid,
      typeMod: column.type_mod,
      typeSchema: column.type_schema,
      typeName: column.type_name,
      parser: (raw: unknown) => raw,
    })),
    keyColumns: [...primaryKey],
  };
  const key = primaryKey.map((name) => ({ name, sqlType: columns.find((column) => column.name === name)?.sql_type ?? 'text' }));
  // reltuples is -1 (PostgreSQL 14+) or 0 for a table never vacuumed or analyzed: count instead.
  let estimate: number | null = info.reltuples > 0 ? Math.round(info.reltuples) : null;
  if (estimate === null && wanted) {
    const counted = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(schema)}.${quoteIdent(table)}`);
    estimate = Number(counted.rows[0]?.n ?? 0);
  }
  return { qualified, relation: described, key, estimate };
}

export interface SnapshotChunk {
  /** Each row as column name to PostgreSQL's text form (null for NULL). */
  rows: Record<string, string | null>[];
  /** Text form of the last row's primary key (null without a primary key). */
  lastKey: string[] | null;
}

/** Query types that leave every value as PostgreSQL's text. */
export const textValues = { getTypeParser: () => (value: string) => value };

/**
 * Reads a table in chunks through a cursor, in primary-key order, starting
 * after `after` (a previous run's last key). Without a primary key the table is
 * read in storage order and cannot resume part-way. `columns`: the columns to
 * read (those that reach Kafka; they include the key), by default all.
 */
export async function* readTable(
  client: pg.Client,
  table: SnapshotTable,
  after: string[] | null,
  chunkRows: number,
  columns: readonly string[] = table.relation.columns.map((column) => column.name),
): AsyncGenerator<SnapshotChunk> {
  const { schema, name } = table.relation;
  const keyList = table.key.map((column) => quoteIdent(column.name)).join(', ');
  let sql = `SELECT ${columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(schema)}.${quoteIdent(name)}`;
  if (table.key.length > 0) {
    if (after) {
      const bounds = table.key.map((column, index) => `${quoteLiteral(after[index] ?? '')}::${column.sqlType}`).join(', ');
      sql += ` WHERE (${keyList}) > (${bounds})`;
    }
    sql += ` ORDER BY ${keyList}`;
  }
  const cursor = 'tideline_snapshot';
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`);
  try {
    for (;;) {
      const result = await client.query<string[]>({ text: `FETCH FORWARD ${chunkRows} FROM ${cursor}`, rowMode: 'array', types: textValues });
      if (result.rows.length === 0) return;
      const rows = result.rows.map((values) => {
        const row: Record<string, string | null> = {};
        columns.forEach((column, index) => (row[column] = values[index] ?? null));
        return row;
      });
      const last = rows.at(-1)!;
      yield { rows, lastKey: table.key.length > 0 ? table.key.map((column) => last[column.name] ?? '') : null };
      if (result.rows.length < chunkRows) return;
    }
  } finally {
    await client.query(`CLOSE ${cursor}`).catch(() => undefined);
  }
}
