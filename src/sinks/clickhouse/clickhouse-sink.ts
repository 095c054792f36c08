/**
 * The ClickHouse sink: change topics into ReplacingMergeTree tables.
 *
 * Batching. eachBatch only buffers what kafkajs fetched (and resolves its
 * offset, which moves kafkajs's fetch position; nothing is committed by
 * kafkajs: autoCommit is off). A flush takes the whole buffer once it holds
 * maxBatchRows messages or maxBatchBytes bytes, or maxBatchDelayMs after its
 * first message. One flush runs at a time; kafkajs keeps fetching into the next
 * buffer meanwhile, and once that buffer is full too the consumer is paused
 * (kafkajs pause) until the flush is done: memory stays bounded by about two
 * batches plus one fetch.
 *
 * Exactly-once (DESIGN.md). A flush writes rows first, then dead letters, then
 * the last offset of each partition it holds into `_tideline_sink_offsets`
 * (max per partition), and then commits the Kafka group offset (only for lag
 * monitoring). On assignment each new partition is sought to its stored
 * offset + 1. A crash at any point rewrites at most what was not yet recorded,
 * and rows written twice collapse under (key, _version).
 *
 * Rebalances. GROUP_JOIN gives the new assignment: buffered messages of
 * revoked partitions are dropped, a running flush writes nothing more for them
 * (rows and offsets are filtered by ownership just before each write),
 * retained partitions continue after what was buffered, new ones from the
 * stored offsets (eachBatch waits for that seek; kafkajs drops fetched batches
 * while a seek is pending and reports them stale).
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { columnsFromEnvelope, NEW_KEY_HEADER, OLD_KEY_HEADER, type ChangeEvent, type Row } from '../../core/events.js';
import type { ConnectSchema } from '../../core/connect-schema.js';
import { whenAborted } from '../../core/abort.js';
import { errorMessage } from '../../core/errors.js';
import { crashAt, failpointEnabled } from '../../core/failpoints.js';
import { decodeJsonMessage, parseJson, schemaPrefix } from '../../serde/json/sink-compat.js';
import { createKafka } from '../../kafka/client.js';
import { instanceId, removeEarlierIncarnations, taggedRoundRobin } from '../../kafka/group-membership.js';
import { ensureTopics, waitForTopics } from '../../kafka/topics.js';
import { metrics } from '../../metrics/registry.js';
import { BatchBuffer, partitionKey, type PartitionBatch, type Prepared } from './batch-buffer.js';
import { SinkOffsetStore } from './offset-store.js';
import { eventToRows, keysToLookUp, resolveUnavailable, rowToTsvLine, UnwritableEventError, type KeyChange, type RowImage } from './rows.js';
import { ClickHouseServer, isDataError, serverErrorCode, type ServerFeatures } from './server.js';
import type { ClickHouseSinkConfig } from './spec.js';
import { qualified, quoteIdent, quoteString } from './sql.js';
import {
  addColumnSql,
  compatibleType,
  createTableSql,
  createViewSql,
  insertColumns,
  planTable,
  PlanError,
  truncateSql,
  type TablePlan,
} from './table-plan.js';
import { escapeTsv } from './type-mapping.js';

interface TableState {
  plan: TablePlan;
  /** JSON of the envelope schema the plan was made from: a change means new columns. */
  schemaText: string;
  /** How messages with that schema start: they skip schema parsing (decodePayloadWithPrefix). */
  prefix: Buffer;
}

interface DeadLetter {
  part: PartitionBatch;
  message: KafkaMessage;
  error: string;
}

interface PendingRow {
  row: RowImage;
  part: PartitionBatch;
  message: KafkaMessage;
  /** PostgreSQL commit time (source.ts_ms). */
  commitMs: number;
}

/** The flush, in stream order per table: runs of rows, and truncates between them. */
type Step = { kind: 'rows'; table: string; rows: PendingRow[] } | { kind: 'truncate'; database: string; table: string; version: number; part: PartitionBatch; message: KafkaMessage };

/**
 * ClickHouse error codes that mean "try again later" rather than "refused":
 * timeouts, network, memory, too many parts or queries, readonly replica.
 */
const TRANSIENT_CODES = new Set([159, 164, 202, 209, 210, 241, 242, 252, 285, 319, 425]);

function isRefusal(error: unknown): boolean {
  const code = serverErrorCode(error);
  return code !== undefined && !TRANSIENT_CODES.has(code);
}

