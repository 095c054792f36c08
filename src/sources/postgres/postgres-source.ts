/**
 * The PostgreSQL source: pgoutput changes into Kafka, exactly once. This
 * module is the orchestration: it sets up PostgreSQL (publication, slot) and
 * Kafka (topics, the transactional producer), reads the stored position,
 * chooses between snapshot and stream (snapshot-plan.ts), and supervises the
 * two units that feed the transactional writer: the snapshot reader
 * (snapshot-runner.ts), then the stream (transaction-stream.ts).
 *
 * Protocol (docs/architecture.md, "Exactly-once protocol"):
 *  1. One transactional producer per connector (`tideline-<name>`); connecting it
 *     fences any older instance and aborts the transaction it left open.
 *  2. The stored position (last commit LSN in `_tideline_offsets`) is read
 *     read_committed. Transactions whose commit LSN is at or below it are dropped.
 *  3. Whole PostgreSQL transactions go into one Kafka transaction, followed by
 *     the offset record; the Kafka transaction commits only at a PostgreSQL
 *     commit boundary.
 *  4. Only after the Kafka commit is the commit LSN confirmed to PostgreSQL.
 */
import pg from 'pg';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import { whenAborted } from '../../core/abort.js';
import { createKafka, releaseKafka, type KafkaClient } from '../../kafka/client.js';
import { ensureTopics, withAdmin } from '../../kafka/topics.js';
import { ensureSourceOffsetsTopic, readSourceOffset } from '../../kafka/source-offsets.js';
import { TransactionalWriter } from '../../kafka/transactional-writer.js';
import { errorAction } from '../../core/error-actions.js';
import { metrics } from '../../metrics/registry.js';
import { ChangeEventBuilder } from './change-events.js';
import { ColumnRuleError, ColumnRules } from './column-rules.js';
import { KafkaOutput } from './kafka-output.js';
import { decodePosition, type IncrementalPosition, type PostgresPosition } from './position.js';
import { checkServer, createSlot, ensurePublication, listTableOids, loadTypeCatalog, primaryKeys, resolveTables, slotInfo, slotLagBytes, tableColumns } from './replication-setup.js';
import { discoverySignalId, TableDiscovery } from './table-discovery.js';
import { isPattern } from './table-selection.js';
import { planSnapshot } from './snapshot-plan.js';
import { createSlotWithSnapshot, type SlotWithSnapshot } from './snapshot-reader.js';
import { SnapshotRunner } from './snapshot-runner.js';
import type { CatalogType } from './type-mapping.js';
import { TransactionStream } from './transaction-stream.js';
import { IncrementalSnapshotter, kafkaSignalId, type IncrementalSnapshotStatus } from './incremental-snapshot.js';
import { SignalTopicReader } from '../../kafka/signal-topic.js';
import { parseKafkaSignal, SignalError } from './signals.js';
import { ensureSignalTable, signalTableName } from './signal-table.js';
import { errorMessage, TidelineError } from '../../core/errors.js';
import { randomUUID } from 'node:crypto';
import { splitTableName } from './sql.js';
import type { PostgresSourceConfig } from './spec.js';

/** Sends queued behind message handling before it waits for Kafka. */
const MAX_SENDS_IN_FLIGHT = 2;

/** The slot-lag warning repeats at most this often while the lag stays above the threshold. */
const LAG_WARNING_INTERVAL_MS = 600_000;

/** The logical-message prefix of heartbeats (pg_logical_emit_message). */
export const HEARTBEAT_PREFIX = 'tideline_heartbeat';

/** Runs of each connector in this process, to count reconnects. */
const runsByConnector = new Map<string, number>();

