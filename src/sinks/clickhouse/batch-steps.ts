/**
 * A batch as the ClickHouse writer applies it: in stream order per table,
 * runs of rows with truncates between them (a truncate closes the table's
 * open run, so rows after it are written after it).
 */
import { errorMessage } from '../../core/errors.js';
import type { ConsumedRecord, PartitionRun, RefusedRecord } from '../runtime/writer.js';
import type { EventDecoder } from './event-decoder.js';
import type { TableCatalog } from './table-catalog.js';
import { eventToRows, rowToTsvLine, UnwritableEventError, writesRowBinary, type RowImage } from './rows.js';
import type { TablePlan } from './table-plan.js';

/**
 * A record converted when it arrived (its table known, its schema current):
 * the rows it writes (with their TabSeparated fields), or why it cannot be
 * written. Conversion then overlaps the write in progress.
 */
export type Prepared = { rows: RowImage[]; commitMs: number } | { error: string };

export type ClickHouseRun = PartitionRun<Prepared>;
export type RefusedRow = RefusedRecord<Prepared>;

export interface PendingRow {
  row: RowImage;
  run: ClickHouseRun;
  record: ConsumedRecord;
  /** Commit time in the source (source.ts_ms). */
  commitMs: number;
}

export type Step =
  | { kind: 'rows'; table: string; rows: PendingRow[] }
  | { kind: 'truncate'; database: string; table: string; version: number; run: ClickHouseRun; record: ConsumedRecord };

/** Converts a record whose table and schema are known already; anything else (new schema, truncate, tombstone) is left to toSteps. */
export function prepareRecord(decoder: EventDecoder, topic: string, record: ConsumedRecord): Prepared | undefined {
  if (record.value === null) return undefined;
  try {
    const decoded = decoder.fast(topic, record);
    if (!decoded || decoded.event.op === 't') return undefined;
    const rows = eventToRows(decoded.state.plan, decoded.event, decoder.rowVersion(decoded.event), decoder.keyChange(record));
    // Lines of TabSeparated tables built now, overlapping the write in progress (RowBinary is encoded at the insert).
    for (const row of rows) if (!row.unavailable && !writesRowBinary(row.plan)) rowToTsvLine(row);
    return { rows, commitMs: decoded.event.source.ts_ms };
  } catch (error) {
    if (error instanceof UnwritableEventError || error instanceof SyntaxError) return { error: errorMessage(error) };
    return undefined;
  }
}

/** Decodes the runs into steps; runs DDL (new tables, new columns) on the way. Unwritable records come back as dead letters. */
export async function toSteps(
  runs: readonly ClickHouseRun[],
  decoder: EventDecoder,
  catalog: TableCatalog,
  database: string,
): Promise<{ steps: Step[]; deadLetters: RefusedRow[] }> {
  const steps: Step[] = [];
  const deadLetters: RefusedRow[] = [];
  const open = new Map<string, PendingRow[]>();
  // The last plan's step, found again without building its name (records of one table mostly follow each other).
  let lastPlan: TablePlan | null = null;
  let lastRows: PendingRow[] = [];
  /** The open rows step of a table: rows join it until a truncate of that table closes it. */
  const rowsStep = (plan: TablePlan): PendingRow[] => {
    if (plan === lastPlan) return lastRows;
    const qualifiedName = `${plan.database}.${plan.table}`;
    let rows = open.get(qualifiedName);
    if (!rows) {
      rows = [];
      open.set(qualifiedName, rows);
      steps.push({ kind: 'rows', table: plan.table, rows });
    }
    lastPlan = plan;
    lastRows = rows;
    return rows;
  };
  for (const run of runs) {
    for (let index = 0; index < run.records.length; index++) {
      const record = run.records[index]!;
      if (record.value === null) continue; // tombstone: the delete before it was written
      // Not converted on arrival (e.g. the batch's first records of a table
      // not yet created): once an earlier record's full decode made the table
      // known, the fast path takes the rest, instead of one full decode each.
      const prepared = run.prepared[index] ?? prepareRecord(decoder, run.topic, record);
      if (prepared && 'error' in prepared) {
        deadLetters.push({ run, record, error: prepared.error });
        continue;
      }
      if (prepared) {
        const rows = rowsStep(prepared.rows[0]!.plan);
        for (const row of prepared.rows) rows.push({ row, run, record, commitMs: prepared.commitMs });
        continue;
      }
      try {
        const { event, state } = await decoder.full(run.topic, record);
        if (event.op === 't') {
          const version = decoder.rowVersion(event);
          const table = catalog.tableNameFor(run.topic, event);
          open.delete(`${database}.${table}`);
          lastPlan = null;
          steps.push({ kind: 'truncate', database, table, version, run, record });
          continue;
        }
        // Only a truncate has no table state.
        const rows = rowsStep(state!.plan);
        for (const row of eventToRows(state!.plan, event, decoder.rowVersion(event), decoder.keyChange(record))) rows.push({ row, run, record, commitMs: event.source.ts_ms });
      } catch (error) {
        if (!(error instanceof UnwritableEventError || error instanceof SyntaxError)) throw error;
        deadLetters.push({ run, record, error: errorMessage(error) });
      }
    }
  }
  return { steps, deadLetters };
}
