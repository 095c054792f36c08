/**
 * Processor throughput, as backlog drains on the real Kafka: N Debezium-shaped
 * order events are written to a fresh topic first; then each processor runs
 * in-process (the daemon, as `tideline run` would) and is timed until its
 * consumer group has committed every input offset, i.e. until all results are
 * committed in Kafka.
 *
 *  1. transform: filter (op = 'c' and after.amount_cents >= 100) + unwrap.
 *  2. aggregate: per-customer, per-minute count and sum (tumbling 1 m), with
 *     the repartition stage; timed until both stages committed everything.
 *
 * Standalone: `npx tsx bench/processors.ts [--events N] [--partitions N]`
 * (services from TIDELINE_KAFKA_BROKERS, or the native stack's address).
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { Admin, Kafka } from 'kafkajs';
import type { Daemon } from '../src/runtime/daemon.js';
import { metrics } from '../src/metrics/registry.js';
import { metricValues } from '../src/metrics/thread-metrics.js';
import { startDaemon, uniqueSuffix, writeConnectorFiles } from '../test/support/pipeline.js';
import { createTopic, idempotentProducer, testKafka } from '../test/support/debezium-events.js';
import { OrderStream, ordersTable } from '../test/support/orders.js';

export interface ProcessorBenchOptions {
  brokers: string;
  events: number;
  /** Partitions of the input topic (default 2). */
  partitions?: number;
}

interface Drain {
  seconds: number;
  peakRssMb: number;
}

export async function benchProcessors(opts: ProcessorBenchOptions): Promise<void> {
  const brokers = opts.brokers.split(',').map((broker) => broker.trim()).filter(Boolean);
  const partitions = opts.partitions ?? 2;
  const kafka = testKafka(brokers);
  const suffix = uniqueSuffix();
  const input = `bench${suffix}.public.orders`;

  const written = Date.now();
  await createTopic(kafka, input, partitions);
  const producer = await idempotentProducer(kafka);
  const orders = new OrderStream(await ordersTable(input), { customers: 1_000, stepMs: 5, jitterMs: 2_000 });
  try {
    for (let left = opts.events; left > 0; left -= 250) await orders.produce(producer, Math.min(250, left));
  } finally {
    await producer.disconnect();
  }
  console.log(`processors bench: ${opts.events.toLocaleString()} order events on ${partitions} partition(s) written in ${((Date.now() - written) / 1000).toFixed(1)} s`);

  const kafkaYaml = `kafka: { brokers: "${brokers.join(',')}" }`;
  const transformName = `bench-transform-${suffix}`;
  const transform = await drain(kafka, `tideline-${transformName}`, input, [
    `name: ${transformName}`,
    'kind: transform',
    kafkaYaml,
    'config:',
    `  topics: [${input}]`,
    '  outputTopic: "{topic}.unwrapped"',
    '  steps:',
    `    - { type: filter, expression: "op = 'c' and after.amount_cents >= 100" }`,
    '    - { type: unwrap }',
  ].join('\n'));
  console.log(`transform filter+unwrap: ${opts.events.toLocaleString()} events in ${transform.seconds.toFixed(1)} s = ${Math.round(opts.events / transform.seconds).toLocaleString()} events/s (peak RSS ${Math.round(transform.peakRssMb)} MB)`);

  const aggregateName = `bench-aggregate-${suffix}`;
  const aggregate = await drain(
    kafka,
    `tideline-${aggregateName}.repartition`,
    input,
    [
    `name: ${aggregateName}`,
    'kind: aggregate',
    kafkaYaml,
    'config:',
    `  topics: [${input}]`,
    `  outputTopic: bench${suffix}.orders_per_minute`,
    // Append-only orders; and the drain below counts stage 1's output as repartition records,
    // which mode table's row images (also stage 1 output) would break.
    '  mode: event',
    '  groupBy: { customer_id: { expression: after.customer_id, type: int64 } }',
    '  window: { type: tumbling, size: 1m }',
    '  allowedLateness: 1h',
    '  aggregates:',
    '    orders: { fn: count }',
    '    revenue_cents: { fn: sum, expression: after.amount_cents, type: int64 }',
    ].join('\n'),
    { from: `${aggregateName}.repartition`, to: aggregateName },
  );
  const late = (await metricValues('tideline_processor_late_events_total')).reduce((sum, value) => sum + value.value, 0);
  console.log(
    `aggregate (repartition + 1 m tumbling count/sum by customer): ${opts.events.toLocaleString()} events in ${aggregate.seconds.toFixed(1)} s = ` +
      `${Math.round(opts.events / aggregate.seconds).toLocaleString()} events/s (peak RSS ${Math.round(aggregate.peakRssMb)} MB, ${late} late events dropped)`,
  );
  await deleteBenchTopics(kafka, suffix);
}

