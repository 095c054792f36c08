/**
 * Change events to rows of the upsert table.
 *   c, u, r: the after image, _deleted = 0
 *   d:       the before image (at least the key), _deleted = 1
 * `_version` is the event's row version (its source kind's, looked up by
 * `source.connector`: core/row-versions.ts; the LSN for PostgreSQL), so a row
 * written twice (after a crash) collapses under (key, _version) and an older
 * change never wins over a newer.
 *
 * An unchanged TOASTed value arrives as Debezium's placeholder
 * (isUnavailablePlaceholder); such a field is left unresolved here and filled
 * by the sink from an earlier image of the key (resolveUnavailable).
 */
import { createHash } from 'node:crypto';
import { isUnavailablePlaceholder } from '../../core/connect-schema.js';
import type { ChangeEvent, Row } from '../../core/events.js';
import { ByteWriter, cellEncoder, fieldEncoder, RowBinaryValueError, type CellEncoder, type FieldEncoder } from './row-binary.js';
import type { PlannedColumn, TablePlan } from './table-plan.js';
import { isRawShape, type ColumnMapping } from './type-mapping.js';

export class UnwritableEventError extends Error {}

/**
 * One row of the upsert table. As decoded it holds cells, one per plan
 * column: null (NULL), the value's text (ColumnMapping.text, unescaped), or,
 * for a column with a raw kind, the decoded value itself (a number for an
 * integer column): the insert encodes cells straight to RowBinary
 * (row-binary.ts cellEncoder), with no text made and parsed again for most
 * values. Its TabSeparated fields are made from the cells when first asked
 * for (a table written as TabSeparated, a row key hash, TOAST resolution).
 * A row whose values come from other rows (placeholders, a key change's
 * delete) is text only: its fields are what is written, its cells null.
 */
export class RowImage {
  cells: unknown[] | null;
  private text: string[] | null;
  private keyText: string | undefined;
  /** Indexes of fields that hold the unavailable placeholder, with the raw placeholder; null when none. */
  unavailable: Map<number, unknown> | null = null;
  /** The TabSeparated line, once built (rowToTsvLine). */
  line?: string;
  /**
   * The create of a primary-key change (header __debezium.oldkey): the old
   * key, whose row supplies the unchanged TOASTed values of this one.
   */
  previousKey?: string;
  /**
   * Fields that no earlier image could fill (the delete of a primary-key
   * change whose old row was never written): a later create must not take them.
   */
  unresolved?: Set<number>;

  constructor(
    readonly plan: TablePlan,
    cells: unknown[] | null,
    fields: string[] | null,
    /** The row version (`_version`). */
    readonly version: number,
    readonly deleted: boolean,
  ) {
    this.cells = cells;
    this.text = fields;
  }

  /** TabSeparated fields, one per plan column, escaped; unresolved ones hold ''. */
  get fields(): string[] {
    return (this.text ??= this.cells!.map((cell, index) => fieldOf(this.plan.columns[index]!.mapping, cell)));
  }

  /** Key fields joined by tab (tables with a primary key). */
  get key(): string {
    if (this.keyText === undefined) {
      const fields = this.fields;
      this.keyText = this.plan.keyIndexes.map((index) => fields[index]!).join('\t');
    }
    return this.keyText;
  }

  /** From now on the fields are the row (they were or will be changed from other rows' values). */
  toText(): string[] {
    const fields = this.fields;
    this.cells = null;
    return fields;
  }
}

/** The TabSeparated field of a cell. */
function fieldOf(mapping: ColumnMapping, cell: unknown): string {
  if (cell === null) return mapping.nullTsv;
  return typeof cell === 'string' ? mapping.escape(cell) : mapping.tsv(cell);
}

/**
 * How an event takes part in a primary-key change, from its headers:
 * `oldKey` on the create of the new key (the old key's row as decoded from
 * the header), `newKey` on the delete of the old key.
 */
export interface KeyChange {
  oldKey?: Row;
  newKey?: boolean;
}

/**
 * The row(s) one event writes: one, or two for an update of a table without a
 * key (old row deleted, new row written).
 *
 * A primary-key change (`keyChange`, from the event's headers) is a delete of
 * the old key, then a create of the new key whose unchanged TOASTed values
 * PostgreSQL did not resend. The delete's image is completed from the old
 * key's last row (under REPLICA IDENTITY DEFAULT it holds only the key), so
 * that the row it writes keeps every value; the create's placeholders are
 * then filled from that image, in the same batch or as stored in ClickHouse
 * (resolveUnavailable).
 */
