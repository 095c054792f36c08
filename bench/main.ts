/**
 * `npm run bench`: the pipeline measured on real services.
 *
 *  1. Source backlog drain: N changes (default 1,000,000 rows) are written to a
 *     10-column table first, in 100-row transactions and, separately, in
 *     single-row transactions; then the postgres source is started and timed
 *     until every transaction is committed in Kafka. (A live writer on two
 *     cores offers far less than the pipeline drains; see DESIGN.md.)
 *     Then the source's commit-to-Kafka latency at --source-rate single-row
 *     transactions/s (default 2,000), measured by a read_committed consumer.
 *  2. Sink drain: the clickhouse sink, started on the 100-row topic (the
 *     whole backlog waiting in Kafka), timed until every row is in ClickHouse;
 *     also when its first batch landed, the rate after it, and the peak RSS.
 *     The drains run the built daemon as a process of its own, as users run
 *     it (its connector in a worker thread, the embedded schema registry),
 *     and print its CPU per event: what a change costs, apart from what else
 *     the machine runs.
 *  3. Latency at fixed offered loads: source and sink running in a daemon
 *     process of their own, --writers connections commit --rate events/s as
 *     transactions of --tx-rows rows (default one run at 5,000/s and one at
 *     10,000/s, as transactions of 10); the achieved rate is printed. Commit-to-Kafka is measured by a read_committed consumer
 *     (now - source.ts_ms), end-to-end by polling ClickHouse for the ids not
 *     yet seen against each transaction's commit time. Once per format of
 *     --format (the daemon process uses its embedded registry, which the
 *     consumer reads too).
 *  4. Recovery after SIGKILL: the daemon (source and sink, in a process of its
 *     own) runs under a steady writer and is killed --kills times (default 3);
 *     each time, the time from starting it again to the first new row written
 *     in ClickHouse is printed.
 *  5. Processors (bench/processors.ts): --processor-events N events (default
 *     100,000) through a filter+unwrap chain and through a windowed aggregation,
 *     each timed until its output is committed.
 *
 * Services come from TIDELINE_* variables, or the native stack is started.
 * Prints events/s, percentiles and peak RSS. Options: --format json,avro (the
 * formats of the 100-row source drain, the sink drain and the latency runs,
 * each printed with its bytes/event, events/s and peak RSS; default both;
 * the other parts run with json), --rows N, --single-rows N (0: none),
 * --source-rate N (single-row transactions/s for the source's latency, default
 * 2000; 0: not measured), --compression none|gzip (the source's),
 * --rate N[,N...], --tx-rows N, --writers N, --seconds N, --batch-delay-ms N (the
 * source's maxBatchDelayMs), --sink-batch-delay-ms N and --sink-batch-rows N (the sinks' maxBatchDelayMs and maxBatchRows), --sink-runs N (sink drains per topic, default 1), --kills N, --only source,sink,latency,recovery,processors
 * (run only these parts; the sink drain needs the source part's topic).
 */
// First: kafkajs's internals patched before kafkajs loads (src/kafka/kafkajs-patches.ts).
import '../src/kafka/kafkajs-patches.js';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { ClickHouseServer } from '../src/sinks/clickhouse/server.js';
import { createConverter, isFormat, type Converter, type FormatName } from '../src/serde/index.js';
import { EmbeddedRegistry } from '../src/registry/embedded-registry.js';
import { createKafka } from '../src/kafka/client.js';
import { ConnectorHealth } from '../src/runtime/connector-health.js';
import { createLogger } from '../src/core/logger.js';
import { sinkConnectorYaml, sourceConnectorYaml } from '../test/support/fixture.js';
import { uniqueSuffix, writeConnectorFiles } from '../test/support/pipeline.js';
import { DaemonProcess, freePort } from '../test/support/daemon-process.js';
import { closeTestRegistry } from '../test/support/test-registry.js';
import { benchProcessors, deleteBenchTopics } from './processors.js';
import buildDistIfStale from '../test/support/build-dist.js';
import { describeHistogram, histogramDelta, readHistogram } from './daemon-histograms.js';

