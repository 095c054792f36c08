/**
 * The PostgreSQL source's position, as it stores it in `_tideline_offsets`
 * (src/kafka/source-offsets.ts keeps it as an opaque JSON value): the last
 * PostgreSQL commit included in a committed Kafka transaction, which tables
 * are snapshotted, and where an unfinished snapshot resumes.
 *
 * The JSON is the same as before positions became opaque, field for field and
 * in the same order, so stored records stay readable both ways.
 */
import { TidelineError } from '../../core/errors.js';
import { formatLsn, type Lsn } from './lsn.js';
import type { SourcePosition } from '../../kafka/source-offsets.js';

export interface PostgresPosition {
  /** Commit LSN (as decimal text of the 64-bit value) of the last included transaction. */
  lsn: string;
  /** The same LSN in PostgreSQL's text form, for people. */
  lsnText: string;
  txId: number | null;
  /** Commit time of that transaction, ms since epoch. */
  commitTs: number;
  /**
   * Tables whose initial snapshot is complete ("schema.table"). Absent from
   * positions written before snapshots existed, which means every table.
   */
  snapshotted?: string[];
  /** Present only while a snapshot is under way: where it resumes after a crash. */
  snapshot?: SnapshotPosition;
  /** Present only while an incremental snapshot (on signal) is under way: where it resumes. */
  incremental?: IncrementalPosition;
}

/**
 * An incremental snapshot's progress: committed with the events of each chunk
 * (in the Kafka transaction holding its high watermark), so a crash resumes
 * at the chunk after the last committed one.
 */
export interface IncrementalPosition {
  /** Tables still to read, in order; the first is the one being read. */
  tables: { table: string; filter: string | null }[];
  /** Text form of the last primary key of the last chunk of tables[0] emitted; null: from its start. */
  lastKey: string[] | null;
  /** tables[0]'s largest key when its reading began (rows inserted later arrive by the stream); null: not read yet. */
  maxKey: string[] | null;
  paused: boolean;
  /** Rows emitted so far by this snapshot, all tables. */
  rowsDone: number;
  /** Of those, rows of tables[0]. */
  tableRowsDone: number;
  /** When the snapshot was asked for, ms since epoch. */
  startedAt: number;
}

export interface SnapshotPosition {
  /** source.lsn of the snapshot's "r" events (the sink's row version), as decimal text. */
  lsn: string;
  /** Tables still to read, in order; the first is the one being read. */
  pending: string[];
  /** PostgreSQL's text form of the last primary key read from pending[0]; null: from its start. */
  lastKey: string[] | null;
}

/** The last committed PostgreSQL transaction a position records. */
export interface CommittedTransaction {
  commitLsn: Lsn;
  xid: number | null;
  commitTimeMs: number;
}

/**
 * The position after `last` (or, with no transaction committed in this run,
 * at `storedLsn`: a snapshot chunk changes no LSN), with the snapshot state.
 */
export function positionAt(
  last: CommittedTransaction | null,
  storedLsn: Lsn,
  snapshotted: readonly string[],
  snapshot: SnapshotPosition | null,
  incremental: IncrementalPosition | null = null,
): PostgresPosition {
  const lsn = last ? last.commitLsn : storedLsn < 0n ? 0n : storedLsn;
  return {
    lsn: lsn.toString(),
    lsnText: formatLsn(lsn),
    txId: last?.xid ?? null,
    commitTs: last?.commitTimeMs ?? Date.now(),
    snapshotted: [...snapshotted],
    ...(snapshot ? { snapshot } : {}),
    ...(incremental ? { incremental } : {}),
  };
}

/** The stored form: the JSON object, fields in their historical order. */
export function encodePosition(position: PostgresPosition): SourcePosition {
  const { lsn, lsnText, txId, commitTs, snapshotted, snapshot, incremental } = position;
  return {
    lsn,
    lsnText,
    txId,
    commitTs,
    ...(snapshotted ? { snapshotted: [...snapshotted] } : {}),
    ...(snapshot ? { snapshot: { lsn: snapshot.lsn, pending: [...snapshot.pending], lastKey: snapshot.lastKey ? [...snapshot.lastKey] : null } } : {}),
    ...(incremental
      ? {
          incremental: {
            tables: incremental.tables.map(({ table, filter }) => ({ table, filter })),
            lastKey: incremental.lastKey ? [...incremental.lastKey] : null,
            maxKey: incremental.maxKey ? [...incremental.maxKey] : null,
            paused: incremental.paused,
            rowsDone: incremental.rowsDone,
            tableRowsDone: incremental.tableRowsDone,
            startedAt: incremental.startedAt,
          },
        }
      : {}),
  };
}

export class PositionFormatError extends TidelineError {}

/** Reads a stored position (any version of it); throws PositionFormatError for what this source never wrote. */
export function decodePosition(stored: SourcePosition): PostgresPosition {
  const record = object(stored, 'the stored position');
  const position: PostgresPosition = {
    lsn: decimal(record.lsn, 'lsn'),
    lsnText: text(record.lsnText, 'lsnText'),
    txId: record.txId === null || record.txId === undefined ? null : integer(record.txId, 'txId'),
    commitTs: integer(record.commitTs, 'commitTs'),
  };
  if (record.snapshotted !== undefined) position.snapshotted = texts(record.snapshotted, 'snapshotted');
  if (record.snapshot !== undefined && record.snapshot !== null) {
    const snapshot = object(record.snapshot, 'snapshot');
    position.snapshot = {
      lsn: decimal(snapshot.lsn, 'snapshot.lsn'),
      pending: texts(snapshot.pending, 'snapshot.pending'),
      lastKey: snapshot.lastKey === null || snapshot.lastKey === undefined ? null : texts(snapshot.lastKey, 'snapshot.lastKey'),
    };
  }
  if (record.incremental !== undefined && record.incremental !== null) position.incremental = decodeIncremental(object(record.incremental, 'incremental'));
  return position;
}

function decodeIncremental(record: Record<string, unknown>): IncrementalPosition {
  if (!Array.isArray(record.tables)) throw invalid('incremental.tables', record.tables);
  const tables = record.tables.map((entry: unknown, index) => {
    const table = object(entry, `incremental.tables[${index}]`);
    return {
      table: text(table.table, `incremental.tables[${index}].table`),
      filter: table.filter === null || table.filter === undefined ? null : text(table.filter, `incremental.tables[${index}].filter`),
    };
  });
  if (typeof record.paused !== 'boolean') throw invalid('incremental.paused', record.paused);
  return {
    tables,
    lastKey: record.lastKey === null || record.lastKey === undefined ? null : texts(record.lastKey, 'incremental.lastKey'),
    maxKey: record.maxKey === null || record.maxKey === undefined ? null : texts(record.maxKey, 'incremental.maxKey'),
    paused: record.paused,
    rowsDone: integer(record.rowsDone, 'incremental.rowsDone'),
    tableRowsDone: integer(record.tableRowsDone, 'incremental.tableRowsDone'),
    startedAt: integer(record.startedAt, 'incremental.startedAt'),
  };
}

function invalid(field: string, value: unknown): PositionFormatError {
  return new PositionFormatError(`stored PostgreSQL position: ${field} is ${JSON.stringify(value) ?? 'missing'}, which this source never writes`);
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, value);
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalid(field, value);
  return value;
}

function decimal(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw invalid(field, value);
  return value;
}

function integer(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(field, value);
  return value;
}

function texts(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw invalid(field, value);
  return [...(value as string[])];
}