export class ClickHouseSink implements Connector {
  private readonly config: ClickHouseSinkConfig;
  private readonly server: ClickHouseServer;
  private readonly offsets: SinkOffsetStore;
  /** Latest table state per topic (the fast decoding path). */
  private readonly tables = new Map<string, TableState>();
  /** Table state (or the reason its events cannot be written) per schema and key. */
  private readonly schemas = new Map<string, TableState | UnwritableEventError>();
  private features: ServerFeatures | null = null;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private readonly deadLetterTopic: string;
  private readonly labels: { connector: string };
  private readonly groupId: string;

  private readonly buffer = new BatchBuffer();
  /** Partitions assigned now, by partitionKey, with topic and partition. */
  private assignment = new Map<string, { topic: string; partition: number }>();
  /** Generation since which each assigned partition has been held without interruption. */
  private readonly ownedSince = new Map<string, number>();
  /** Next offset to fetch per partition: after the last message buffered. */
  private readonly nextOffsets = new Map<string, bigint>();
  private generation = 0;
  private assignmentReady: Promise<void> = Promise.resolve();
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private stopping = false;
  private failure: ((error: unknown) => void) | null = null;

  constructor(private readonly context: ConnectorContext<ClickHouseSinkConfig>) {
    this.config = context.config;
    this.server = new ClickHouseServer(this.config.url, this.config.username, this.config.password);
    this.offsets = new SinkOffsetStore(this.server, this.config.database, context.name);
    this.deadLetterTopic = this.config.deadLetterTopic ?? `${context.name}.dlq`;
    this.labels = { connector: context.name };
    this.groupId = this.config.groupId ?? `tideline-${context.name}`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { logger, name } = this.context;
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger);
    const failed = new Promise<never>((_, reject) => (this.failure = reject));
    failed.catch(() => undefined);
    try {
      await this.withRetry('connect to ClickHouse', signal, async () => {
        this.features = await this.server.features();
        await this.server.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(this.config.database)}`);
        await this.offsets.ensureTable();
      });
      logger.info({ version: this.features?.version, dateTime64: this.features?.dateTime64 }, 'connected to ClickHouse');
      await this.prepareKafka(kafka, signal);
      const consumer = this.createConsumer(kafka, signal);
      const crashed = new Promise<never>((_, reject) => {
        consumer.on(consumer.events.CRASH, (event) => {
          if (!event.payload.restart) reject(event.payload.error);
        });
      });
      crashed.catch(() => undefined);
      await removeEarlierIncarnations(kafka, this.groupId, instanceId(), logger);
      await consumer.connect();
      for (const topic of this.config.topics) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.receive(payload),
      });
      this.context.setState('running');
      logger.info({ topics: this.config.topics, database: this.config.database }, 'writing to ClickHouse');
      await Promise.race([whenAborted(signal), crashed, failed]);
      await this.finish(signal);
    } finally {
      this.stopping = true;
      if (this.timer) clearTimeout(this.timer);
      await this.consumer?.disconnect().catch(() => undefined);
      await this.producer?.disconnect().catch(() => undefined);
      await this.server.close().catch(() => undefined);
    }
  }

  private async prepareKafka(kafka: Kafka, signal: AbortSignal): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [{ topic: this.deadLetterTopic, partitions: 1 }]);
      // Change topics are created by their source; until then there is nothing to read.
      await waitForTopics(admin, this.config.topics, signal, (missing) => {
        this.context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
        this.context.logger.info({ missing }, 'waiting for topics to be created');
      });
    } finally {
      await admin.disconnect();
    }
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  private createConsumer(kafka: Kafka, signal: AbortSignal): Consumer {
    const consumer = kafka.consumer({
      groupId: this.groupId,
      // Tagged with this instance: a restart after a crash removes the member
      // the crash left behind instead of waiting out its session (group-membership.ts).
      partitionAssigners: [taggedRoundRobin(instanceId())],
      readUncommitted: false,
      maxBytesPerPartition: this.config.maxBatchBytes,
      maxBytes: this.config.maxBatchBytes,
      // While every partition is paused kafkajs sleeps this long per fetch
      // round; it also bounds how late a resume takes effect.
      maxWaitTimeInMs: 100,
      // Another instance's crash holds its partitions until its session times
      // out. kafkajs heartbeats from its fetch loop, which keeps running while
      // a flush writes.
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.assign(event.payload.memberAssignment, signal));
    return consumer;
  }

  /** A new generation of the group: drop what was revoked, seek what is ours. Runs before kafkajs fetches again. */
  private assign(memberAssignment: Record<string, number[]>, signal: AbortSignal): void {
    const consumer = this.consumer!;
    const generation = ++this.generation;
    const next = new Map<string, { topic: string; partition: number }>();
    for (const [topic, partitions] of Object.entries(memberAssignment)) {
      for (const partition of partitions) next.set(partitionKey(topic, partition), { topic, partition });
    }
    const dropped = this.buffer.retain((key) => next.has(key));
    for (const key of this.assignment.keys()) {
      if (next.has(key)) continue;
      this.ownedSince.delete(key);
      this.nextOffsets.delete(key);
    }
    const fromStore: string[] = [];
    for (const [key, { topic, partition }] of next) {
      if (!this.assignment.has(key)) this.ownedSince.set(key, generation);
      const offset = this.assignment.has(key) ? this.nextOffsets.get(key) : undefined;
      // kafkajs restarts a retained partition from the group's committed
      // offset; continue after what this instance already buffered instead.
      if (offset !== undefined) consumer.seek({ topic, partition, offset: offset.toString() });
      else fromStore.push(key);
    }
    this.assignment = next;
    if (dropped > 0) this.context.logger.info({ dropped }, 'dropped buffered messages of revoked partitions');
    if (this.paused) consumer.pause(this.config.topics.map((topic) => ({ topic })));
    if (fromStore.length === 0) {
      this.assignmentReady = Promise.resolve();
      return;
    }
    this.assignmentReady = this.withRetry('read stored offsets', signal, async () => {
      const stored = await this.offsets.load();
      if (this.generation !== generation) return;
      for (const key of fromStore) {
        const offset = stored.get(key);
        const target = next.get(key)!;
        if (offset !== undefined) consumer.seek({ ...target, offset: (offset + 1n).toString() });
      }
    });
    this.assignmentReady.catch(() => undefined);
  }

  /** eachBatch: buffer the fetched messages and let kafkajs fetch on. */
  private async receive(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, heartbeat, resolveOffset } = payload;
    await waitWithHeartbeat(this.assignmentReady, heartbeat);
    // Stale: a seek (to the stored offset) is pending; these messages are from before it.
    if (!isRunning() || isStale() || this.stopping) return;
    const key = partitionKey(batch.topic, batch.partition);
    if (!this.assignment.has(key) || batch.messages.length === 0) return;
    const last = batch.lastOffset();
    this.buffer.add(batch.topic, batch.partition, batch.messages, last, Date.now(), (message) => this.prepareOnArrival(batch.topic, message));
    this.nextOffsets.set(key, BigInt(last) + 1n);
    resolveOffset(last);
    this.schedule();
  }

  private full(): boolean {
    return this.buffer.rows >= this.config.maxBatchRows || this.buffer.bytes >= this.config.maxBatchBytes;
  }

  /** Starts a flush when the buffer is due, else arms the timer; pauses the consumer when a full buffer waits. */
  private schedule(): void {
    if (this.stopping || this.buffer.empty) return;
    if (this.flushing) {
      if (this.full() && !this.paused) {
        this.paused = true;
        this.consumer?.pause(this.config.topics.map((topic) => ({ topic })));
      }
      return;
    }
    const wait = this.buffer.firstAt + this.config.maxBatchDelayMs - Date.now();
    if (this.full() || wait <= 0) {
      this.startFlush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
    }
  }

  private startFlush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let parts = this.buffer.take();
    const generation = this.generation;
    const crash = failpointEnabled('clickhouse-sink.crash-inside-key-change') && endAtKeyChangeDelete(parts);
    if (crash) parts = crash;
    this.flushing = this.flush(parts, generation, this.abortSignalForFlush()).then(
      () => {
        if (crash) crashAt('clickhouse-sink.crash-inside-key-change', this.context.logger);
        this.flushing = null;
        if (this.paused && !this.stopping) {
          this.paused = false;
          this.consumer?.resume(this.config.topics.map((topic) => ({ topic })));
        }
        this.schedule();
      },
      (error: unknown) => {
        this.flushing = null;
        if (!this.stopping) this.failure?.(error);
      },
    );
  }

  private flushSignal = new AbortController();

  private abortSignalForFlush(): AbortSignal {
    return this.flushSignal.signal;
  }

  /**
   * Graceful stop: no more fetching; the flush in progress and what is
   * buffered are written once more (one attempt: what fails is read again at
   * the next start, since its offsets were not stored).
   */
  private async finish(signal: AbortSignal): Promise<void> {
    if (!signal.aborted) return; // crashed or failed: leave it to the restart
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.consumer?.pause(this.config.topics.map((topic) => ({ topic })));
    this.flushSignal.abort();
    await this.flushing?.catch(() => undefined);
    if (!this.buffer.empty) {
      await this.flush(this.buffer.take(), this.generation, this.flushSignal.signal).catch((error: unknown) =>
        this.context.logger.warn({ err: error }, 'could not write the last batch before stopping; it is read again at the next start'),
      );
    }
  }

  private owned(part: PartitionBatch, generation: number): boolean {
    const since = this.ownedSince.get(part.key);
    return this.assignment.has(part.key) && since !== undefined && since <= generation;
  }

  /** Writes one batch: rows (in stream order per table, truncates between), dead letters, offsets. */
  private async flush(taken: PartitionBatch[], generation: number, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const owned = (part: PartitionBatch) => this.owned(part, generation);
    const parts = taken.filter(owned);
    if (parts.length === 0) return;
    let steps: Step[] = [];
    let deadLetters: DeadLetter[] = [];
    await this.withRetry('prepare tables in ClickHouse', signal, async () => {
      ({ steps, deadLetters } = await this.convert(parts));
    });

    let written = 0;
    const writtenByTable = new Map<string, number>();
    const commitTimes = new Map<number, number>();
    for (const step of steps) {
      if (step.kind === 'truncate') {
        if (!owned(step.part)) continue;
        await this.withRetry('truncate in ClickHouse', signal, async () => {
          const refused = await this.truncate(step);
          if (refused) deadLetters.push(refused);
        });
        continue;
      }
      let letters: DeadLetter[] = [];
      let rows: PendingRow[] = [];
      await this.withRetry('write rows to ClickHouse', signal, async () => {
        rows = step.rows.filter((row) => owned(row.part));
        letters = await this.writeRows(rows);
      });
      deadLetters.push(...letters);
      const refused = new Set(letters.map((letter) => letter.message));
      let count = 0;
      for (const row of rows) {
        if (refused.has(row.message)) continue;
        count++;
        commitTimes.set(row.commitMs, (commitTimes.get(row.commitMs) ?? 0) + 1);
      }
      written += count;
      writtenByTable.set(step.table, (writtenByTable.get(step.table) ?? 0) + count);
    }

    await this.withRetry('send dead letters', signal, async () => {
      const letters = deadLetters.filter((letter) => owned(letter.part));
      if (letters.length > 0) await this.sendDeadLetters(letters);
    });
    // Offsets only after the rows: a crash in between rewrites the batch, which
    // collapses under (key, _version).
    let stored: PartitionBatch[] = [];
    await this.withRetry('store offsets in ClickHouse', signal, async () => {
      stored = parts.filter(owned);
      await this.offsets.save(stored.map((part) => ({ topic: part.topic, partition: part.partition, offset: part.lastOffset })));
    });
    // The group offset is for lag monitoring only; a rebalance may refuse it.
    const committed = stored.filter(owned).map((part) => ({ topic: part.topic, partition: part.partition, offset: (BigInt(part.lastOffset) + 1n).toString() }));
    if (committed.length > 0) await this.consumer?.commitOffsets(committed).catch(() => undefined);

    const now = Date.now();
    metrics.sinkFlush.observe(this.labels, (now - started) / 1000);
    metrics.sinkBatchRows.observe(this.labels, written);
    for (const [table, count] of writtenByTable) if (count > 0) metrics.sinkRowsWritten.inc({ ...this.labels, table }, count);
    // One observation per source transaction (commit time) in the batch.
    for (const commitMs of commitTimes.keys()) metrics.sinkEndToEnd.observe(this.labels, Math.max(0, now - commitMs) / 1000);
  }

  /**
   * Converts a message whose table and schema are known already, so the work
   * overlaps the flush in progress; anything else (new schema, truncate,
   * tombstone) is left to the flush.
   */
  private prepareOnArrival(topic: string, message: KafkaMessage): Prepared | undefined {
    if (message.value === null) return undefined;
    try {
      const decoded = this.decodeFast(topic, message);
      if (!decoded || decoded.event.op === 't') return undefined;
      const rows = eventToRows(decoded.state.plan, decoded.event, keyChangeOf(message));
      for (const row of rows) rowToTsvLine(row);
      return { rows, commitMs: decoded.event.source.ts_ms };
    } catch (error) {
      if (error instanceof UnwritableEventError || error instanceof SyntaxError) return { error: errorMessage(error) };
      return undefined;
    }
  }

  /** Decodes the batch into steps; runs DDL (new tables, new columns) on the way. */
  private async convert(parts: readonly PartitionBatch[]): Promise<{ steps: Step[]; deadLetters: DeadLetter[] }> {
    const steps: Step[] = [];
    const deadLetters: DeadLetter[] = [];
    const open = new Map<string, PendingRow[]>();
    /** The open rows step of a table: rows join it until a truncate of that table closes it. */
    const rowsStep = (plan: TablePlan): PendingRow[] => {
      const qualifiedName = `${plan.database}.${plan.table}`;
      let rows = open.get(qualifiedName);
      if (!rows) {
        rows = [];
        open.set(qualifiedName, rows);
        steps.push({ kind: 'rows', table: plan.table, rows });
      }
      return rows;
    };
    for (const part of parts) {
      for (let index = 0; index < part.messages.length; index++) {
        const message = part.messages[index]!;
        if (message.value === null) continue; // tombstone: the delete before it was written
        const prepared = part.prepared[index];
        if (prepared && 'error' in prepared) {
          deadLetters.push({ part, message, error: prepared.error });
          continue;
        }
        if (prepared) {
          const rows = rowsStep(prepared.rows[0]!.plan);
          for (const row of prepared.rows) rows.push({ row, part, message, commitMs: prepared.commitMs });
          continue;
        }
        try {
          const decoded = this.decodeFast(part.topic, message) ?? (await this.decodeSlow(part.topic, message));
          const { event } = decoded;
          if (event.op === 't') {
            const version = event.source?.lsn;
            if (version === null || version === undefined) throw new UnwritableEventError('truncate event without source.lsn');
            const table = this.tableNameFor(part.topic, event);
            open.delete(`${this.config.database}.${table}`);
            steps.push({ kind: 'truncate', database: this.config.database, table, version, part, message });
            continue;
          }
          const state = decoded.state ?? (await this.tableFor(part.topic, message, event));
          const rows = rowsStep(state.plan);
          for (const row of eventToRows(state.plan, event, keyChangeOf(message))) rows.push({ row, part, message, commitMs: event.source.ts_ms });
        } catch (error) {
          if (!(error instanceof UnwritableEventError || error instanceof SyntaxError)) throw error;
          deadLetters.push({ part, message, error: errorMessage(error) });
        }
      }
    }
    return { steps, deadLetters };
  }

  /** The common case: a message with the topic's current schema; only its payload is parsed. */
  private decodeFast(topic: string, message: KafkaMessage): { event: ChangeEvent; state: TableState } | undefined {
    const known = this.tables.get(topic);
    const event = known && decodePayload(message.value!, known.prefix);
    return event ? { event, state: known } : undefined;
  }

  private async decodeSlow(topic: string, message: KafkaMessage): Promise<{ event: ChangeEvent; state: TableState | null }> {
    const decoded = decodeJsonMessage<ChangeEvent>(message.value!);
    if (!decoded.schema) throw new UnwritableEventError('message has no schema: the sink needs JsonConverter messages with schemas');
    const event = decoded.payload;
    if (!event || typeof event !== 'object' || !event.source) throw new UnwritableEventError('message is not a Debezium change event (no source block)');
    // A truncate has no key: it must not (re)plan the table.
    if (event.op === 't') return { event, state: null };
    return { event, state: await this.tableFor(topic, message, event, decoded.schema) };
  }

  /** The table state for an event's schema and key, creating or altering the table the first time. */
  private async tableFor(topic: string, message: KafkaMessage, event: ChangeEvent, schema?: ConnectSchema): Promise<TableState> {
    const envelope = schema ?? decodeJsonMessage<ChangeEvent>(message.value!).schema!;
    const schemaText = JSON.stringify(envelope);
    const keyFields = keyFieldNames(message);
    const cacheKey = `${schemaText}\u0000${[...keyFields].join(',')}`;
    const cached = this.schemas.get(cacheKey);
    if (cached instanceof UnwritableEventError) throw cached;
    if (cached) {
      this.tables.set(topic, cached);
      return cached;
    }
    const tableName = this.tableNameFor(topic, event);
    try {
      const plan = planTable(this.config.database, tableName, this.config.viewSuffix, columnsFromEnvelope(envelope, keyFields), [...keyFields], this.features!, {
        orderBy: this.config.orderBy[tableName],
        settings: this.config.engineSettings,
      });
      await this.applyTablePlan(plan);
      const state = { plan, schemaText, prefix: schemaPrefix(schemaText) };
      this.schemas.set(cacheKey, state);
      this.tables.set(topic, state);
      return state;
    } catch (error) {
      const reason = error instanceof PlanError ? new UnwritableEventError(error.message) : error;
      if (reason instanceof UnwritableEventError) this.schemas.set(cacheKey, reason);
      throw reason;
    }
  }

  private tableNameFor(topic: string, event: ChangeEvent): string {
    return this.config.tableName
      .replaceAll('{schema}', event.source.schema)
      .replaceAll('{table}', event.source.table)
      .replaceAll('{topic}', topic.replace(/[^A-Za-z0-9_]/g, '_'));
  }

  /**
   * Creates the table and view, and adds columns the table lacks. A column
   * whose type changed is not altered: the events that need it are
   * unwritable (dead-lettered with the reason). ClickHouse refusing the DDL
   * makes them unwritable too; connection failures are retried by the caller.
   */
  private async applyTablePlan(plan: TablePlan): Promise<void> {
    const where = `${plan.database}.${plan.table}`;
    try {
      await this.server.command(createTableSql(plan));
      const existing = await this.existingColumns(plan.database, plan.table);
      const changed = plan.columns.filter((column) => existing.has(column.name) && !compatibleType(existing.get(column.name)!, column.mapping.type));
      if (changed.length > 0) {
        const what = changed.map((column) => `${column.name} is ${existing.get(column.name)} in ClickHouse but the event needs ${column.mapping.type}`).join('; ');
        throw new UnwritableEventError(
          `type change not applied to ${where}: ${what}. tideline does not change column types; alter the column in ClickHouse (or drop the table and replay the topic)`,
        );
      }
      const added = plan.columns.filter((column) => !existing.has(column.name));
      for (const column of added) {
        // 18.16 has no ADD COLUMN IF NOT EXISTS; another instance may have added it meanwhile.
        await this.server.command(addColumnSql(plan, column)).catch(async (error: unknown) => {
          if (!(await this.existingColumns(plan.database, plan.table)).has(column.name)) throw error;
        });
      }
      if (added.length > 0 && existing.size > 0) {
        await this.server.command(`DROP TABLE IF EXISTS ${qualified(plan.database, plan.view)}`);
        this.context.logger.info({ table: plan.table, added: added.map((column) => column.name) }, 'added columns');
      }
      await this.server.command(createViewSql(plan, [...existing.keys(), ...added.map((column) => column.name)].filter((name, index, all) => all.indexOf(name) === index)));
    } catch (error) {
      if (isRefusal(error)) throw new UnwritableEventError(`ClickHouse refused the table change for ${where}: ${errorMessage(error)}`);
      throw error;
    }
  }

  /** The table's columns and types as ClickHouse has them, in table order. */
  private async existingColumns(database: string, table: string): Promise<Map<string, string>> {
    const rows = await this.server.rows<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`,
    );
    return new Map(rows.map((row) => [row.name, row.type]));
  }

