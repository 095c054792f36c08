/**
 * `tideline replay` of a ClickHouse sink: rebuilds its tables from its topics
 * into shadow tables while the live tables serve and the live sink (another
 * process) keeps writing, swaps them in, and leaves the sink's stored offsets
 * agreeing with the new tables. The protocol and why it is exact are in
 * docs/architecture.md ("Replay"); in short:
 *
 * 1. copying: read every partition from its start (0, `--from`, or after what
 *    this replay already wrote) into `<table>__replay`, saving the last offset
 *    written per partition after the rows (resume point);
 * 2. once caught up with end offsets read less than 2 s before, swap
 *    (EXCHANGE TABLES, or one multi-table RENAME on older servers) between
 *    two batches;
 * 3. swapped: read the end offsets H again, after the swap, and write every
 *    record up to H into the live tables by name. The sink wrote records
 *    before the swap into the old table, but only records it had fetched,
 *    all below H; anything it writes after the swap goes to the new table.
 *    Records written by both collapse under (key, _version), as after a sink
 *    crash. So every record up to the sink's stored offsets is in the new
 *    table once this step ends;
 * 4. drop the old tables; the replay is done.
 */
import { randomUUID } from 'node:crypto';
import type { ChangeEvent } from '../../../core/events.js';
import { crashAt, failpointEnabled } from '../../../core/failpoints.js';
import { TidelineError } from '../../../core/errors.js';
import type { KafkaConnection } from '../../../core/kafka-connection.js';
import type { Logger } from '../../../core/logger.js';
import type { RowVersions } from '../../../core/row-versions.js';
import type { ServiceHealth } from '../../../core/service-health.js';
import { SerialQueue } from '../../../core/serial-queue.js';
import { createKafka, releaseKafka, type KafkaClient } from '../../../kafka/client.js';
import { fetchOffsetRanges, fetchOffsetsAt, PartitionTail, type TailBatch } from '../../../kafka/partition-tail.js';
import { isTopicPattern, resolveTopics } from '../../../kafka/topic-patterns.js';
import { listTopics } from '../../../kafka/topics.js';
import type { Converter } from '../../../serde/converter.js';
import type { ConsumedRecord, PartitionRun, WriteContext } from '../../runtime/writer.js';
import type { Prepared } from '../batch-steps.js';
import { ClickHouseWriter } from '../clickhouse-writer.js';
import { ClickHouseServer } from '../server.js';
import type { ClickHouseSinkConfig } from '../spec.js';
import { qualified, quoteIdent } from '../sql.js';
import { existingColumns, tableNameFor } from '../table-catalog.js';
import { RateMeter, snapshot, type ProgressSnapshot } from './progress.js';
import {
  claimAlive,
  describeGaps,
  describeHolder,
  describeScope,
  partitionKey,
  planPartitions,
  processAlive,
  scopeOf,
  scopesOverlap,
  scopeTables,
  type PartitionPlan,
} from './replay-plan.js';
import { ReplayStore, serverNow, type ReplayRecord } from './replay-store.js';
import {
  databaseEngine,
  existingTables,
  oldTableAfterSwap,
  pendingSwaps,
  replacedName,
  shadowName,
  SHADOW_SUFFIX,
  swapMethod,
  swapStatements,
  type SwapMethod,
} from './shadow-tables.js';

/** A replay refused before it changed anything (or stopped safely): the message says why and what to do. */
export class ReplayRefusedError extends TidelineError {}

/** The replay stopped on SIGINT/SIGTERM; the next run resumes it. */
export class ReplayInterruptedError extends TidelineError {}

export interface ReplayReporter {
  progress(progress: ProgressSnapshot): void;
  /** A step worth a line: `resumed`, `swapped`, `done`, `aborted`, ... */
  event(event: string, message: string, detail?: Record<string, unknown>): void;
}

export interface ReplayTarget {
  connector: string;
  config: ClickHouseSinkConfig;
  kafka: KafkaConnection;
  converter: Converter;
  rowVersions: RowVersions;
  logger: Logger;
  reporter: ReplayReporter;
}

export interface ReplayOptions {
  /** Tables to rebuild; all of the sink's when absent. */
  tables?: string[];
  /** Read from the first offsets at or after this time (ms) instead of the earliest. */
  fromMs?: number;
  /** Rebuild from the earliest offsets a topic still holds when retention deleted older records. */
  allowPartial?: boolean;
  signal: AbortSignal;
}

