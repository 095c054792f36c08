/**
 * The ClickHouse sink: change topics into ReplacingMergeTree tables.
 *
 * Exactly-once protocol (DESIGN.md): for each batch, rows are written first,
 * then the batch's last offset into `_tideline_sink_offsets`, and only then is
 * the Kafka group offset committed (for lag monitoring). On partition
 * assignment each partition is sought to its stored offset + 1. A batch written
 * twice after a crash collapses under (key, _version). Nothing is written for a
 * partition after a rebalance took it away (isRunning/isStale checks).
 */
import { ClickHouseError } from '@clickhouse/client';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { columnsFromEnvelope, type ChangeEvent } from '../../core/events.js';
import type { ConnectSchema } from '../../core/connect-schema.js';
import { whenAborted } from '../../core/abort.js';
import { errorMessage } from '../../core/errors.js';
import { decodeJsonMessage, decodePayloadWithPrefix, schemaPrefix } from '../../core/serde/json.js';
import { createKafka } from '../../kafka/client.js';
import { ensureTopics, waitForTopics } from '../../kafka/topics.js';
import { metrics } from '../../metrics/registry.js';
import { SinkOffsetStore, partitionKey } from './offset-store.js';
import { UnwritableEventError, eventToTsvLine } from './rows.js';
import { ClickHouseServer, type ServerFeatures } from './server.js';
import type { ClickHouseSinkConfig } from './spec.js';
import { quoteIdent, quoteString } from './sql.js';
import { addColumnSql, createTableSql, createViewSql, DELETED_COLUMN, planTable, VERSION_COLUMN, type TablePlan } from './table-plan.js';

interface TableState {
  plan: TablePlan;
  /** JSON of the envelope schema the plan was made from: a change means new columns. */
  schemaText: string;
  /** How messages with that schema start: they skip schema parsing (decodePayloadWithPrefix). */
  prefix: Buffer;
}

interface DeadLetter {
  message: KafkaMessage;
  error: string;
}

export class ClickHouseSink implements Connector {
  private readonly config: ClickHouseSinkConfig;
  private readonly server: ClickHouseServer;
  private readonly offsets: SinkOffsetStore;
  private readonly tables = new Map<string, TableState>();
  private features: ServerFeatures | null = null;
  private producer: Producer | null = null;
  private readonly deadLetterTopic: string;