  /** Resolves TOAST placeholders, then inserts per plan; rows ClickHouse refuses come back as dead letters. */
  private async writeRows(rows: PendingRow[]): Promise<DeadLetter[]> {
    if (rows.length === 0) return [];
    const images = rows.map((row) => row.row);
    if (images.some((image) => image.unavailable)) {
      const plan = images[images.length - 1]!.plan;
      const stored = await this.lookUpStored(plan, keysToLookUp(images), images);
      const unresolved = resolveUnavailable(images, stored);
      if (unresolved > 0) {
        metrics.sinkUnavailableValues.inc({ ...this.labels, table: plan.table }, unresolved);
        this.context.logger.warn({ table: plan.table, unresolved }, 'unchanged TOAST values with no stored row: written as the placeholder (text) or NULL');
      }
    }
    const byPlan = new Map<TablePlan, PendingRow[]>();
    for (const row of rows) {
      let list = byPlan.get(row.row.plan);
      if (!list) byPlan.set(row.row.plan, (list = []));
      list.push(row);
    }
    const letters: DeadLetter[] = [];
    for (const [plan, list] of byPlan) letters.push(...(await this.insertRows(plan, list)));
    return letters;
  }

  /**
   * One insert; when ClickHouse refuses a value, the rows are split until the
   * refused ones are found (dead letters) and the rest is written.
   */
  private async insertRows(plan: TablePlan, rows: PendingRow[]): Promise<DeadLetter[]> {
    try {
      await this.server.insertTabSeparated(qualified(plan.database, plan.table), insertColumns(plan), `${rows.map((row) => rowToTsvLine(row.row)).join('\n')}\n`);
      return [];
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (rows.length === 1) {
        const row = rows[0]!;
        return [{ part: row.part, message: row.message, error: `ClickHouse refused the row for ${plan.database}.${plan.table}: ${errorMessage(error).split('\n')[0]}` }];
      }
      const middle = Math.ceil(rows.length / 2);
      return [...(await this.insertRows(plan, rows.slice(0, middle))), ...(await this.insertRows(plan, rows.slice(middle)))];
    }
  }