const { values: args } = parseArgs({
  options: {
    format: { type: 'string', default: 'json,avro' },
    rows: { type: 'string', default: '1000000' },
    'single-rows': { type: 'string', default: '1000000' },
    'source-rate': { type: 'string', default: '2000' },
    'processor-events': { type: 'string', default: '100000' },
    compression: { type: 'string', default: 'none' },
    rate: { type: 'string', default: '5000,10000' },
    'tx-rows': { type: 'string', default: '10' },
    writers: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '20' },
    'batch-delay-ms': { type: 'string', default: '100' },
    'sink-batch-delay-ms': { type: 'string' },
    'sink-runs': { type: 'string', default: '1' },
    'sink-batch-rows': { type: 'string' },
    kills: { type: 'string', default: '3' },
    only: { type: 'string', default: 'source,sink,latency,recovery,processors' },
  },
});
/** Formats of the source and sink drains, in the order they run. */
const DRAIN_FORMATS: FormatName[] = args.format.split(',').map((name) => {
  const format = name.trim();
  if (!isFormat(format)) throw new Error(`--format: unknown format ${JSON.stringify(format)} (json, avro)`);
  return format;
});
/** The parts other than the --format drains run with json (the daemon's default is avro). */
const JSON_DAEMON = { TIDELINE_FORMAT: 'json' };
const PARTS = new Set(args.only.split(',').map((part) => part.trim()));
if (PARTS.has('sink')) PARTS.add('source');
/** SIGKILLs in the recovery run. */
const KILLS = Number(args.kills);
const ROWS = Number(args.rows);
const SINGLE_ROWS = Number(args['single-rows']);
/** Offered load of the latency run, events (rows) per second. */
/** Offered loads (events/s) at which end-to-end latency is measured, one run each. */
const RATES = args.rate.split(',').map(Number);
/** Rows per transaction of the latency run's writers. */
const TX_ROWS = Number(args['tx-rows']);
/** PostgreSQL connections the latency run's writers use. */
const WRITERS = Number(args.writers);
const SECONDS = Number(args.seconds);
/** The source's maxBatchDelayMs (its default is 100). */
const BATCH_DELAY_MS = Number(args['batch-delay-ms']);
/** The sinks' maxBatchDelayMs (default: the sink's own default). */
const SINK_BATCH_DELAY_MS = args['sink-batch-delay-ms'] === undefined ? undefined : Number(args['sink-batch-delay-ms']);
/** The sinks' maxBatchRows (default: the sink's own default). */
const SINK_BATCH_ROWS = args['sink-batch-rows'] === undefined ? undefined : Number(args['sink-batch-rows']);
/** How many times the sink drain runs on each drained topic (each on a fresh database and consumer group). */
const SINK_RUNS = Number(args['sink-runs']);
/** Single-row transactions per second offered while commit-to-Kafka latency is measured. */
const SOURCE_RATE = Number(args['source-rate']);
/** Events in the processor drains (0 skips them). */
const PROCESSOR_EVENTS = Number(args['processor-events']);
/** The source's compression (none or gzip). */
const COMPRESSION = args.compression === 'gzip' ? 'gzip' : 'none';

function services(): { pgUrl: string; brokers: string; clickhouseUrl: string; started: boolean } {
  let started = false;
  if (!process.env.TIDELINE_PG_URL || !process.env.TIDELINE_KAFKA_BROKERS || !process.env.TIDELINE_CLICKHOUSE_URL) {
    try {
      execFileSync('bash', ['stack/status'], { stdio: 'ignore' });
    } catch {
      execFileSync('bash', ['stack/up'], { stdio: 'inherit' });
      started = true;
    }
    const env = execFileSync('bash', ['stack/env'], { encoding: 'utf8' });
    for (const [, name, value] of env.matchAll(/(TIDELINE_[A-Z_]+)=(\S+)/g)) process.env[name!] ??= value;
  }
  return { pgUrl: process.env.TIDELINE_PG_URL!, brokers: process.env.TIDELINE_KAFKA_BROKERS!, clickhouseUrl: process.env.TIDELINE_CLICKHOUSE_URL!, started };
}

const TABLE_COLUMNS = `
  id bigint PRIMARY KEY, a integer, b bigint, c text, d numeric(12,2),
  e timestamptz, f boolean, g double precision, h varchar(32), i date`;
const ROW_VALUES = (from: string): string =>
  `SELECT g, g % 1000, g * 7, 'customer-' || (g % 977), (g % 100000) / 100.0, now(), g % 2 = 0, g / 3.0, 'status-' || (g % 5), DATE '2024-01-01' + (g % 365)::int FROM ${from}`;