export function eventToRows(plan: TablePlan, event: ChangeEvent, version: number, keyChange?: KeyChange): RowImage[] {
  const deleted = event.op === 'd';
  const image: Row | null = deleted ? event.before : event.after;
  if (!image) throw new UnwritableEventError(`op "${event.op}" event without ${deleted ? 'before' : 'after'} image`);
  const previousKey = !plan.rowKey && !deleted && keyChange?.oldKey ? keyFieldsOf(plan, keyChange.oldKey) : undefined;
  // An update can carry the placeholder (its before image, under REPLICA
  // IDENTITY FULL, may hold the value), and so can the create of a key change.
  const row = imageToRow(plan, image, event.op === 'u' ? event.before : null, version, deleted, event.op === 'u' || previousKey !== undefined);
  if (previousKey !== undefined) row.previousKey = previousKey;
  if (deleted && keyChange?.newKey && !plan.rowKey) markMissingValues(row);
  if (plan.rowKey && event.op === 'u' && event.before) {
    // Without a key the old row is found by its content: delete it, unless the update left it as it was.
    const old = imageToRow(plan, event.before, null, version, true);
    if (row.unavailable || rowKeyOf(old) !== rowKeyOf(row)) return [old, row];
  }
  return [row];
}

function imageToRow(plan: TablePlan, image: Row, before: Row | null, version: number, deleted: boolean, placeholders = false): RowImage {
  const columns = plan.columns;
  const cells: unknown[] = new Array<unknown>(columns.length);
  let unavailable: Map<number, unknown> | null = null;
  for (let index = 0; index < columns.length; index++) {
    const column = columns[index]!;
    let value = image[column.name];
    if (placeholders && value !== null && value !== undefined && isUnavailablePlaceholder(value)) {
      const old = before?.[column.name];
      if (old !== undefined && !isUnavailablePlaceholder(old)) {
        value = old;
      } else {
        (unavailable ??= new Map()).set(index, value);
        cells[index] = null;
        continue;
      }
    }
    cells[index] = value === null || value === undefined ? null : cellOf(column, value);
  }
  if (!unavailable) return new RowImage(plan, cells, null, version, deleted);
  // Placeholders: the row is text, its unresolved fields '' until resolveUnavailable fills them.
  const fields = cells.map((cell, index) => (unavailable.has(index) ? '' : fieldOf(columns[index]!.mapping, cell)));
  const row = new RowImage(plan, null, fields, version, deleted);
  row.unavailable = unavailable;
  return row;
}

/** A non-null value as a cell: itself when its shape is its column's raw kind, else its text. */
function cellOf(column: PlannedColumn, value: unknown): unknown {
  const mapping = column.mapping;
  if (mapping.raw && isRawShape(mapping.raw, value)) return value;
  return formatValue(column.name, mapping.text, value);
}

/** The key of a row as RowImage.key has it, from the key columns' values (a decoded message key). */
export function keyFieldsOf(plan: TablePlan, key: Row): string {
  let fields = '';
  for (const [position, index] of plan.keyIndexes.entries()) {
    const column = plan.columns[index]!;
    const value = key[column.name];
    const field = value === null || value === undefined ? column.mapping.nullTsv : formatValue(column.name, column.mapping.tsv, value);
    fields = position === 0 ? field : `${fields}\t${field}`;
  }
  return fields;
}

/**
 * The delete of a key change: every non-key NULL is to be filled from the old
 * key's last row. Under REPLICA IDENTITY DEFAULT they are absent, not NULL;
 * under FULL the last row holds the same values as the before image.
 */
function markMissingValues(row: RowImage): void {
  const keys = new Set(row.plan.keyIndexes);
  const fields = row.toText();
  row.plan.columns.forEach((column, index) => {
    if (!keys.has(index) && fields[index] === column.mapping.nullTsv) (row.unavailable ??= new Map()).set(index, null);
  });
}