/**
 * Runs one processor file until its first stage has committed the end of the
 * input topic and, for an aggregate, its second stage has consumed every
 * record the first one wrote (the daemon runs in this process, so its metrics
 * say; the end offsets of a topic written by concurrent transactions end in
 * several markers, so offsets alone cannot tell).
 */
async function drain(kafka: Kafka, groupId: string, input: string, yaml: string, secondStage?: { from: string; to: string }): Promise<Drain> {
  let peakRssMb = process.memoryUsage().rss / 2 ** 20;
  const rssTimer = setInterval(() => (peakRssMb = Math.max(peakRssMb, process.memoryUsage().rss / 2 ** 20)), 100);
  const admin = kafka.admin();
  await admin.connect();
  const started = Date.now();
  let daemon: Daemon | null = null;
  try {
    // The format the events were produced in (test/support/orders.ts: TIDELINE_FORMAT, else avro,
    // the daemon's default); a daemon on json would dead-letter every one of them.
    daemon = await startDaemon(writeConnectorFiles({ 'processor.yaml': yaml }));
    await waitFor(`${groupId} to commit the end of ${input}`, () => committedEnd(admin, groupId, input));
    if (secondStage) {
      const written = await counterValue(metrics.processorEventsOut, secondStage.from);
      await waitFor(`${secondStage.to} to consume ${written} records`, async () => (await counterValue(metrics.processorEventsIn, secondStage.to)) >= written);
    }
    return { seconds: (Date.now() - started) / 1000, peakRssMb };
  } finally {
    clearInterval(rssTimer);
    await daemon?.stop();
    await admin.disconnect();
  }
}

/** A counter's value for one connector, over every thread (TIDELINE_THREADS=true runs connectors in worker threads). */
async function counterValue(counter: object, connector: string): Promise<number> {
  // prom-client's types do not declare the metric's name, which every metric has (see metricNames).
  return (await metricValues((counter as { name: string }).name)).filter((value) => value.labels.connector === connector).reduce((sum, value) => sum + value.value, 0);
}

async function waitFor(what: string, done: () => Promise<boolean>, timeoutMs = 900_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The group's committed offsets are at the end of every partition of a (non-transactional) topic. */
async function committedEnd(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return ends.every((end) => {
    const offset = BigInt(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1');
    return BigInt(end.high) === 0n || offset >= BigInt(end.high);
  });
}

/** Deletes the topics of one bench run (named with its suffix): a 1M-row run leaves gigabytes otherwise. */
export async function deleteBenchTopics(kafka: Kafka, suffix: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((topic) => topic.includes(suffix));
    await admin.deleteTopics({ topics });
  } catch (error) {
    console.error(`could not delete the bench topics (*${suffix}*): ${String(error)}`);
  } finally {
    await admin.disconnect();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, partitions: { type: 'string', default: '2' } } });
  await benchProcessors({
    brokers: process.env.TIDELINE_KAFKA_BROKERS ?? '127.0.0.1:59092',
    events: Number(values.events),
    partitions: Number(values.partitions),
  });
}