/**
 * source.ts_ms (the PostgreSQL commit time) of an event of the latency run's
 * topic: json read by text, avro decoded with the schemas the daemon
 * registered in its embedded registry (the topic _schemas).
 */
/** Reads what the latency run needs from an event: its row id (from the key) and its commit time (source.ts_ms). */
interface LatencyReader {
  rowId(key: Buffer): Promise<number>;
  commitTime(value: Buffer): Promise<number>;
  close(): Promise<void>;
}

async function latencyReader(svc: ReturnType<typeof services>, format: FormatName): Promise<LatencyReader> {
  if (format === 'json') {
    return {
      rowId: async (key) => Number((JSON.parse(key.toString()) as { payload: { id: number } }).payload.id),
      commitTime: async (value) => sourceTimestamp(value),
      close: async () => undefined,
    };
  }
  const logger = createLogger({ level: 'warn' });
  const registry = new EmbeddedRegistry(createKafka({ brokers: svc.brokers.split(','), ssl: false }, 'bench-latency-registry', logger, new ConnectorHealth('bench', logger)), {
    topic: '_schemas',
    logger,
  });
  const converter: Converter = createConverter(format, registry);
  return {
    rowId: async (key) => {
      await converter.loadSchemas([key]);
      return Number(converter.decodeKey<{ id: number | bigint }>(key).value.id);
    },
    commitTime: async (value) => {
      await converter.loadSchemas([value]);
      return Number(converter.decodeValue<{ source: { ts_ms: number } }>(value).value.source.ts_ms);
    },
    close: () => registry.close(),
  };
}