export function defaultSlotName(connector: string): string {
  return `tideline_${connector.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

export class PostgresSource implements Connector {
  private readonly config: PostgresSourceConfig;
  private readonly slot: string;
  private readonly publication: string;
  private readonly topicPrefix: string;
  private readonly deadLetterTopic: string;
  /** The `columns` setting, compiled once; null without one. */
  private readonly columnRules: ColumnRules | null;
  private kafka: KafkaClient | null = null;

  /** The connector's transactional producer, and the events and positions written through it. */
  private writer: TransactionalWriter | null = null;
  private output: KafkaOutput | null = null;
  private stream: TransactionStream | null = null;

  /** Commit LSN of the stored position (-1: none). */
  private storedLsn: Lsn = -1n;
  private failure: Error | null = null;
  private failed: (error: Error) => void = () => undefined;
  private readonly warnedTypes = new Set<string>();
  /** The captured tables, resolved from the include/exclude patterns at start; discovery adds to it in place. */
  private tables: string[] = [];
  /** Oids of the captured tables, to tell a table dropped and created again under its name. */
  private tableOids = new Map<string, number>();
  private lastLagWarningAt = 0;
  /** "schema.table" of the signal table, when configured. */
  private readonly signalTable: string | null;
  /** The incremental snapshot, once streaming (with a signal table). */
  private snapshotter: IncrementalSnapshotter | null = null;

  constructor(private readonly context: ConnectorContext<PostgresSourceConfig>) {
    this.config = context.config;
    this.slot = this.config.slot ?? defaultSlotName(context.name);
    this.publication = this.config.publication ?? this.slot;
    this.topicPrefix = this.config.topicPrefix ?? context.name;
    this.deadLetterTopic = this.config.deadLetterTopic ?? `${context.name}.dlq`;
    this.columnRules = this.config.columns ? new ColumnRules(this.config.columns) : null;
    this.signalTable = this.config.signalTable ? signalTableName(this.config.signalTable) : null;
  }

  /**
   * A signal from outside the stream (the admin API): checked, then inserted
   * into the signal table, where it acts in stream order like any other.
   * `id` defaults to a new one; sending the same id twice acts once.
   */
  async signal(type: string, data: unknown, id: string = `api-${randomUUID()}`): Promise<{ id: string; inserted: boolean }> {
    if (!this.signalTable) throw new SignalError(`connector ${this.context.name} has no signalTable: set one to send signals`);
    if (!this.snapshotter) throw new TidelineError(`connector ${this.context.name} is not streaming yet: try again once it runs`);
    if (id.length === 0 || id.length > 42) throw new SignalError('signal id must be 1 to 42 characters (the signal table\'s id column)');
    const inserted = await this.snapshotter.send(id, type, data);
    return { id, inserted };
  }

  /** The running incremental snapshot's progress, for the connector's status. */
  snapshotStatus(): IncrementalSnapshotStatus | null {
    return this.snapshotter?.status() ?? null;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { logger, name } = this.context;
    const runs = (runsByConnector.get(name) ?? 0) + 1;
    runsByConnector.set(name, runs);
    // Counted from 0, so that rate() and increase() see the first one.
    metrics.sourceReconnects.inc({ connector: name }, runs > 1 ? 1 : 0);
    metrics.sourceHeartbeats.inc({ connector: name }, 0);
    const admin = new pg.Client({ connectionString: this.config.url, application_name: `tideline:${name}:admin` });
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger, this.context.health);
    this.kafka = kafka;
    const failedPromise = new Promise<never>((_, reject) => (this.failed = reject));
    failedPromise.catch(() => undefined);
    admin.on('error', (error) => this.fail(error));
    const timers: NodeJS.Timeout[] = [];
    let exported: SlotWithSnapshot | null = null;
    let signalReader: SignalTopicReader | null = null;
    let discovery: TableDiscovery | null = null;
    try {
      await admin.connect();
      const { database, keys, types, slotExists } = await this.preparePostgres(admin);
      const stored = await this.prepareKafka(kafka, keys);
      const output = this.output!;
      const plan = planSnapshot({ mode: this.config.snapshotMode, slotExists, offset: stored, tables: this.tables });
      if (plan.createSlot === 'plain') {
        await createSlot(admin, this.slot);
        logger.info({ slot: this.slot }, 'created replication slot');
      } else if (plan.createSlot === 'export') {
        exported = await createSlotWithSnapshot(this.config.url, this.slot, `tideline:${name}:slot`);
        logger.info({ slot: this.slot, consistentPoint: exported.consistentPoint }, 'created replication slot with an exported snapshot');
      }
      const slot = await slotInfo(admin, this.slot);
      const builder = this.createBuilder(database, keys, types);
      timers.push(setInterval(() => void this.measureLag(admin), this.config.lagIntervalMs));

      let snapshotted = plan.snapshotted;
      if (plan.tables.length > 0) {
        logger.info({ tables: plan.tables, reason: plan.reason, resume: plan.resume !== null }, 'snapshot starting');
        // Working, not stuck: a long snapshot must not fail health checks.
        this.context.setState('running', 'reading snapshot');
        const snapshot = new SnapshotRunner({
          url: this.config.url,
          connector: name,
          plan,
          exported,
          keys,
          restartLsn: slot?.restartLsn ? parseLsn(slot.restartLsn) : 1n,
          storedLsn: this.storedLsn,
          chunkRows: this.config.snapshotChunkRows,
          incremental: stored?.incremental ?? null,
          builder,
          output,
          logger,
          setState: (state, detail) => this.context.setState(state, detail),
          failure: () => this.failure,
          onError: (error) => this.fail(error),
        });
        const finished = await Promise.race([snapshot.run(signal), failedPromise]);
        exported = null;
        // Stopped part-way: every chunk read so far is committed with its position.
        if (!finished) {
          if (this.failure) throw this.failure;
          return;
        }
        snapshotted = snapshot.snapshotted;
      } else {
        await exported?.connection.end();
        exported = null;
        logger.info({ reason: plan.reason }, 'no snapshot');
      }

      // Read by the stream at each commit: a table an execute-snapshot queued
      // (a discovered one) counts as snapshotted, so the next start reads it
      // no second time (its unfinished snapshot resumes from the position).
      const streamSnapshotted = [...snapshotted];
      const snapshotter = this.createSnapshotter(builder, keys, stored?.incremental ?? null, streamSnapshotted);
      this.stream = new TransactionStream({
        url: this.config.url,
        slot: this.slot,
        publication: this.publication,
        connector: name,
        storedLsn: this.storedLsn,
        // Keepalive replies before the first commit confirm nothing new.
        durableLsnText: slot?.confirmedFlushLsn ? formatLsn(parseLsn(slot.confirmedFlushLsn) - 1n) : '0/0',
        snapshotted: streamSnapshotted,
        maxBatchEvents: this.config.maxBatchEvents,
        maxBatchDelayMs: this.config.maxBatchDelayMs,
        builder,
        output,
        logger,
        ...(snapshotter ? { hooks: snapshotter } : {}),
        failure: () => this.failure,
        onError: (error) => this.fail(error),
      });
      const streaming = this.stream.run().then(() => {
        if (!signal.aborted) throw new Error('replication stream ended unexpectedly');
      });
      streaming.catch(() => undefined);

      this.snapshotter = snapshotter;
      snapshotter?.start();
      if (snapshotter && this.config.signalTopic) signalReader = this.readSignalTopic(kafka, snapshotter, signal);
      if (this.config.heartbeatIntervalMs > 0) timers.push(setInterval(() => void this.heartbeat(admin), this.config.heartbeatIntervalMs));
      discovery = this.startDiscovery(admin, keys, types, snapshotter);
      this.context.setState('running');
      logger.info({ slot: this.slot, publication: this.publication, tables: this.tables }, 'streaming changes');
      await Promise.race([whenAborted(signal), failedPromise, streaming]);
      await this.stream.shutdown();
    } catch (error) {
      await this.output?.abort();
      throw error;
    } finally {
      for (const timer of timers) clearInterval(timer);
      await discovery?.stop();
      await exported?.connection.end().catch(() => undefined);
      await signalReader?.stop().catch(() => undefined);
      await this.stream?.stop();
      await this.snapshotter?.stop();
      this.snapshotter = null;
      await this.writer?.disconnect();
      await admin.end().catch(() => undefined);
      releaseKafka(kafka);
    }
  }

  /** Resolves the captured tables, checks the server, keeps the publication in step; returns what events need. */
  private async preparePostgres(
    admin: pg.Client,
  ): Promise<{ database: string; keys: Map<string, string[]>; types: Map<number, CatalogType>; slotExists: boolean }> {
    await checkServer(admin);
    // The signal table is read as signals, never captured as a table.
    this.tables = (await resolveTables(admin, this.config.tables, this.config.excludeTables)).filter((table) => table !== this.signalTable);
    if (this.tables.length === 0) throw new TidelineError('the only table matched by tables is the signalTable, which is not captured: nothing to capture');
    const oids = await listTableOids(admin);
    this.tableOids = new Map(this.tables.map((table) => [table, oids.get(table) ?? 0]));
    metrics.sourceCapturedTables.set({ connector: this.context.name }, this.tables.length);
    for (const qualified of this.tables) {
      // At 0 from the start (the label as kafka-output counts it), so that the first dead letter is an increase.
      const { schema, table } = splitTableName(qualified);
      metrics.sourceDeadLetters.inc({ connector: this.context.name, table: `${schema}.${table}` }, 0);
    }
    if (this.columnRules) await this.checkColumnRules(admin, this.columnRules);
    if (this.signalTable) await ensureSignalTable(admin, this.signalTable);
    await ensurePublication(admin, this.publication, this.signalTable ? [...this.tables, this.signalTable] : this.tables, this.context.logger);
    const slotExists = (await slotInfo(admin, this.slot)) !== null;
    const keys = await primaryKeys(admin, this.tables);
    const types = await loadTypeCatalog(admin, this.tables);
    const database = (await admin.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
    return { database, keys, types, slotExists };
  }

  /**
   * Applies the column rules to every captured table before anything starts:
   * fails naming every key column they would leave out or replace, warns
   * about entries that match no column, and logs what each table loses.
   * (A table's Relation message is checked again while streaming: DDL.)
   */
  private async checkColumnRules(admin: pg.Client, rules: ColumnRules): Promise<void> {
    const tables = await tableColumns(admin, this.tables);
    const problems: string[] = [];
    for (const [qualified, { columns, keyColumns }] of tables) {
      const { schema, table } = splitTableName(qualified);
      try {
        const plan = rules.plan(schema, table, columns, keyColumns);
        const of = (kind: string): string[] => [...plan].filter(([, treatment]) => treatment.kind === kind).map(([name]) => name);
        const leftOut = columns.filter((name) => !plan.has(name));
        if (leftOut.length + of('mask').length + of('hash').length > 0) {
          this.context.logger.info({ table: qualified, leftOut, masked: of('mask'), hashed: of('hash') }, 'column rules');
        }
      } catch (error) {
        if (!(error instanceof ColumnRuleError)) throw error;
        problems.push(...error.problems);
      }
    }
    if (problems.length > 0) throw new ColumnRuleError(problems);
    const unmatched = rules.unmatched(new Map([...tables].map(([qualified, table]) => [qualified, table.columns])));
    if (unmatched.length > 0) {
      this.context.logger.warn({ entries: unmatched }, 'columns: entries that match no column of the captured tables (check for a typo: such an entry protects nothing)');
    }
  }

  /** Creates the topics, connects the transactional producer, then reads the stored position. */
  private async prepareKafka(kafka: KafkaClient, keys: ReadonlyMap<string, readonly string[]>): Promise<PostgresPosition | null> {
    const { logger, name } = this.context;
    await ensureSourceOffsetsTopic(kafka);
    await withAdmin(kafka, async (admin) => {
      const created = await ensureTopics(
        admin,
        this.tables.map((qualified) => this.changeTopic(qualified, keys.has(qualified))),
      );
      if (created.length > 0) logger.info({ topics: created }, 'created change topics');
      if (this.config.signalTopic) {
        const signalTopics = await ensureTopics(admin, [{ topic: this.config.signalTopic, partitions: 1 }]);
        if (signalTopics.length > 0) logger.info({ topic: this.config.signalTopic }, 'created the signal topic');
      }
    });

    // Connecting initializes the transactional id: an older instance is
    // fenced and its last transaction settled (an open one aborted), which
    // must happen before the offset is read (see readSourceOffset).
    this.writer = new TransactionalWriter(kafka, {
      transactionalId: `tideline-${name}`,
      transactionTimeoutMs: 300_000,
      compression: this.config.compression,
      // Sends run behind message handling; at most this many are queued
      // before handling waits (and the replication stream with it).
      maxSendsInFlight: MAX_SENDS_IN_FLIGHT,
      // A failed send fails the connector; the transaction never commits.
      onSendError: (error) => this.fail(error),
    });
    await this.writer.connect();
    this.output = new KafkaOutput(this.writer, name);
    const record = await readSourceOffset(kafka, name);
    const stored = record === null ? null : decodePosition(record);
    if (stored) {
      this.storedLsn = BigInt(stored.lsn);
      logger.info({ lsn: stored.lsnText, txId: stored.txId }, 'resuming after stored offset');
    } else {
      logger.info({ slot: this.slot }, 'no stored offset');
    }
    return stored;
  }

  /** A table's change topic as the source creates it. */
  private changeTopic(qualified: string, hasKey: boolean): { topic: string; partitions: number; configs: Record<string, string> } {
    const { schema, table } = splitTableName(qualified);
    // Events of a table without a primary key have no key, which a
    // compacted topic refuses: its topic deletes by retention instead.
    const policy = hasKey ? this.config.topicCleanupPolicy : 'delete';
    return { topic: `${this.topicPrefix}.${schema}.${table}`, partitions: this.config.topicPartitions, configs: { 'cleanup.policy': policy } };
  }

  /**
   * The periodic catalog check for tables created while streaming
   * (table-discovery.ts), or null when off: tableDiscoveryIntervalMs 0, or no
   * signalTable to read a new table's existing rows with (unless
   * snapshotMode is never, which reads none).
   */
  private startDiscovery(admin: pg.Client, keys: Map<string, string[]>, types: Map<number, CatalogType>, snapshotter: IncrementalSnapshotter | null): TableDiscovery | null {
    const { logger, name } = this.context;
    const intervalMs = this.config.tableDiscoveryIntervalMs;
    if (intervalMs === 0) return null;
    const readsRows = this.config.snapshotMode !== 'never';
    if (readsRows && !snapshotter) {
      if (this.config.tables.some(isPattern)) logger.info('tables created while streaming are captured from the next start: discovering them while streaming (tableDiscoveryIntervalMs) needs a signalTable, whose incremental snapshot reads their existing rows');
      return null;
    }
    const discovery = new TableDiscovery({
      client: admin,
      connector: name,
      publication: this.publication,
      include: this.config.tables,
      exclude: this.config.excludeTables,
      signalTable: this.signalTable,
      intervalMs,
      captured: { tables: this.tables, keys, types },
      oids: this.tableOids,
      columnRules: this.columnRules,
      createTopic: async (table, hasKey) => {
        const created = await withAdmin(this.kafka!, (kafkaAdmin) => ensureTopics(kafkaAdmin, [this.changeTopic(table, hasKey)]));
        if (created.length > 0) logger.info({ topics: created }, 'created change topics');
      },
      snapshot:
        readsRows && snapshotter
          ? async (table, oid) => {
              await snapshotter.send(discoverySignalId(table, oid), 'execute-snapshot', { 'data-collections': [table], type: 'incremental' });
            }
          : null,
      logger,
    });
    discovery.start();
    return discovery;
  }

  /** The incremental snapshot when a signal table is configured (a stored one without it is dropped, with a warning). */
  private createSnapshotter(
    builder: ChangeEventBuilder,
    keys: Map<string, string[]>,
    stored: IncrementalPosition | null,
    snapshotted: string[],
  ): IncrementalSnapshotter | null {
    const { logger, name } = this.context;
    if (!this.signalTable) {
      if (stored) logger.warn({ tables: stored.tables.map((entry) => entry.table), rowsDone: stored.rowsDone }, 'an incremental snapshot was under way but signalTable is no longer set: it is dropped');
      return null;
    }
    return new IncrementalSnapshotter({
      url: this.config.url,
      connector: name,
      signalTable: this.signalTable,
      chunkSize: this.config.incrementalSnapshotChunkSize,
      tables: this.tables,
      keys,
      builder,
      logger,
      stored,
      onError: (error) => this.fail(error),
      onQueued: (tables) => {
        for (const table of tables) if (!snapshotted.includes(table)) snapshotted.push(table);
      },
    });
  }

  /**
   * Reads the Kafka signal topic: a record keyed with this connector's topic
   * prefix is inserted into the signal table under an id made from its
   * offset, so reading it again after a crash inserts nothing.
   */
  private readSignalTopic(kafka: KafkaClient, snapshotter: IncrementalSnapshotter, signal: AbortSignal): SignalTopicReader {
    const { logger, name } = this.context;
    const topic = this.config.signalTopic!;
    const reader = new SignalTopicReader(kafka, {
      topic,
      groupId: `tideline-${name}-signals`,
      logger,
      onRecord: async (record) => {
        const where = `signal topic ${topic} partition ${record.partition} offset ${record.offset}`;
        try {
          const parsed = parseKafkaSignal(record.key, record.value, this.topicPrefix, where);
          if (!parsed) return;
          const id = kafkaSignalId(topic, record.partition, record.offset);
          const inserted = await snapshotter.send(id, parsed.type, parsed.data);
          logger.info({ signal: id, type: parsed.type, inserted }, inserted ? 'Kafka signal inserted into the signal table' : 'Kafka signal was inserted before');
        } catch (error) {
          if (error instanceof SignalError) {
            metrics.signals.inc({ connector: name, type: 'invalid' });
            logger.error({ topic, partition: record.partition, offset: record.offset }, `signal ignored: ${error.message}`);
            return;
          }
          this.fail(error instanceof Error ? error : new Error(errorMessage(error)));
          throw error;
        }
      },
    });
    const failed = (error: unknown): void => {
      if (!signal.aborted) this.fail(error instanceof Error ? error : new Error(errorMessage(error)));
    };
    reader.crashed.catch(failed);
    // In the background: joining the group must not hold the stream back.
    reader.start(signal).then(() => logger.info({ topic }, 'reading the Kafka signal topic'), failed);
    return reader;
  }

  private createBuilder(database: string, keys: Map<string, string[]>, types: Map<number, CatalogType>): ChangeEventBuilder {
    const { logger, name } = this.context;
    return new ChangeEventBuilder({
      converter: this.context.converter,
      topicPrefix: this.topicPrefix,
      database,
      tombstones: this.config.tombstones,
      skippedOperations: new Set(this.config.skippedOperations),
      primaryKeys: keys,
      types,
      decimalHandling: this.config.decimalHandling,
      columnRules: this.columnRules ?? undefined,
      deadLetters: { topic: this.deadLetterTopic, connector: name },
      onSchemaRefused: async (table, error) => {
        metrics.errors.inc({ connector: name, kind: 'schema_refused' });
        logger.error({ table, columns: error.columns, deadLetterTopic: this.deadLetterTopic, err: error, action: errorAction(error) }, error.message);
        await withAdmin(this.kafka!, (admin) => ensureTopics(admin, [{ topic: this.deadLetterTopic, partitions: 1 }]));
      },
      onUnknownType: (table, column, type) => {
        const key = `${table}.${column}`;
        if (this.warnedTypes.has(key)) return;
        this.warnedTypes.add(key);
        logger.warn({ table, column, typeOid: type.oid, type: type.name }, 'no specific mapping for this column type: emitting its text form');
      },
      onBadValue: (table, column, _text, error) => {
        metrics.errors.inc({ connector: name, kind: 'bad_value' });
        logger.warn({ table, column, err: error }, 'value could not be converted: emitted as null');
      },
    });
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.failed(error);
  }

  private async measureLag(admin: pg.Client): Promise<void> {
    try {
      const lag = await slotLagBytes(admin, this.slot);
      if (lag === null) return;
      metrics.sourceLagBytes.set({ connector: this.context.name, slot: this.slot }, lag);
      const threshold = this.config.lagWarningBytes;
      if (threshold > 0 && lag >= threshold && Date.now() - this.lastLagWarningAt >= LAG_WARNING_INTERVAL_MS) {
        this.lastLagWarningAt = Date.now();
        this.context.logger.warn(
          {
            slot: this.slot,
            lagBytes: lag,
            thresholdBytes: threshold,
            action: 'check that this connector runs and that Kafka accepts its transactions (the lag falls once it confirms again); if the connector is gone for good, stop it and drop the slot (tideline slots --drop <slot>)',
          },
          'replication slot is holding back WAL beyond lagWarningBytes: the disk fills if this keeps growing',
        );
      }
    } catch (error) {
      this.context.logger.warn({ err: error }, 'could not measure slot lag');
    }
  }

  /**
   * Writes a logical message into the WAL when nothing was committed for a
   * heartbeat interval. Its transaction reaches this source like any other, is
   * committed to Kafka (offset record only) and confirmed, so the slot moves
   * forward even while the captured tables are idle and other tables are busy.
   */
  private async heartbeat(admin: pg.Client): Promise<void> {
    if (Date.now() - (this.output?.lastCommitAt ?? 0) < this.config.heartbeatIntervalMs) return;
    try {
      await admin.query(`SELECT pg_catalog.pg_logical_emit_message(true, '${HEARTBEAT_PREFIX}', '')`);
      metrics.sourceHeartbeats.inc({ connector: this.context.name });
    } catch (error) {
      metrics.errors.inc({ connector: this.context.name, kind: 'heartbeat' });
      this.context.logger.warn({ err: error }, 'could not write a heartbeat message');
    }
  }
}
