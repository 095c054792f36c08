/**
 * Failpoints: named places where a test makes the daemon crash on purpose,
 * to prove recovery from an exact state that a random SIGKILL reaches only by
 * chance. Off unless TIDELINE_FAILPOINTS lists them (comma-separated); never
 * set it in production.
 *
 *   clickhouse-sink.crash-inside-key-change: the sink writes a batch up to the
 *     delete half of a primary-key change, stores its offsets, and is killed
 *     before the create half (written by the next run, from ClickHouse).
 *   replay.crash-while-copying: `tideline replay` is killed after its second
 *     batch into the shadow tables and its saved position.
 *   replay.crash-after-swap: `tideline replay` is killed right after the swap,
 *     before it wrote what arrived meanwhile into the live tables.
 */
import { writeSync } from 'node:fs';
import type { Logger } from './logger.js';

export type Failpoint = 'clickhouse-sink.crash-inside-key-change' | 'replay.crash-while-copying' | 'replay.crash-after-swap';

const enabled = new Set((process.env.TIDELINE_FAILPOINTS ?? '').split(',').map((name) => name.trim()).filter(Boolean));

export function failpointEnabled(name: Failpoint): boolean {
  return enabled.has(name);
}

/** Ends the process as SIGKILL would: no clean-up, nothing flushed. */
export function crashAt(name: Failpoint, logger: Logger): never {
  // Written synchronously: pino writes asynchronously, and the SIGKILL below
  // would often lose the line (tests look for it).
  const line = { level: 'error', time: new Date().toISOString(), ...logger.bindings(), failpoint: name, msg: 'failpoint reached: killing the process' };
  writeSync(1, `${JSON.stringify(line)}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error(`failpoint ${name}: the process survived SIGKILL`);
}
