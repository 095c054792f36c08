/**
 * The pieces behind the dashboard and the log actions, without services: the
 * weighted histogram (same text as prom-client's Histogram fed row by row),
 * the sink lag gauge, and the actions given for known errors.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { WeightedHistogram } from '../../src/metrics/weighted-histogram.js';
import { metrics, registry } from '../../src/metrics/registry.js';
import { SinkLag } from '../../src/sinks/runtime/sink-lag.js';
import { deadLetterAction, errorAction, unreachableAction } from '../../src/core/error-actions.js';
import { logFormat } from '../../src/core/log-pretty.js';
import { createLogger } from '../../src/core/logger.js';

describe('WeightedHistogram', () => {
  it('exports what prom-client\'s Histogram exports for the same values observed one by one', async () => {
    const buckets = [0.01, 0.1, 1, 10];
    const mine = new Registry();
    const theirs = new Registry();
    const weighted = new WeightedHistogram({ name: 'latency_seconds', help: 'h', labelNames: ['connector', 'table'] as const, buckets, registers: [mine] });
    const reference = new Histogram({ name: 'latency_seconds', help: 'h', labelNames: ['connector', 'table'] as const, buckets, registers: [theirs] });
    // Values on a bound, between bounds, above every bound; several tables.
    const observations: [string, number, number][] = [['a', 0.01, 3], ['a', 0.5, 2], ['b', 12, 1], ['a', 0, 4], ['b', 1, 5]];
    for (const [table, value, times] of observations) {
      weighted.labels({ connector: 'sink', table }).observe(value, times);
      for (let i = 0; i < times; i++) reference.observe({ connector: 'sink', table }, value);
    }
    expect(await mine.metrics()).toBe(await theirs.metrics());
  });

  it('keeps one series per label set, ignores non-finite values and drops a removed series', async () => {
    const own = new Registry();
    const histogram = new WeightedHistogram({ name: 'x_seconds', help: 'h', labelNames: ['table'] as const, buckets: [1], registers: [own] });
    expect(histogram.labels({ table: 't' })).toBe(histogram.labels({ table: 't' }));
    histogram.labels({ table: 't' }).observe(Number.NaN, 3);
    histogram.labels({ table: 't' }).observe(2, 0);
    expect(await own.metrics()).toContain('x_seconds_count{table="t"} 0');
    histogram.remove({ table: 't' });
    expect(await own.metrics()).not.toContain('table="t"');
  });

  it('is the registry\'s tideline_sink_end_to_end_seconds, by connector and table, up to 5 minutes', async () => {
    metrics.sinkEndToEnd.labels({ connector: 'unit-e2e', table: 'orders' }).observe(0.2, 7);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE tideline_sink_end_to_end_seconds histogram');
    expect(text).toContain('tideline_sink_end_to_end_seconds_bucket{le="300",connector="unit-e2e",table="orders"} 7');
    expect(text).toContain('tideline_sink_end_to_end_seconds_bucket{le="0.01",connector="unit-e2e",table="orders"} 0');
    expect(text).toContain('tideline_sink_end_to_end_seconds_count{connector="unit-e2e",table="orders"} 7');
  });
});

describe('SinkLag', () => {
  async function lag(topic: string, partition: number): Promise<number | undefined> {
    const values = (await metrics.sinkLagEvents.get()).values;
    return values.find((value) => value.labels.topic === topic && value.labels.partition === String(partition))?.value;
  }

  it('is the high watermark minus the next offset to write, from the first fetch on', async () => {
    const sinkLag = new SinkLag('unit-lag');
    sinkLag.fetched('t', 0, '100', '40'); // nothing stored yet: 40..99 wait
    expect(await lag('t', 0)).toBe(60);
    sinkLag.stored('t', 0, '69');
    expect(await lag('t', 0)).toBe(30);
    sinkLag.fetched('t', 0, '150', '100');
    expect(await lag('t', 0)).toBe(80);
    sinkLag.stored('t', 0, '149');
    expect(await lag('t', 0)).toBe(0);
    sinkLag.fetched('t', 1, undefined, '0'); // no high watermark (a fake consumer): nothing reported
    expect(await lag('t', 1)).toBeUndefined();
  });

  it('drops the series of revoked partitions and all of them at stop', async () => {
    const sinkLag = new SinkLag('unit-lag-2');
    sinkLag.fetched('u', 0, '10', '0');
    sinkLag.fetched('u', 1, '10', '0');
    sinkLag.retain((key) => key.endsWith('0'));
    expect(await lag('u', 0)).toBe(10);
    expect(await lag('u', 1)).toBeUndefined();
    sinkLag.stored('u', 1, '5'); // revoked: not recreated
    expect(await lag('u', 1)).toBeUndefined();
    sinkLag.clear();
    expect(await lag('u', 0)).toBeUndefined();
  });
});

function withCode(message: string, code: string | number, name = 'Error'): Error {
  const error = new Error(message) as Error & { code: string | number };
  error.code = code;
  error.name = name;
  return error;
}

describe('errorAction', () => {
  it('names the fix for PostgreSQL login, privilege and slot problems', () => {
    expect(errorAction(withCode('password authentication failed for user "x"', '28P01'))).toMatch(/password in the connector's url/);
    expect(errorAction(withCode('must be superuser or replication role', '42501'))).toMatch(/REPLICATION/);
    expect(errorAction(withCode('all replication slots are in use', '53400'))).toMatch(/max_replication_slots/);
    expect(errorAction(new Error('replication slot "s1" does not exist'))).toMatch(/snapshotMode: when_needed/);
    expect(errorAction(new Error('publication "p1" does not exist'))).toMatch(/publication/);
  });

  it('names the fix for ClickHouse, Kafka, registry and disk problems', () => {
    expect(errorAction(withCode('Code: 516. Authentication failed', '516'))).toMatch(/username or password/);
    expect(errorAction(withCode('Code: 243. Not enough space', '243'))).toMatch(/disk space/);
    expect(errorAction(withCode('SASL PLAIN authentication failed', 'x', 'KafkaJSSASLAuthenticationError'))).toMatch(/kafka\.sasl/);
    expect(errorAction(withCode('incompatible', 'x', 'IncompatibleSchemaError'))).toMatch(/compatib/);
    expect(errorAction(withCode('ENOSPC: no space left on device, write', 'ENOSPC'))).toMatch(/disk is full/);
    expect(errorAction(withCode('EACCES: permission denied, open \'/state\'', 'EACCES'))).toMatch(/permission/);
  });

  it('looks through causes, says which service to bring back, and gives no action for an unknown error', () => {
    const wrapped = new Error('could not start', { cause: withCode('password authentication failed', '28P01') });
    expect(errorAction(wrapped)).toMatch(/password/);
    const refused = withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
    expect(errorAction(refused, 'postgresql')).toBe(unreachableAction('postgresql'));
    expect(unreachableAction('postgresql')).toMatch(/PostgreSQL \(the connector's url\).*retries by itself/);
    expect(errorAction(new Error('something nobody anticipated'))).toBeUndefined();
  });

  it('tells what to do with dead letters, and about a ClickHouse type change in particular', () => {
    expect(deadLetterAction(undefined)).toMatch(/dead-letter topic/);
    expect(deadLetterAction('type change not applied to db.t: amount is Int32 in ClickHouse but the event needs String')).toMatch(/alter the column type/);
  });
});

describe('terminal log layout', () => {
  it('is chosen by TIDELINE_LOG_FORMAT, else pretty on a terminal and JSON otherwise', () => {
    expect(logFormat({}, true)).toBe('pretty');
    expect(logFormat({}, false)).toBe('json');
    expect(logFormat({ TIDELINE_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormat({ TIDELINE_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
  });

  it('shows the connector, the message, the other fields, the error and the action', () => {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ format: 'pretty', destination: out });
    logger.child({ connector: 'demo-clickhouse', kind: 'clickhouse-sink' }).warn({ attempt: 2, action: 'start ClickHouse', err: new Error('connect ECONNREFUSED 127.0.0.1:8123') }, 'write to ClickHouse failed; retrying');
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[demo-clickhouse\] write to ClickHouse failed; retrying\n/);
    expect(text).toContain('attempt: 2');
    expect(text).toContain('action: "start ClickHouse"');
    expect(text).toContain('connect ECONNREFUSED 127.0.0.1:8123');
    expect(text).not.toContain('"kind"');
  });
});