  constructor(private readonly context: ConnectorContext<ClickHouseSinkConfig>) {
    this.config = context.config;
    this.server = new ClickHouseServer(this.config.url, this.config.username, this.config.password);
    this.offsets = new SinkOffsetStore(this.server, this.config.database, context.name);
    this.deadLetterTopic = this.config.deadLetterTopic ?? `${context.name}.dlq`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { logger, name } = this.context;
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger);
    let consumer: Consumer | null = null;
    try {
      await this.withRetry('connect to ClickHouse', signal, async () => {
        this.features = await this.server.features();
        await this.server.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(this.config.database)}`);
        await this.offsets.ensureTable();
      });
      logger.info({ version: this.features?.version, dateTime64: this.features?.dateTime64 }, 'connected to ClickHouse');

      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, [{ topic: this.deadLetterTopic, partitions: 1 }]);
        // Change topics are created by their source; until then there is nothing to read.
        await waitForTopics(admin, this.config.topics, signal, (missing) => {
          this.context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
          logger.info({ missing }, 'waiting for topics to be created');
        });
      } finally {
        await admin.disconnect();
      }
      this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await this.producer.connect();

      consumer = kafka.consumer({
        groupId: this.config.groupId ?? `tideline-${name}`,
        readUncommitted: false,
        maxBytesPerPartition: 16 * 1024 * 1024,
        maxBytes: 64 * 1024 * 1024,
        // A crashed daemon holds its partitions until its session times out;
        // 10 s keeps a restart after SIGKILL quick. Heartbeats are also sent
        // between the inserts of a batch, so a slow write does not expire it.
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
      });
      const crashed = new Promise<never>((_, reject) => {
        consumer!.on(consumer!.events.CRASH, (event) => {
          if (!event.payload.restart) reject(event.payload.error);
        });
      });
      crashed.catch(() => undefined);
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        void this.seekToStoredOffsets(consumer!, event.payload.memberAssignment).catch((error) =>
          logger.error({ err: error }, 'could not seek to stored offsets'),
        );
      });
      await consumer.connect();
      for (const topic of this.config.topics) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.writeBatch(consumer!, payload, signal),
      });
      this.context.setState('running');
      logger.info({ topics: this.config.topics, database: this.config.database }, 'writing to ClickHouse');
      await Promise.race([whenAborted(signal), crashed]);
    } finally {
      await consumer?.disconnect().catch(() => undefined);
      await this.producer?.disconnect().catch(() => undefined);
      await this.server.close().catch(() => undefined);
    }
  }

  private async seekToStoredOffsets(consumer: Consumer, assignment: Record<string, number[]>): Promise<void> {
    const stored = await this.offsets.load();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const offset = stored.get(partitionKey(topic, partition));
        if (offset !== undefined) consumer.seek({ topic, partition, offset: (offset + 1n).toString() });
      }
    }
  }

  private async writeBatch(consumer: Consumer, payload: EachBatchPayload, signal: AbortSignal): Promise<void> {
    const { batch, isRunning, isStale, heartbeat, resolveOffset } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const owned = (): boolean => isRunning() && !isStale();
    let lines = new Map<TablePlan, string[]>();
    let deadLetters: DeadLetter[] = [];
    let endToEnd: number[] = [];
    const now = Date.now();

    // Converting may run DDL (new table, new column); an unreachable ClickHouse
    // is retried like the write itself.
    await this.withRetry('prepare tables in ClickHouse', signal, async () => {
      lines = new Map();
      deadLetters = [];
      endToEnd = [];
      for (const message of batch.messages) {
        if (message.value === null) continue; // tombstone: the delete before it was written
        try {
          const { event, plan } = await this.prepare(batch.topic, message);
          let list = lines.get(plan);
          if (!list) lines.set(plan, (list = []));
          list.push(eventToTsvLine(plan, event));
          endToEnd.push(now - event.source.ts_ms);
        } catch (error) {
          if (!(error instanceof UnwritableEventError || error instanceof SyntaxError)) throw error;
          deadLetters.push({ message, error: errorMessage(error) });
        }
      }
    }, heartbeat);

    const last = batch.lastOffset();
    const started = Date.now();
    await this.withRetry('write batch to ClickHouse', signal, async () => {
      for (const [plan, rows] of lines) {
        if (!owned()) return;
        await heartbeat();
        await this.server.insertTabSeparated(`${quoteIdent(plan.database)}.${quoteIdent(plan.table)}`, columnNames(plan), `${rows.join('\n')}\n`);
      }
      if (deadLetters.length > 0 && owned()) await this.sendDeadLetters(batch.topic, batch.partition, deadLetters);
      // Offsets only after the rows: a crash between the two rewrites the batch,
      // which collapses under (key, _version).
      if (owned()) await this.offsets.save([{ topic: batch.topic, partition: batch.partition, offset: last }]);
    }, heartbeat);
    if (!owned()) return;
    resolveOffset(last);
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);

    const labels = { connector: this.context.name };
    metrics.sinkFlush.observe(labels, (Date.now() - started) / 1000);
    let rows = 0;
    for (const [plan, list] of lines) {
      rows += list.length;
      metrics.sinkRowsWritten.inc({ ...labels, table: plan.table }, list.length);
    }
    metrics.sinkBatchRows.observe(labels, rows);
    for (const latency of endToEnd) metrics.sinkEndToEnd.observe(labels, Math.max(0, latency) / 1000);
  }

  /** Decodes one message and makes sure its table exists with its columns. */
  private async prepare(topic: string, message: KafkaMessage): Promise<{ event: ChangeEvent; plan: TablePlan }> {
    const known = this.tables.get(topic);
    const fast = known && decodePayloadWithPrefix<ChangeEvent>(message.value!, known.prefix);
    if (fast) return { event: fast, plan: known.plan };
    const decoded = decodeJsonMessage<ChangeEvent>(message.value!);
    if (!decoded.schema) throw new UnwritableEventError('message has no schema: the sink needs JsonConverter messages with schemas');
    const event = decoded.payload;
    const schemaText = JSON.stringify(decoded.schema);
    const state = this.tables.get(topic);
    if (state && state.schemaText === schemaText) return { event, plan: state.plan };

    const keyFields = keyFieldNames(message);
    const tableName = this.config.tableName.replace('{schema}', event.source.schema).replace('{table}', event.source.table);
    let plan: TablePlan;
    try {
      plan = planTable(this.config.database, tableName, this.config.viewSuffix, columnsFromEnvelope(decoded.schema, keyFields), [...keyFields], this.features!);
    } catch (error) {
      throw new UnwritableEventError(errorMessage(error));
    }
    await this.applyTablePlan(plan, state?.plan);
    this.tables.set(topic, { plan, schemaText, prefix: schemaPrefix(schemaText) });
    return { event, plan };
  }

  /**
   * Creates the table and view, and adds columns the table lacks. ClickHouse
   * refusing the DDL (it answered with an error) makes the events that need it
   * unwritable, so they go to the dead-letter topic; connection failures are
   * retried by the caller.
   */
  private async applyTablePlan(plan: TablePlan, previous: TablePlan | undefined): Promise<void> {
    try {
      await this.server.command(createTableSql(plan));
      const existing = await this.existingColumns(plan);
      const added = plan.columns.filter((column) => !existing.has(column.name));
      for (const column of added) {
        // 18.16 has no ADD COLUMN IF NOT EXISTS; another instance may have added it meanwhile.
        await this.server.command(addColumnSql(plan, column)).catch(async (error: unknown) => {
          if (!(await this.existingColumns(plan)).has(column.name)) throw error;
        });
      }
      if (added.length > 0 || (previous && previous.columns.length !== plan.columns.length)) {
        await this.server.command(`DROP TABLE IF EXISTS ${quoteIdent(plan.database)}.${quoteIdent(plan.view)}`);
        this.context.logger.info({ table: plan.table, added: added.map((column) => column.name) }, 'added columns');
      }
      await this.server.command(createViewSql(plan));
    } catch (error) {
      if (error instanceof ClickHouseError) {
        throw new UnwritableEventError(`ClickHouse refused the table change for ${plan.database}.${plan.table}: ${error.message}`);
      }
      throw error;
    }
  }

  private async existingColumns(plan: TablePlan): Promise<Set<string>> {
    const rows = await this.server.rows<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = ${quoteString(plan.database)} AND table = ${quoteString(plan.table)}`,
    );
    return new Set(rows.map((row) => row.name));
  }

