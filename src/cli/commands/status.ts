/**
 * `tideline status`: a table of the daemon's connectors from its admin API
 * (state, lag, throughput, snapshot progress, last error), once or every few
 * seconds, or as JSON.
 */
import type { Command } from 'commander';
import { errorMessage } from '../../core/errors.js';
import { ADMIN_TOKEN_ENV } from '../../runtime/admin/auth.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable, statusRows, type StatusRow } from '../status-view.js';
import { DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT } from './run.js';

interface StatusOptions {
  url: string;
  json?: boolean;
  watch?: string | boolean;
}

/** What `tideline run` listens on by default (with TIDELINE_ADMIN_HOST/PORT as it reads them). */
export function defaultUrl(): string {
  if (process.env.TIDELINE_ADMIN_URL) return process.env.TIDELINE_ADMIN_URL;
  // A daemon listening on every address is reached on loopback.
  const configured = process.env.TIDELINE_ADMIN_HOST;
  const host = configured && configured !== '0.0.0.0' && configured !== '::' ? configured : DEFAULT_ADMIN_HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${process.env.TIDELINE_ADMIN_PORT ?? DEFAULT_ADMIN_PORT}`;
}

async function fetchRows(base: string): Promise<StatusRow[]> {
  const url = `${base.replace(/\/+$/, '')}/connectors?expand=status`;
  const token = process.env[ADMIN_TOKEN_ENV];
  let response: Response;
  try {
    response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw new Error(`cannot reach the daemon's admin API at ${base}: ${errorMessage(cause ?? error)} (is \`tideline run\` up? --url or TIDELINE_ADMIN_URL)`);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : response.statusText;
    throw new Error(`the admin API at ${base} answered ${response.status}: ${message}${response.status === 401 ? ` (set ${ADMIN_TOKEN_ENV})` : ''}`);
  }
  return statusRows(body);
}

function render(rows: StatusRow[], json: boolean): string {
  return json ? `${JSON.stringify(rows)}\n` : formatTable(rows);
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(`Show the daemon's connectors: state, lag, throughput, snapshot progress and last error (from its admin API; sends $${ADMIN_TOKEN_ENV} when set).`)
    .option('--url <url>', 'admin API of the daemon (default: $TIDELINE_ADMIN_URL, else http://127.0.0.1:$TIDELINE_ADMIN_PORT or 8089)', defaultUrl())
    .option('--json', 'print the rows as JSON (one array per refresh, one line each)')
    .option('--watch [seconds]', 'refresh every few seconds (default 2) until interrupted')
    .action(async (options: StatusOptions) => {
      const json = options.json === true;
      if (options.watch === undefined) {
        try {
          process.stdout.write(render(await fetchRows(options.url), json));
        } catch (error) {
          console.error(errorMessage(error));
          process.exitCode = ExitCode.failure;
        }
        return;
      }
      const seconds = options.watch === true ? 2 : Number(options.watch);
      if (!(seconds > 0)) {
        console.error(`--watch: "${String(options.watch)}" is not a number of seconds`);
        process.exitCode = ExitCode.usage;
        return;
      }
      const clear = process.stdout.isTTY && !json;
      const interrupted = new AbortController();
      const stop = (): void => interrupted.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      while (!interrupted.signal.aborted) {
        let text: string;
        try {
          text = render(await fetchRows(options.url), json);
        } catch (error) {
          text = `${errorMessage(error)}\n`;
        }
        if (clear) process.stdout.write('\x1b[2J\x1b[H');
        else if (!json) text = `${new Date().toISOString()}\n${text}\n`;
        process.stdout.write(text);
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            interrupted.signal.removeEventListener('abort', done);
            resolve();
          }, seconds * 1000);
          interrupted.signal.addEventListener('abort', done, { once: true });
        });
      }
    });
}
