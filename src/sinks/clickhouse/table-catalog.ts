/**
 * Tables and schema evolution: the table state per event schema and key,
 * creating the table and its view the first time, and adding the columns a
 * new schema brings. A column whose type changed is not altered: its events
 * are unwritable (dead-lettered with the reason), and so are events whose DDL
 * ClickHouse refuses; connection failures are thrown (the caller retries).
 */
import { columnsFromEnvelope, type ChangeEvent } from '../../core/events.js';
import type { ConnectSchema } from '../../core/connect-schema.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { UnwritableEventError } from './rows.js';
import { isRefusal, type ClickHouseServer, type ServerFeatures } from './server.js';
import type { ClickHouseSinkConfig } from './spec.js';
import { qualified, quoteString } from './sql.js';
import { addColumnSql, compatibleType, createTableSql, createViewSql, planTable, PlanError, type TablePlan } from './table-plan.js';

export interface TableState {
  plan: TablePlan;
}

type TableSettings = Pick<ClickHouseSinkConfig, 'database' | 'tableName' | 'viewSuffix' | 'orderBy' | 'engineSettings'> & Partial<Pick<ClickHouseSinkConfig, 'nonFiniteNumeric'>>;

/** How `tideline replay` writes its shadow tables through the sink's writer (replay/). */
export interface CatalogOptions {
  /** Runs before a table is created (if missing), e.g. to create it with the live table's DDL. */
  beforeCreate?(plan: TablePlan): Promise<void>;
  /** Create the `<table><viewSuffix>` views (default true; shadow tables get none). */
  views?: boolean;
}

export class TableCatalog {
  /** Table state (or the reason its events cannot be written) per schema and key. */
  private readonly bySchema = new Map<string, TableState | UnwritableEventError>();

  constructor(
    private readonly server: ClickHouseServer,
    private readonly settings: TableSettings,
    private readonly features: ServerFeatures,
    private readonly logger: Logger,
    private readonly options: CatalogOptions = {},
  ) {}

  /** The table state for an event's envelope schema and key columns, creating or altering the table the first time. */
  async tableFor(topic: string, event: ChangeEvent, envelope: ConnectSchema, keyFields: ReadonlySet<string>): Promise<TableState> {
    const schemaText = JSON.stringify(envelope);
    const cacheKey = `${schemaText}\u0000${[...keyFields].join(',')}`;
    const cached = this.bySchema.get(cacheKey);
    if (cached instanceof UnwritableEventError) throw cached;
    if (cached) return cached;
    const tableName = this.tableNameFor(topic, event);
    try {
      const plan = planTable(this.settings.database, tableName, this.settings.viewSuffix, columnsFromEnvelope(envelope, keyFields), [...keyFields], this.features, {
        orderBy: this.settings.orderBy[tableName],
        settings: this.settings.engineSettings,
        mapping: { nonFiniteNumeric: this.settings.nonFiniteNumeric },
      });
      await this.applyTablePlan(plan);
      const state = { plan };
      this.bySchema.set(cacheKey, state);
      return state;
    } catch (error) {
      const reason = error instanceof PlanError ? new UnwritableEventError(error.message) : error;
      if (reason instanceof UnwritableEventError) this.bySchema.set(cacheKey, reason);
      throw reason;
    }
  }

  tableNameFor(topic: string, event: ChangeEvent): string {
    return tableNameFor(this.settings.tableName, topic, event);
  }

  /** Creates the table and view, and adds columns the table lacks (see the module comment). */
  private async applyTablePlan(plan: TablePlan): Promise<void> {
    const where = `${plan.database}.${plan.table}`;
    try {
      await this.options.beforeCreate?.(plan);
      await this.server.command(createTableSql(plan));
      const existing = await existingColumns(this.server, plan.database, plan.table);
      const changed = plan.columns.filter((column) => existing.has(column.name) && !compatibleType(existing.get(column.name)!, column.mapping.type));
      if (changed.length > 0) {
        const what = changed.map((column) => `${column.name} is ${existing.get(column.name)} in ClickHouse but the event needs ${column.mapping.type}`).join('; ');
        throw new UnwritableEventError(
          `type change not applied to ${where}: ${what}. tideline does not change column types; alter the column in ClickHouse (or drop the table and replay the topic)`,
        );
      }
      const added = plan.columns.filter((column) => !existing.has(column.name));
      for (const column of added) {
        // 18.16 has no ADD COLUMN IF NOT EXISTS; another instance may have added it meanwhile.
        await this.server.command(addColumnSql(plan, column)).catch(async (error: unknown) => {
          if (!(await existingColumns(this.server, plan.database, plan.table)).has(column.name)) throw error;
        });
      }
      plan.storedTypes = plan.columns.map((column) => existing.get(column.name) ?? column.mapping.type);
      if (added.length > 0 && existing.size > 0) {
        if (this.options.views !== false) await this.server.command(`DROP TABLE IF EXISTS ${qualified(plan.database, plan.view)}`);
        this.logger.info({ table: plan.table, added: added.map((column) => column.name) }, 'added columns');
      }
      if (this.options.views === false) return;
      await this.server.command(createViewSql(plan, [...existing.keys(), ...added.map((column) => column.name)].filter((name, index, all) => all.indexOf(name) === index)));
    } catch (error) {
      if (isRefusal(error)) throw new UnwritableEventError(`ClickHouse refused the table change for ${where}: ${errorMessage(error)}`);
      throw error;
    }
  }
}

/** The table an event goes to, by the sink's `tableName` pattern. */
export function tableNameFor(pattern: string, topic: string, event: Pick<ChangeEvent, 'source'>): string {
  return pattern
    .replaceAll('{schema}', event.source.schema ?? '')
    .replaceAll('{table}', event.source.table ?? '')
    .replaceAll('{topic}', topic.replace(/[^A-Za-z0-9_]/g, '_'));
}

/** The table's columns and types as ClickHouse has them, in table order (empty when the table does not exist). */
export async function existingColumns(server: ClickHouseServer, database: string, table: string): Promise<Map<string, string>> {
  const rows = await server.rows<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`,
  );
  return new Map(rows.map((row) => [row.name, row.type]));
}