/** source.ts_ms (the PostgreSQL commit time) of a json event, without parsing its kilobytes of schema. */
function sourceTimestamp(value: Buffer): number {
  const text = value.toString('latin1', Math.max(0, value.length - 2048));
  return Number(/"source":\{[^}]*"ts_ms":(\d+)/.exec(text)?.[1]);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function waitFor(what: string, done: () => Promise<boolean>, timeoutMs = 600_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}


function sourceFile(name: string, url: string, brokers: string, slot: string, table: string, prefix: string): string {
  // The backlog is there before the connector first streams: measure the stream, not a snapshot of it.
  return sourceConnectorYaml(name, brokers, { url, slot, tables: `[public.${table}]`, topicPrefix: prefix, maxBatchDelayMs: BATCH_DELAY_MS, snapshotMode: 'never', compression: COMPRESSION });
}

function sinkFile(name: string, url: string, brokers: string, database: string, topic: string): string {
  return sinkConnectorYaml(name, brokers, {
    url,
    database,
    topics: `[${topic}]`,
    ...(SINK_BATCH_DELAY_MS === undefined ? {} : { maxBatchDelayMs: SINK_BATCH_DELAY_MS }),
    ...(SINK_BATCH_ROWS === undefined ? {} : { maxBatchRows: SINK_BATCH_ROWS }),
  });
}

/** Creates the table and the slot (through a short source run), then writes the backlog. */
async function prepareBacklog(client: pg.Client, svc: ReturnType<typeof services>, table: string, rows: number, rowsPerTx: number, suffix: string, format: FormatName = 'json') {
  await client.query(`CREATE TABLE public.${table} (${TABLE_COLUMNS})`);
  const slot = `bench_${table}`;
  const prefix = `bench${suffix}`;
  const name = `bench-source-${table}`;
  const dir = writeConnectorFiles({ 'source.yaml': sourceFile(name, svc.pgUrl, svc.brokers, slot, table, prefix) });
  // Start once so the publication, slot and topics exist, then stop: the backlog is written while nothing reads.
  const warmup = new DaemonProcess(dir, await freePort(), { TIDELINE_FORMAT: format });
  await warmup.start();
  await warmup.stop();
  const started = Date.now();
  const transactions = rows / rowsPerTx;
  await client.query(`DO $$ BEGIN
    FOR t IN 0..${transactions - 1} LOOP
      INSERT INTO public.${table} ${ROW_VALUES(`generate_series(t * ${rowsPerTx} + 1, (t + 1) * ${rowsPerTx}) AS g`)};
      COMMIT;
    END LOOP; END $$`);
  console.log(`  backlog: ${rows.toLocaleString()} rows in ${transactions.toLocaleString()} transactions written in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { dir, slot, topic: `${prefix}.public.${table}`, transactions, format };
}

/** CPU seconds (user + system, all its threads) a process has used so far, from /proc (Linux). */
function processCpuSeconds(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in clock ticks (100 per second).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The peak resident memory of a process (VmHWM), in MB. */
function peakRssOf(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

interface DrainRun {
  /** From the daemon's start to the last item, in s. */
  seconds: number;
  /** The daemon's CPU seconds from its admin API's answer to the last item (what the drain costs, whatever else the machine runs). */
  cpuSeconds: number;
  peakRssMb: number;
  /** When the first items were counted (ms after the start) and how many. */
  firstAt: number;
  firstCount: number;
}

/**
 * A drain as users run it: the built daemon (its connector in a worker
 * thread, the embedded schema registry) started on `dir`, timed from its
 * start until the counter `metric` reaches `total`.
 */
async function drainWithDaemon(dir: string, format: FormatName, metric: string, total: number): Promise<{ run: DrainRun; daemon: DaemonProcess }> {
  const daemon = new DaemonProcess(dir, await freePort(), { TIDELINE_FORMAT: format });
  const started = Date.now();
  await daemon.start({ healthy: false });
  const pid = daemon.pid!;
  // CPU from here: loading the daemon's code is not the drain's cost.
  const cpuAtStart = processCpuSeconds(pid);
  let firstAt = 0;
  let firstCount = 0;
  await waitFor(`${metric} to reach ${total}`, async () => {
    const count = await daemon.metric(metric);
    if (count > 0 && firstAt === 0) {
      firstAt = Date.now() - started;
      firstCount = count;
    }
    return count >= total;
  }, 600_000, 50);
  const seconds = (Date.now() - started) / 1000;
  const run = { seconds, cpuSeconds: processCpuSeconds(pid) - cpuAtStart, peakRssMb: peakRssOf(pid), firstAt, firstCount };
  return { run, daemon };
}

/** Stops a drain's daemon; with TIDELINE_TEST_LOG_LEVEL set (e.g. info), its log is kept in a file, named here. */
async function stopDrain(daemon: DaemonProcess, name: string): Promise<void> {
  await daemon.stop();
  if (!process.env.TIDELINE_TEST_LOG_LEVEL) return;
  const file = join(tmpdir(), `tideline-bench-${name}.log`);
  writeFileSync(file, daemon.log.join(''));
  console.log(`  ${name}'s log: ${file}`);
}

async function drainSource(dir: string, transactions: number, events: number, format: FormatName = 'json'): Promise<DrainRun & { eventsPerSecond: number; bytesPerEvent: number; cpuMicros: number }> {
  const { run, daemon } = await drainWithDaemon(dir, format, 'tideline_source_transactions_total', transactions);
  const bytesPerEvent = (await daemon.metric('tideline_source_bytes_total')) / events;
  await stopDrain(daemon, `source-drain-${format}`);
  return { ...run, cpuMicros: (run.cpuSeconds * 1e6) / events, eventsPerSecond: events / run.seconds, bytesPerEvent };
}

/**
 * Commit-to-Kafka latency of the source alone at a fixed offered load:
 * single-row transactions at SOURCE_RATE/s for SECONDS, each event timed by a
 * read_committed consumer as (arrival - the transaction's commit time in PostgreSQL).
 */
/** Drops a replication slot if it is there (a run ends its own; the bench's clean-up tries again). */
function dropSlot(client: pg.Client, slot: string): Promise<unknown> {
  return client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
}

/**
 * Ends a run's daemon process and its slot at once: a daemon left running
 * until the bench's end keeps a walsender decoding all the WAL the later runs
 * write, which takes CPU from them.
 */
async function endRun(client: pg.Client, daemon: DaemonProcess, slot: string): Promise<void> {
  await daemon.stop();
  await dropSlot(client, slot);
}

async function measureSourceLatency(client: pg.Client, svc: ReturnType<typeof services>, suffix: string, cleanups: (() => Promise<unknown>)[]): Promise<void> {
  const table = `rate_${suffix}`;
  const slot = `bench_${table}`;
  const prefix = `benchrate${suffix}`;
  const topic = `${prefix}.public.${table}`;
  await client.query(`CREATE TABLE public.${table} (${TABLE_COLUMNS})`);
  cleanups.push(() => client.query(`DROP TABLE public.${table}`));
  const daemon = new DaemonProcess(writeConnectorFiles({ 'source.yaml': sourceFile(`bench-rate-source-${suffix}`, svc.pgUrl, svc.brokers, slot, table, prefix) }), await freePort(), JSON_DAEMON);
  cleanups.push(() => dropSlot(client, slot), () => daemon.stop());
  await daemon.start();

  const kafka = new Kafka({ brokers: svc.brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-rate-${suffix}`, readUncommitted: false, maxWaitTimeInMs: 10 });
  const latencies: number[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      latencies.push(Date.now() - sourceTimestamp(message.value));
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 3000)); // let the consumer join

  const total = SOURCE_RATE * SECONDS;
  const started = Date.now();
  for (let id = 1; id <= total; id++) {
    const wait = started + ((id - 1) * 1000) / SOURCE_RATE - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await client.query(`INSERT INTO public.${table} ${ROW_VALUES(`(SELECT ${id}::bigint AS g) AS s`)}`);
  }
  const achieved = total / ((Date.now() - started) / 1000);
  await waitFor('every event in Kafka', async () => latencies.length >= total, 120_000);
  await consumer.disconnect();
  await endRun(client, daemon, slot);
  latencies.sort((a, b) => a - b);
  console.log(
    `source commit-to-Kafka at ${SOURCE_RATE} single-row transactions/s (achieved ${Math.round(Math.min(achieved, SOURCE_RATE))}/s, read_committed consumer): ` +
      `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms (${latencies.length} events)`,
  );
}

async function main(): Promise<void> {
  // The daemon processes (latency, recovery) run the built CLI: build it if a source is newer.
  buildDistIfStale();
  const svc = services();
  const suffix = uniqueSuffix();
  const client = new pg.Client({ connectionString: svc.pgUrl });
  await client.connect();
  const clickhouse = new ClickHouseServer(svc.clickhouseUrl, 'default', undefined);
  const database = `bench_${suffix}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  console.log(`tideline bench: ${ROWS.toLocaleString()} rows (100-row transactions), ${SINGLE_ROWS.toLocaleString()} single-row transactions, latency at ${RATES.join(' and ')} events/s for ${SECONDS} s each`);
  try {
    if (PARTS.has('source')) {
      // 1a. Source, 100-row transactions, in each format (then 2., the sink drain of that topic).
      for (const format of DRAIN_FORMATS) {
        const table = `orders_${format}_${suffix}`;
        const batched = await prepareBacklog(client, svc, table, ROWS, 100, `${format}${suffix}`, format);
        cleanups.push(() => dropSlot(client, batched.slot), () => client.query(`DROP TABLE public.${table}`));
        const source100 = await drainSource(batched.dir, batched.transactions, ROWS, format);
        console.log(
          `source, 100-row transactions, format ${format}: ${ROWS.toLocaleString()} events in ${source100.seconds.toFixed(1)} s = ${Math.round(source100.eventsPerSecond).toLocaleString()} events/s, ` +
            `${Math.round(source100.bytesPerEvent).toLocaleString()} bytes/event (key + value); daemon: ${source100.cpuMicros.toFixed(1)} µs CPU/event, peak RSS ${Math.round(source100.peakRssMb)} MB`,
        );
        if (PARTS.has('sink')) {
          for (let run = 1; run <= SINK_RUNS; run++) {
            const runSuffix = SINK_RUNS === 1 ? '' : `_${run}`;
            await drainSink(clickhouse, svc, `${database}_${format}${runSuffix}`, batched.topic, `${format}${suffix}${runSuffix}`, cleanups, format);
          }
        }
      }

      // 1b. Source, single-row transactions (json); --single-rows 0 skips it.
      if (SINGLE_ROWS > 0) {
        const single = await prepareBacklog(client, svc, `single_${suffix}`, SINGLE_ROWS, 1, suffix);
        cleanups.push(() => dropSlot(client, single.slot), () => client.query(`DROP TABLE public.single_${suffix}`));
        const source1 = await drainSource(single.dir, single.transactions, SINGLE_ROWS);
        console.log(`source, single-row transactions: ${SINGLE_ROWS.toLocaleString()} events in ${source1.seconds.toFixed(1)} s = ${Math.round(source1.eventsPerSecond).toLocaleString()} events/s`);
      }

      // 1c. Source latency at a fixed offered load; --source-rate 0 skips it.
      if (SOURCE_RATE > 0) await measureSourceLatency(client, svc, suffix, cleanups);
    }

    // 3. Latency at a fixed offered load, whole pipeline running.
    if (PARTS.has('latency')) {
      for (const format of DRAIN_FORMATS) for (const rate of RATES) await measureLatency(client, clickhouse, svc, `${suffix}${format}r${rate}`, rate, cleanups, format);
    }

    // 4. Recovery after SIGKILL.
    if (PARTS.has('recovery')) await measureRecovery(client, clickhouse, svc, suffix, cleanups);

    // 5. Processors: a filter+unwrap chain and a windowed aggregation, as drains.
    if (PARTS.has('processors') && PROCESSOR_EVENTS > 0) await benchProcessors({ brokers: svc.brokers, events: PROCESSOR_EVENTS });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
    await deleteBenchTopics(new Kafka({ brokers: svc.brokers.split(','), logLevel: logLevel.NOTHING }), suffix);
    await client.end();
    await clickhouse.close();
    // The processor drains' events are registered in the tests' registry (test/support): its Kafka clients kept the bench from exiting.
    await closeTestRegistry();
    if (svc.started) execFileSync('bash', ['stack/down'], { stdio: 'inherit' });
  }
}

/** The clickhouse sink started on a topic whose whole backlog waits in Kafka, timed until every row is in ClickHouse. */
async function drainSink(clickhouse: ClickHouseServer, svc: ReturnType<typeof services>, database: string, topic: string, suffix: string, cleanups: (() => Promise<unknown>)[], format: FormatName = 'json'): Promise<void> {
  cleanups.push(() => clickhouse.command(`DROP DATABASE IF EXISTS ${database}`));
  const sinkDir = writeConnectorFiles({ 'sink.yaml': sinkFile(`bench-sink-${suffix}`, svc.clickhouseUrl, svc.brokers, database, topic) });
  const { run, daemon } = await drainWithDaemon(sinkDir, format, 'tideline_sink_rows_written_total', ROWS);
  await stopDrain(daemon, `sink-drain-${suffix}`);
  // Dropped now: its parts' background merges would otherwise take CPU from what runs next.
  await clickhouse.command(`DROP DATABASE IF EXISTS ${database}`);
  // After the first batch: without the daemon's start, consumer-group join, table creation and that batch.
  const steadySeconds = run.seconds - run.firstAt / 1000;
  const steady = steadySeconds > 0 && ROWS > run.firstCount ? `${Math.round((ROWS - run.firstCount) / steadySeconds).toLocaleString()} rows/s after it` : 'nothing after it';
  console.log(
    `sink (Kafka → ClickHouse), format ${format}: ${ROWS.toLocaleString()} rows in ${run.seconds.toFixed(1)} s = ${Math.round(ROWS / run.seconds).toLocaleString()} rows/s ` +
      `(first batch of ${run.firstCount.toLocaleString()} rows written after ${(run.firstAt / 1000).toFixed(1)} s, ${steady}; ` +
      `daemon: ${((run.cpuSeconds * 1e6) / ROWS).toFixed(1)} µs CPU/row, peak RSS ${Math.round(run.peakRssMb)} MB)`,
  );
}

/**
 * Recovery after SIGKILL: the daemon (source and sink) runs in its own process
 * while a writer commits 100 single-row transactions/s; it is killed KILLS
 * times, and each time the time from starting it again to the first row
 * committed after the kill appearing in ClickHouse is printed.
 */
async function measureRecovery(client: pg.Client, clickhouse: ClickHouseServer, svc: ReturnType<typeof services>, suffix: string, cleanups: (() => Promise<unknown>)[]): Promise<void> {
  const table = `recovery_${suffix}`;
  const database = `bench_recovery_${suffix}`;
  const slot = `bench_${table}`;
  const prefix = `benchrecovery${suffix}`;
  await client.query(`CREATE TABLE public.${table} (${TABLE_COLUMNS})`);
  cleanups.push(() => client.query(`DROP TABLE public.${table}`));
  const dir = writeConnectorFiles({
    'source.yaml': sourceFile(`bench-recovery-source-${suffix}`, svc.pgUrl, svc.brokers, slot, table, prefix),
    'sink.yaml': sinkFile(`bench-recovery-sink-${suffix}`, svc.clickhouseUrl, svc.brokers, database, `${prefix}.public.${table}`),
  });
  const daemon = new DaemonProcess(dir, await freePort(), JSON_DAEMON);
  cleanups.push(() => dropSlot(client, slot), () => daemon.stop(), () => clickhouse.command(`DROP DATABASE IF EXISTS ${database}`));
  await daemon.start();

  let nextId = 1;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      const id = nextId++;
      await client.query(`INSERT INTO public.${table} ${ROW_VALUES(`(SELECT ${id}::bigint AS g) AS s`)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const maxId = async () => Number((await clickhouse.text(`SELECT max(id) FROM ${database}.${table}`).catch(() => '0')).trim() || 0);
  const times: number[] = [];
  try {
    await waitFor('rows flowing into ClickHouse', async () => (await maxId()) > 0, 120_000);
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await daemon.kill();
      const lastBeforeKill = nextId - 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = Date.now();
      const running = daemon.start({ healthy: false });
      await waitFor('the first row committed after the kill', async () => (await maxId()) > lastBeforeKill, 120_000);
      times.push(Date.now() - started);
      await running;
    }
  } finally {
    writing = false;
    await writer;
  }
  await endRun(client, daemon, slot);
  console.log(
    `recovery after SIGKILL (daemon restarted → first new row in ClickHouse, writer at 100 tx/s, the built daemon): ` +
      `${times.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')} (median ${(percentile([...times].sort((a, b) => a - b), 50) / 1000).toFixed(1)} s)`,
  );
}

async function measureLatency(
  client: pg.Client,
  clickhouse: ClickHouseServer,
  svc: ReturnType<typeof services>,
  suffix: string,
  rate: number,
  cleanups: (() => Promise<unknown>)[],
  format: FormatName,
): Promise<void> {
  const table = `live_${suffix}`;
  const database = `bench_live_${suffix}`;
  const slot = `bench_${table}`;
  const prefix = `benchlive${suffix}`;
  const topic = `${prefix}.public.${table}`;
  await client.query(`CREATE TABLE public.${table} (${TABLE_COLUMNS})`);
  cleanups.push(() => client.query(`DROP TABLE public.${table}`));
  const dir = writeConnectorFiles({
    'source.yaml': sourceFile(`bench-live-source-${suffix}`, svc.pgUrl, svc.brokers, slot, table, prefix),
    'sink.yaml': sinkFile(`bench-live-sink-${suffix}`, svc.clickhouseUrl, svc.brokers, database, topic),
  });
  // The daemon runs as its own process, as in production: the writers and the
  // measuring consumer must not share its event loop.
  // Its embedded schema registry (the default) keeps schemas in the topic _schemas.
  const daemon = new DaemonProcess(dir, await freePort(), { TIDELINE_FORMAT: format });
  cleanups.push(() => dropSlot(client, slot), () => daemon.stop(), () => clickhouse.command(`DROP DATABASE IF EXISTS ${database}`));
  await daemon.start();
  const reader = await latencyReader(svc, format);
  cleanups.push(() => reader.close());

  // commit-to-Kafka, seen from outside: a read_committed consumer.
  const kafka = new Kafka({ brokers: svc.brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-latency-${suffix}`, readUncommitted: false, maxWaitTimeInMs: 10 });
  const kafkaLatencies: number[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  // One event per transaction is decoded (the last row of each: ids t*TX_ROWS+1 .. (t+1)*TX_ROWS):
  // the rows of a transaction share its commit time and become visible
  // together, and decoding every event would take the bench's own CPU from
  // the two cores the pipeline runs on. Each sample stands for TX_ROWS events.
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value || !message.key) return;
      const arrived = Date.now();
      if ((await reader.rowId(message.key)) % TX_ROWS !== 0) return;
      kafkaLatencies.push(arrived - (await reader.commitTime(message.value)));
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 3000)); // let the consumer join

  // Writers: `rate` events/s as transactions of TX_ROWS rows, from WRITERS
  // connections (one connection cannot commit 1,000 transactions/s here).
  // Transaction t holds ids t*TX_ROWS+1 .. (t+1)*TX_ROWS; its commit time is recorded.
  const txRate = rate / TX_ROWS;
  const transactions = Math.round(txRate * SECONDS);
  const total = transactions * TX_ROWS;
  const commitTimes = new Float64Array(transactions);
  const writers = await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      const writer = new pg.Client({ connectionString: svc.pgUrl });
      await writer.connect();
      return writer;
    }),
  );
  /** The daemon's histograms before the load: its own view of the stages is printed for the load alone. */
  const stageMetrics = ['tideline_source_commit_to_kafka_seconds', 'tideline_sink_flush_seconds', 'tideline_sink_end_to_end_seconds'] as const;
  const metricsBefore = await daemon.request('/metrics').then((response) => response.text());
  const writerStarted = Date.now();
  const writing = Promise.all(
    writers.map(async (writer, w) => {
      for (let t = w; t < transactions; t += WRITERS) {
        const wait = writerStarted + (t * 1000) / txRate - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await writer.query(`INSERT INTO public.${table} ${ROW_VALUES(`generate_series(${t * TX_ROWS + 1}::bigint, ${(t + 1) * TX_ROWS}::bigint) AS g`)}`);
        commitTimes[t] = Date.now();
      }
    }),
  );
  let writerSeconds = 0;
  void writing.then(() => (writerSeconds = (Date.now() - writerStarted) / 1000));

  // End to end: poll ClickHouse for the last row of each transaction not yet
  // seen (the sink writes a partition's records in order, so the rest of the
  // transaction is written by then); each sample stands for TX_ROWS rows.
  const endToEnd: number[] = [];
  const seen = new Uint8Array(transactions);
  let oldest = 0;
  let count = 0;
  const deadline = Date.now() + (SECONDS + 60) * 1000;
  while (count < total && Date.now() < deadline) {
    const found = await clickhouse.text(`SELECT id FROM ${database}.${table} WHERE id >= ${(oldest + 1) * TX_ROWS} AND id % ${TX_ROWS} = 0`).catch(() => '');
    const now = Date.now();
    for (const line of found.split('\n')) {
      const t = Number(line) / TX_ROWS - 1;
      if (!line || seen[t]) continue;
      seen[t] = 1;
      count += TX_ROWS;
      const committed = commitTimes[t]!;
      if (committed > 0) endToEnd.push(now - committed);
    }
    while (oldest < transactions && seen[oldest]) oldest++;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await writing;
  await Promise.all(writers.map((writer) => writer.end()));
  await consumer.disconnect();
  const metricsAfter = await daemon.request('/metrics').then((response) => response.text());
  await endRun(client, daemon, slot);
  kafkaLatencies.sort((a, b) => a - b);
  endToEnd.sort((a, b) => a - b);
  console.log(
    `format ${format}, offered load: ${total.toLocaleString()} events as ${transactions.toLocaleString()} transactions of ${TX_ROWS} rows at ${rate.toLocaleString()} events/s ` +
      `(achieved ${Math.round(total / writerSeconds).toLocaleString()} events/s from ${WRITERS} connections)`,
  );
  console.log(`commit-to-Kafka latency (read_committed consumer): p50 ${percentile(kafkaLatencies, 50)} ms, p99 ${percentile(kafkaLatencies, 99)} ms (${kafkaLatencies.length} transactions of ${TX_ROWS} events)`);
  console.log(`end-to-end latency (commit → row in ClickHouse, 25 ms polling): p50 ${percentile(endToEnd, 50)} ms, p99 ${percentile(endToEnd, 99)} ms (${endToEnd.length * TX_ROWS} of ${total} rows, by transaction)`);
  const [commitToKafka, flush, daemonEndToEnd] = stageMetrics.map((name) => histogramDelta(readHistogram(metricsAfter, name), readHistogram(metricsBefore, name)));
  console.log(`  the daemon's view: source commit → Kafka commit per transaction: ${describeHistogram(commitToKafka!, [0.1, 0.25, 0.5, 1])}`);
  console.log(`  sink batch write (rows and offsets to ClickHouse): ${describeHistogram(flush!, [0.05, 0.1, 0.25, 0.5, 1])}`);
  console.log(`  source commit → row in ClickHouse per row: ${describeHistogram(daemonEndToEnd!, [0.25, 0.5, 1, 2.5])}`);
}

await main();