  /**
   * The stored values of keys whose update carries TOAST placeholders, from
   * the table (FINAL), by key: column name to the TabSeparated field as
   * ClickHouse writes it (which it reads back the same way).
   */
  private async lookUpStored(plan: TablePlan, keys: ReadonlySet<string>, images: readonly RowImage[]): Promise<Map<string, Map<string, string>>> {
    const stored = new Map<string, Map<string, string>>();
    if (keys.size === 0 || plan.keyColumns.length === 0) return stored;
    const wanted = new Set<string>();
    for (const image of images) for (const index of image.unavailable?.keys() ?? []) wanted.add(image.plan.columns[index]!.name);
    const existing = await this.existingColumns(plan.database, plan.table);
    const columns = [...wanted].filter((name) => existing.has(name));
    if (columns.length === 0) return stored;
    const keyTypes = plan.keyIndexes.map((index) => plan.columns[index]!.mapping.type);
    const all = [...keys];
    for (let from = 0; from < all.length; from += 1000) {
      const literals = all.slice(from, from + 1000).map((key) => {
        const values = key.split('\t').map((field, index) => sqlLiteral(unescapeTsv(field), keyTypes[index]!));
        return values.length === 1 ? values[0]! : `(${values.join(', ')})`;
      });
      const keyExpression = plan.keyColumns.length === 1 ? quoteIdent(plan.keyColumns[0]!) : `(${plan.keyColumns.map(quoteIdent).join(', ')})`;
      const text = await this.server.text(
        `SELECT ${[...plan.keyColumns, ...columns].map(quoteIdent).join(', ')} FROM ${qualified(plan.database, plan.table)} FINAL ` +
          `WHERE ${keyExpression} IN (${literals.join(', ')})`,
      );
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const fields = line.split('\t');
        const key = fields.slice(0, plan.keyColumns.length).map((field) => escapeTsv(unescapeTsv(field))).join('\t');
        stored.set(key, new Map(columns.map((name, index) => [name, fields[plan.keyColumns.length + index]!])));
      }
    }
    return stored;
  }

  /** Marks every live row of the table older than the truncate deleted. Returns a dead letter if ClickHouse refuses. */
  private async truncate(step: Extract<Step, { kind: 'truncate' }>): Promise<DeadLetter | undefined> {
    const columns = await this.existingColumns(step.database, step.table);
    if (columns.size === 0) return undefined; // never written: nothing to truncate
    try {
      await this.server.command(truncateSql(step.database, step.table, [...columns.keys()], step.version));
      this.context.logger.info({ table: step.table, version: step.version }, 'truncate applied');
      return undefined;
    } catch (error) {
      if (!isRefusal(error)) throw error;
      return { part: step.part, message: step.message, error: `ClickHouse refused the truncate of ${step.database}.${step.table}: ${errorMessage(error).split('\n')[0]}` };
    }
  }

  private async sendDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    await this.producer!.send({
      topic: this.deadLetterTopic,
      acks: -1,
      messages: letters.map(({ part, message, error }) => ({
        key: message.key,
        value: message.value,
        headers: {
          'tideline.error': error,
          'tideline.source.topic': part.topic,
          'tideline.source.partition': String(part.partition),
          'tideline.source.offset': message.offset,
          'tideline.connector': this.context.name,
        },
      })),
    });
    const byTopic = new Map<string, number>();
    for (const letter of letters) byTopic.set(letter.part.topic, (byTopic.get(letter.part.topic) ?? 0) + 1);
    for (const [topic, count] of byTopic) metrics.sinkDeadLetters.inc({ ...this.labels, topic }, count);
    this.context.logger.warn({ count: letters.length, first: letters[0]?.error }, 'messages sent to the dead-letter topic');
  }

  /** Retries `task` with exponential backoff while it fails; reports degraded meanwhile. */
  private async withRetry(what: string, signal: AbortSignal, task: () => Promise<void>): Promise<void> {
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        await task();
        if (attempt > 1) this.context.setState('running');
        return;
      } catch (error) {
        if (signal.aborted || this.stopping) throw error;
        metrics.errors.inc({ connector: this.context.name, kind: 'clickhouse' });
        metrics.sinkRetries.inc({ ...this.labels, operation: what });
        this.context.setState('degraded', `${what}: ${errorMessage(error)}`);
        this.context.logger.warn({ err: error, attempt, retryInMs: delay }, `${what} failed; retrying`);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.config.maxRetryDelayMs);
      }
    }
  }
}

