/**
 * Tables appearing while streaming: a periodic catalog check that captures a
 * table created (or renamed into a pattern) after start, without a restart.
 * DDL event triggers would see it sooner but need a superuser and objects in
 * the database; a catalog query every `tableDiscoveryIntervalMs` needs neither.
 *
 * A discovered table is added in this order (docs/architecture.md, "Tables
 * appearing while streaming"):
 *  1. its key columns, column types and column rules are checked and
 *     registered, and its topic created, so its first streamed change can be
 *     built (the stream runs concurrently and may deliver it at once after 2);
 *  2. ALTER PUBLICATION ... ADD TABLE: changes committed after it stream;
 *  3. an execute-snapshot signal for it, inserted after 2 committed: its
 *     watermark-based incremental snapshot reads every row committed before
 *     each chunk's low watermark, which covers the rows written before 2 that
 *     the stream never sees, and never overwrites a newer streamed change.
 * Every step is idempotent, and the table counts as captured only once all
 * are done: a check that fails part-way is retried whole by the next one.
 *
 * A captured table that is gone (dropped, renamed, attached as a partition)
 * is logged and forgotten; a table later created under its name is new.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { metrics } from '../../metrics/registry.js';
import { ColumnRuleError, type ColumnRules } from './column-rules.js';
import { addToPublication, listTableOids, loadTypeCatalog, primaryKeys, tableColumns } from './replication-setup.js';
import { selectTables } from './table-selection.js';
import type { CatalogType } from './type-mapping.js';
import { splitTableName } from './sql.js';

/** What changed between the captured tables and the catalog's selection, both "schema.table" → oid. */
export interface TableChanges {
  /** Selected tables not captured yet, or captured under another oid (dropped and created again). */
  added: string[];
  /** Captured tables no longer selected, or selected under another oid. */
  gone: string[];
}

export function diffTables(captured: ReadonlyMap<string, number>, selected: ReadonlyMap<string, number>): TableChanges {
  const added = [...selected].filter(([name, oid]) => captured.get(name) !== oid).map(([name]) => name);
  const gone = [...captured].filter(([name, oid]) => selected.get(name) !== oid).map(([name]) => name);
  return { added: added.sort(), gone: gone.sort() };
}

/**
 * The tables `include`/`exclude` select among `existing` (catalog tables,
 * partitions already left out), without `ignored` (the signal table).
 */
export function selectedTableOids(existing: ReadonlyMap<string, number>, include: readonly string[], exclude: readonly string[], ignored: string | null): Map<string, number> {
  const { tables } = selectTables([...existing.keys()], include, exclude);
  return new Map(tables.filter((table) => table !== ignored).map((table) => [table, existing.get(table)!]));
}

/** The execute-snapshot signal id of a discovered table (≤ 42 characters): one per table incarnation, so it acts once. */
export function discoverySignalId(table: string, oid: number): string {
  return `discovered-${oid}-${createHash('sha1').update(table).digest('hex').slice(0, 12)}`;
}

/** The captured tables as the stream, the event builder and the incremental snapshot share them; changed in place. */
export interface CapturedTables {
  /** "schema.table", the list every part reads. */
  tables: string[];
  /** Primary-key columns by "schema.table". */
  keys: Map<string, string[]>;
  /** Non-built-in column types by oid. */
  types: Map<number, CatalogType>;
}

export interface TableDiscoveryOptions {
  /** The source's admin connection. */
  client: pg.Client;
  connector: string;
  publication: string;
  include: readonly string[];
  exclude: readonly string[];
  /** The signal table: never captured. */
  signalTable: string | null;
  intervalMs: number;
  captured: CapturedTables;
  /** Oids of the captured tables when they were selected (start or discovery). */
  oids: Map<string, number>;
  columnRules: ColumnRules | null;
  /** Creates the table's change topic when missing. */
  createTopic(table: string, hasKey: boolean): Promise<void>;
  /** Queues an incremental snapshot of the table (its existing rows); null: its rows are not read (snapshotMode never). */
  snapshot: ((table: string, oid: number) => Promise<void>) | null;
  logger: Logger;
}

