// Daemon.reload() on connectors of a fake kind that record their runs: an
// unchanged connector keeps its run, a changed one is stopped through its
// normal stop path and started again, a broken file keeps the old version
// running with the problem in its status and in the config metrics.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ConnectorDefinition, ConnectorFiles } from '../../src/config/load.js';
import type { ConnectorSpec } from '../../src/core/connector.js';
import { createLogger } from '../../src/core/logger.js';
import { registry } from '../../src/metrics/registry.js';
import { Daemon } from '../../src/runtime/daemon.js';

/** Per connector name: the config of every run started, and how many runs ended because they were asked to stop. */
const runs = new Map<string, { configs: unknown[]; cleanStops: number }>();

const recording: ConnectorSpec = {
  kind: 'recording',
  role: 'sink',
  description: 'test',
  configSchema: z.object({ value: z.number() }),
  create: (context) => ({
    run: async (signal: AbortSignal) => {
      const record = runs.get(context.name) ?? { configs: [], cleanStops: 0 };
      runs.set(context.name, record);
      record.configs.push(context.config);
      context.setState('running');
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      record.cleanStops += 1;
    },
  }),
};

function definition(name: string, value: number, file = `/conf/${name}.yaml`): ConnectorDefinition {
  return { file, name, kind: 'recording', enabled: true, kafka: { brokers: ['127.0.0.1:9'], ssl: false }, format: 'json', config: { value }, spec: recording };
}

async function metric(name: string, labels = ''): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${labels} `) || candidate.startsWith(`${name}${labels ? labels : '{'}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  runs.clear();
});

function startDaemon(initial: ConnectorDefinition[], files: { current: ConnectorFiles }): Promise<void> {
  daemon = new Daemon(initial, createLogger({ level: 'silent' }), { adminHost: '127.0.0.1', adminPort: -1, format: 'json', readConnectors: () => files.current });
  return daemon.start();
}

const status = (name: string) => daemon!.statuses().find((candidate) => candidate.name === name);

async function untilRunning(names: string[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (names.every((name) => status(name)?.state === 'running')) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`not running: ${JSON.stringify(daemon!.statuses())}`);
}

