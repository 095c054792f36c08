/**
 * Publication and slot management. Both are created when missing and reused
 * otherwise; the publication's table list is kept equal to the config.
 */
import type { Client } from 'pg';
import type { Logger } from '../../core/logger.js';
import { TidelineError } from '../../core/errors.js';
import type { CatalogType } from './type-mapping.js';
import { selectTables } from './table-selection.js';
import { qualifiedIdent, quoteIdent, quoteLiteral, splitTableName } from './sql.js';

export async function checkServer(client: Client): Promise<void> {
  const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
  if (rows[0]?.wal_level !== 'logical') {
    throw new TidelineError(
      `PostgreSQL wal_level is "${rows[0]?.wal_level}", logical replication needs "logical" (set wal_level = logical and restart the server)`,
    );
  }
}

/** A table of the catalog: ordinary or partitioned, and whether it is itself a partition. */
export interface CatalogTable {
  /** "schema.table" */
  name: string;
  oid: number;
  partition: boolean;
}

/**
 * The tables a source may capture, "schema.table" → oid. Partitions are left
 * out: a partitioned table is captured through its root
 * (publish_via_partition_root), never partition by partition, so a pattern
 * such as `public.*` matches the root only (and a partition attached later
 * needs nothing).
 */
export function capturableTables(tables: readonly CatalogTable[]): Map<string, number> {
  return new Map(tables.filter((table) => !table.partition).map((table) => [table.name, table.oid]));
}

/** Every ordinary and partitioned table outside the system schemas, partitions flagged. */
export async function catalogTables(client: Client): Promise<CatalogTable[]> {
  const { rows } = await client.query<CatalogTable>(
    `SELECT n.nspname || '.' || c.relname AS name, c.oid::int AS oid, c.relispartition AS partition
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  return rows;
}

/** The capturable tables of the catalog (no partitions), "schema.table" → oid. */
export async function listTableOids(client: Client): Promise<Map<string, number>> {
  return capturableTables(await catalogTables(client));
}

/** Every ordinary and partitioned table outside the system schemas (no partitions), as "schema.table". */
export async function listTables(client: Client): Promise<string[]> {
  return [...(await listTableOids(client)).keys()];
}

/**
 * The captured tables: `include` and `exclude` resolved against the catalog.
 * Fails naming every include entry that matches no table, and when nothing is left.
 */
export async function resolveTables(client: Client, include: readonly string[], exclude: readonly string[]): Promise<string[]> {
  const { tables, unmatched } = selectTables(await listTables(client), include, exclude);
  if (unmatched.length > 0) throw new TidelineError(`captured tables do not exist (or no table matches the pattern): ${unmatched.join(', ')}`);
  if (tables.length === 0) throw new TidelineError(`every table matched by tables is excluded by excludeTables: nothing to capture`);
  return tables;
}

export async function ensurePublication(client: Client, publication: string, tables: readonly string[], logger: Logger): Promise<void> {
  const wanted = new Set(tables.map((qualified) => {
    const { schema, table } = splitTableName(qualified);
    return `${schema}.${table}`;
  }));
  const exists = await client.query<{ viaroot: boolean }>('SELECT pubviaroot AS viaroot FROM pg_catalog.pg_publication WHERE pubname = $1', [publication]);
  const tableList = [...wanted].map(qualifiedIdent).join(', ');
  if (!exists.rowCount) {
    // Changes of partitioned tables are published under the root, whose topic and key tideline knows.
    await client.query(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${tableList} WITH (publish_via_partition_root = true)`);
    logger.info({ publication, tables: [...wanted] }, 'created publication');
    return;
  }
  if (!exists.rows[0]?.viaroot) {
    // A publication made before (or by hand) publishes partitions under their own names, which no topic is for.
    await client.query(`ALTER PUBLICATION ${quoteIdent(publication)} SET (publish_via_partition_root = true)`);
    logger.info({ publication }, 'publication changed to publish_via_partition_root = true: changes of partitions are published as their root table\'s');
  }
  const { rows } = await client.query<{ name: string }>(
    "SELECT schemaname || '.' || tablename AS name FROM pg_catalog.pg_publication_tables WHERE pubname = $1",
    [publication],
  );
  const current = new Set(rows.map((row) => row.name));
  const same = current.size === wanted.size && [...wanted].every((name) => current.has(name));
  if (!same) {
    await client.query(`ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${tableList}`);
    logger.info({ publication, tables: [...wanted], previous: [...current] }, 'updated publication tables');
  }
}

/**
 * Adds one table to the publication while the slot streams: changes committed
 * after this ALTER are published (the walsender reads the publication as of
 * each change's place in the WAL). False when it was a member already.
 */
