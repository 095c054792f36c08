/**
 * Shadow tables of `tideline replay` and the swap: names, the swap
 * statements per server, and the DDL around them.
 *
 * A shadow is created with the live table's DDL (`CREATE TABLE s AS t`:
 * columns, types, engine, ORDER BY, settings), so that after the swap the
 * live view (which names its columns and reads `<table>` by name) and the
 * running sink (whose table plans name columns) find what they had.
 *
 * The swap. A server whose database is Atomic has `EXCHANGE TABLES a AND b`
 * (one atomic step per table); older servers (18.16, Ordinary databases) get
 * one `RENAME TABLE t TO t__replaced, t__replay TO t, ...` for every table.
 * ClickHouse documents a multi-table RENAME as not atomic: between its pairs
 * `t` does not exist for a moment (a query gets "table does not exist"; the
 * sink retries its insert), and a sink planning a new schema right then would
 * create an empty `t` (an intruder) that makes the second pair fail. The
 * intruder holds only records the replay writes again after the swap
 * (replayer.ts), so it is dropped and the swap finished (pendingSwaps).
 */
import type { ClickHouseServer } from '../server.js';
import { qualified, quoteString } from '../sql.js';

export const SHADOW_SUFFIX = '__replay';
export const REPLACED_SUFFIX = '__replaced';

export type SwapMethod = 'exchange' | 'rename';

export interface SwapPair {
  /** The live table's name. */
  table: string;
  /** Whether the live table exists (a table the sink has not created yet is only renamed into place). */
  liveExists: boolean;
}

export function shadowName(table: string): string {
  return `${table}${SHADOW_SUFFIX}`;
}

export function replacedName(table: string): string {
  return `${table}${REPLACED_SUFFIX}`;
}

/** EXCHANGE TABLES needs an Atomic database (ClickHouse 20.1+, the default engine since 20.10). */
export function swapMethod(databaseEngine: string): SwapMethod {
  return databaseEngine === 'Atomic' ? 'exchange' : 'rename';
}

/** The statements that put every shadow in place of its live table, in order. */
export function swapStatements(method: SwapMethod, database: string, pairs: readonly SwapPair[]): string[] {
  if (pairs.length === 0) return [];
  if (method === 'exchange') {
    return pairs.map((pair) =>
      pair.liveExists
        ? `EXCHANGE TABLES ${qualified(database, pair.table)} AND ${qualified(database, shadowName(pair.table))}`
        : `RENAME TABLE ${qualified(database, shadowName(pair.table))} TO ${qualified(database, pair.table)}`,
    );
  }
  const renames = pairs.flatMap((pair) => [
    ...(pair.liveExists ? [`${qualified(database, pair.table)} TO ${qualified(database, replacedName(pair.table))}`] : []),
    `${qualified(database, shadowName(pair.table))} TO ${qualified(database, pair.table)}`,
  ]);
  return [`RENAME TABLE ${renames.join(', ')}`];
}

export interface PendingSwaps {
  pairs: SwapPair[];
  /** Live tables created while a RENAME was half done (see the module comment): dropped before the swap goes on. */
  intruders: string[];
}

/**
 * What is left to swap, from the tables that exist (name to uuid): a pair
 * whose shadow is gone (RENAME) or whose live table has the shadow's uuid
 * (EXCHANGE) is done. Makes a swap repeatable after a crash or a failure
 * in the middle.
 */
export function pendingSwaps(method: SwapMethod, tables: readonly string[], existing: ReadonlyMap<string, string>, shadowUuids: Readonly<Record<string, string>>): PendingSwaps {
  const result: PendingSwaps = { pairs: [], intruders: [] };
  for (const table of tables) {
    if (!existing.has(shadowName(table))) continue;
    if (method === 'exchange') {
      if (existing.get(table) !== shadowUuids[table]) result.pairs.push({ table, liveExists: existing.has(table) });
      continue;
    }
    if (existing.has(replacedName(table))) {
      // The first half of an earlier RENAME happened: the live table went to __replaced.
      if (existing.has(table)) result.intruders.push(table);
      result.pairs.push({ table, liveExists: false });
    } else {
      result.pairs.push({ table, liveExists: existing.has(table) });
    }
  }
  return result;
}

/** Where the replaced (old) data of a table is after the swap: dropped at the end. */
export function oldTableAfterSwap(method: SwapMethod, table: string): string {
  return method === 'exchange' ? shadowName(table) : replacedName(table);
}

/** The engine of `database` (Atomic, Ordinary, ...). */
export async function databaseEngine(server: ClickHouseServer, database: string): Promise<string> {
  const [row] = await server.rows<{ engine: string }>(`SELECT engine FROM system.databases WHERE name = ${quoteString(database)}`);
  return row?.engine ?? 'Ordinary';
}

/** Names of the tables of `database` among `names` that exist, with their uuid where the server has one. */
export async function existingTables(server: ClickHouseServer, database: string, names: readonly string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const hasUuid = (await server.rows<{ n: string }>(`SELECT toString(count()) AS n FROM system.columns WHERE database = 'system' AND table = 'tables' AND name = 'uuid'`))[0]?.n !== '0';
  const rows = await server.rows<{ name: string; uuid: string }>(
    `SELECT name, ${hasUuid ? 'toString(uuid)' : "''"} AS uuid FROM system.tables WHERE database = ${quoteString(database)} AND name IN (${names.map(quoteString).join(', ')})`,
  );
  return new Map(rows.map((row) => [row.name, row.uuid]));
}
