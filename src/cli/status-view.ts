/**
 * `tideline status`'s view of the admin API's `GET /connectors?expand=status`
 * (pure: rows from the response, and the table or JSON they print as).
 * Unknown values print as "-".
 */
import { alignColumns, formatBytes } from './text-table.js';

/** What the admin API says of one connector (routes.ts, connect-shapes.ts); every field may be missing. */
interface StatusJson {
  connector?: { state?: string; trace?: string };
  type?: string;
  tideline?: {
    kind?: string;
    state?: string;
    detail?: string;
    last_error?: { message?: string; at?: string };
    lag?: { events?: number | null; seconds?: number | null; wal_bytes?: number | null; error?: string };
    throughput?: { per_second?: number | null; unit?: string; total?: number };
    progress?: { phase?: string; done?: number; total?: number | null; eta_seconds?: number | null } | null;
  };
}

export interface StatusRow {
  name: string;
  kind: string | null;
  type: string | null;
  /** Kafka Connect's state (RUNNING, PAUSED, FAILED, ...). */
  state: string | null;
  /** tideline's own (running, degraded, restarting, ...). */
  detailedState: string | null;
  lagEvents: number | null;
  lagSeconds: number | null;
  walBytes: number | null;
  throughputPerSecond: number | null;
  throughputUnit: string | null;
  progress: { phase: string; done: number; total: number | null; etaSeconds: number | null } | null;
  /** The error of a failed connector, else the last failure or degradation reason. */
  lastError: string | null;
}

const orNull = <T>(value: T | null | undefined): T | null => (value === undefined ? null : value);

/** Rows from `GET /connectors?expand=status`, in the daemon's order. */
export function statusRows(body: unknown): StatusRow[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('the admin API did not answer with connectors by name (is this a tideline daemon?)');
  return Object.entries(body as Record<string, { status?: StatusJson }>).map(([name, entry]) => {
    const status = entry?.status ?? {};
    const extra = status.tideline ?? {};
    const progress = extra.progress;
    const failed = status.connector?.state === 'FAILED';
    return {
      name,
      kind: orNull(extra.kind),
      type: orNull(status.type),
      state: orNull(status.connector?.state),
      detailedState: orNull(extra.state),
      lagEvents: orNull(extra.lag?.events),
      lagSeconds: orNull(extra.lag?.seconds),
      walBytes: orNull(extra.lag?.wal_bytes),
      throughputPerSecond: orNull(extra.throughput?.per_second),
      throughputUnit: orNull(extra.throughput?.unit),
      progress: progress ? { phase: progress.phase ?? 'snapshot', done: progress.done ?? 0, total: orNull(progress.total), etaSeconds: orNull(progress.eta_seconds) } : null,
      lastError: (failed ? extra.detail : undefined) ?? extra.last_error?.message ?? (extra.state === 'degraded' ? extra.detail : undefined) ?? null,
    };
  });
}

const DASH = '-';

function duration(seconds: number): string {
  if (seconds < 60) return `${Number(seconds.toFixed(1))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} m ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} m`;
}

function rate(value: number): string {
  return value >= 100 ? `${Math.round(value)}/s` : `${Number(value.toFixed(1))}/s`;
}

export function formatState(row: StatusRow): string {
  if (!row.state) return DASH;
  // RUNNING hides a degradation; show it (Kafka Connect has no such state).
  return row.detailedState === 'degraded' ? 'RUNNING (degraded)' : row.state;
}

export function formatLag(row: StatusRow): string {
  if (row.lagEvents !== null) return row.lagSeconds !== null ? `${row.lagEvents} (${duration(row.lagSeconds)})` : String(row.lagEvents);
  if (row.walBytes !== null) return `${formatBytes(row.walBytes)} WAL`;
  return DASH;
}

export function formatThroughput(row: StatusRow): string {
  return row.throughputPerSecond === null ? DASH : rate(row.throughputPerSecond);
}

export function formatProgress(row: StatusRow): string {
  const progress = row.progress;
  if (!progress) return DASH;
  const of = progress.total !== null && progress.total > 0 ? ` ${Math.min(100, Math.floor((progress.done / progress.total) * 100))}% (${progress.done}/${progress.total})` : ` ${progress.done} rows`;
  const eta = progress.etaSeconds !== null ? `, ETA ${duration(progress.etaSeconds)}` : '';
  return `${progress.phase}${of}${eta}`;
}

export function formatError(row: StatusRow, width = 60): string {
  if (!row.lastError) return DASH;
  const line = row.lastError.replace(/\s+/g, ' ');
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

const COLUMNS: { title: string; cell(row: StatusRow): string }[] = [
  { title: 'CONNECTOR', cell: (row) => row.name },
  { title: 'KIND', cell: (row) => row.kind ?? DASH },
  { title: 'STATE', cell: formatState },
  { title: 'LAG', cell: formatLag },
  { title: 'THROUGHPUT', cell: formatThroughput },
  { title: 'PROGRESS', cell: formatProgress },
  { title: 'LAST ERROR', cell: (row) => formatError(row) },
];

/** The rows as an aligned text table (the header first). */
export function formatTable(rows: readonly StatusRow[]): string {
  if (rows.length === 0) return 'no connectors\n';
  const cells = [COLUMNS.map((column) => column.title), ...rows.map((row) => COLUMNS.map((column) => column.cell(row)))];
  return `${alignColumns(cells).join('\n')}\n`;
}