/**
 * For the failpoint: the batch cut right after the first delete of a key
 * change that has more messages after it (its tombstone and create), that
 * partition only; false when there is none.
 */
function endAtKeyChangeDelete(parts: readonly PartitionBatch[]): PartitionBatch[] | false {
  for (const part of parts) {
    const index = part.messages.findIndex((message) => message.headers?.[NEW_KEY_HEADER] !== undefined);
    if (index < 0 || index === part.messages.length - 1) continue;
    return [{ ...part, messages: part.messages.slice(0, index + 1), prepared: part.prepared.slice(0, index + 1), lastOffset: part.messages[index]!.offset }];
  }
  return false;
}

/** The primary-key change an event belongs to, from Debezium's headers (see change-events.ts). */
function keyChangeOf(message: KafkaMessage): KeyChange | undefined {
  const headers = message.headers;
  if (!headers) return undefined;
  if (headers[NEW_KEY_HEADER] !== undefined) return { newKey: true };
  const oldKey = headers[OLD_KEY_HEADER];
  if (oldKey === undefined) return undefined;
  const bytes = Array.isArray(oldKey) ? oldKey[0] : oldKey;
  if (bytes === undefined) return undefined;
  const payload = decodeJsonMessage<Row>(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)).payload;
  if (!payload || typeof payload !== 'object') throw new UnwritableEventError(`header ${OLD_KEY_HEADER} holds no key`);
  return { oldKey: payload };
}

