/**
 * One chunk of an incremental snapshot between its watermarks (DBLog, as
 * Debezium's AbstractIncrementalSnapshotChangeEventSource does it), and the
 * rule that decides which rows read inside a transaction snapshot may be
 * emitted. Pure: the snapshotter feeds it what the stream and the reader see.
 *
 * The window opens when the low watermark (its row in the signal table)
 * arrives through the replication stream and closes at the high watermark.
 * Every key a streamed change touches while it is open is dropped from the
 * chunk: the stream carries a change at least as new as the row read. At the
 * high watermark the remaining rows are emitted as "r" events.
 *
 * Row version (the sink's ReplacingMergeTree `_version`): the commit LSN of
 * the low watermark, see docs/architecture.md "Incremental snapshots".
 */

/** A key in comparable form: the JSON of its columns' text values. */
export type KeyText = string;

/** The key of a tuple (column → PostgreSQL text), or null when a key column is missing from it (e.g. an unchanged TOASTed key). */
export function keyText(keyColumns: readonly string[], tuple: Record<string, unknown> | null | undefined): KeyText | null {
  if (!tuple) return null;
  const values: (string | null)[] = [];
  for (const column of keyColumns) {
    const value = tuple[column];
    if (value === undefined) return null;
    values.push(value === null ? null : String(value));
  }
  return JSON.stringify(values);
}

export interface ChunkRow {
  key: KeyText;
  /** Column name → PostgreSQL's text form (null for NULL). */
  tuple: Record<string, string | null>;
}

export interface ClosedWindow {
  /** Rows to emit as "r" events, in key order. */
  rows: ChunkRow[];
  /** Rows dropped because a streamed change touched their key inside the window. */
  dropped: number;
  /** A change inside the window could not be matched to a key: nothing is emitted and the chunk is read again. */
  retry: boolean;
}

export class SnapshotWindow {
  /** Commit LSN of the low watermark's transaction; null until it arrived. */
  private low: bigint | null = null;
  private readonly touched = new Set<KeyText>();
  private rows: ChunkRow[] | null = null;
  private unknownChange = false;
  private truncated = false;

  constructor(
    /** The chunk's id: its watermark rows are `<id>-open` and `<id>-close`. */
    readonly id: string,
    /** "schema.table" */
    readonly table: string,
  ) {}

  get openId(): string {
    return `${this.id}-open`;
  }

  get closeId(): string {
    return `${this.id}-close`;
  }

  get isOpen(): boolean {
    return this.low !== null;
  }

  /** The low watermark's commit LSN (the emitted rows' version), once open. */
  get lowLsn(): bigint | null {
    return this.low;
  }

  /** The low watermark arrived in the stream, in a transaction committed at `commitLsn`. */
  open(commitLsn: bigint): void {
    this.low ??= commitLsn;
  }

  /** A streamed change of this table; `key` null when its key could not be read. Ignored before the window opens. */
  touch(key: KeyText | null): void {
    if (this.low === null) return;
    if (key === null) this.unknownChange = true;
    else this.touched.add(key);
  }

  /** A streamed TRUNCATE of this table inside the window: no row read survives it. */
  truncate(): void {
    if (this.low !== null) this.truncated = true;
  }

  /** The rows read (set before the high watermark is written, so before it arrives). */
  fill(rows: ChunkRow[]): void {
    this.rows = rows;
  }

  get filled(): boolean {
    return this.rows !== null;
  }

  /** At the high watermark: the rows no streamed change touched inside the window. */
  close(): ClosedWindow {
    const rows = this.rows ?? [];
    if (this.unknownChange || this.rows === null || this.low === null) return { rows: [], dropped: rows.length, retry: true };
    if (this.truncated) return { rows: [], dropped: rows.length, retry: false };
    const kept = rows.filter((row) => !this.touched.has(row.key));
    return { rows: kept, dropped: rows.length - kept.length, retry: false };
  }
}

/**
 * The transaction ids in progress when a transaction snapshot was taken, from
 * `pg_current_snapshot()`'s text `xmin:xmax:xip,...` (64-bit ids), as the
 * 32-bit ids heap tuples carry.
 */
export function inProgressXids(snapshot: string): Set<string> {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(snapshot.trim());
  if (!match) throw new Error(`unexpected transaction snapshot "${snapshot}" (expected xmin:xmax:xip,...)`);
  const ids = match[3] ? match[3].split(',') : [];
  return new Set(ids.map((id) => (BigInt(id) & 0xffffffffn).toString()));
}

/**
 * How many rows of a chunk (in key order) may be emitted: those before the
 * first row whose `xmax` is a transaction that was in progress at the read's
 * snapshot. Such a transaction changed or deleted the row before the read; if
 * it commits after the high watermark, its event's LSN (where the change was
 * made) can be lower than the chunk's version, and the stale row read would
 * win in the sink. Cutting the chunk there (the next read starts at that row,
 * in a newer snapshot) keeps every emitted row older than any later change.
 * A row merely locked (SELECT FOR UPDATE) also stops the chunk until the
 * locker ends. xmax "0" is no transaction.
 */
export function emittableRows(xmaxes: readonly string[], inProgress: ReadonlySet<string>): number {
  const blocked = xmaxes.findIndex((xmax) => xmax !== '0' && inProgress.has(xmax));
  return blocked < 0 ? xmaxes.length : blocked;
}
