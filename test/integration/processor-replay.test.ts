/**
 * `tideline replay` on processors, on the real stack.
 *
 * transform: a processor that has emitted everything is replayed through the
 * CLI with --from a time between two batches of input and --pause (the
 * daemon's admin API pauses and resumes it): its output topic, read
 * read_committed, then holds exactly the second batch's outputs once more,
 * and the processor goes on with input written afterwards. A retention gap
 * (records deleted from the input) is refused with the earliest offset.
 *
 * aggregate (mode table): a processor that has aggregated a workload of
 * creates, updates (also of the grouped column) and deletes is replayed; a
 * replay refused while it runs, with --from, and while another replay holds
 * the lock. The replay's records on the output topic are one result per
 * group, each equal to the aggregation computed here from the input (nothing
 * counted twice), with a version above every earlier one of its key; no
 * record of the replay shows a partial count. A ClickHouse sink downstream,
 * polled all along, never shows a row other than the (unchanged) final
 * result, and ends with the rebuilt versions. Afterwards the processor goes
 * on from the rebuilt state: new input changes the results exactly. A replay
 * with a changed filter deletes the results the filter now excludes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent, Row } from '../../src/core/events.js';
import { createLogger } from '../../src/core/logger.js';
import type { ReplayReporter } from '../../src/core/progress.js';
import { loadConnectorFiles } from '../../src/config/load.js';
import { adminControl } from '../../src/cli/commands/replay-admin.js';
import { createKafka, releaseKafka } from '../../src/kafka/client.js';
import { ReplayLock } from '../../src/kafka/replay-lock.js';
import type { AggregateConfig } from '../../src/processors/aggregate/spec.js';
import type { ResultSourceBlock } from '../../src/processors/aggregate/result-source.js';
import { ProcessorReplayRefusedError, replayLockGroup, replayProcessor } from '../../src/processors/replay/processor-replay.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { connectorKinds, rowVersions } from '../../src/runtime/registry.js';
import { createConverter, DEFAULT_FORMAT, isFormat } from '../../src/serde/index.js';
import { ClickHouseServer } from '../../src/sinks/clickhouse/server.js';
import { sinkConnectorYaml } from '../support/fixture.js';
import { tideline } from '../support/cli.js';
import { changeEvent, createTopic, encodeEvent, idempotentProducer, int32, int64, keyOf, readTopics, tableEvents, testKafka, text, valueOf, type ProducedEvent } from '../support/debezium-events.js';
import { eventually, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import { serviceUrls } from '../support/services.js';
import { testRegistry } from '../support/test-registry.js';

const services = serviceUrls();
const brokers = services.kafkaBrokers.join(',');
const kafka = testKafka(services.kafkaBrokers);
const logger = createLogger({ level: process.env.TIDELINE_TEST_LOG_LEVEL ?? 'warn' });

/** A daemon in this process with its admin API on a free port. */
async function startDaemon(dir: string): Promise<{ daemon: Daemon; url: string }> {
  const envFormat = process.env.TIDELINE_FORMAT;
  const daemon = new Daemon(loadConnectorFiles([dir], connectorKinds), logger, {
    adminHost: '127.0.0.1',
    adminPort: 0,
    registry: testRegistry,
    format: isFormat(envFormat) ? envFormat : undefined,
  });
  await daemon.start();
  return { daemon, url: `http://127.0.0.1:${daemon.adminPort}` };
}

/** Sends `messages` (a topic just created may need a moment before its leader takes writes). */
async function produceTo(topic: string, messages: { key: Buffer; value: Buffer | null }[]): Promise<void> {
  const producer = await idempotentProducer(kafka);
  try {
    await eventually(`a send to ${topic}`, async () => {
      await producer.send({ topic, acks: -1, messages });
      return true;
    }, 30_000, 500);
  } finally {
    await producer.disconnect();
  }
}

async function topicExists(topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await eventually(`topic ${topic}`, async () => ((await admin.listTopics()).includes(topic) ? true : undefined));
  } finally {
    await admin.disconnect();
  }
}

const quiet: ReplayReporter = { progress: () => undefined, event: () => undefined };

