/**
 * Restarts and freezes the services of the native stack (stack/), for the
 * fault tests: a restart is `stack/down <service>` and `stack/up <service>`
 * (same ports, same data); a freeze is SIGSTOP of the service's processes,
 * which keeps their connections open while nothing answers (a black hole at
 * the server, where a proxy cannot stand: Kafka clients connect to the address
 * the broker advertises, not to the one they were given).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type StackService = 'postgres' | 'kafka' | 'clickhouse';

async function stack(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [path.join(REPO_DIR, 'stack', script), ...args], { timeout: 240_000 });
  return stdout;
}

/**
 * Fails unless the tests run on the native stack, whose services this module
 * can restart: services given by the environment or run in containers are not
 * ours to stop.
 */
export async function requireNativeStack(): Promise<void> {
  const urls = await stack('env');
  for (const name of ['TIDELINE_PG_URL', 'TIDELINE_KAFKA_BROKERS', 'TIDELINE_CLICKHOUSE_URL']) {
    const ours = new RegExp(`${name}=(\\S+)`).exec(urls)?.[1];
    if (ours !== process.env[name]) {
      throw new Error(`the fault tests restart services, which they can only do on the native stack (stack/up); ${name} points elsewhere`);
    }
  }
}

export async function stopService(service: StackService): Promise<void> {
  await stack('down', service);
}

export async function startService(service: StackService): Promise<void> {
  await stack('up', service);
}

/** The pids of a service's processes: the server's, and for PostgreSQL every backend's too. */
async function pids(service: StackService): Promise<number[]> {
  const status = await stack('status').catch((error: { stdout?: string }) => error.stdout ?? '');
  const pid = Number(new RegExp(`^${service}\\s+running\\s+pid\\s+(\\d+)`, 'm').exec(status)?.[1]);
  if (!pid) throw new Error(`${service} is not running:\n${status}`);
  if (service !== 'postgres') return [pid];
  const { stdout } = await run('pgrep', ['-P', String(pid)]).catch(() => ({ stdout: '' }));
  return [pid, ...stdout.split('\n').filter(Boolean).map(Number)];
}

/** Freezes a service (SIGSTOP): connections stay open, requests time out. Returns the thaw. */
export async function freezeService(service: StackService): Promise<() => void> {
  const frozen = await pids(service);
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  return () => {
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
  };
}
