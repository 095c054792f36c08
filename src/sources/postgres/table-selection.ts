/**
 * Which tables a source captures: `tables` (include) and `excludeTables`
 * entries are "schema.table" patterns where `*` matches any run of characters
 * and `?` one character; a bare "table" means public.table. The selection is
 * made against the catalog at each start, so a table created later that
 * matches a pattern is captured from the next start on.
 */
import { splitTableName } from './sql.js';

export function isPattern(entry: string): boolean {
  return /[*?]/.test(entry);
}

export function tablePattern(entry: string): RegExp {
  const { schema, table } = splitTableName(entry);
  const part = (text: string): string =>
    text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${part(schema)}\\.${part(table)}$`);
}

export interface TableSelection {
  /** Selected tables as "schema.table", sorted. */
  tables: string[];
  /** Include entries that matched no existing table (a plain name or a pattern). */
  unmatched: string[];
}

/** `existing` holds every table of the database as "schema.table". */
export function selectTables(existing: readonly string[], include: readonly string[], exclude: readonly string[] = []): TableSelection {
  const excluded = exclude.map(tablePattern);
  const selected = new Set<string>();
  const unmatched: string[] = [];
  for (const entry of include) {
    const pattern = tablePattern(entry);
    const matches = existing.filter((name) => pattern.test(name));
    if (matches.length === 0) unmatched.push(isPattern(entry) ? entry : `${splitTableName(entry).schema}.${splitTableName(entry).table}`);
    for (const name of matches) if (!excluded.some((ex) => ex.test(name))) selected.add(name);
  }
  return { tables: [...selected].sort(), unmatched };
}