  private async sendDeadLetters(topic: string, partition: number, letters: readonly DeadLetter[]): Promise<void> {
    await this.producer!.send({
      topic: this.deadLetterTopic,
      acks: -1,
      messages: letters.map(({ message, error }) => ({
        key: message.key,
        value: message.value,
        headers: {
          'tideline.error': error,
          'tideline.source.topic': topic,
          'tideline.source.partition': String(partition),
          'tideline.source.offset': message.offset,
          'tideline.connector': this.context.name,
        },
      })),
    });
    metrics.sinkDeadLetters.inc({ connector: this.context.name, topic }, letters.length);
    this.context.logger.warn({ topic, partition, count: letters.length, first: letters[0]?.error }, 'messages sent to the dead-letter topic');
  }

  /** Retries `task` with exponential backoff while ClickHouse fails; reports degraded meanwhile. */
  private async withRetry(what: string, signal: AbortSignal, task: () => Promise<void>, heartbeat?: () => Promise<void>): Promise<void> {
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        await task();
        if (attempt > 1) this.context.setState('running');
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        metrics.errors.inc({ connector: this.context.name, kind: 'clickhouse' });
        this.context.setState('degraded', `${what}: ${errorMessage(error)}`);
        this.context.logger.warn({ err: error, attempt, retryInMs: delay }, `${what} failed; retrying`);
        await sleep(delay, signal);
        await heartbeat?.().catch(() => undefined);
        delay = Math.min(delay * 2, this.config.maxRetryDelayMs);
      }
    }
  }
}

function columnNames(plan: TablePlan): string[] {
  return [...plan.columns.map((column) => column.name), VERSION_COLUMN, DELETED_COLUMN];
}

/** Key columns from the message key's Connect schema (Debezium's `<topic>.Key`). */
function keyFieldNames(message: KafkaMessage): Set<string> {
  if (!message.key) return new Set();
  const key = decodeJsonMessage<Record<string, unknown>>(message.key);
  const fields = (key.schema as ConnectSchema | null)?.fields?.map((field) => field.field ?? '');
  return new Set(fields ?? Object.keys(key.payload ?? {}));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
