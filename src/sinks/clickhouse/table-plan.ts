/**
 * DDL for one captured table: a ReplacingMergeTree(_version) ordered by the key,
 * with `_deleted`, and a view that reads FINAL and hides deleted rows.
 *
 * Tables without a primary key (the event has no key) get a `_row_key` column,
 * a hash of the row's non-null values, as their sorting key: inserts are kept,
 * and with REPLICA IDENTITY FULL (the before image is the whole old row) an
 * update or delete finds the row it replaces. Identical rows collapse into one.
 */
import type { ColumnSchema } from '../../core/events.js';
import { qualified, quoteIdent, quoteString } from './sql.js';
import { mapColumn, type ColumnMapping, type MappingOptions } from './type-mapping.js';
import type { ServerFeatures } from './server.js';

export const VERSION_COLUMN = '_version';
export const DELETED_COLUMN = '_deleted';
export const ROW_KEY_COLUMN = '_row_key';
/** Columns the sink adds; never part of the view. */
export const META_COLUMNS: ReadonlySet<string> = new Set([VERSION_COLUMN, DELETED_COLUMN, ROW_KEY_COLUMN]);

export interface PlannedColumn {
  name: string;
  mapping: ColumnMapping;
}

export interface TablePlan {
  database: string;
  table: string;
  view: string;
  columns: PlannedColumn[];
  /** The event's key (primary key) columns; empty for a table without one. */
  keyColumns: string[];
  /** Index in `columns` of each key column. */
  keyIndexes: number[];
  /** No primary key: rows carry `_row_key` (hash of the row) and are ordered by it. */
  rowKey: boolean;
  orderBy: string[];
  /** Engine settings, the SETTINGS clause of CREATE TABLE. */
  settings: Readonly<Record<string, string | number>>;
  /**
   * The ClickHouse type of each column as the table has it, once known (the
   * catalog sets it): a RowBinary insert must match it exactly, and a column
   * may be Nullable(T) in the table while the event's schema says T.
   */
  storedTypes?: string[];
}

export interface PlanOptions {
  /** ORDER BY override; must hold every key column. */
  orderBy?: readonly string[];
  settings?: Readonly<Record<string, string | number>>;
  /** How values are written (numeric NaN). */
  mapping?: MappingOptions;
}

export class PlanError extends Error {}

export function planTable(
  database: string,
  table: string,
  viewSuffix: string,
  columns: readonly ColumnSchema[],
  keyColumns: readonly string[],
  features: ServerFeatures,
  options: PlanOptions = {},
): TablePlan {
  const names = new Set(columns.map((column) => column.name));
  for (const key of keyColumns) if (!names.has(key)) throw new PlanError(`table ${table}: key column ${key} is not among the event's columns`);
  const rowKey = keyColumns.length === 0;
  const orderBy = options.orderBy && options.orderBy.length > 0 ? [...options.orderBy] : rowKey ? [ROW_KEY_COLUMN] : [...keyColumns];
  if (options.orderBy && options.orderBy.length > 0) {
    const missing = keyColumns.filter((key) => !orderBy.includes(key));
    if (missing.length > 0) {
      throw new PlanError(`table ${table}: the orderBy override (${orderBy.join(', ')}) lacks the key column(s) ${missing.join(', ')}; rows of different keys would collapse`);
    }
    const unknown = orderBy.filter((name) => !names.has(name) && name !== ROW_KEY_COLUMN);
    if (unknown.length > 0) throw new PlanError(`table ${table}: the orderBy override names unknown column(s) ${unknown.join(', ')}`);
  }
  // Sorting-key columns are never Nullable: ClickHouse refuses Nullable in ORDER BY.
  const planned = columns.map((column) => ({
    name: column.name,
    mapping: mapColumn({ ...column.schema, optional: column.schema.optional && !orderBy.includes(column.name) }, features, options.mapping),
  }));
  return {
    database,
    table,
    view: `${table}${viewSuffix}`,
    columns: planned,
    keyColumns: [...keyColumns],
    keyIndexes: keyColumns.map((key) => planned.findIndex((column) => column.name === key)),
    rowKey,
    orderBy,
    settings: options.settings ?? {},
  };
}

