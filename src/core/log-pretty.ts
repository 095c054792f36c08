/**
 * Log lines for a person at a terminal, by pino-pretty:
 *
 *   [11:29:24.123] WARN: [demo-clickhouse] write to ClickHouse failed; retrying
 *       attempt: 2
 *       action: "start ClickHouse (the sink's url) or fix its address ..."
 *       err: { ... }
 *
 * Machines get pino's JSON lines unchanged (TIDELINE_LOG_FORMAT=json, or
 * stdout not a terminal); the fields are the same, only the layout differs.
 */
import { build as prettyStream } from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/** TIDELINE_LOG_FORMAT when set to json or pretty, else pretty on a terminal and JSON otherwise. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stdoutIsTty = process.stdout.isTTY === true): LogFormat {
  const wanted = env.TIDELINE_LOG_FORMAT?.trim().toLowerCase();
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  return stdoutIsTty ? 'pretty' : 'json';
}

/** A pino destination that writes each line in the terminal layout to `destination` (default stdout). */
export function prettyDestination(destination: NodeJS.WritableStream = process.stdout, colorize = process.stdout.isTTY === true): NodeJS.WritableStream {
  return prettyStream({
    destination,
    colorize,
    // Synchronous, as pino's own stdout destination: a line is out before an exit.
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The connector leads the message; pid, host and the logger's name say nothing at a terminal.
    messageFormat: '{if connector}[{connector}] {end}{msg}',
    ignore: 'pid,hostname,name,connector,kind',
  });
}