describe('Daemon.reload', () => {
  it('adds, removes and restarts the changed connectors only', async () => {
    const files = { current: { definitions: [definition('keep', 1), definition('change', 1), definition('drop', 1)], problems: [] } as ConnectorFiles };
    await startDaemon(files.current.definitions, files);
    await untilRunning(['keep', 'change', 'drop']);
    const keepStartedAt = status('keep')!.startedAt;

    files.current = { definitions: [definition('keep', 1), definition('change', 2), definition('add', 1)], problems: [] };
    const summary = await daemon!.reload('test');
    expect(summary).toMatchObject({ trigger: 'test', added: ['add'], removed: ['drop'], changed: ['change'], unchanged: ['keep'], kept: [], errors: [] });
    await untilRunning(['keep', 'change', 'add']);

    expect(daemon!.statuses().map((s) => s.name).sort()).toEqual(['add', 'change', 'keep']);
    expect(runs.get('keep')).toEqual({ configs: [{ value: 1 }], cleanStops: 0 });
    expect(status('keep')!.startedAt).toBe(keepStartedAt);
    expect(runs.get('change')).toEqual({ configs: [{ value: 1 }, { value: 2 }], cleanStops: 1 });
    expect(runs.get('drop')).toEqual({ configs: [{ value: 1 }], cleanStops: 1 });
    expect(runs.get('add')).toEqual({ configs: [{ value: 1 }], cleanStops: 0 });
    expect(await metric('tideline_connector_up', '{connector="drop",kind="recording"}')).toBeUndefined();
    expect(await metric('tideline_config_last_reload_successful')).toBe(1);

    // Nothing changed: nothing restarted.
    expect(await daemon!.reload('again')).toMatchObject({ added: [], removed: [], changed: [], unchanged: ['keep', 'change', 'add'] });
    expect(runs.get('change')!.configs).toHaveLength(2);
  });

  it('keeps the old version of a connector whose file is broken, shows why, and applies the rest', async () => {
    const files = { current: { definitions: [definition('a', 1), definition('b', 1)], problems: [] } as ConnectorFiles };
    await startDaemon(files.current.definitions, files);
    await untilRunning(['a', 'b']);
    const before = (await metric('tideline_config_reloads_total', '{result="failure"}')) ?? 0;

    files.current = {
      definitions: [definition('b', 2)],
      problems: [{ file: '/conf/a.yaml', path: 'config.value', message: 'Invalid input: expected number, received string' }],
    };
    const summary = await daemon!.reload('test');
    expect(summary).toMatchObject({ changed: ['b'], kept: ['a'], removed: [], errors: ['/conf/a.yaml: config.value: Invalid input: expected number, received string'] });
    await untilRunning(['a', 'b']);
    expect(runs.get('a')).toEqual({ configs: [{ value: 1 }], cleanStops: 0 });
    expect(status('a')!.reloadError).toBe('/conf/a.yaml: config.value: Invalid input: expected number, received string');
    expect(status('b')!.reloadError).toBeUndefined();
    expect(await metric('tideline_config_last_reload_successful')).toBe(0);
    expect(await metric('tideline_config_reloads_total', '{result="failure"}')).toBe(before + 1);
    expect(await metric('tideline_config_file_problems', '{file="/conf/a.yaml"}')).toBe(1);

    // Fixed: applied, the error and the file's series gone.
    files.current = { definitions: [definition('a', 3), definition('b', 2)], problems: [] };
    expect(await daemon!.reload('test')).toMatchObject({ changed: ['a'], unchanged: ['b'], kept: [], errors: [] });
    await untilRunning(['a', 'b']);
    expect(status('a')!.reloadError).toBeUndefined();
    expect(runs.get('a')!.configs).toEqual([{ value: 1 }, { value: 3 }]);
    expect(await metric('tideline_config_last_reload_successful')).toBe(1);
    expect(await metric('tideline_config_file_problems', '{file="/conf/a.yaml"}')).toBeUndefined();
  });

  it('runs one reload for triggers that come before it starts', async () => {
    let reads = 0;
    const files = { current: { definitions: [definition('a', 1)], problems: [] } as ConnectorFiles };
    daemon = new Daemon(files.current.definitions, createLogger({ level: 'silent' }), {
      adminHost: '127.0.0.1',
      adminPort: -1,
      format: 'json',
      readConnectors: () => {
        reads += 1;
        return files.current;
      },
    });
    await daemon.start();
    const first = daemon.reload('SIGHUP');
    expect(daemon.reload('file change')).toBe(first);
    expect(daemon.reload('file change')).toBe(first);
    expect(await first).toMatchObject({ trigger: 'SIGHUP', unchanged: ['a'] });
    expect(reads).toBe(1);
    await daemon.reload('later');
    expect(reads).toBe(2);
  });

  it('changes nothing when the files cannot be read at all, and says so in the metrics', async () => {
    let fail = false;
    const files = { current: { definitions: [definition('a', 1)], problems: [] } as ConnectorFiles };
    daemon = new Daemon(files.current.definitions, createLogger({ level: 'silent' }), {
      adminHost: '127.0.0.1',
      adminPort: -1,
      format: 'json',
      readConnectors: () => {
        if (fail) throw Object.assign(new Error("EACCES: permission denied, scandir '/conf'"), { code: 'EACCES' });
        return files.current;
      },
    });
    await daemon.start();
    await untilRunning(['a']);
    fail = true;
    expect(await daemon.reload('test')).toBeUndefined();
    expect(await metric('tideline_config_last_reload_successful')).toBe(0);
    expect(status('a')).toMatchObject({ state: 'running' });
    expect(runs.get('a')).toEqual({ configs: [{ value: 1 }], cleanStops: 0 });
  });

  it('does nothing once stopping, and stop() waits for a reload in progress', async () => {
    const files = { current: { definitions: [definition('a', 1)], problems: [] } as ConnectorFiles };
    await startDaemon(files.current.definitions, files);
    await untilRunning(['a']);
    files.current = { definitions: [definition('a', 2)], problems: [] };
    const reloading = daemon!.reload('test');
    await daemon!.stop();
    await reloading;
    expect(await daemon!.reload('late')).toBeUndefined();
    expect(daemon!.statuses().every((s) => s.state === 'stopped')).toBe(true);
    daemon = undefined;
  });
});
