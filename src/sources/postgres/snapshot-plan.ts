/**
 * Whether a starting source reads a snapshot, of which tables, and how it gets
 * a consistent view. Pure: decided from the mode, the slot and the stored offset.
 *
 * Consistency rule: rows read at any moment after the slot's position, followed
 * by the stream from that position, end in the table's exact state (every
 * change after the read is streamed; changes before it and re-streamed are
 * older than what follows them). A slot created with EXPORT_SNAPSHOT adds the
 * exact cut: no change in the stream is already in the snapshot.
 */
import type { PostgresPosition, SnapshotPosition } from './position.js';

export type SnapshotMode = 'initial' | 'never' | 'when_needed';

export interface SnapshotPlanInput {
  mode: SnapshotMode;
  slotExists: boolean;
  offset: PostgresPosition | null;
  /** The captured tables, "schema.table". */
  tables: readonly string[];
}

export interface SnapshotPlan {
  /** Create the slot: "export" keeps its snapshot for the read; "plain" streams only. Null: reuse it. */
  createSlot: 'export' | 'plain' | null;
  /** Tables to read, in order (empty: no snapshot). */
  tables: string[];
  /** Continue a snapshot a previous run left unfinished (same version, after this key). */
  resume: SnapshotPosition | null;
  /** Tables already snapshotted, carried in every offset from now on. */
  snapshotted: string[];
  /** Why, for the log. */
  reason: string;
}

export class SnapshotPlanError extends Error {}

export function planSnapshot({ mode, slotExists, offset, tables }: SnapshotPlanInput): SnapshotPlan {
  const all = [...tables];
  if (mode === 'never') {
    return { createSlot: slotExists ? null : 'plain', tables: [], resume: null, snapshotted: offset?.snapshotted ?? [], reason: 'snapshotMode is never' };
  }
  if (!offset) {
    return slotExists
      ? { createSlot: null, tables: all, resume: null, snapshotted: [], reason: 'no stored offset; the slot exists already, so the snapshot is read after its position' }
      : { createSlot: 'export', tables: all, resume: null, snapshotted: [], reason: 'first start' };
  }
  if (!slotExists) {
    if (mode === 'initial' && !offset.snapshot) {
      throw new SnapshotPlanError(
        `the replication slot is missing but the connector has a stored offset (LSN ${offset.lsnText}): changes made since were not captured. ` +
          'Set snapshotMode: when_needed to read a new snapshot, or recreate the connector under a new name',
      );
    }
    return { createSlot: 'export', tables: all, resume: null, snapshotted: [], reason: offset.snapshot ? 'slot lost during the snapshot' : 'slot lost: changes since the stored offset are unknown' };
  }
  const snapshotted = offset.snapshotted ?? all;
  if (offset.snapshot) {
    const pending = offset.snapshot.pending.filter((table) => all.includes(table));
    const resumeKey = pending[0] === offset.snapshot.pending[0] ? offset.snapshot.lastKey : null;
    const added = all.filter((table) => !pending.includes(table) && !snapshotted.includes(table));
    return {
      createSlot: null,
      tables: [...pending, ...added],
      resume: { lsn: offset.snapshot.lsn, pending: [...pending, ...added], lastKey: resumeKey },
      snapshotted: snapshotted.filter((table) => all.includes(table)),
      reason: 'resuming an unfinished snapshot',
    };
  }
  const added = all.filter((table) => !snapshotted.includes(table));
  return {
    createSlot: null,
    tables: added,
    resume: null,
    snapshotted: snapshotted.filter((table) => all.includes(table)),
    reason: added.length > 0 ? 'tables added to the capture' : 'every table is snapshotted',
  };
}