/** Swap once caught up with end offsets read this recently (what came after is written after the swap). */
const CATCH_UP_FRESHNESS_MS = 2_000;
/** Swap once no more than this many offsets (or ~2 s of reading) are left after catching up. */
const MIN_SWAP_SLACK = 1_000;
const POLL_MS = 200;
const PROGRESS_EVERY_MS = 1_000;
const HEARTBEAT_MS = 2_000;

/** Kafka outages are only logged: the replay's reads retry, and its caller sees the error if they give up. */
function loggingHealth(logger: Logger): ServiceHealth {
  const down = new Set<string>();
  return {
    unreachable: (service, reason) => {
      if (!down.has(service)) logger.warn({ service, reason }, `${service} unreachable, retrying`);
      down.add(service);
    },
    reachable: (service) => void down.delete(service),
    isUnreachable: (service) => down.has(service),
  };
}

/** The shadow's config: the same sink writing `<table>__replay` (orderBy overrides follow the names). */
function shadowConfig(config: ClickHouseSinkConfig): ClickHouseSinkConfig {
  return {
    ...config,
    tableName: `${config.tableName}${SHADOW_SUFFIX}`,
    orderBy: Object.fromEntries(Object.entries(config.orderBy).map(([table, columns]) => [shadowName(table), columns])),
  };
}

class Session {
  readonly server: ClickHouseServer;
  readonly store: ReplayStore;
  readonly kafka: KafkaClient;
  readonly database: string;
  private claim: { claim: string; replay: string; scope: string; startedAt: string } | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(readonly target: ReplayTarget) {
    const { config, connector, logger } = target;
    this.database = config.database;
    this.server = new ClickHouseServer(config.url, config.username, config.password);
    this.store = new ReplayStore(this.server, config.database, connector);
    this.kafka = createKafka(target.kafka, `tideline-replay-${connector}`, logger, loggingHealth(logger));
  }

