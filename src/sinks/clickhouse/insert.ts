/**
 * Rows into their tables: TOAST placeholders resolved first, one insert per
 * table, and when ClickHouse refuses a value the insert is split until the
 * refused rows are found (dead letters) and the rest is written.
 */
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { metrics } from '../../metrics/registry.js';
import type { PendingRow, RefusedRow } from './batch-steps.js';
import { keysToLookUp, resolveUnavailable, rowToTsvLine } from './rows.js';
import { isDataError, type ClickHouseServer } from './server.js';
import { qualified } from './sql.js';
import { insertColumns, type TablePlan } from './table-plan.js';
import { lookUpStored } from './toast-lookup.js';

export class RowInserter {
  constructor(
    private readonly server: ClickHouseServer,
    private readonly logger: Logger,
    private readonly labels: { connector: string },
  ) {}

  /** Writes one table's rows (a rows step); returns the rows ClickHouse refused. */
  async write(rows: readonly PendingRow[]): Promise<RefusedRow[]> {
    if (rows.length === 0) return [];
    const images = rows.map((row) => row.row);
    if (images.some((image) => image.unavailable)) {
      const plan = images[images.length - 1]!.plan;
      const stored = await lookUpStored(this.server, plan, keysToLookUp(images), images);
      const unresolved = resolveUnavailable(images, stored);
      if (unresolved > 0) {
        metrics.sinkUnavailableValues.inc({ ...this.labels, table: plan.table }, unresolved);
        this.logger.warn({ table: plan.table, unresolved }, 'unchanged TOAST values with no stored row: written as the placeholder (text) or NULL');
      }
    }
    // A step holds one table, but its rows may come from several schemas (columns added meanwhile).
    const byPlan = new Map<TablePlan, PendingRow[]>();
    for (const row of rows) {
      let list = byPlan.get(row.row.plan);
      if (!list) byPlan.set(row.row.plan, (list = []));
      list.push(row);
    }
    const refused: RefusedRow[] = [];
    for (const [plan, list] of byPlan) refused.push(...(await this.insert(plan, list)));
    return refused;
  }

  private async insert(plan: TablePlan, rows: readonly PendingRow[]): Promise<RefusedRow[]> {
    try {
      await this.server.insertTabSeparated(qualified(plan.database, plan.table), insertColumns(plan), `${rows.map((row) => rowToTsvLine(row.row)).join('\n')}\n`);
      return [];
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (rows.length === 1) {
        const row = rows[0]!;
        return [{ run: row.run, record: row.record, error: `ClickHouse refused the row for ${plan.database}.${plan.table}: ${errorMessage(error).split('\n')[0]}` }];
      }
      const middle = Math.ceil(rows.length / 2);
      return [...(await this.insert(plan, rows.slice(0, middle))), ...(await this.insert(plan, rows.slice(middle)))];
    }
  }
}