describe('tideline replay of a transform', () => {
  const suffix = uniqueSuffix();
  const name = `rtransform-${suffix}`;
  const input = `rt${suffix}.public.items`;
  const output = `${input}.out`;
  let daemon: Daemon;
  let url: string;
  let dir: string;
  let table: Awaited<ReturnType<typeof tableEvents>>;
  let seq = 0;

  /** `count` creates or updates of ids 1..30, each with a unique seq. */
  const events = (count: number, op: 'c' | 'u'): ProducedEvent[] =>
    Array.from({ length: count }, (_, i) => {
      const id = (i % 30) + 1;
      seq += 1;
      const row = { id, email: `u${id}@example.com`, seq };
      return { key: { id }, event: changeEvent('items', op, op === 'u' ? row : null, row, Date.UTC(2026, 0, 1) + seq) };
    });
  const produce = (batch: ProducedEvent[]) => produceTo(input, batch.map((event) => encodeEvent(table, event)));
  const seqsOf = (batch: ProducedEvent[]) => batch.map((event) => event.event!.after!.seq as number);
  const outputSeqs = async (count: number) => {
    await topicExists(output);
    const messages = await readTopics(kafka, [output], (read) => read.length >= count, { settleMs: 1_500 });
    return messages.map((message) => valueOf<ChangeEvent>(message.value)!.after!.seq as number);
  };

  beforeAll(async () => {
    table = await tableEvents(input, [
      { name: 'id', schema: int64(), key: true },
      { name: 'email', schema: text(), key: false },
      { name: 'seq', schema: int32(), key: false },
    ]);
    await createTopic(kafka, input, 2);
    dir = writeConnectorFiles({
      'transform.yaml': [
        `name: ${name}`,
        'kind: transform',
        `kafka: { brokers: "${brokers}" }`,
        'config:',
        `  topics: [${input}]`,
        '  outputTopic: "{topic}.out"',
        '  steps:',
        '    - { type: mask, fields: [email] }',
      ].join('\n'),
    });
    ({ daemon, url } = await startDaemon(dir));
  });

  afterAll(async () => {
    await daemon?.stop();
  });

  it('re-emits exactly the records from --from, exactly once, and goes on afterwards', async () => {
    const first = events(30, 'c');
    await produce(first);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const from = new Date(Date.now()).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = events(20, 'u');
    await produce(second);
    expect((await outputSeqs(50)).sort((a, b) => a - b)).toEqual([...seqsOf(first), ...seqsOf(second)]);

    // Running, without --pause: refused, naming the group and how to stop it.
    const refused = await tideline(['replay', name, '-c', dir, '--from', from]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(new RegExp(`refused: ${name} is running \\(group tideline-${name}: 1 member`));
    expect(refused.stderr).toContain('--pause');

    const replay = await tideline(['replay', name, '-c', dir, '--from', from, '--pause', '--url', url, '--json']);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    const done = replay.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; message: string }).find((line) => line.event === 'done');
    expect(done?.message).toMatch(/20 input offsets to reprocess/);

    // Resumed by the replay: the second batch once more (nothing of the first), then what comes after.
    const replayed = await outputSeqs(70);
    expect(replayed).toHaveLength(70);
    expect(replayed.slice(50).sort((a, b) => a - b)).toEqual(seqsOf(second));
    const third = events(10, 'u');
    await produce(third);
    const seqs = await outputSeqs(80);
    expect(seqs).toHaveLength(80);
    expect(seqs.slice(0, 50).sort((a, b) => a - b)).toEqual([...seqsOf(first), ...seqsOf(second)]);
    expect(seqs.slice(50, 70).sort((a, b) => a - b)).toEqual(seqsOf(second));
    expect(seqs.slice(70).sort((a, b) => a - b)).toEqual(seqsOf(third));
    expect(await eventually('the processor to run again', async () => (daemon.statuses()[0]?.state === 'running' ? true : undefined))).toBe(true);
  });

  it('refuses a replay from offsets retention deleted, with the earliest offset', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [input] });
    await admin.deleteTopicRecords({ topic: input, partitions: [{ partition: 0, offset: '3' }] });
    await admin.disconnect();
    const refused = await tideline(['replay', name, '-c', dir, '--pause', '--url', url]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(new RegExp(`refused: the topic no longer holds the records ${name}'s reprocessing needs \\(deleted by retention\\): ${input.replaceAll('.', '\\.')} partition 0 starts at offset 3 \\(needed from 0\\)`));
    // Nothing changed, and the processor was resumed.
    expect(await eventually('the processor to run again', async () => (daemon.statuses()[0]?.state === 'running' ? true : undefined))).toBe(true);
  });
});

