/**
 * Helpers for integration tests that run connectors in-process against the real
 * services: unique names per test run, connector files written to a temp dir
 * and loaded through the normal config path, a Daemon, and polling.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/core/logger.js';
import { loadConnectorFiles } from '../../src/config/load.js';
import { Daemon, type DaemonOptions } from '../../src/runtime/daemon.js';
import { connectorKinds } from '../../src/runtime/registry.js';
import { isFormat } from '../../src/serde/index.js';
import { testRegistry } from './test-registry.js';

/** A short unique suffix so runs never share slots, topics or tables. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

export function writeConnectorFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-it-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/**
 * `options`: the daemon's format and schema registry. The format defaults to
 * TIDELINE_FORMAT, else the daemon's default (avro), as for `tideline run`
 * (and the DaemonProcess children); the registry to the run's embedded one
 * (test-registry.ts), the kind `tideline run` uses, shared with the test's
 * readers (testConverter) and the child daemons. `threads` is off unless
 * TIDELINE_THREADS=true: these daemons run from TypeScript under vitest,
 * where each worker would first load tsx and compile its module graph. The
 * spawned daemons (DaemonProcess: crash recovery, faults, reload, the admin
 * API, Prometheus) run `tideline run` from dist/ with its default, threads
 * on, and connector-threads.test.ts runs in-process daemons with threads.
 */
export async function startDaemon(dir: string, options: Pick<DaemonOptions, 'format' | 'registry' | 'threads'> = {}): Promise<Daemon> {
  const definitions = loadConnectorFiles([dir], connectorKinds);
  const envFormat = process.env.TIDELINE_FORMAT;
  const format = options.format ?? (isFormat(envFormat) ? envFormat : undefined);
  const daemon = new Daemon(definitions, createLogger({ level: process.env.TIDELINE_TEST_LOG_LEVEL ?? 'warn' }), {
    adminHost: '127.0.0.1',
    adminPort: -1,
    registry: testRegistry,
    // TIDELINE_THREADS=true runs the in-process daemons' connectors in worker threads.
    threads: process.env.TIDELINE_THREADS === 'true',
    ...options,
    format,
  });
  await daemon.start();
  return daemon;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
