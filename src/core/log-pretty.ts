/**
 * Log lines for a person at a terminal: pino's JSON line turned into
 *
 *   11:29:24.123 WARN  [demo-clickhouse] write to ClickHouse failed; retrying  attempt=2 retryInMs=500
 *       error: connect ECONNREFUSED 127.0.0.1:8123
 *       action: start ClickHouse (the sink's url) or fix its address ...
 *
 * Machines get the JSON unchanged (TIDELINE_LOG_FORMAT=json, or stdout not a
 * terminal). Written here rather than with pino-pretty, which is not a
 * dependency; the fields are the same, only the layout differs.
 */

const LEVEL_COLORS: Record<string, string> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
/** Fields shown in the line's head, not repeated as key=value. */
const HEAD_FIELDS = new Set(['time', 'level', 'msg', 'name', 'connector', 'kind', 'err', 'action']);

export type LogFormat = 'json' | 'pretty';

/** TIDELINE_LOG_FORMAT when set to json or pretty, else pretty on a terminal and JSON otherwise. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stdoutIsTty = process.stdout.isTTY === true): LogFormat {
  const wanted = env.TIDELINE_LOG_FORMAT?.trim().toLowerCase();
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  return stdoutIsTty ? 'pretty' : 'json';
}

/** A pino destination that writes each JSON line in the terminal layout to `out`. */
export function prettyDestination(out: { write(text: string): unknown } = process.stdout, colors = process.stdout.isTTY === true): { write(line: string): void } {
  return { write: (line: string) => void out.write(prettyLine(line, colors)) };
}

/** One JSON log line in the terminal layout (a line that is not JSON is passed through). */
export function prettyLine(line: string, colors = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const paint = (code: string, text: string) => (colors ? `\u001b[${code}m${text}\u001b[0m` : text);
  const level = String(entry.level ?? 'info');
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const who = typeof entry.connector === 'string' ? ` ${paint('1', `[${entry.connector}]`)}` : '';
  const fields = Object.entries(entry)
    .filter(([key, value]) => !HEAD_FIELDS.has(key) && value !== undefined)
    .map(([key, value]) => `${paint('90', `${key}=`)}${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  let text = `${paint('90', time)} ${paint(LEVEL_COLORS[level] ?? '0', level.toUpperCase().padEnd(5))}${who} ${String(entry.msg ?? '')}${fields ? `  ${fields}` : ''}\n`;
  const err = entry.err as { message?: string; stack?: string } | undefined;
  if (err) {
    const detail = (level === 'error' || level === 'fatal') && err.stack ? err.stack : err.message;
    text += `    ${paint('31', 'error:')} ${String(detail ?? '').replaceAll('\n', '\n    ')}\n`;
  }
  if (typeof entry.action === 'string') text += `    ${paint('1', 'action:')} ${entry.action}\n`;
  return text;
}