  async open(): Promise<void> {
    await this.server.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(this.database)}`);
    await this.store.ensureTables();
  }

  /** Live claims (other than ours) on tables `scope` overlaps. */
  async holders(scope: string): Promise<string[]> {
    const claims = await this.store.claims();
    return claims
      .filter((claim) => claim.claim !== this.claim?.claim && scopesOverlap(claim.scope, scope) && claimAlive(claim, this.store.host, processAlive))
      .map((claim) => `${describeScope(claim.scope)} by ${describeHolder(claim)}`);
  }

  /**
   * The lock: write a claim, then read the claims. It holds only if no other
   * live claim overlaps: of two claimants, the one reading second sees the
   * other's claim (written before the first one read), so both may back off
   * but never both go on. A claim goes with its holder's heartbeat (or at
   * once, on this host, when its process is gone).
   */
  async acquire(replay: string, scope: string): Promise<void> {
    this.claim = { claim: randomUUID(), replay, scope, startedAt: await serverNow(this.server) };
    await this.store.writeClaim(this.claim);
    const others = await this.holders(scope);
    if (others.length > 0) {
      await this.release();
      throw new ReplayRefusedError(`another replay of connector ${this.target.connector} is running: ${others.join('; ')}`);
    }
    this.heartbeat = setInterval(() => {
      if (this.claim) void this.store.writeClaim(this.claim).catch((error: unknown) => this.target.logger.warn({ err: error }, 'replay heartbeat failed'));
    }, HEARTBEAT_MS);
  }

  async release(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const claim = this.claim;
    this.claim = null;
    if (claim) await this.store.writeClaim(claim, true).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.release();
    releaseKafka(this.kafka);
    await this.server.close();
  }
}

/** Runs (or resumes) a replay to its end. */
export async function runReplay(target: ReplayTarget, options: ReplayOptions): Promise<void> {
  const session = new Session(target);
  try {
    await session.open();
    await new Replay(session, options).run();
  } finally {
    await session.close();
  }
}

/** Drops the shadow tables of interrupted replays (of `tables`, or all of the connector's) and marks them aborted. */
export async function abortReplay(target: ReplayTarget, tables: string[] | undefined): Promise<void> {
  const session = new Session(target);
  const { store, server, database } = session;
  try {
    await session.open();
    const scope = scopeOf(tables);
    const replays = (await store.unfinished()).filter((replay) => scopesOverlap(replay.scope, scope));
    if (replays.length === 0) {
      target.reporter.event('aborted', `no interrupted replay of connector ${target.connector} (${describeScope(scope)}): nothing to clean up`);
      return;
    }
    for (const replay of replays) {
      await session.acquire(replay.id, replay.scope);
      if (replay.phase === 'swapping' || replay.phase === 'swapped') {
        throw new ReplayRefusedError(
          `the replay of ${describeScope(replay.scope)} (started ${replay.createdAt}) has swapped its tables in already; run the same replay again to finish it (it cannot be undone)`,
        );
      }
      const shadows = [...new Set([...replay.tables, ...(scopeTables(replay.scope) ?? [])])].map(shadowName);
      for (const shadow of shadows) await server.command(`DROP TABLE IF EXISTS ${qualified(database, shadow)}`);
      await store.save({ ...replay, phase: 'aborted' });
      await session.release();
      target.reporter.event('aborted', `aborted the replay of ${describeScope(replay.scope)} (started ${replay.createdAt}): dropped ${shadows.join(', ') || 'no shadow tables'}; the live tables are untouched`, {
        dropped: shadows,
      });
    }
  } finally {
    await session.close();
  }
}

class Replay {
  private readonly target: ReplayTarget;
  private readonly scope: string;
  private readonly wanted: Set<string> | null;
  private replay!: ReplayRecord;
  private method: SwapMethod = 'rename';
  private partitions: PartitionPlan[] = [];
  /** The sink's topics, patterns resolved to the topics that match when this run starts. */
  private topics: string[] = [];
  /** End offsets to reach per partition: for progress while copying, the end after the swap once swapped. */
  private targets = new Map<string, bigint>();
  private targetsAt = 0;
  private writer!: ClickHouseWriter;
  private readonly queue = new SerialQueue();
  private readonly meter = new RateMeter();
  private tail: PartitionTail | null = null;
  private skippedRecords = 0;
  private refusedRecords = 0;
  private batches = 0;
  /** When this run swapped (ms), to report how long the new tables lagged the records that arrived meanwhile. */
  private swappedAt: number | null = null;

  constructor(
    private readonly session: Session,
    private readonly options: ReplayOptions,
  ) {
    this.target = session.target;
    this.scope = scopeOf(options.tables);
    this.wanted = scopeTables(this.scope);
  }

  async run(): Promise<void> {
    const { store, server, database } = this.session;
    const { connector, config, reporter } = this.target;
    // Patterns stand for the topics matching them now (as the sink resolves them); a topic created later is the live sink's.
    const present = new Set(await listTopics(this.session.kafka));
    this.topics = resolveTopics(config.topics, [...present], [config.deadLetterTopic ?? `${connector}.dlq`]);
    const missing = this.topics.filter((topic) => !present.has(topic));
    if (this.topics.length === 0) throw new ReplayRefusedError(`no topic matches ${config.topics.filter(isTopicPattern).join(', ')} of connector ${connector}`);
    if (missing.length > 0) throw new ReplayRefusedError(`topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of connector ${connector} do${missing.length > 1 ? '' : 'es'} not exist in Kafka`);
    if (this.wanted) {
      const live = await existingTables(server, database, [...this.wanted]);
      const unknown = [...this.wanted].filter((table) => !live.has(table));
      if (unknown.length > 0) throw new ReplayRefusedError(`no table ${unknown.join(', ')} in ClickHouse database ${database} (the sink has not written ${unknown.length > 1 ? 'them' : 'it'})`);
    }

    const running = await this.session.holders(this.scope);
    if (running.length > 0) throw new ReplayRefusedError(`another replay of connector ${connector} is running: ${running.join('; ')}`);
    const interrupted = (await store.unfinished()).filter((replay) => scopesOverlap(replay.scope, this.scope));
    const resumed = interrupted[0];
    if (interrupted.length > 1 || (resumed && resumed.scope !== this.scope)) {
      const list = interrupted.map((replay) => `${describeScope(replay.scope)} (started ${replay.createdAt}, ${replay.phase})`).join('; ');
      throw new ReplayRefusedError(`an interrupted replay of connector ${connector} overlaps this one: ${list}. Resume it with the same --tables, or drop it with --abort`);
    }
    if (resumed && this.options.fromMs !== undefined && resumed.fromMs !== this.options.fromMs) {
      throw new ReplayRefusedError(
        `the interrupted replay of ${describeScope(resumed.scope)} reads from ${resumed.fromMs === null ? 'the earliest offsets' : new Date(resumed.fromMs).toISOString()}; resume it without --from (or with the same), or drop it with --abort`,
      );
    }
    this.replay = resumed ?? {
      id: randomUUID(),
      scope: this.scope,
      tables: [],
      fromMs: this.options.fromMs ?? null,
      phase: 'copying',
      shadowUuids: {},
      createdAt: await serverNow(server),
    };
    await this.session.acquire(this.replay.id, this.scope);
    this.method = swapMethod(await databaseEngine(server, database));
    await this.plan();
    // Recorded once nothing refused it: a refused replay leaves nothing to resume.
    if (resumed) {
      reporter.event('resumed', `resuming the interrupted replay of ${describeScope(resumed.scope)} (started ${resumed.createdAt}, ${resumed.phase})`, { phase: resumed.phase });
    } else {
      await store.save(this.replay);
    }
    this.writer = this.replay.phase === 'copying' ? await this.shadowWriter() : await this.liveWriter();
    if (this.replay.phase === 'swapping') await this.swap();
    else if (this.replay.phase === 'swapped') await this.afterSwap();

    this.tail = new PartitionTail(this.session.kafka, { groupPrefix: `_tideline-replay-${connector}`, maxBytes: config.maxBatchBytes });
    try {
      await this.tail.start(
        this.partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.start })),
        (batch) => this.queue.run(() => this.write(batch)),
      );
      await this.follow();
    } finally {
      await this.tail.stop();
    }
    await this.finish();
  }

  /** Start offsets per partition, and the refusal when a topic lost records the table needs. */
  private async plan(): Promise<void> {
    const { kafka, store } = this.session;
    const { topics } = this;
    const ranges = await fetchOffsetRanges(kafka, topics);
    const fromOffsets = this.replay.fromMs === null ? undefined : new Map((await fetchOffsetsAt(kafka, topics, this.replay.fromMs)).map((p) => [partitionKey(p.topic, p.partition), p.offset]));
    const written = await store.loadOffsets(this.replay.id);
    const { partitions, gaps } = planPartitions({ ranges, fromOffsets, written, allowPartial: this.options.allowPartial ?? false });
    if (gaps.length > 0 && !this.options.allowPartial) throw new ReplayRefusedError(describeGaps(gaps));
    this.partitions = partitions;
    this.setTargets(new Map(ranges.map((range) => [partitionKey(range.topic, range.partition), range.high])));
  }

  private setTargets(ends: Map<string, bigint>): void {
    this.targets = ends;
    this.targetsAt = Date.now();
  }

  private async shadowWriter(): Promise<ClickHouseWriter> {
    const { connector, config, logger, converter, rowVersions } = this.target;
    const writer = new ClickHouseWriter(shadowConfig(config), connector, logger, converter, rowVersions, {
      views: false,
      beforeCreate: (plan) => this.createShadow(plan.table.slice(0, -SHADOW_SUFFIX.length)),
    });
    await writer.open();
    // Listed tables get their shadow now: one whose topic has nothing to replay is rebuilt empty.
    if (this.wanted) for (const table of this.wanted) await this.createShadow(table);
    return writer;
  }

  private async liveWriter(): Promise<ClickHouseWriter> {
    const { connector, config, logger, converter, rowVersions } = this.target;
    const writer = new ClickHouseWriter(config, connector, logger, converter, rowVersions);
    await writer.open();
    return writer;
  }

  /** The shadow of `table` with the live table's DDL (when there is one), recorded before anything is written to it. */
  private async createShadow(table: string): Promise<void> {
    const { server, store, database } = this.session;
    if (!this.replay.tables.includes(table)) {
      this.replay = { ...this.replay, tables: [...this.replay.tables, table].sort() };
      await store.save(this.replay);
    }
    const live = await existingTables(server, database, [table, replacedName(table)]);
    if (live.has(replacedName(table)) && this.replay.phase === 'copying') {
      throw new ReplayRefusedError(`table ${database}.${replacedName(table)} exists (left from an earlier swap?); drop or rename it before replaying ${table}`);
    }
    if (live.has(table)) await server.command(`CREATE TABLE IF NOT EXISTS ${qualified(database, shadowName(table))} AS ${qualified(database, table)}`);
  }

  /** One fetched batch: the scope's records into the current target tables, then the offset. */
  private async write(batch: TailBatch): Promise<void> {
    const records = this.wanted ? batch.records.filter((record) => this.inScope(batch.topic, record)) : batch.records;
    if (records.length > 0) {
      const run: PartitionRun<Prepared> = {
        topic: batch.topic,
        partition: batch.partition,
        key: partitionKey(batch.topic, batch.partition),
        records: [...records],
        prepared: records.map((record) => this.writer.prepare(batch.topic, record)),
        lastOffset: batch.lastOffset.toString(),
      };
      const result = await this.writer.write({ runs: [run], owned: () => true }, this.retryContext());
      // The live sink sent these to its dead-letter topic already; a replay does not send them again.
      this.refusedRecords += result.deadLetters.length;
    }
    this.skippedRecords += batch.records.length - records.length;
    await this.retry('save the replay position', () => this.session.store.saveOffset(this.replay.id, batch.topic, batch.partition, batch.lastOffset));
    this.batches += 1;
    if (this.batches === 2 && this.replay.phase === 'copying' && failpointEnabled('replay.crash-while-copying')) crashAt('replay.crash-while-copying', this.target.logger);
  }

  /** Whether a record belongs to a listed table (tombstones go along: the writer skips them). */
  private inScope(topic: string, record: ConsumedRecord): boolean {
    if (record.value === null) return true;
    try {
      const event = this.target.converter.decodeValue<ChangeEvent>(record.value).value;
      if (!event?.source) return true; // the writer dead-letters it
      return this.wanted!.has(tableNameFor(this.target.config.tableName, topic, event));
    } catch {
      return true; // undecodable: the writer refuses it as the sink did
    }
  }

  private retryContext(): WriteContext {
    return { retry: (operation, task) => this.retry(operation, task) };
  }

  /** Retries a ClickHouse operation a few times with backoff; the replay stops (resumable) if it keeps failing. */
  private async retry<T>(operation: string, task: () => Promise<T>): Promise<T> {
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        return await task();
      } catch (error) {
        if (attempt >= 8 || this.options.signal.aborted) throw error;
        this.target.logger.warn({ err: error, attempt, retryInMs: delay }, `${operation} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  /** Offsets read so far and to read, summed over partitions. */
  private progress(): { done: bigint; total: bigint; caughtUp: boolean } {
    let done = 0n;
    let total = 0n;
    let caughtUp = true;
    for (const p of this.partitions) {
      const position = this.tail!.position(p.topic, p.partition);
      const end = this.targets.get(partitionKey(p.topic, p.partition)) ?? 0n;
      done += position > p.origin ? position - p.origin : 0n;
      total += (end > position ? end : position) - p.origin;
      if (position < end) caughtUp = false;
    }
    return { done, total, caughtUp };
  }