describe('tideline replay of an aggregate', () => {
  const suffix = uniqueSuffix();
  const name = `raggregate-${suffix}`;
  const input = `ra${suffix}.public.orders`;
  const output = `ra${suffix}.per_customer`;
  const database = `ra_${suffix}`;
  const clickhouse = new ClickHouseServer(services.clickhouseUrl, 'default', undefined);
  const customers = ['ada', 'bob', 'cyd', 'dee'];
  const rows = new Map<number, Row>();
  let daemon: Daemon;
  let url: string;
  let dir: string;
  let config: AggregateConfig;
  let table: Awaited<ReturnType<typeof tableEvents>>;
  let ts = Date.UTC(2026, 0, 1);
  let nextId = 1;

  /** Creates, amount updates, customer moves and deletes (with tombstones), applied to `rows`. */
  function workload(creates: number, updates: number, moves: number, deletes: number): ProducedEvent[] {
    const events: ProducedEvent[] = [];
    const change = (id: number, op: 'c' | 'u' | 'd', after: Row | null) => {
      const before = rows.get(id) ?? null;
      if (after) rows.set(id, after);
      else rows.delete(id);
      events.push({ key: { id }, event: changeEvent('orders', op, before, after, (ts += 10)) });
      if (op === 'd') events.push({ key: { id }, event: null });
    };
    for (let i = 0; i < creates; i++) {
      const id = nextId++;
      change(id, 'c', { id, customer: customers[id % customers.length]!, amount: (id * 7) % 50 });
    }
    const live = () => [...rows.keys()];
    for (let i = 0; i < updates; i++) {
      const id = live()[(i * 5) % live().length]!;
      change(id, 'u', { ...rows.get(id)!, amount: ((rows.get(id)!.amount as number) + 3) % 50 });
    }
    for (let i = 0; i < moves; i++) {
      const id = live()[(i * 3 + 1) % live().length]!;
      change(id, 'u', { ...rows.get(id)!, customer: customers[(i + 1) % customers.length]! });
    }
    for (let i = 0; i < deletes; i++) change(live()[(i * 4 + 2) % live().length]!, 'd', null);
    return events;
  }

  /** The aggregation computed here from the rows: customer → [orders, total]. */
  function expected(): Map<string, [number, number]> {
    const out = new Map<string, [number, number]>();
    for (const row of rows.values()) {
      const [orders, total] = out.get(row.customer as string) ?? [0, 0];
      out.set(row.customer as string, [orders + 1, total + (row.amount as number)]);
    }
    return out;
  }

  interface Result {
    offset: number;
    customer: string;
    op: string;
    /** [orders, total], or null for a tombstone. */
    value: [number, number] | null;
    version: number;
  }

  async function results(): Promise<Result[]> {
    await topicExists(output);
    const messages = await readTopics(kafka, [output], () => true, { settleMs: 2_000 });
    return messages.map((message) => {
      const key = keyOf<{ customer: string }>(message.key)!;
      const event = valueOf<ChangeEvent<ResultSourceBlock>>(message.value);
      const row = event ? (event.after ?? event.before)! : null;
      return {
        offset: Number(message.offset),
        customer: key.customer,
        op: event?.op ?? 'tombstone',
        value: row ? [Number(row.orders), Number(row.total)] : null,
        version: event?.source.lsn ?? -1,
      };
    });
  }

  /** The latest result of each customer (deleted ones left out). */
  function current(list: readonly Result[]): Map<string, [number, number]> {
    const out = new Map<string, [number, number]>();
    for (const result of list) {
      if (result.op === 'tombstone') continue;
      if (result.op === 'd') out.delete(result.customer);
      else out.set(result.customer, result.value!);
    }
    return out;
  }

  const sorted = (map: Map<string, [number, number]>) => [...map].sort(([a], [b]) => a.localeCompare(b));

  async function produce(events: ProducedEvent[]): Promise<void> {
    await produceTo(input, events.map((event) => encodeEvent(table, event)));
  }

  beforeAll(async () => {
    table = await tableEvents(input, [
      { name: 'id', schema: int64(), key: true },
      { name: 'customer', schema: text(false), key: false },
      { name: 'amount', schema: int32(), key: false },
    ]);
    await createTopic(kafka, input, 2);
    await produce(workload(40, 15, 8, 6));
    dir = writeConnectorFiles({
      'sink.yaml': sinkConnectorYaml(`ra-sink-${suffix}`, brokers, { url: services.clickhouseUrl, database, topics: `[${output}]` }),
      'aggregate.yaml': [
        `name: ${name}`,
        'kind: aggregate',
        `kafka: { brokers: "${brokers}" }`,
        'config:',
        `  topics: [${input}]`,
        `  outputTopic: ${output}`,
        '  table: per_customer',
        '  groupBy: { customer: after.customer }',
        '  window: { type: tumbling, size: 36500d }',
        '  aggregates:',
        '    orders: { fn: count }',
        '    total: { fn: sum, expression: after.amount, type: int64 }',
      ].join('\n'),
    });
    config = loadConnectorFiles([dir], connectorKinds).find((definition) => definition.kind === 'aggregate')!.config as AggregateConfig;
    ({ daemon, url } = await startDaemon(dir));
  });

  afterAll(async () => {
    await daemon?.stop();
    await clickhouse.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await clickhouse.close();
  });

  /** The sink's view: customer → [orders, total]. */
  async function view(): Promise<Map<string, [number, number]>> {
    const rows = await clickhouse.rows<{ customer: string; orders: string; total: string }>(
      `SELECT customer, toString(orders) AS orders, toString(total) AS total FROM ${database}.per_customer_current ORDER BY customer`,
    );
    return new Map(rows.map((row) => [row.customer, [Number(row.orders), Number(row.total)]]));
  }

  const aggregate = () => daemon.statuses().find((status) => status.name === name)?.state;

  const envFormat = process.env.TIDELINE_FORMAT;
  const target = (reporter: ReplayReporter = quiet) => ({
    connector: name,
    processor: { kind: 'aggregate' as const, config },
    kafka: { brokers: services.kafkaBrokers, ssl: false },
    // A converter that has seen no schema yet, as the CLI's.
    converter: createConverter(isFormat(envFormat) ? envFormat : DEFAULT_FORMAT, testRegistry),
    rowVersions,
    logger,
    reporter,
  });

  it('rebuilds state and results equal to a fresh computation, each result replaced once by a newer version, and goes on', async () => {
    await eventually('the results to equal the aggregation', async () => (JSON.stringify(sorted(current(await results()))) === JSON.stringify(sorted(expected())) ? true : undefined), 90_000, 1_000);
    const old = await results();
    const oldEnd = old.length === 0 ? 0 : Math.max(...old.map((r) => r.offset)) + 1;
    const oldVersions = new Map<string, number>();
    for (const result of old) oldVersions.set(result.customer, Math.max(oldVersions.get(result.customer) ?? 0, result.version));

    // Refused: while it runs, with --from, while another replay holds the lock.
    const signal = new AbortController().signal;
    await expect(replayProcessor(target(), { signal })).rejects.toThrow(new RegExp(`${name} is running \\(group tideline-${name}(\\.repartition)?: 1 member`));
    await expect(replayProcessor(target(), { signal, fromMs: Date.now() })).rejects.toThrow(/--from: an aggregate is replayed from the earliest offsets only/);
    const lockKafka = createKafka({ brokers: services.kafkaBrokers, ssl: false }, 'tideline-test-lock', logger, { unreachable: () => undefined, reachable: () => undefined, isUnreachable: () => false });
    const lock = new ReplayLock(lockKafka, replayLockGroup(name));
    try {
      expect(await lock.acquire(input)).toEqual([]);
      await expect(replayProcessor(target(), { signal, control: adminControl(url, name) })).rejects.toThrow(ProcessorReplayRefusedError);
      await expect(replayProcessor(target(), { signal, control: adminControl(url, name) })).rejects.toThrow(/another replay of .* is running/);
    } finally {
      await lock.release();
      releaseKafka(lockKafka);
    }
    expect(aggregate()).toBe('running');

    // The sink has the results; from now on its view is polled until it holds the rebuilt versions.
    await eventually('the sink to hold the results', async () => (JSON.stringify(sorted(await view())) === JSON.stringify(sorted(expected())) ? true : undefined), 90_000, 500);
    const seen: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        seen.push(JSON.stringify(sorted(await view())));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const events: string[] = [];
    await replayProcessor(target({ progress: () => undefined, event: (event, message) => events.push(`${event}: ${message}`) }), { signal, control: adminControl(url, name) });
    expect(events.at(-1)).toMatch(/^done: replay of .* state and results rebuilt from the earliest offsets in generation 1/);
    await eventually('the sink to hold the rebuilt versions', async () => {
      const versions = await clickhouse.rows<{ customer: string; version: string }>(`SELECT customer, toString(_version) AS version FROM ${database}.per_customer FINAL`);
      return versions.length === expected().size && versions.every((row) => Number(row.version) > 2 ** 32) ? true : undefined;
    }, 60_000, 250);
    polling = false;
    await poller;
    // Old and rebuilt results are equal: any other view is a partial result (or a lost row).
    expect(seen.length).toBeGreaterThan(5);
    expect(new Set(seen)).toEqual(new Set([JSON.stringify(sorted(expected()))]));

    // The replay's records: one result per customer, the final one, newer than every old one.
    const after = await results();
    const replayed = after.filter((r) => r.offset >= oldEnd && r.op !== 'tombstone');
    expect(replayed.map((r) => r.customer).sort()).toEqual([...expected().keys()].sort());
    for (const result of replayed) {
      expect(result.value).toEqual(expected().get(result.customer));
      expect(result.version).toBeGreaterThan(oldVersions.get(result.customer) ?? 0);
    }
    expect(sorted(current(after))).toEqual(sorted(expected()));

    // Resumed from the rebuilt state: new changes count once.
    await produce(workload(6, 4, 3, 2));
    await eventually('the results to follow the new changes', async () => (JSON.stringify(sorted(current(await results()))) === JSON.stringify(sorted(expected())) ? true : undefined), 90_000, 1_000);
    const final = await results();
    const versions = new Map<string, number>();
    for (const result of final.filter((r) => r.op !== 'tombstone')) {
      expect(result.version).toBeGreaterThan(versions.get(result.customer) ?? 0);
      versions.set(result.customer, result.version);
    }
  });

  it('a replay with a changed filter (through the CLI) deletes the results the filter now excludes', async () => {
    const before = await results();
    const oldEnd = Math.max(...before.map((r) => r.offset)) + 1;
    expect(current(before).has('dee')).toBe(true);
    // The edited file; the daemon still runs the one it loaded.
    const edited = writeConnectorFiles({ 'aggregate.yaml': `${readFileSync(join(dir, 'aggregate.yaml'), 'utf8')}\n  filter: 'after.customer != "dee"'\n` });
    const replay = await tideline(['replay', name, '-c', edited, '--pause', '--url', url, '--json']);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    const lines = replay.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; phase?: string; message?: string });
    expect(lines.at(-1)?.message).toMatch(/rebuilt from the earliest offsets in generation \d+: \d+ records written, 1 result no longer computed deleted$/);
    expect(lines.some((line) => line.event === 'progress' && line.phase === 'rebuild')).toBe(true);
    const after = await results();
    const dee = after.filter((r) => r.offset >= oldEnd && r.customer === 'dee');
    expect(dee.map((r) => r.op)).toEqual(['d', 'tombstone']);
    expect(dee[0]!.version).toBeGreaterThan(Math.max(...before.filter((r) => r.customer === 'dee').map((r) => r.version)));
    const withoutDee = new Map([...expected()].filter(([customer]) => customer !== 'dee'));
    expect(sorted(current(after))).toEqual(sorted(withoutDee));
    await eventually('the sink to drop dee', async () => (JSON.stringify(sorted(await view())) === JSON.stringify(sorted(withoutDee)) ? true : undefined), 60_000, 250);
  });
});
