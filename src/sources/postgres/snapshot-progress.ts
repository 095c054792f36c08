/** Snapshot progress: rows done of the estimated total, rate and ETA. Pure. */
export interface ProgressReport {
  rowsDone: number;
  /** Sum of the tables' estimates; null while some table's is unknown. */
  rowsEstimate: number | null;
  rowsPerSecond: number;
  /** Null when unknown. */
  etaSeconds: number | null;
  elapsedSeconds: number;
}

export class SnapshotProgress {
  private done = 0;
  private readonly estimates = new Map<string, number | null>();

  constructor(private readonly startedAt: number) {}

  estimate(table: string, rows: number | null): void {
    this.estimates.set(table, rows);
  }

  add(rows: number): void {
    this.done += rows;
  }

  report(now: number): ProgressReport {
    const elapsedSeconds = Math.max(0.001, (now - this.startedAt) / 1000);
    const rowsPerSecond = this.done / elapsedSeconds;
    const values = [...this.estimates.values()];
    const rowsEstimate = values.some((value) => value === null) ? null : values.reduce<number>((sum, value) => sum + (value ?? 0), 0);
    // Estimates can be low (reltuples is approximate): never report a negative remainder.
    const remaining = rowsEstimate === null ? null : Math.max(0, rowsEstimate - this.done);
    const etaSeconds = remaining === null || rowsPerSecond === 0 ? null : remaining / rowsPerSecond;
    return { rowsDone: this.done, rowsEstimate, rowsPerSecond, etaSeconds, elapsedSeconds };
  }
}