/** A value the column cannot take (e.g. timestamptz 'infinity') makes the event unwritable, not the sink fail. */
function formatValue<T>(column: string, format: (value: unknown) => T, value: unknown): T {
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
export function eventToTsvLine(plan: TablePlan, event: ChangeEvent, version: number): string {
  return eventToRows(plan, event, version)
    .map((row) => {
      for (const [index, placeholder] of row.unavailable ?? []) row.fields[index] = unresolvedField(plan, index, placeholder);
      return rowToTsvLine(row);
    })
    .join('\n');
}

/**
 * Fills placeholders from the newest earlier image of the same key (for the
 * create of a key change: of the old key, its delete included): first in
 * `rows` (in order), else from `stored` (the row as ClickHouse has it, by key:
 * column name to TabSeparated field). A placeholder neither has gets
 * unresolvedField; a missing value of a key change's delete stays NULL.
 * Returns how many placeholders stayed unresolved.
 */
export function resolveUnavailable(rows: readonly RowImage[], stored: ReadonlyMap<string, ReadonlyMap<string, string>>): number {
  /** Last live image per key. */
  const latest = new Map<string, RowImage>();
  /** Last image per key, a delete included: the source of a key change's values. */
  const last = new Map<string, RowImage>();
  let unresolved = 0;
  for (const row of rows) {
    if (row.unavailable) {
      row.toText();
      const from = row.previousKey ?? row.key;
      const earlier = row.plan.rowKey ? undefined : row.previousKey !== undefined ? last.get(from) : latest.get(from);
      const kept = row.plan.rowKey ? undefined : stored.get(from);
      for (const [index, placeholder] of row.unavailable) {
        const name = row.plan.columns[index]!.name;
        let field: string | undefined;
        if (earlier) {
          const at = earlier.plan === row.plan ? index : earlier.plan.columns.findIndex((column) => column.name === name);
          field = at >= 0 && !earlier.unresolved?.has(at) ? earlier.fields[at] : undefined;
        } else {
          field = kept?.get(name);
        }
        if (field === undefined) {
          if (row.deleted) {
            field = row.plan.columns[index]!.mapping.nullTsv;
          } else {
            field = unresolvedField(row.plan, index, placeholder);
            unresolved++;
          }
          (row.unresolved ??= new Set()).add(index);
        }
        row.fields[index] = field;
      }
      row.unavailable = null;
    }
    if (!row.plan.rowKey) {
      if (row.deleted) latest.delete(row.key);
      else latest.set(row.key, row);
      last.set(row.key, row);
    }
  }
  return unresolved;
}

/**
 * Keys the sink reads from ClickHouse: those whose first image in `rows` has
 * a placeholder, and the old keys of key changes with no image before them.
 */
export function keysToLookUp(rows: readonly RowImage[]): Set<string> {
  const live = new Set<string>();
  const any = new Set<string>();
  const needed = new Set<string>();
  for (const row of rows) {
    if (row.plan.rowKey) continue;
    if (row.unavailable) {
      if (row.previousKey !== undefined) {
        if (!any.has(row.previousKey)) needed.add(row.previousKey);
      } else if (!live.has(row.key)) {
        needed.add(row.key);
      }
    }
    if (row.deleted) live.delete(row.key);
    else live.add(row.key);
    any.add(row.key);
  }
  return needed;
}

/** A plan's RowBinary encoders per column, for its storedTypes: of its TabSeparated fields and of its cells. */
interface PlanEncoders {
  fields: FieldEncoder[];
  cells: CellEncoder[];
}
/** Per plan (null when a column has a type without an encoder), remembered with the storedTypes they were made for. */
const encodersByPlan = new WeakMap<TablePlan, { types: readonly string[] | undefined; encoders: PlanEncoders | null }>();
const versionEncoder = fieldEncoder('UInt64')!;
const stringEncoder = fieldEncoder('String')!;

function encodersOf(plan: TablePlan): PlanEncoders | null {
  const cached = encodersByPlan.get(plan);
  if (cached && cached.types === plan.storedTypes) return cached.encoders;
  const types = plan.columns.map((column, index) => plan.storedTypes?.[index] ?? column.mapping.type);
  const fields = types.map((type) => fieldEncoder(type));
  const cells = types.map((type, index) => cellEncoder(type, plan.columns[index]!.mapping));
  const complete = fields.every((encoder) => encoder !== undefined) && cells.every((encoder) => encoder !== undefined);
  const encoders = complete ? { fields: fields as FieldEncoder[], cells: cells as CellEncoder[] } : null;
  encodersByPlan.set(plan, { types: plan.storedTypes, encoders });
  return encoders;
}

/** Whether the plan's rows are written in RowBinary (every column type has an encoder); else TabSeparated. */
export function writesRowBinary(plan: TablePlan): boolean {
  return encodersOf(plan) !== null;
}

/**
 * Appends the RowBinary bytes of a row to `out`, in insertColumns order
 * (unresolved placeholders must have been filled). A value the column's type
 * cannot hold throws UnwritableEventError naming the column, and `out` is
 * left as it was. Rows are encoded into one buffer per insert: a Buffer per
 * row would cost more in allocation and garbage collection than the encoding.
 */
export function writeRowBinary(row: RowImage, out: ByteWriter): void {
  const encoders = encodersOf(row.plan);
  if (!encoders) throw new Error(`table ${row.plan.table} has a column type without a RowBinary encoder`);
  const start = out.length;
  let index = 0;
  try {
    const cells = row.cells;
    if (cells) {
      const encode = encoders.cells;
      for (; index < encode.length; index++) encode[index]!(cells[index], out);
    } else {
      const encode = encoders.fields;
      const fields = row.fields;
      for (; index < encode.length; index++) encode[index]!(fields[index]!, out);
    }
  } catch (error) {
    out.length = start;
    if (error instanceof RowBinaryValueError) throw new UnwritableEventError(`column ${row.plan.columns[index]!.name}: ${error.message}`);
    throw error;
  }
  if (row.plan.rowKey) stringEncoder(rowKeyOf(row), out);
  // A safe integer (every LSN below 8 PiB of WAL) straight; larger ones by their text.
  if (Number.isSafeInteger(row.version) && row.version >= 0) out.int64(row.version, false);
  else versionEncoder(String(row.version), out);
  out.u8(row.deleted ? 1 : 0);
}

/** The RowBinary bytes of one row (writeRowBinary into a buffer of its own). */
export function rowToBinary(row: RowImage): Buffer {
  const out = new ByteWriter(256);
  writeRowBinary(row, out);
  return out.slice();
}
