import { describe, expect, it, vi } from 'vitest';
import type { LogEntry } from 'kafkajs';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { isKafkaError, isUnreachable } from '../../src/core/service-health.js';
import { ConnectorHealth } from '../../src/runtime/connector-health.js';
import { isConnectivityEntry, isRetryEntry, KafkaReachability } from '../../src/kafka/reachability.js';
import { stopWithin } from '../../src/runtime/shutdown.js';

/** A pino logger whose lines land in `lines`. */
function recordingLogger(lines: { level: string; msg: string }[]) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: string; msg: string });
      done();
    },
  });
  return pino({ level: 'debug', formatters: { level: (label) => ({ level: label }) } }, stream);
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('ConnectorHealth', () => {
  it('logs one warn line per outage, retries at debug, and one info line when it ends', async () => {
    const lines: { level: string; msg: string }[] = [];
    let changes = 0;
    const health = new ConnectorHealth('c1', recordingLogger(lines), () => (changes += 1));
    health.reachable('kafka'); // no outage: nothing to say
    health.unreachable('kafka', 'Connection error: connect ECONNREFUSED', { attempt: 1, nextInMs: 300 });
    health.unreachable('kafka', 'Connection error: connect ECONNREFUSED', { attempt: 2, nextInMs: 600 });
    health.unreachable('kafka', 'Connection error: connect ECONNREFUSED');
    expect(health.degradedReason()).toMatch(/^kafka unreachable since .*: Connection error/);
    health.reachable('kafka');
    health.reachable('kafka');
    await flush();
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      ['warn', 'kafka unreachable, retrying (attempt 1, next in 0.3 s)'],
      ['debug', 'kafka unreachable, retrying (attempt 2, next in 0.6 s)'],
      ['debug', 'kafka unreachable, retrying (attempt 3)'],
      ['info', expect.stringMatching(/^kafka reachable again after \d+\.\d s$/)],
    ]);
    expect(changes).toBe(2);
    expect(health.degradedReason()).toBeUndefined();
    health.close();
  });

  it('takes a failure right after an outage ended as its tail (debug), and one that lasts as a new outage (warn)', async () => {
    // Only the clock is faked (flush() needs the real setImmediate).
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date'] });
    const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);
    try {
      const lines: { level: string; msg: string }[] = [];
      const health = new ConnectorHealth('c3', recordingLogger(lines));
      health.unreachable('kafka', 'refused', { attempt: 1 });
      advance(10_000);
      health.reachable('kafka');
      advance(1_000);
      health.unreachable('kafka', 'refused (left by the outage)', { attempt: 1 }); // its tail
      expect(health.isUnreachable('kafka')).toBe(true);
      advance(1_000);
      health.reachable('kafka');
      advance(1_000);
      health.unreachable('kafka', 'refused again', { attempt: 1 }); // a relapse...
      advance(6_000);
      health.unreachable('kafka', 'still refused', { attempt: 2 }); // ...that lasts: a new outage
      health.reachable('kafka');
      advance(10_000);
      health.unreachable('kafka', 'refused much later', { attempt: 1 }); // long after: a new outage at once
      await flush();
      expect(lines.map((line) => line.level)).toEqual(['warn', 'info', 'debug', 'debug', 'debug', 'warn', 'info', 'warn']);
      expect(lines.filter((line) => line.level === 'warn').map((line) => line.msg)).toEqual([
        'kafka unreachable, retrying (attempt 1)',
        'kafka unreachable, retrying (attempt 2)',
        'kafka unreachable, retrying (attempt 1)',
      ]);
      health.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps outages of several services apart', () => {
    const health = new ConnectorHealth('c2', recordingLogger([]));
    health.unreachable('kafka', 'refused');
    health.unreachable('clickhouse', 'timed out');
    health.reachable('kafka');
    expect(health.isUnreachable('kafka')).toBe(false);
    expect(health.degradedReason()).toMatch(/^clickhouse unreachable since .*: timed out$/);
    health.close();
  });
});

