/** Pause, resume and restart of a supervised connector (what the admin API's acting endpoints call). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ConnectorDefinition } from '../../src/config/load.js';
import type { ConnectorContext } from '../../src/core/connector.js';
import { createLogger } from '../../src/core/logger.js';
import { ConnectorSupervisor } from '../../src/runtime/supervisor.js';

interface Runs {
  started: number;
  /** Runs that ended because their signal was aborted (cleanly). */
  stoppedCleanly: number;
  /** How each run ends: undefined runs until aborted; an error fails it at once. */
  failures: (Error | undefined)[];
}

function definition(runs: Runs): ConnectorDefinition {
  return {
    file: 'test.yaml',
    name: 'controlled',
    kind: 'controlled',
    enabled: true,
    kafka: { brokers: ['127.0.0.1:1'], ssl: false },
    format: 'json',
    config: {},
    spec: {
      kind: 'controlled',
      role: 'sink',
      description: 'test',
      configSchema: z.object({}),
      create: (context: ConnectorContext<unknown>) => ({
        run: async (signal: AbortSignal) => {
          runs.started += 1;
          const failure = runs.failures.shift();
          if (failure) throw failure;
          context.setState('running');
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          // Stopping takes a moment, as finishing a batch does.
          await new Promise((resolve) => setTimeout(resolve, 20));
          runs.stoppedCleanly += 1;
        },
      }),
    },
  } as ConnectorDefinition;
}

const quiet = createLogger({ level: 'silent' });

describe('ConnectorSupervisor pause, resume and restart', () => {
  it('pause stops the run (resolving once it has), holds it paused, and resume starts a fresh run', async () => {
    const runs: Runs = { started: 0, stoppedCleanly: 0, failures: [] };
    const supervisor = new ConnectorSupervisor(definition(runs), quiet);
    supervisor.start();
    await until(() => supervisor.status().state === 'running');
    await supervisor.pause();
    expect(runs.stoppedCleanly).toBe(1);
    expect(supervisor.status().state).toBe('paused');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs.started).toBe(1); // nothing runs while paused
    await supervisor.pause(); // pausing again is a no-op
    supervisor.resume();
    await until(() => supervisor.status().state === 'running');
    expect(runs.started).toBe(2);
    expect(supervisor.status().restarts).toBe(0); // not counted as a failure's restart
    await supervisor.stop();
    expect(supervisor.status().state).toBe('stopped');
  });

  it('restart ends the run and starts a new one at once; a failed connector waiting out its backoff starts now', async () => {
    const runs: Runs = { started: 0, stoppedCleanly: 0, failures: [] };
    const supervisor = new ConnectorSupervisor(definition(runs), quiet, undefined, { initialMs: 60_000, maxMs: 60_000, healthyRunMs: 10 });
    supervisor.start();
    await until(() => supervisor.status().state === 'running');
    expect(supervisor.restart()).toBe('restarting');
    await until(() => runs.started === 2 && supervisor.status().state === 'running');
    expect(runs.stoppedCleanly).toBe(1);

    // A failure: the next run would come after 60 s of backoff; restart starts it now.
    runs.failures.push(new Error('boom at ingest'));
    supervisor.restart();
    await until(() => supervisor.status().state === 'failed');
    expect(supervisor.lastError()?.message).toBe('boom at ingest');
    expect(supervisor.lastError()?.trace).toMatch(/^Error: boom at ingest\n\s+at /);
    supervisor.restart();
    await until(() => runs.started === 4 && supervisor.status().state === 'running');
    expect(supervisor.lastError()?.message).toBe('boom at ingest'); // kept after the recovery
    await supervisor.stop();
  });

  it('leaves a paused connector paused on restart, and pauses a failed one without waiting for its backoff', async () => {
    const runs: Runs = { started: 0, stoppedCleanly: 0, failures: [new Error('first run fails')] };
    const supervisor = new ConnectorSupervisor(definition(runs), quiet, undefined, { initialMs: 60_000, maxMs: 60_000, healthyRunMs: 10 });
    supervisor.start();
    await until(() => supervisor.status().state === 'failed');
    await supervisor.pause();
    expect(supervisor.status().state).toBe('paused');
    expect(supervisor.restart()).toBe('paused');
    supervisor.resume();
    await until(() => supervisor.status().state === 'running');
    expect(runs.started).toBe(2);
    await supervisor.stop();
    expect(supervisor.restart()).toBe('stopped');
  });

  it('stops a paused connector', async () => {
    const runs: Runs = { started: 0, stoppedCleanly: 0, failures: [] };
    const supervisor = new ConnectorSupervisor(definition(runs), quiet);
    supervisor.start();
    await until(() => supervisor.status().state === 'running');
    await supervisor.pause();
    await supervisor.stop();
    expect(supervisor.status().state).toBe('stopped');
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