  /** Reads until the copy has caught up (then swaps) and the records up to the end after the swap are written. */
  private async follow(): Promise<void> {
    let reported = 0;
    for (;;) {
      if (this.tail!.failed) throw this.tail!.failed;
      if (this.options.signal.aborted) {
        const { done, total } = this.progress();
        throw new ReplayInterruptedError(
          `interrupted: ${done} of ${total} offsets read (${this.replay.phase}); run the same command to resume, or with --abort to drop the shadow tables`,
        );
      }
      const { done, total, caughtUp } = this.progress();
      const now = Date.now();
      this.meter.sample(now, Number(done));
      if (now - reported >= PROGRESS_EVERY_MS) {
        reported = now;
        this.target.reporter.progress(snapshot(this.replay.phase, Number(done), Number(total), this.meter.rate));
      }
      if (caughtUp) {
        if (this.replay.phase === 'swapped') {
          this.target.reporter.progress(snapshot(this.replay.phase, Number(done), Number(total), this.meter.rate));
          return;
        }
        // Close enough: what the replay has not read yet is written after the
        // swap, so this only bounds how long the new table is that far behind.
        const fresh = now - this.targetsAt <= CATCH_UP_FRESHNESS_MS;
        if (!fresh) await this.refreshTargets();
        if (fresh || this.progress().total - this.progress().done <= this.swapSlack()) {
          await this.queue.run(() => this.swap());
          continue;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Offsets left to read at which the copy swaps: about what it reads in CATCH_UP_FRESHNESS_MS. */
  private swapSlack(): bigint {
    return BigInt(Math.max(MIN_SWAP_SLACK, Math.round(((this.meter.rate ?? 0) * CATCH_UP_FRESHNESS_MS) / 1000)));
  }

  private async refreshTargets(): Promise<void> {
    const ranges = await fetchOffsetRanges(this.session.kafka, this.topics);
    this.setTargets(new Map(ranges.map((range) => [partitionKey(range.topic, range.partition), range.high])));
  }

  /**
   * Puts every shadow in place of its live table (between two batches: none
   * is being written). Idempotent, for a resume after a crash in the middle:
   * only pairs not swapped yet are swapped.
   */
  private async swap(): Promise<void> {
    const { server, store, database } = this.session;
    const tables = this.replay.tables;
    const names = () => existingTables(server, database, [...tables, ...tables.map(shadowName), ...tables.map(replacedName)]);
    if (this.replay.phase === 'copying') {
      const existing = await names();
      const shadowUuids = Object.fromEntries(tables.map((table) => [table, existing.get(shadowName(table)) ?? '']));
      this.replay = { ...this.replay, phase: 'swapping', shadowUuids };
      await store.save(this.replay);
    }
    for (let attempt = 1; ; attempt++) {
      const { pairs, intruders } = pendingSwaps(this.method, tables, await names(), this.replay.shadowUuids);
      try {
        for (const table of intruders) {
          this.target.logger.warn({ table }, 'dropping a table created while the swap was half done (its records are written again after the swap)');
          await server.command(`DROP TABLE IF EXISTS ${qualified(database, table)}`);
        }
        // Columns the sink added to a live table meanwhile: the shadow gets them first (the sink's plans and the view name them).
        for (const pair of pairs) if (pair.liveExists) await this.addMissingColumns(pair.table, shadowName(pair.table));
        for (const statement of swapStatements(this.method, database, pairs)) await server.command(statement);
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
        this.target.logger.warn({ err: error, attempt }, 'swap failed; looking at the tables again');
      }
    }
    this.swappedAt = Date.now();
    this.replay = { ...this.replay, phase: 'swapped' };
    await store.save(this.replay);
    if (failpointEnabled('replay.crash-after-swap')) crashAt('replay.crash-after-swap', this.target.logger);
    this.target.reporter.event('swapped', `swapped ${tables.length > 0 ? tables.join(', ') : 'no tables'} (${this.method === 'exchange' ? 'EXCHANGE TABLES' : 'RENAME TABLE'}); writing what arrived meanwhile`, { tables });
    await this.afterSwap();
  }

  /** After the swap: writes go to the live tables, up to the end offsets read now. */
  private async afterSwap(): Promise<void> {
    const { server, database } = this.session;
    // A column the sink added to the old table between the check and the swap.
    const old = await existingTables(server, database, this.replay.tables.map((table) => oldTableAfterSwap(this.method, table)));
    for (const table of this.replay.tables) if (old.has(oldTableAfterSwap(this.method, table))) await this.addMissingColumns(oldTableAfterSwap(this.method, table), table);
    if (this.writer) await this.writer.close();
    this.writer = await this.liveWriter();
    await this.refreshTargets();
  }

  /** Adds to `to` the columns `from` has and it lacks, with `from`'s types. */
  private async addMissingColumns(from: string, to: string): Promise<void> {
    const { server, database } = this.session;
    const source = await existingColumns(server, database, from);
    const target = await existingColumns(server, database, to);
    for (const [name, type] of source) {
      if (target.has(name)) continue;
      await server.command(`ALTER TABLE ${qualified(database, to)} ADD COLUMN ${quoteIdent(name)} ${type}`);
    }
  }

  private async finish(): Promise<void> {
    const { server, store, database } = this.session;
    const caughtUpMs = this.swappedAt === null ? null : Date.now() - this.swappedAt;
    await this.writer.close();
    const dropped: string[] = [];
    for (const table of this.replay.tables) {
      const old = oldTableAfterSwap(this.method, table);
      await server.command(`DROP TABLE IF EXISTS ${qualified(database, old)}`);
      dropped.push(old);
    }
    // A RENAME-mode leftover from a crash between the two halves of a resumed swap.
    if (this.method === 'exchange') for (const table of this.replay.tables) await server.command(`DROP TABLE IF EXISTS ${qualified(database, replacedName(table))}`);
    this.replay = { ...this.replay, phase: 'done' };
    await store.save(this.replay);
    const notes = [
      caughtUpMs === null ? '' : `the records that arrived during the swap were written ${caughtUpMs} ms after it`,
      this.skippedRecords > 0 ? `${this.skippedRecords} records of other tables skipped` : '',
      this.refusedRecords > 0 ? `${this.refusedRecords} records refused as the sink refused them (see its dead-letter topic)` : '',
    ].filter(Boolean);
    this.target.reporter.event(
      'done',
      `replay of connector ${this.target.connector} done: ${this.replay.tables.join(', ') || 'no tables'} rebuilt; dropped ${dropped.join(', ') || 'nothing'}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`,
      { tables: this.replay.tables, skipped: this.skippedRecords, refused: this.refusedRecords, caughtUpMs },
    );
  }
}
