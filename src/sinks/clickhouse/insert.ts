/**
 * Rows into their tables: TOAST placeholders resolved first, one insert per
 * table in RowBinary (floats as their exact bytes, see row-binary.ts;
 * TabSeparated for a table with a column type RowBinary is not written for),
 * a row whose value its column cannot hold refused before sending, and when
 * ClickHouse refuses the data the insert is split until the refused rows are
 * found (dead letters) and the rest is written.
 */
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { metrics } from '../../metrics/registry.js';
import type { PendingRow, RefusedRow } from './batch-steps.js';
import { keysToLookUp, resolveUnavailable, rowToBinary, rowToTsvLine, UnwritableEventError, writesRowBinary } from './rows.js';
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
    if (!writesRowBinary(plan)) return this.send(plan, rows, (list) => ({ tsv: `${list.map((row) => rowToTsvLine(row.row)).join('\n')}\n` }));
    const refused: RefusedRow[] = [];
    const bytes = new Map<PendingRow, Buffer>();
    for (const row of rows) {
      try {
        bytes.set(row, rowToBinary(row.row));
      } catch (error) {
        if (!(error instanceof UnwritableEventError)) throw error;
        refused.push({ run: row.run, record: row.record, error: `${plan.database}.${plan.table}: ${error.message}` });
      }
    }
    const encoded = refused.length === 0 ? rows : rows.filter((row) => bytes.has(row));
    return [...refused, ...(await this.send(plan, encoded, (list) => ({ rowBinary: Buffer.concat(list.map((row) => bytes.get(row)!)) })))];
  }

  /** Sends rows; when ClickHouse refuses the data, halves until the refused rows are found. */
  private async send(plan: TablePlan, rows: readonly PendingRow[], body: (rows: readonly PendingRow[]) => { tsv: string } | { rowBinary: Buffer }): Promise<RefusedRow[]> {
    if (rows.length === 0) return [];
    try {
      const data = body(rows);
      const table = qualified(plan.database, plan.table);
      if ('tsv' in data) await this.server.insertTabSeparated(table, insertColumns(plan), data.tsv);
      else await this.server.insertRowBinary(table, insertColumns(plan), data.rowBinary);
      return [];
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (rows.length === 1) {
        const row = rows[0]!;
        return [{ run: row.run, record: row.record, error: `ClickHouse refused the row for ${plan.database}.${plan.table}: ${errorMessage(error).split('\n')[0]}` }];
      }
      const middle = Math.ceil(rows.length / 2);
      return [...(await this.send(plan, rows.slice(0, middle), body)), ...(await this.send(plan, rows.slice(middle), body))];
    }
  }
}