/** The columns of an insert, in TabSeparated field order. */
export function insertColumns(plan: TablePlan): string[] {
  return [...plan.columns.map((column) => column.name), ...(plan.rowKey ? [ROW_KEY_COLUMN] : []), VERSION_COLUMN, DELETED_COLUMN];
}

function settingValue(value: string | number): string {
  return typeof value === 'number' ? String(value) : quoteString(value);
}

export function createTableSql(plan: TablePlan): string {
  const columns = [
    ...plan.columns.map((column) => `${quoteIdent(column.name)} ${column.mapping.type}`),
    ...(plan.rowKey ? [`${quoteIdent(ROW_KEY_COLUMN)} String`] : []),
    `${quoteIdent(VERSION_COLUMN)} UInt64`,
    `${quoteIdent(DELETED_COLUMN)} UInt8`,
  ];
  const settings = Object.entries(plan.settings);
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(plan.database, plan.table)} (`,
    `  ${columns.join(',\n  ')}`,
    `) ENGINE = ReplacingMergeTree(${quoteIdent(VERSION_COLUMN)})`,
    `ORDER BY (${plan.orderBy.map(quoteIdent).join(', ')})`,
    ...(settings.length > 0 ? [`SETTINGS ${settings.map(([name, value]) => `${name} = ${settingValue(value)}`).join(', ')}`] : []),
  ].join('\n');
}

/**
 * The view over the table's columns as ClickHouse has them (`columns`, in
 * table order): a column dropped in PostgreSQL stays in the table and the view
 * (NULL or the type's default in newer rows).
 */
export function createViewSql(plan: TablePlan, columns: readonly string[] = plan.columns.map((column) => column.name)): string {
  const visible = columns.filter((name) => !META_COLUMNS.has(name)).map(quoteIdent).join(', ');
  return (
    `CREATE VIEW IF NOT EXISTS ${qualified(plan.database, plan.view)} AS ` +
    `SELECT ${visible} FROM ${qualified(plan.database, plan.table)} FINAL WHERE ${quoteIdent(DELETED_COLUMN)} = 0`
  );
}

export function addColumnSql(plan: TablePlan, column: PlannedColumn): string {
  return `ALTER TABLE ${qualified(plan.database, plan.table)} ADD COLUMN ${quoteIdent(column.name)} ${column.mapping.type}`;
}

const normalizeType = (type: string): string => type.replace(/\s+/g, '');

/**
 * Whether rows planned with `planned` can go into a column ClickHouse has as
 * `existing`: the same type, or the Nullable of it (a column that became NOT
 * NULL). Anything else is a type change the sink does not apply.
 */
export function compatibleType(existing: string, planned: string): boolean {
  const have = normalizeType(existing);
  const want = normalizeType(planned);
  return have === want || have === `Nullable(${want})`;
}

/**
 * TRUNCATE at `version`: every live row older than the truncate is written
 * again as deleted at that version. Rows at or after it (written later in the
 * stream) are untouched, and a replay finds nothing left to mark: idempotent.
 * `columns` are the table's columns as ClickHouse has them. Positional
 * SELECT (no aliases: an alias `_version` would shadow the column in WHERE).
 */
export function truncateSql(database: string, table: string, columns: readonly string[], version: number | bigint): string {
  const data = columns.filter((name) => name !== VERSION_COLUMN && name !== DELETED_COLUMN).map(quoteIdent);
  const target = qualified(database, table);
  return (
    `INSERT INTO ${target} (${[...data, quoteIdent(VERSION_COLUMN), quoteIdent(DELETED_COLUMN)].join(', ')}) ` +
    `SELECT ${[...data, `toUInt64(${version})`, 'toUInt8(1)'].join(', ')} FROM ${target} FINAL ` +
    `WHERE ${quoteIdent(DELETED_COLUMN)} = 0 AND ${quoteIdent(VERSION_COLUMN)} < ${version}`
  );
}
