/**
 * Connectors in worker threads (src/runtime/worker/): the message protocol's
 * errors, the merge of the threads' metrics, where the worker's code is, and
 * a real worker thread running a connector whose service is unreachable.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConnectorFiles } from '../../src/config/load.js';
import type { ConnectorContext, ConnectorState } from '../../src/core/connector.js';
import type { ConnectorDefinition } from '../../src/config/load.js';
import { errorAction } from '../../src/core/error-actions.js';
import { TidelineError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { isKafkaError, isUnreachable } from '../../src/core/service-health.js';
import { addMetricsSource, mergeMetrics, metricValues, monotonic, removeMetricsSource, scrapeMetrics, type MetricsJson } from '../../src/metrics/thread-metrics.js';
import { IncompatibleSchemaError, SchemaNotFoundError } from '../../src/registry/schema-registry.js';
import { connectorKinds } from '../../src/runtime/registry.js';
import { deserializeError, serializeError } from '../../src/runtime/worker/protocol.js';
import { RemoteSchemaRegistry } from '../../src/runtime/worker/remote-registry.js';
import { workerEntry } from '../../src/runtime/worker/worker-entry.js';
import { WorkerHost, workerRefusal } from '../../src/runtime/worker/worker-host.js';
import { threadsSetting } from '../../src/cli/commands/run.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const roundTrip = (error: unknown): Error => deserializeError(structuredClone(serializeError(error)));

describe('errors across threads', () => {
  it('keep what the supervisor classifies them by: name, code, message, causes', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const kafka = new Error('Connection error', { cause: refused });
    kafka.name = 'KafkaJSConnectionError';
    const back = roundTrip(kafka);
    expect(back.name).toBe('KafkaJSConnectionError');
    expect(back.stack).toBe(kafka.stack);
    expect(isUnreachable(back)).toBe(true);
    expect(isKafkaError(back)).toBe(true);
    expect((back.cause as { code?: string }).code).toBe('ECONNREFUSED');

    const password = Object.assign(new Error('password authentication failed for user "x"'), { code: '28P01' });
    expect(errorAction(roundTrip(password), 'postgresql')).toBe(errorAction(password, 'postgresql'));
    expect(errorAction(roundTrip(password))).toMatch(/password/);

    const clickhouse = Object.assign(new Error('Authentication failed'), { code: '516' });
    expect(errorAction(roundTrip(clickhouse))).toBe(errorAction(clickhouse));

    const aggregate = new AggregateError([refused, new Error('other')], 'all failed');
    const aggregateBack = roundTrip(aggregate);
    expect(aggregateBack).toBeInstanceOf(AggregateError);
    expect(isUnreachable(aggregateBack)).toBe(true);
    expect(isUnreachable(roundTrip(new Error('bad config')))).toBe(false);
  });

  it('gives back the schema registry\'s errors as their classes (callers test them with instanceof)', () => {
    const incompatible = roundTrip(new IncompatibleSchemaError('t-value', 'field x removed'));
    expect(incompatible).toBeInstanceOf(IncompatibleSchemaError);
    expect((incompatible as IncompatibleSchemaError).subject).toBe('t-value');
    expect(incompatible.message).toBe('field x removed');
    const missing = roundTrip(new SchemaNotFoundError(42));
    expect(missing).toBeInstanceOf(SchemaNotFoundError);
    expect((missing as SchemaNotFoundError).id).toBe(42);
  });

  it('keeps a TidelineError one (the admin API answers 400 with it) under its own name', () => {
    class SignalDataError extends TidelineError {}
    const back = roundTrip(new SignalDataError('data-collections must be a list'));
    expect(back).toBeInstanceOf(TidelineError);
    expect(back.name).toBe('SignalDataError');
    expect(back.message).toBe('data-collections must be a list');
  });

  it('survives a non-Error and a cause cycle', () => {
    expect(roundTrip('plain text').message).toBe('plain text');
    const looped = new Error('a');
    (looped as { cause?: unknown }).cause = looped;
    expect(roundTrip(looped).message).toBe('a');
  });
});

describe('RemoteSchemaRegistry', () => {
  it('asks the main thread by message and settles each request with its own answer', async () => {
    const sent: unknown[] = [];
    const remote = new RemoteSchemaRegistry({ postMessage: (message: unknown) => sent.push(message) });
    const id = remote.register('t-value', '{"type":"string"}');
    const schema = remote.schemaById(7);
    const refused = remote.register('u-value', '{"type":"int"}');
    expect(sent).toEqual([
      { type: 'registry', request: 1, op: 'register', subject: 't-value', schema: '{"type":"string"}' },
      { type: 'registry', request: 2, op: 'schemaById', id: 7 },
      { type: 'registry', request: 3, op: 'register', subject: 'u-value', schema: '{"type":"int"}' },
    ]);
    remote.settle(2, '{"type":"long"}', undefined);
    remote.settle(1, 3, undefined);
    remote.settle(3, undefined, serializeError(new IncompatibleSchemaError('u-value', 'no')));
    await expect(id).resolves.toBe(3);
    await expect(schema).resolves.toBe('{"type":"long"}');
    await expect(refused).rejects.toBeInstanceOf(IncompatibleSchemaError);
  });
});

/** The metrics of a thread: a registry of its own with the given counter and gauge values. */
async function threadMetrics(connector: string, events: number, assigned: number): Promise<MetricsJson> {
  const registry = new Registry();
  const counter = new Counter({ name: 'tideline_test_events_total', help: 'events', labelNames: ['connector'], registers: [registry] });
  const gauge = new Gauge({ name: 'tideline_test_assigned', help: 'assigned', labelNames: ['connector'], registers: [registry] });
  counter.inc({ connector }, events);
  gauge.set({ connector }, assigned);
  return registry.getMetricsAsJSON();
}