export class TableDiscovery {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Tables refused (a key column the column rules leave out), by "name@oid": logged once. */
  private readonly refused = new Set<string>();

  constructor(private readonly options: TableDiscoveryOptions) {
    metrics.sourceCapturedTables.set({ connector: options.connector }, options.captured.tables.length);
    metrics.sourceTablesDiscovered.inc({ connector: options.connector }, 0);
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One catalog check (the timer's; tests call it too). Never throws: a failed check is logged and retried by the next. */
  async check(): Promise<void> {
    const { client, include, exclude, signalTable, oids, logger } = this.options;
    try {
      const selected = selectedTableOids(await listTableOids(client), include, exclude, signalTable);
      const { added, gone } = diffTables(oids, selected);
      for (const table of gone) this.forget(table);
      for (const table of added) {
        if (this.stopped) return;
        await this.add(table, selected.get(table)!);
      }
    } catch (error) {
      if (this.stopped) return;
      metrics.errors.inc({ connector: this.options.connector, kind: 'table_discovery' });
      logger.warn({ err: error }, `table discovery: catalog check failed, retried in ${this.options.intervalMs} ms: ${errorMessage(error)}`);
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.check().then(() => this.schedule());
    }, this.options.intervalMs);
  }

  private forget(table: string): void {
    const { captured, oids, logger, connector } = this.options;
    oids.delete(table);
    const index = captured.tables.indexOf(table);
    if (index >= 0) captured.tables.splice(index, 1);
    // Its key stays known: the stream may still deliver changes made before it went.
    metrics.sourceCapturedTables.set({ connector }, captured.tables.length);
    logger.warn({ table }, 'captured table is gone (dropped, renamed, or attached as a partition): no longer captured; its topic stays');
  }

  private async add(table: string, oid: number): Promise<void> {
    const { client, captured, oids, logger, connector, publication } = this.options;
    const { schema, table: name } = splitTableName(table);
    if (this.refused.has(`${table}@${oid}`)) return;
    // 1. What its events need, before the stream can see a change of it.
    const columns = (await tableColumns(client, [table])).get(table);
    if (!columns) return; // gone again since the listing: the next check sees it
    if (this.options.columnRules) {
      try {
        this.options.columnRules.plan(schema, name, columns.columns, columns.keyColumns);
      } catch (error) {
        if (!(error instanceof ColumnRuleError)) throw error;
        this.refused.add(`${table}@${oid}`);
        metrics.errors.inc({ connector, kind: 'table_discovery' });
        logger.error({ table, problems: error.problems }, `table discovery: ${table} is not captured: ${error.message}`);
        return;
      }
    }
    const key = (await primaryKeys(client, [table])).get(table);
    for (const [typeOid, type] of await loadTypeCatalog(client, [table])) if (!captured.types.has(typeOid)) captured.types.set(typeOid, type);
    await this.options.createTopic(table, key !== undefined);
    if (key) captured.keys.set(table, key);
    else captured.keys.delete(table);
    if (!captured.tables.includes(table)) captured.tables.push(table);
    metrics.sourceDeadLetters.inc({ connector, table }, 0);
    // 2. Changes committed from here on stream.
    const addedToPublication = await addToPublication(client, publication, table);
    // 3. The rows written before 2: read by an incremental snapshot, ordered after 2 in the stream.
    let rows: string;
    if (!this.options.snapshot) rows = 'existing rows are not read (snapshotMode never)';
    else if (!key) rows = 'existing rows are not read: it has no primary key (incremental snapshots read in key chunks)';
    else {
      await this.options.snapshot(table, oid);
      rows = 'existing rows follow by an incremental snapshot';
    }
    oids.set(table, oid);
    metrics.sourceTablesDiscovered.inc({ connector });
    metrics.sourceCapturedTables.set({ connector }, captured.tables.length);
    const log = key && this.options.snapshot ? logger.info.bind(logger) : logger.warn.bind(logger);
    log({ table, publication, addedToPublication, key: key ?? null }, `discovered table ${table}: captured from now on; ${rows}`);
  }
}