/** Key columns from the message key's Connect schema (Debezium's `<topic>.Key`); empty for a table without a key. */
function keyFieldNames(message: KafkaMessage): Set<string> {
  if (!message.key) return new Set();
  const key = decodeJsonMessage<Record<string, unknown>>(message.key);
  const fields = (key.schema as ConnectSchema | null)?.fields?.map((field) => field.field ?? '');
  return new Set(fields ?? Object.keys(key.payload ?? {}));
}

/**
 * decodePayloadWithPrefix for change events, faster: plain JSON.parse, and
 * the exact (lossless) parser only when an integer came out beyond 2^53 (a
 * 16-digit double such as 0.3333333333333333 does not need it).
 */
function decodePayload(bytes: Buffer, prefix: Buffer): ChangeEvent | undefined {
  if (bytes.length <= prefix.length || bytes[bytes.length - 1] !== 0x7d /* } */) return undefined;
  if (bytes.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return undefined;
  const text = bytes.toString('utf8', prefix.length, bytes.length - 1);
  const event = JSON.parse(text) as ChangeEvent;
  return hasUnsafeInteger(event.after) || hasUnsafeInteger(event.before) || hasUnsafeInteger(event.source) ? (parseJson(text) as ChangeEvent) : event;
}

function hasUnsafeInteger(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasUnsafeInteger);
  for (const key in value) if (hasUnsafeInteger((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** Waits for `promise`, heartbeating the consumer group every second meanwhile. */
async function waitWithHeartbeat(promise: Promise<void>, heartbeat: () => Promise<void>): Promise<void> {
  let done = false;
  const settled = promise.finally(() => (done = true));
  settled.catch(() => undefined);
  while (!done) {
    await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (!done) await heartbeat();
  }
  await settled;
}

/** Undoes TabSeparated escaping (as ClickHouse writes it: \b \f \r \n \t \0 \' \\). */
export function unescapeTsv(field: string): string {
  if (!field.includes('\\')) return field;
  const map: Record<string, string> = { b: '\b', f: '\f', r: '\r', n: '\n', t: '\t', '0': '\0' };
  return field.replace(/\\(.)/g, (_, char: string) => map[char] ?? char);
}

/** A key value as a SQL literal of the column's type (18.16: no query parameters). */
export function sqlLiteral(text: string, type: string): string {
  const base = type.replace(/^Nullable\((.*)\)$/, '$1');
  if (/^U?Int\d+$/.test(base) && /^-?\d+$/.test(text)) return text;
  if (base === 'String') return quoteString(text);
  return `CAST(${quoteString(text)} AS ${base})`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