describe('metrics across threads', () => {
  it('merges the threads\' series into one exposition', async () => {
    const text = await mergeMetrics([await threadMetrics('a', 5, 2), await threadMetrics('b', 7, 3)]).metrics();
    expect(text).toContain('tideline_test_events_total{connector="a"} 5');
    expect(text).toContain('tideline_test_events_total{connector="b"} 7');
    expect(text).toContain('tideline_test_assigned{connector="b"} 3');
    expect(text.match(/# TYPE tideline_test_events_total counter/g)).toHaveLength(1);
  });

  it('keeps an ended thread\'s counters (a new thread of the connector continues from them) and drops its gauges', async () => {
    const first = await threadMetrics('carried-test', 5, 2);
    expect(monotonic(first).map((metric) => metric.name)).toEqual(['tideline_test_events_total']);
    const second = { collect: async () => threadMetrics('carried-test', 3, 4) };
    const ended = { collect: async () => first };
    addMetricsSource(ended);
    addMetricsSource(second);
    const before = await scrapeMetrics();
    expect(before).toContain('tideline_test_events_total{connector="carried-test"} 8');
    expect(before).toContain('tideline_test_assigned{connector="carried-test"} 6');
    expect((await metricValues('tideline_test_events_total')).find((value) => value.labels.connector === 'carried-test')?.value).toBe(8);
    removeMetricsSource(ended, first);
    const after = await scrapeMetrics();
    expect(after).toContain('tideline_test_events_total{connector="carried-test"} 8'); // not back to 3
    expect(after).toContain('tideline_test_assigned{connector="carried-test"} 4');
    // The main thread's own metrics are there too.
    expect(after).toContain('process_cpu_user_seconds_total');
    removeMetricsSource(second, undefined);
  });

  it('leaves out a thread that does not answer rather than failing the scrape', async () => {
    const broken = { collect: () => Promise.reject(new Error('gone')) };
    addMetricsSource(broken);
    await expect(scrapeMetrics()).resolves.toContain('process_cpu_user_seconds_total');
    removeMetricsSource(broken, undefined);
  });
});

describe('workerEntry', () => {
  it('runs the built JavaScript as is', () => {
    const entry = workerEntry('file:///app/dist/runtime/worker/worker-entry.js');
    expect(entry).toEqual({ source: new URL('file:///app/dist/runtime/worker/connector-worker.js'), eval: false });
  });

  it('runs the TypeScript sources through a script that registers tsx in the worker first', () => {
    const entry = workerEntry('file:///app/src/runtime/worker/worker-entry.ts', () => 'file:///app/node_modules/tsx/dist/esm/api/index.mjs');
    expect(entry.eval).toBe(true);
    expect(entry.source).toBe('import("file:///app/node_modules/tsx/dist/esm/api/index.mjs").then((tsx) => { tsx.register(); return import("file:///app/src/runtime/worker/connector-worker.ts"); });');
  });
});

describe('threadsSetting', () => {
  it('takes the flag, else TIDELINE_THREADS, else on, and names a bad value', () => {
    expect(threadsSetting(true, 'false')).toBe(true);
    expect(threadsSetting(false, 'true')).toBe(false);
    expect(threadsSetting(undefined, 'true')).toBe(true);
    expect(threadsSetting(undefined, 'false')).toBe(false);
    expect(threadsSetting(undefined, undefined)).toBe(true);
    expect(threadsSetting(undefined, '')).toBe(true);
    expect(threadsSetting(undefined, 'yes')).toMatch(/TIDELINE_THREADS: "yes"/);
  });
});

/** A definition of a registered kind, loaded from a connector file as the daemon loads it. */
function definitionOf(lines: string[]): ConnectorDefinition {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-threads-'));
  writeFileSync(join(dir, 'connector.yaml'), lines.join('\n'));
  const [definition] = loadConnectorFiles([dir], connectorKinds);
  return definition!;
}

interface Reports {
  states: ConnectorState[];
  outages: string[];
}

function contextFor(definition: ConnectorDefinition, reports: Reports): ConnectorContext<unknown> {
  return {
    name: definition.name,
    kind: definition.kind,
    config: definition.config,
    kafka: definition.kafka,
    // The worker makes its own converter and knows the row versions; these are the main thread's, unused.
    converter: undefined as never,
    rowVersions: undefined as never,
    logger: createLogger({ level: 'silent' }),
    setState: (state) => reports.states.push(state),
    health: { unreachable: (service) => reports.outages.push(service), reachable: () => undefined, isUnreachable: () => false },
  };
}

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('workerRefusal', () => {
  const sink = () => definitionOf(['name: refusal-sink', 'kind: clickhouse-sink', 'format: json', 'kafka:', '  brokers: 127.0.0.1:1', 'config:', '  url: http://127.0.0.1:1', '  topics: [t]']);

  it('runs in the main thread a kind that is not the registered one (the worker finds kinds by name)', () => {
    const definition = sink();
    expect(workerRefusal({ ...definition, spec: { ...definition.spec } })).toMatch(/not one of the registered kinds/);
  });

  it('runs in the main thread a config that cannot be sent to a thread', () => {
    const definition = sink();
    expect(workerRefusal({ ...definition, config: { ...(definition.config as object), hook: () => undefined } })).toMatch(/cannot be sent to a thread/);
  });
});

describe('WorkerHost (a real worker thread)', () => {
  const hosts: WorkerHost[] = [];
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((host) => host.close()));
  });

  it('reports the worker\'s outages to the main thread, stops on abort, and keeps the thread (and its metrics) for the next attempt', async () => {
    // A sink whose Kafka and ClickHouse are closed ports: it reports an outage and retries until stopped.
    const definition = definitionOf(['name: threads-sink', 'kind: clickhouse-sink', 'format: json', 'kafka:', '  brokers: 127.0.0.1:1', 'config:', '  url: http://127.0.0.1:1', '  topics: [t]']);
    expect(workerRefusal(definition)).toBeUndefined();
    const host = new WorkerHost(definition, createLogger({ level: 'silent' }), undefined);
    hosts.push(host);
    const reports: Reports = { states: [], outages: [] };
    const connector = host.create(contextFor(definition, reports));
    const abort = new AbortController();
    const run = connector.run(abort.signal);
    await until(() => reports.outages.length > 0);
    expect(['kafka', 'clickhouse']).toContain(reports.outages[0]);
    await expect(connector.signal!('execute-snapshot', {})).rejects.toThrow(/takes no signals/);
    abort.abort();
    // The run settles once aborted (cleanly, or with the failure it was retrying: the supervisor logs that as a failure while stopping).
    await expect(run.then(() => 'settled', () => 'settled')).resolves.toBe('settled');
    // The thread outlives the run: its metrics are there (tideline's own only).
    const metrics = await host.collect();
    expect(metrics.some((metric) => metric.name === 'tideline_sink_rows_written_total')).toBe(true);
    expect(metrics.some((metric) => metric.name.startsWith('process_'))).toBe(false);
  }, 30_000);

  it('fails the attempt with the worker\'s error, classified as in the main thread', async () => {
    // A source whose PostgreSQL is a closed port: the run fails, unreachable.
    const definition = definitionOf([
      'name: threads-source', 'kind: postgres-source', 'format: json', 'kafka:', '  brokers: 127.0.0.1:1', 'config:',
      '  url: postgres://u:p@127.0.0.1:1/db', '  slot: s', '  publication: p', '  tables: [public.t]', '  topicPrefix: x',
    ]);
    const host = new WorkerHost(definition, createLogger({ level: 'silent' }), undefined);
    hosts.push(host);
    const connector = host.create(contextFor(definition, { states: [], outages: [] }));
    const failed = await connector.run(new AbortController().signal).then(() => undefined, (error: unknown) => error);
    expect(failed).toBeInstanceOf(Error);
    expect(isUnreachable(failed)).toBe(true);
    expect(errorAction(failed, 'postgresql')).toMatch(/PostgreSQL/);
  }, 30_000);
});
