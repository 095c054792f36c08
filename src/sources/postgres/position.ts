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
export function positionAt(last: CommittedTransaction | null, storedLsn: Lsn, snapshotted: readonly string[], snapshot: SnapshotPosition | null): PostgresPosition {
  const lsn = last ? last.commitLsn : storedLsn < 0n ? 0n : storedLsn;
  return {
    lsn: lsn.toString(),
    lsnText: formatLsn(lsn),
    txId: last?.xid ?? null,
    commitTs: last?.commitTimeMs ?? Date.now(),
    snapshotted: [...snapshotted],
    ...(snapshot ? { snapshot } : {}),
  };
}

/** The stored form: the JSON object, fields in their historical order. */
export function encodePosition(position: PostgresPosition): SourcePosition {
  const { lsn, lsnText, txId, commitTs, snapshotted, snapshot } = position;
  return {
    lsn,
    lsnText,
    txId,
    commitTs,
    ...(snapshotted ? { snapshotted: [...snapshotted] } : {}),
    ...(snapshot ? { snapshot: { lsn: snapshot.lsn, pending: [...snapshot.pending], lastKey: snapshot.lastKey ? [...snapshot.lastKey] : null } } : {}),
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
  return position;
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
