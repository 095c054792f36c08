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
import { ByteWriter } from './row-binary.js';
import { keysToLookUp, resolveUnavailable, rowToTsvLine, UnwritableEventError, writeRowBinary, writesRowBinary } from './rows.js';
import { isDataError, type ClickHouseServer } from './server.js';
import { qualified } from './sql.js';
import { existingColumns } from './table-catalog.js';
import { insertColumns, type TablePlan } from './table-plan.js';
import { lookUpStored } from './toast-lookup.js';

export class RowInserter {
  /** The RowBinary bytes of the insert in progress (inserts run one at a time); it keeps the size of the largest. */
  private readonly bytes = new ByteWriter(1024 * 1024);

  constructor(
    private readonly server: ClickHouseServer,
    private readonly logger: Logger,
    private readonly labels: { connector: string },
  ) {}

  /** Tables whose unresolved-TOAST counter exists (at 0 until one), so that the first one is an increase. */
  private readonly counted = new Set<string>();

  private countFrom0(table: string): void {
    if (this.counted.has(table)) return;
    this.counted.add(table);
    metrics.sinkUnavailableValues.inc({ ...this.labels, table }, 0);
  }

  /** Writes one table's rows (a rows step); returns the rows ClickHouse refused. */
  async write(rows: readonly PendingRow[]): Promise<RefusedRow[]> {
    if (rows.length === 0) return [];
    const images = rows.map((row) => row.row);
    this.countFrom0(images[0]!.plan.table);
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

  private async insert(plan: TablePlan, rows: readonly PendingRow[], typesChecked = false): Promise<RefusedRow[]> {
    if (!writesRowBinary(plan)) {
      return this.send(plan, rows, (from, to) => ({ tsv: `${rows.slice(from, to).map((row) => rowToTsvLine(row.row)).join('\n')}\n` }));
    }
    // One buffer for the insert; each row's end offset, so that a refused insert can be halved.
    const out = this.bytes;
    out.reset();
    const refused: RefusedRow[] = [];
    const encoded: PendingRow[] = [];
    const ends: number[] = [];
    for (const row of rows) {
      try {
        writeRowBinary(row.row, out);
        encoded.push(row);
        ends.push(out.length);
      } catch (error) {
        if (!(error instanceof UnwritableEventError)) throw error;
        refused.push({ run: row.run, record: row.record, error: `${plan.database}.${plan.table}: ${error.message}` });
      }
    }
    const body = (from: number, to: number) => ({ rowBinary: out.view(from === 0 ? 0 : ends[from - 1]!, ends[to - 1]!) });
    if (!typesChecked && encoded.length > 0) {
      try {
        await this.server.insertRowBinary(qualified(plan.database, plan.table), insertColumns(plan), body(0, encoded.length).rowBinary);
        return refused;
      } catch (error) {
        if (!isDataError(error)) throw error;
        // RowBinary carries no types: a column altered by hand since the plan read them makes every row unreadable.
        if (await this.storedTypesChanged(plan)) return this.insert(plan, rows, true);
      }
    }
    return [...refused, ...(await this.send(plan, encoded, body))];
  }

  /** Reads the table's column types again; true (and the plan updated) when they are not those the rows were encoded for. */
  private async storedTypesChanged(plan: TablePlan): Promise<boolean> {
    const existing = await existingColumns(this.server, plan.database, plan.table);
    const types = plan.columns.map((column, index) => existing.get(column.name) ?? plan.storedTypes?.[index] ?? column.mapping.type);
    if (plan.storedTypes && types.every((type, index) => type === plan.storedTypes![index])) return false;
    this.logger.warn({ table: plan.table, types }, 'column types changed in ClickHouse: rows are encoded for the new types');
    plan.storedTypes = types;
    return true;
  }

  /** Sends rows[from, to); when ClickHouse refuses the data, halves until the refused rows are found. */
  private async send(
    plan: TablePlan,
    rows: readonly PendingRow[],
    body: (from: number, to: number) => { tsv: string } | { rowBinary: Buffer },
    from = 0,
    to = rows.length,
  ): Promise<RefusedRow[]> {
    if (to <= from) return [];
    try {
      const data = body(from, to);
      const table = qualified(plan.database, plan.table);
      if ('tsv' in data) await this.server.insertTabSeparated(table, insertColumns(plan), data.tsv);
      else await this.server.insertRowBinary(table, insertColumns(plan), data.rowBinary);
      return [];
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (to - from === 1) {
        const row = rows[from]!;
        return [{ run: row.run, record: row.record, error: `ClickHouse refused the row for ${plan.database}.${plan.table}: ${errorMessage(error).split('\n')[0]}` }];
      }
      const middle = from + Math.ceil((to - from) / 2);
      return [...(await this.send(plan, rows, body, from, middle)), ...(await this.send(plan, rows, body, middle, to))];
    }
  }
}
