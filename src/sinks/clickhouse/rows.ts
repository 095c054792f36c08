/**
 * Change events to rows of the upsert table.
 *   c, u, r: the after image, _deleted = 0
 *   d:       the before image (at least the key), _deleted = 1
 * `_version` is the change's LSN, so a row written twice (after a crash)
 * collapses under (key, _version) and an older change never wins over a newer.
 *
 * An unchanged TOASTed value arrives as Debezium's placeholder
 * (isUnavailablePlaceholder); such a field is left unresolved here and filled
 * by the sink from an earlier image of the key (resolveUnavailable).
 */
import { createHash } from 'node:crypto';
import { isUnavailablePlaceholder } from '../../core/connect-schema.js';
import type { ChangeEvent, Row } from '../../core/events.js';
import type { TablePlan } from './table-plan.js';

export class UnwritableEventError extends Error {}

export interface RowImage {
  plan: TablePlan;
  /** TabSeparated fields, one per plan column, escaped; unresolved ones hold ''. */
  fields: string[];
  /** Indexes of fields that hold the unavailable placeholder, with the raw placeholder; null when none. */
  unavailable: Map<number, unknown> | null;
  /** Key fields joined by tab (tables with a primary key). */
  key: string;
  version: string;
  deleted: boolean;
  /** The TabSeparated line, once built (rowToTsvLine). */
  line?: string;
}

/** The row(s) one event writes: one, or two for an update of a table without a key (old row deleted, new row written). */
export function eventToRows(plan: TablePlan, event: ChangeEvent): RowImage[] {
  const version = event.source.lsn;
  if (version === null || version === undefined) throw new UnwritableEventError('event without source.lsn (needed as the row version)');
  const deleted = event.op === 'd';
  const image: Row | null = deleted ? event.before : event.after;
  if (!image) throw new UnwritableEventError(`op "${event.op}" event without ${deleted ? 'before' : 'after'} image`);
  // Only an update can carry the placeholder; its before image (REPLICA IDENTITY FULL) may hold the value.
  const row = imageToRow(plan, image, event.op === 'u' ? event.before : null, String(version), deleted, event.op === 'u');
  if (plan.rowKey && event.op === 'u' && event.before) {
    // Without a key the old row is found by its content: delete it, unless the update left it as it was.
    const old = imageToRow(plan, event.before, null, String(version), true);
    if (row.unavailable || rowKeyOf(old) !== rowKeyOf(row)) return [old, row];
  }
  return [row];
}

function imageToRow(plan: TablePlan, image: Row, before: Row | null, version: string, deleted: boolean, placeholders = false): RowImage {
  const fields: string[] = new Array<string>(plan.columns.length);
  let unavailable: Map<number, unknown> | null = null;
  for (let index = 0; index < plan.columns.length; index++) {
    const column = plan.columns[index]!;
    let value = image[column.name];
    if (placeholders && value !== null && value !== undefined && isUnavailablePlaceholder(value)) {
      const old = before?.[column.name];
      if (old !== undefined && !isUnavailablePlaceholder(old)) {
        value = old;
      } else {
        (unavailable ??= new Map()).set(index, value);
        fields[index] = '';
        continue;
      }
    }
    fields[index] = value === null || value === undefined ? column.mapping.nullTsv : formatValue(column.name, column.mapping.tsv, value);
  }
  let key = '';
  for (const index of plan.keyIndexes) key = key === '' ? fields[index]! : `${key}\t${fields[index]!}`;
  return { plan, fields, unavailable, key, version, deleted };
}

/** A value the column cannot take (e.g. timestamptz 'infinity') makes the event unwritable, not the sink fail. */
function formatValue(column: string, format: (value: unknown) => string, value: unknown): string {
  try {
    return format(value);
  } catch (error) {
    throw new UnwritableEventError(`column ${column}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The field written for a placeholder no earlier image resolves (the key was
 * never written): String columns keep Debezium's placeholder text, as Debezium
 * sinks do; other columns get NULL (`[]` for arrays).
 */
export function unresolvedField(plan: TablePlan, index: number, placeholder: unknown): string {
  const column = plan.columns[index]!;
  return /^(Nullable\()?String\)?$|^Array\((Nullable\()?String\)?\)$/.test(column.mapping.type) ? column.mapping.tsv(placeholder) : column.mapping.nullTsv;
}

/** `_row_key` of a table without a primary key: a hash of the row's non-null values with their column names. */
export function rowKeyOf(row: RowImage): string {
  const hash = createHash('md5');
  row.plan.columns.forEach((column, index) => {
    const field = row.fields[index]!;
    if (field !== column.mapping.nullTsv) hash.update(`${column.name}\u0000${field}\u0001`);
  });
  return hash.digest('hex');
}

/** The TabSeparated line of a row (unresolved placeholders must have been filled). */
export function rowToTsvLine(row: RowImage): string {
  if (row.line !== undefined) return row.line;
  const tail = `${row.version}\t${row.deleted ? '1' : '0'}`;
  const line = row.plan.rowKey ? `${row.fields.join('\t')}\t${rowKeyOf(row)}\t${tail}` : `${row.fields.join('\t')}\t${tail}`;
  if (!row.unavailable) row.line = line;
  return line;
}

/** One event as a line; a placeholder nothing resolves is written by unresolvedField. For tests and simple callers. */
export function eventToTsvLine(plan: TablePlan, event: ChangeEvent): string {
  return eventToRows(plan, event)
    .map((row) => {
      for (const [index, placeholder] of row.unavailable ?? []) row.fields[index] = unresolvedField(plan, index, placeholder);
      return rowToTsvLine(row);
    })
    .join('\n');
}

/**
 * Fills placeholders from the newest earlier image of the same key: first in
 * `rows` (in order), else from `stored` (the row as ClickHouse has it, by key:
 * column name to TabSeparated field); what neither has gets unresolvedField.
 * Returns how many fields stayed unresolved.
 */
export function resolveUnavailable(rows: readonly RowImage[], stored: ReadonlyMap<string, ReadonlyMap<string, string>>): number {
  const latest = new Map<string, RowImage>();
  let unresolved = 0;
  for (const row of rows) {
    if (row.unavailable) {
      const earlier = row.plan.rowKey ? undefined : latest.get(row.key);
      const kept = row.plan.rowKey ? undefined : stored.get(row.key);
      for (const [index, placeholder] of row.unavailable) {
        const name = row.plan.columns[index]!.name;
        let field: string | undefined;
        if (earlier) {
          const at = earlier.plan === row.plan ? index : earlier.plan.columns.findIndex((column) => column.name === name);
          field = at >= 0 ? earlier.fields[at] : undefined;
        } else {
          field = kept?.get(name);
        }
        if (field === undefined) {
          field = unresolvedField(row.plan, index, placeholder);
          unresolved++;
        }
        row.fields[index] = field;
      }
      row.unavailable = null;
    }
    if (!row.plan.rowKey) {
      if (row.deleted) latest.delete(row.key);
      else latest.set(row.key, row);
    }
  }
  return unresolved;
}

/** Keys whose first image in `rows` has a placeholder: the sink reads them from ClickHouse. */
export function keysToLookUp(rows: readonly RowImage[]): Set<string> {
  const seen = new Set<string>();
  const needed = new Set<string>();
  for (const row of rows) {
    if (row.plan.rowKey) continue;
    if (row.unavailable && !seen.has(row.key)) needed.add(row.key);
    if (row.deleted) seen.delete(row.key);
    else seen.add(row.key);
  }
  return needed;
}
