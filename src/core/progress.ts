/**
 * Progress of a replay (a sink's tables or a processor's state): records read of the partitions' end offsets, the
 * rate over the last seconds and the time left, as a bar on a terminal and
 * as JSON lines otherwise. Pure, apart from the clock the caller passes.
 */

export interface ProgressSnapshot {
  phase: string;
  /** Offsets read since the replay began (records and transaction markers). */
  done: number;
  /** Offsets to read: from where the replay began to the end offsets known. */
  total: number;
  /** Offsets per second over the last seconds; null until measured. */
  rate: number | null;
  /** Seconds left at that rate; null when unknown. */
  etaSeconds: number | null;
}

/** Where a replay (of a sink or a processor) reports: the CLI's bar or JSON lines. */
export interface ReplayReporter {
  progress(progress: ProgressSnapshot): void;
  /** A step worth a line: `resumed`, `swapped`, `done`, `aborted`, ... */
  event(event: string, message: string, detail?: Record<string, unknown>): void;
}

const WINDOW_MS = 10_000;

/** Rate over a sliding window of (time, done) samples. */
export class RateMeter {
  private samples: { at: number; done: number }[] = [];

  sample(at: number, done: number): void {
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= WINDOW_MS) this.samples.shift();
  }

  /** Offsets per second, or null with less than half a second measured. */
  get rate(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 500) return null;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

export function snapshot(phase: string, done: number, total: number, rate: number | null): ProgressSnapshot {
  const left = Math.max(0, total - done);
  const etaSeconds = left === 0 ? 0 : rate && rate > 0 ? left / rate : null;
  return { phase, done, total: Math.max(total, done), rate, etaSeconds };
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One terminal line: `copying [#####.....]  52%  1.2M/2.3M  41.0k/s  ETA 27s`. */
export function progressLine(p: ProgressSnapshot, width = 24): string {
  const fraction = p.total === 0 ? 1 : Math.min(1, p.done / p.total);
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const rate = p.rate === null ? '?/s' : `${formatCount(p.rate)}/s`;
  return `${p.phase.padEnd(8)} [${bar}] ${percent}  ${formatCount(p.done)}/${formatCount(p.total)}  ${rate}  ETA ${formatDuration(p.etaSeconds)}`;
}

/** One JSON line for machines. */
export function progressJson(p: ProgressSnapshot): string {
  return JSON.stringify({
    event: 'progress',
    phase: p.phase,
    done: p.done,
    total: p.total,
    rate: p.rate === null ? null : Math.round(p.rate * 10) / 10,
    etaSeconds: p.etaSeconds === null ? null : Math.round(p.etaSeconds * 10) / 10,
  });
}