describe('isUnreachable', () => {
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

  it('knows refused, reset and timed-out connections, also wrapped', () => {
    expect(isUnreachable(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))).toBe(true);
    expect(isUnreachable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnreachable(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isUnreachable(new Error('insert failed', { cause: withCode('socket hang up', 'ECONNRESET') }))).toBe(true);
    expect(isUnreachable(new AggregateError([withCode('x', 'ETIMEDOUT')], 'all failed'))).toBe(true);
  });

  it('does not take a refused request for an outage', () => {
    expect(isUnreachable(withCode('relation "t" does not exist', '42P01'))).toBe(false);
    expect(isUnreachable(new Error('Code: 62, Syntax error'))).toBe(false);
    expect(isUnreachable('ECONNREFUSED')).toBe(false);
  });

  it('tells Kafka errors by their name, also wrapped', () => {
    const kafka = Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError' });
    expect(isKafkaError(kafka)).toBe(true);
    expect(isKafkaError(new Error('commit failed', { cause: kafka }))).toBe(true);
    expect(isKafkaError(new Error('ECONNREFUSED'))).toBe(false);
  });
});

describe('kafkajs log entries', () => {
  const entry = (message: string, extra: Record<string, unknown> = {}): LogEntry =>
    ({ namespace: 'Connection', level: 1, label: 'ERROR', log: { timestamp: '', logger: 'kafkajs', message, ...extra } }) as LogEntry;

  it('takes connection chatter for connectivity, and retries for retries', () => {
    expect(isConnectivityEntry(entry('Connection error: connect ECONNREFUSED 127.0.0.1:59092'))).toBe(true);
    expect(isConnectivityEntry(entry('Failed to connect to seed broker, trying another broker from the list: Connection timeout'))).toBe(true);
    expect(isConnectivityEntry(entry('Response Metadata(key: 3, version: 6)'))).toBe(false);
    expect(isRetryEntry(entry('The group is rebalancing, re-joining', { retryCount: 0, retryTime: 300 }))).toBe(true);
    expect(isRetryEntry(entry('Consumer has joined the group'))).toBe(false);
  });
});

describe('stopWithin', () => {
  it('returns 0 when the daemon stops in time', async () => {
    const daemon = { stop: async () => undefined, statuses: () => [{ name: 'a', state: 'stopped' }] };
    expect(await stopWithin(daemon, recordingLogger([]), 2000)).toBe(0);
  });

  it('gives up at the deadline and names the connectors still stopping', async () => {
    const lines: { level: string; msg: string; connectors?: unknown }[] = [];
    const daemon = { stop: () => new Promise<void>(() => undefined), statuses: () => [{ name: 'stuck', state: 'running' }, { name: 'done', state: 'stopped' }] };
    const started = Date.now();
    expect(await stopWithin(daemon, recordingLogger(lines), 1200)).toBe(1);
    expect(Date.now() - started).toBeLessThan(1200);
    await flush();
    expect(lines[0]?.msg).toMatch(/^shutdown deadline \(1.2 s\) reached with 1 connector/);
    expect(lines[0]?.connectors).toEqual([{ name: 'stuck', state: 'running' }]);
  });
});

describe('KafkaReachability', () => {
  const refused = { namespace: 'Connection', level: 1, label: 'ERROR', log: { timestamp: '', logger: 'kafkajs', message: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' } } as LogEntry;

  function recording() {
    const events: string[] = [];
    const health = new ConnectorHealth('reach', recordingLogger([]), () => events.push(health.degradedReason() ? 'down' : 'up'));
    return { health, events };
  }

  it('reports no outage when the probe finds Kafka answering (a stale connection failed)', async () => {
    const { health, events } = recording();
    let probes = 0;
    const reachability = new KafkaReachability(health, async () => void (probes += 1));
    expect(reachability.observe(refused)).toBe(true);
    await until(() => probes === 1);
    await flush();
    expect(events).toEqual([]);
    reachability.close();
    health.close();
  });

  it('reports the outage when the probe fails, and its end when a probe succeeds', async () => {
    const { health, events } = recording();
    let answering = false;
    const reachability = new KafkaReachability(health, async () => {
      if (!answering) throw new Error('Connection error');
    });
    reachability.observe(refused);
    await until(() => health.isUnreachable('kafka'));
    reachability.observe(refused); // a retry during the outage: no new outage
    answering = true;
    await until(() => !health.isUnreachable('kafka'));
    expect(events).toEqual(['down', 'up']);
    reachability.close();
    health.close();
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
