/**
 * DDL for one captured table: a ReplacingMergeTree(_version) ordered by the key,
 * with `_deleted`, and a view that reads FINAL and hides deleted rows.
 */
import type { ColumnSchema } from '../../core/events.js';
import { qualified, quoteIdent } from './sql.js';
import { mapColumn, type ColumnMapping } from './type-mapping.js';
import type { ServerFeatures } from './server.js';

export const VERSION_COLUMN = '_version';
export const DELETED_COLUMN = '_deleted';

export interface PlannedColumn {
  name: string;
  mapping: ColumnMapping;
}

export interface TablePlan {
  database: string;
  table: string;
  view: string;
  columns: PlannedColumn[];
  orderBy: string[];
}

export function planTable(
  database: string,
  table: string,
  viewSuffix: string,
  columns: readonly ColumnSchema[],
  keyColumns: readonly string[],
  features: ServerFeatures,
): TablePlan {
  if (keyColumns.length === 0) {
    throw new Error(`table ${table} has no key columns: an upsert table needs the source table's primary key`);
  }
  return {
    database,
    table,
    view: `${table}${viewSuffix}`,
    // Key columns are never Nullable: ClickHouse refuses Nullable in ORDER BY.
    columns: columns.map((column) => ({
      name: column.name,
      mapping: mapColumn({ ...column.schema, optional: column.schema.optional && !keyColumns.includes(column.name) }, features),
    })),
    orderBy: [...keyColumns],
  };
}

export function createTableSql(plan: TablePlan): string {
  const columns = [
    ...plan.columns.map((column) => `${quoteIdent(column.name)} ${column.mapping.type}`),
    `${quoteIdent(VERSION_COLUMN)} UInt64`,
    `${quoteIdent(DELETED_COLUMN)} UInt8`,
  ];
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(plan.database, plan.table)} (`,
    `  ${columns.join(',\n  ')}`,
    `) ENGINE = ReplacingMergeTree(${quoteIdent(VERSION_COLUMN)})`,
    `ORDER BY (${plan.orderBy.map(quoteIdent).join(', ')})`,
  ].join('\n');
}

export function createViewSql(plan: TablePlan): string {
  const columns = plan.columns.map((column) => quoteIdent(column.name)).join(', ');
  return (
    `CREATE VIEW IF NOT EXISTS ${qualified(plan.database, plan.view)} AS ` +
    `SELECT ${columns} FROM ${qualified(plan.database, plan.table)} FINAL WHERE ${quoteIdent(DELETED_COLUMN)} = 0`
  );
}

export function addColumnSql(plan: TablePlan, column: PlannedColumn): string {
  return `ALTER TABLE ${qualified(plan.database, plan.table)} ADD COLUMN ${quoteIdent(column.name)} ${column.mapping.type}`;
}
