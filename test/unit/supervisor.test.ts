import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ConnectorDefinition } from '../../src/config/load.js';
import type { ConnectorContext } from '../../src/core/connector.js';
import { createLogger } from '../../src/core/logger.js';
import { ConnectorSupervisor } from '../../src/runtime/supervisor.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

/** A definition whose runs follow `runs`: each reports running (or not), waits, then fails with the given error; later runs run until stopped. */
function definition(runs: { running: boolean; forMs: number; error: Error }[], starts: number[]): ConnectorDefinition {
  return {
    file: 'test.yaml',
    name: 'scripted',
    kind: 'scripted',
    enabled: true,
    kafka: { brokers: ['127.0.0.1:1'], ssl: false },
    format: 'json',
    config: {},
    spec: {
      kind: 'scripted',
      role: 'source',
      service: 'postgresql',
      description: 'test',
      configSchema: z.object({}),
      create: (context: ConnectorContext<unknown>) => ({
        run: async (signal: AbortSignal) => {
          starts.push(Date.now());
          const script = runs.shift();
          if (!script) {
            context.setState('running');
            return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          }
          if (script.running) context.setState('running');
          await new Promise((resolve) => setTimeout(resolve, script.forMs));
          throw script.error;
        },
      }),
    },
  } as ConnectorDefinition;
}

describe('ConnectorSupervisor', () => {
  it('reports a run ended by an unreachable service as that outage (degraded), not as a failure', async () => {
    const starts: number[] = [];
    const supervisor = new ConnectorSupervisor(definition([{ running: true, forMs: 10, error: refused() }], starts), createLogger({ level: 'silent' }), undefined, { initialMs: 200, maxMs: 1000, healthyRunMs: 5 });
    supervisor.start();
    await until(() => starts.length === 1 && supervisor.status().state === 'degraded');
    expect(supervisor.status().detail).toMatch(/^postgresql unreachable since .*ECONNREFUSED/);
    await until(() => starts.length === 2 && supervisor.status().state === 'running');
    await supervisor.stop();
    expect(supervisor.status().state).toBe('stopped');
  });

  it('restarts the backoff when an outage ends a run that was healthy, keeps doubling it in a crash loop', async () => {
    const starts: number[] = [];
    const runs = [
      { running: false, forMs: 0, error: refused() }, // 1st retry after 40 ms
      { running: false, forMs: 0, error: refused() }, // 2nd after 80 ms
      { running: true, forMs: 100, error: refused() }, // healthy for 100 ms: back to 40 ms
    ];
    const supervisor = new ConnectorSupervisor(definition(runs, starts), createLogger({ level: 'silent' }), undefined, { initialMs: 40, maxMs: 10_000, healthyRunMs: 50 });
    supervisor.start();
    await until(() => starts.length === 4);
    await supervisor.stop();
    const gaps = [starts[1]! - starts[0]!, starts[2]! - starts[1]!, starts[3]! - starts[2]! - 100];
    expect(gaps[1]).toBeGreaterThanOrEqual(75); // doubled
    expect(gaps[2]).toBeLessThan(75); // reset to the first delay
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