export async function addToPublication(client: Client, publication: string, qualified: string, lockTimeoutMs = 5_000): Promise<boolean> {
  // The ALTER locks the table; behind a long transaction it would also queue
  // every writer of the table: give up after a while (the caller retries).
  // One query string (one implicit transaction): the connection is shared,
  // and no other query may land between BEGIN and COMMIT of ours.
  try {
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}; ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${qualifiedIdent(qualified)}`);
    return true;
  } catch (error) {
    // duplicate_object: "relation ... is already member of publication"
    if ((error as { code?: unknown }).code === '42710') return false;
    throw error;
  } finally {
    await client.query('RESET lock_timeout').catch(() => undefined);
  }
}

export interface SlotInfo {
  confirmedFlushLsn: string | null;
  /** Oldest WAL the slot still needs: every change it will stream lies at or after it. */
  restartLsn: string | null;
}

/** The slot's positions, or null when it does not exist; fails when it exists but is not a logical pgoutput slot. */
export async function slotInfo(client: Client, slot: string): Promise<SlotInfo | null> {
  const { rows } = await client.query<{ plugin: string; slot_type: string; confirmed_flush_lsn: string | null; restart_lsn: string | null }>(
    'SELECT plugin, slot_type, confirmed_flush_lsn::text, restart_lsn::text FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const existing = rows[0];
  if (!existing) return null;
  if (existing.slot_type !== 'logical' || existing.plugin !== 'pgoutput') {
    throw new TidelineError(`replication slot "${slot}" exists but is a ${existing.slot_type} slot for plugin ${existing.plugin}; tideline needs a logical pgoutput slot`);
  }
  return { confirmedFlushLsn: existing.confirmed_flush_lsn, restartLsn: existing.restart_lsn };
}

/** Creates the slot without a snapshot (streaming starts at the current WAL position). */
export async function createSlot(client: Client, slot: string): Promise<void> {
  await client.query(`SELECT pg_catalog.pg_create_logical_replication_slot(${quoteLiteral(slot)}, 'pgoutput')`);
}

/** Bytes of WAL the slot still holds back (server's current position minus confirmed). */
export async function slotLagBytes(client: Client, slot: string): Promise<number | null> {
  const { rows } = await client.query<{ lag: string | null }>(
    'SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const lag = rows[0]?.lag;
  return lag === undefined || lag === null ? null : Number(lag);
}

/** Primary-key columns of each table, in key order, by "schema.table" (tables without one are absent). */
export async function primaryKeys(client: Client, tables: readonly string[]): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  for (const qualified of tables) {
    const { schema, table } = splitTableName(qualified);
    const { rows } = await client.query<{ name: string }>(
      `SELECT a.attname AS name
         FROM pg_catalog.pg_index i
         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary
        ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      [qualifiedIdent(qualified)],
    );
    if (rows.length > 0) keys.set(`${schema}.${table}`, rows.map((row) => row.name));
  }
  return keys;
}

/**
 * The catalog entries of the captured tables' column types that are not plain
 * built-ins (enums, domains, arrays), following element and base types until
 * every one is known. Types created after start fall back to text.
 */
export async function loadTypeCatalog(client: Client, tables: readonly string[]): Promise<Map<number, CatalogType>> {
  const catalog = new Map<number, CatalogType>();
  const { rows: columns } = await client.query<{ oid: number }>(
    `SELECT DISTINCT a.atttypid::int AS oid FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = ANY ($1::regclass[]) AND a.attnum > 0 AND NOT a.attisdropped`,
    [tables.map(qualifiedIdent)],
  );
  let wanted = columns.map((row) => row.oid);
  while (wanted.length > 0) {
    const { rows } = await client.query<{ oid: number; name: string; kind: string; element: number; base: number; labels: string[] | null }>(
      `SELECT t.oid::int AS oid, t.typname AS name, t.typtype AS kind,
              CASE WHEN t.typcategory = 'A' THEN t.typelem::int ELSE 0 END AS element,
              t.typbasetype::int AS base,
              CASE WHEN t.typtype = 'e' THEN
                (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
              END AS labels
         FROM pg_catalog.pg_type t WHERE t.oid = ANY ($1::oid[])`,
      [wanted],
    );
    for (const row of rows) {
      catalog.set(row.oid, { oid: row.oid, name: row.name, kind: row.kind, elementOid: row.element, baseOid: row.base, labels: row.labels });
    }
    wanted = rows.flatMap((row) => [row.element, row.base]).filter((oid) => oid !== 0 && !catalog.has(oid));
  }
  return catalog;
}

/** A captured table's columns in table order, and its key columns as the source keys its events. */
export interface TableColumns {
  columns: string[];
  keyColumns: string[];
}

/**
 * The columns of the captured tables, by "schema.table". Key columns are the
 * primary key, else the replica-identity index's (REPLICA IDENTITY USING INDEX),
 * as change-events.ts takes them; none otherwise.
 */
export async function tableColumns(client: Client, tables: readonly string[]): Promise<Map<string, TableColumns>> {
  const { rows } = await client.query<{ schema: string; table: string; name: string; key: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS name,
            EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                     WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey)
                       AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'
                            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index p WHERE p.indrelid = c.oid AND p.indisprimary)))) AS key
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.oid = ANY ($1::text[]::regclass[])
      ORDER BY n.nspname, c.relname, a.attnum`,
    [tables.map(qualifiedIdent)],
  );
  const result = new Map<string, TableColumns>();
  for (const row of rows) {
    const qualified = `${row.schema}.${row.table}`;
    let table = result.get(qualified);
    if (!table) result.set(qualified, (table = { columns: [], keyColumns: [] }));
    table.columns.push(row.name);
    if (row.key) table.keyColumns.push(row.name);
  }
  return result;
}
