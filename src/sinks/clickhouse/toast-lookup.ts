/**
 * Unchanged TOASTed values: the stored row of keys whose update (or key
 * change) carries Debezium's placeholder, read from the table (FINAL).
 */
import type { RowImage } from './rows.js';
import type { ClickHouseServer } from './server.js';
import { qualified, quoteIdent, sqlLiteral } from './sql.js';
import { existingColumns } from './table-catalog.js';
import type { TablePlan } from './table-plan.js';
import { unescapeTsv } from './tsv.js';
import { escapeTsv } from './type-mapping.js';

/** Keys per query: the IN list stays well below ClickHouse's query size limit. */
const KEYS_PER_QUERY = 1000;

/**
 * The stored values of `keys` for the columns the images hold placeholders
 * in, by key (as RowImage.key has it): column name to the TabSeparated field
 * as ClickHouse writes it (which it reads back the same way).
 */
export async function lookUpStored(
  server: ClickHouseServer,
  plan: TablePlan,
  keys: ReadonlySet<string>,
  images: readonly RowImage[],
): Promise<Map<string, Map<string, string>>> {
  const stored = new Map<string, Map<string, string>>();
  if (keys.size === 0 || plan.keyColumns.length === 0) return stored;
  const wanted = new Set<string>();
  for (const image of images) for (const index of image.unavailable?.keys() ?? []) wanted.add(image.plan.columns[index]!.name);
  const existing = await existingColumns(server, plan.database, plan.table);
  const columns = [...wanted].filter((name) => existing.has(name));
  if (columns.length === 0) return stored;
  const keyTypes = plan.keyIndexes.map((index) => plan.columns[index]!.mapping.type);
  const all = [...keys];
  for (let from = 0; from < all.length; from += KEYS_PER_QUERY) {
    const literals = all.slice(from, from + KEYS_PER_QUERY).map((key) => {
      const values = key.split('\t').map((field, index) => sqlLiteral(unescapeTsv(field), keyTypes[index]!));
      return values.length === 1 ? values[0]! : `(${values.join(', ')})`;
    });
    const keyExpression = plan.keyColumns.length === 1 ? quoteIdent(plan.keyColumns[0]!) : `(${plan.keyColumns.map(quoteIdent).join(', ')})`;
    const text = await server.text(
      `SELECT ${[...plan.keyColumns, ...columns].map(quoteIdent).join(', ')} FROM ${qualified(plan.database, plan.table)} FINAL ` +
        `WHERE ${keyExpression} IN (${literals.join(', ')})`,
    );
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const fields = line.split('\t');
      const key = fields.slice(0, plan.keyColumns.length).map((field) => escapeTsv(unescapeTsv(field))).join('\t');
      stored.set(key, new Map(columns.map((name, index) => [name, fields[plan.keyColumns.length + index]!])));
    }
  }
  return stored;
}
