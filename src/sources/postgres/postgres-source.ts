/**
 * The PostgreSQL source: pgoutput changes into Kafka, exactly once.
 *
 * Protocol (DESIGN.md, "Exactly-once protocol"):
 *  1. One transactional producer per connector (`tideline-<name>`); connecting it
 *     fences any older instance and aborts the transaction it left open.
 *  2. The stored offset (last commit LSN in `_tideline_offsets`) is read
 *     read_committed. Transactions whose commit LSN is at or below it are dropped.
 *  3. Whole PostgreSQL transactions go into one Kafka transaction, followed by
 *     the offset record; the Kafka transaction commits only at a PostgreSQL
 *     commit boundary. Events are sent as they arrive, so a huge PostgreSQL
 *     transaction is never held in memory whole.
 *  4. Only after the Kafka commit is the commit LSN confirmed to PostgreSQL.
 */
import pg from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.js';
import { whenAborted } from '../../core/abort.js';
import { errorMessage } from '../../core/errors.js';
import { SerialQueue } from '../../core/serial-queue.js';
import { createKafka, type KafkaClient } from '../../kafka/client.js';
import { ensureTopics, withAdmin } from '../../kafka/topics.js';
import { ensureSourceOffsetsTopic, readSourceOffset, sourceOffsetRecord, type SnapshotPosition, type SourceOffset } from '../../kafka/source-offsets.js';
import { TransactionalWriter } from '../../kafka/transactional-writer.js';
import { metrics } from '../../metrics/registry.js';
import { ChangeEventBuilder, type BuiltEvents } from './change-events.js';
import { checkServer, createSlot, ensurePublication, loadTypeCatalog, primaryKeys, resolveTables, slotInfo, slotLagBytes } from './replication-setup.js';
import { planSnapshot, type SnapshotPlan } from './snapshot-plan.js';
import { SnapshotProgress } from './snapshot-progress.js';
import { beginSnapshot, createSlotWithSnapshot, describeTable, readTable, snapshotConnection, type SlotWithSnapshot } from './snapshot-reader.js';
import type { CatalogType } from './type-mapping.js';
import { ReplicationStream } from './replication-stream.js';
import { splitTableName } from './sql.js';
import type { PostgresSourceConfig } from './spec.js';

/** Sends queued behind message handling before it waits for Kafka. */
const MAX_SENDS_IN_FLIGHT = 2;

/** Snapshot progress is logged at most this often. */
const PROGRESS_LOG_INTERVAL_MS = 5_000;

/** The slot-lag warning repeats at most this often while the lag stays above the threshold. */
const LAG_WARNING_INTERVAL_MS = 600_000;

/** The logical-message prefix of heartbeats (pg_logical_emit_message). */
export const HEARTBEAT_PREFIX = 'tideline_heartbeat';

/** Runs of each connector in this process, to count reconnects. */
const runsByConnector = new Map<string, number>();

interface PgTransaction {
  xid: number;
  commitLsn: Lsn;
  commitTimeMs: number;
  /** Already in Kafka before this run (commit LSN at or below the stored offset). */
  skip: boolean;
}

export function defaultSlotName(connector: string): string {
  return `tideline_${connector.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

export class PostgresSource implements Connector {
  private readonly config: PostgresSourceConfig;
  private readonly slot: string;
  private readonly publication: string;
  private readonly topicPrefix: string;
  private readonly queue = new SerialQueue();

  /** The connector's transactional id and its open transaction; records are sent as they arrive, in size-bounded chunks. */
  private writer: TransactionalWriter | null = null;
  private stream: ReplicationStream | null = null;
  private builder: ChangeEventBuilder | null = null;

  /** Highest commit LSN known to be committed in Kafka. */
  private storedLsn: Lsn = -1n;
  /** What keepalive replies confirm: the durable position in text form. */
  private durableLsnText = '0/0';
  private current: PgTransaction | null = null;
  /** PostgreSQL transactions inside the open Kafka transaction. */
  private included: PgTransaction[] = [];
  private eventsInKafkaTx = 0;
  private firstIncludedAt = 0;
  private commitTimer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;
  /** Set by a graceful stop: messages still arriving from the stream are ignored (not acknowledged, so re-sent later). */
  private stopping = false;
  private failed: (error: Error) => void = () => undefined;
  private readonly warnedTypes = new Set<string>();
  /** The captured tables, resolved from the include/exclude patterns at start. */
  private tables: string[] = [];
  /** Tables whose snapshot is complete; carried in every offset record. */
  private snapshotted: string[] = [];
  /** Set while a snapshot is read: stored with each chunk so a crash resumes it. */
  private snapshotPosition: SnapshotPosition | null = null;
  private lastCommitAt = Date.now();
  private lastLagWarningAt = 0;

  constructor(private readonly context: ConnectorContext<PostgresSourceConfig>) {
    this.config = context.config;
    this.slot = this.config.slot ?? defaultSlotName(context.name);
    this.publication = this.config.publication ?? this.slot;
    this.topicPrefix = this.config.topicPrefix ?? context.name;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { logger, name } = this.context;
    const runs = (runsByConnector.get(name) ?? 0) + 1;
    runsByConnector.set(name, runs);
    if (runs > 1) metrics.sourceReconnects.inc({ connector: name });
    const admin = new pg.Client({ connectionString: this.config.url, application_name: `tideline:${name}:admin` });
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger);
    const failedPromise = new Promise<never>((_, reject) => (this.failed = reject));
    failedPromise.catch(() => undefined);
    admin.on('error', (error) => this.fail(error));
    const timers: NodeJS.Timeout[] = [];
    let exported: SlotWithSnapshot | null = null;
    try {
      await admin.connect();
      const { database, keys, types, slotExists } = await this.preparePostgres(admin);
      const stored = await this.prepareKafka(kafka, keys);
      const plan = planSnapshot({ mode: this.config.snapshotMode, slotExists, offset: stored, tables: this.tables });
      this.snapshotted = plan.snapshotted;
      if (plan.createSlot === 'plain') {
        await createSlot(admin, this.slot);
        logger.info({ slot: this.slot }, 'created replication slot');
      } else if (plan.createSlot === 'export') {
        exported = await createSlotWithSnapshot(this.config.url, this.slot, `tideline:${name}:slot`);
        logger.info({ slot: this.slot, consistentPoint: exported.consistentPoint }, 'created replication slot with an exported snapshot');
      }
      const slot = await slotInfo(admin, this.slot);
      // Keepalive replies before the first commit confirm nothing new.
      if (slot?.confirmedFlushLsn) this.durableLsnText = formatLsn(parseLsn(slot.confirmedFlushLsn) - 1n);
      this.builder = this.createBuilder(database, keys, types);
      timers.push(setInterval(() => void this.measureLag(admin), this.config.lagIntervalMs));

      if (plan.tables.length > 0) {
        logger.info({ tables: plan.tables, reason: plan.reason, resume: plan.resume !== null }, 'snapshot starting');
        // Working, not stuck: a long snapshot must not fail health checks.
        this.context.setState('running', 'reading snapshot');
        const restartLsn = slot?.restartLsn ? parseLsn(slot.restartLsn) : 1n;
        const finished = await Promise.race([this.readSnapshot(plan, exported, keys, restartLsn, signal), failedPromise]);
        exported = null;
        if (!finished) {
          await this.queue.run(() => this.shutdown());
          return;
        }
      } else {
        await exported?.connection.end();
        exported = null;
        logger.info({ reason: plan.reason }, 'no snapshot');
      }

      this.stream = new ReplicationStream({
        url: this.config.url,
        slot: this.slot,
        publication: this.publication,
        onMessage: (lsn, message) => this.queue.run(() => this.onMessage(lsn, message)),
        durableLsn: () => this.durableLsnText,
        onError: (error) => this.fail(error),
      });
      const streaming = this.stream.run().then(() => {
        if (!signal.aborted) throw new Error('replication stream ended unexpectedly');
      });
      streaming.catch(() => undefined);

      if (this.config.heartbeatIntervalMs > 0) timers.push(setInterval(() => void this.heartbeat(admin), this.config.heartbeatIntervalMs));
      this.context.setState('running');
      logger.info({ slot: this.slot, publication: this.publication, tables: this.tables }, 'streaming changes');
      await Promise.race([whenAborted(signal), failedPromise, streaming]);
      await this.queue.run(() => this.shutdown());
    } catch (error) {
      await this.abortQuietly();
      throw error;
    } finally {
      for (const timer of timers) clearInterval(timer);
      if (this.commitTimer) clearTimeout(this.commitTimer);
      await exported?.connection.end().catch(() => undefined);
      await this.stream?.stop().catch(() => undefined);
      await this.writer?.disconnect();
      await admin.end().catch(() => undefined);
    }
  }

  /** Resolves the captured tables, checks the server, keeps the publication in step; returns what events need. */
  private async preparePostgres(
    admin: pg.Client,
  ): Promise<{ database: string; keys: Map<string, string[]>; types: Map<number, CatalogType>; slotExists: boolean }> {
    await checkServer(admin);
    this.tables = await resolveTables(admin, this.config.tables, this.config.excludeTables);
    await ensurePublication(admin, this.publication, this.tables, this.context.logger);
    const slotExists = (await slotInfo(admin, this.slot)) !== null;
    const keys = await primaryKeys(admin, this.tables);
    const types = await loadTypeCatalog(admin, this.tables);
    const database = (await admin.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
    return { database, keys, types, slotExists };
  }

  /**
   * Reads the planned tables chunk by chunk, each chunk in its own Kafka
   * transaction with the snapshot position, so a crash resumes after the last
   * committed chunk. Returns false when stopped before the end.
   *
   * The "r" events carry source.lsn = the slot's restart LSN - 1 (or a resumed
   * snapshot's own): lower than every change the stream will deliver, so a sink
   * ordering by LSN lets each streamed change win over the snapshot row, even a
   * change of a transaction that was open when the snapshot was taken.
   */
  private async readSnapshot(
    plan: SnapshotPlan,
    exported: SlotWithSnapshot | null,
    keys: Map<string, string[]>,
    restartLsn: Lsn,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { logger, name } = this.context;
    const reader = snapshotConnection(this.config.url, `tideline:${name}:snapshot`);
    reader.on('error', (error) => this.fail(error));
    await reader.connect();
    try {
      await beginSnapshot(reader, exported?.snapshotName ?? null);
      // Imported: the exporting replication connection may go now.
      await exported?.connection.end();
      const version = plan.resume ? BigInt(plan.resume.lsn) : restartLsn - 1n;
      const startedAt = Date.now();
      const progress = new SnapshotProgress(startedAt);
      const tables = [];
      for (const qualified of plan.tables) {
        const table = await describeTable(reader, qualified, keys.get(qualified) ?? []);
        progress.estimate(qualified, table.estimate);
        metrics.snapshotRowsEstimate.set({ connector: name, table: qualified }, table.estimate ?? -1);
        metrics.snapshotRows.set({ connector: name, table: qualified }, 0);
        tables.push(table);
      }
      metrics.snapshotRunning.set({ connector: name }, 1);
      const tx = { xid: null, commitTimeMs: startedAt };
      let pending = [...plan.tables];
      let lastKey = plan.resume?.lastKey ?? null;
      let loggedAt = startedAt;
      for (const table of tables) {
        this.builder!.onRelation(table.relation);
        let rowsOfTable = 0;
        if (lastKey) logger.info({ table: table.qualified, after: lastKey }, 'snapshot resuming after the last committed key');
        for await (const chunk of readTable(reader, table, lastKey, this.config.snapshotChunkRows)) {
          for (const row of chunk.rows) {
            await this.enqueue(this.builder!.buildRead(table.relation, row, Number(version), tx, 'true'));
          }
          rowsOfTable += chunk.rows.length;
          progress.add(chunk.rows.length);
          metrics.snapshotRows.set({ connector: name, table: table.qualified }, rowsOfTable);
          lastKey = chunk.lastKey;
          this.snapshotPosition = { lsn: version.toString(), pending, lastKey };
          await this.commitOffset(this.offsetRecord(null));
          const report = progress.report(Date.now());
          metrics.snapshotRowsPerSecond.set({ connector: name }, report.rowsPerSecond);
          metrics.snapshotEtaSeconds.set({ connector: name }, report.etaSeconds ?? -1);
          if (Date.now() - loggedAt >= PROGRESS_LOG_INTERVAL_MS) {
            loggedAt = Date.now();
            this.context.setState('running', `reading snapshot: ${report.rowsDone} of ~${report.rowsEstimate ?? '?'} rows`);
            logger.info({ table: table.qualified, rowsDone: report.rowsDone, rowsEstimate: report.rowsEstimate, rowsPerSecond: Math.round(report.rowsPerSecond), etaSeconds: report.etaSeconds === null ? null : Math.round(report.etaSeconds) }, 'snapshot progress');
          }
          if (signal.aborted || this.failure) return false;
        }
        logger.info({ table: table.qualified, rows: rowsOfTable }, 'snapshot of table complete');
        pending = pending.slice(1);
        lastKey = null;
        this.snapshotted = [...new Set([...this.snapshotted, table.qualified])];
      }
      this.snapshotPosition = null;
      await this.commitOffset(this.offsetRecord(null));
      await reader.query('COMMIT');
      const report = progress.report(Date.now());
      metrics.snapshotEtaSeconds.set({ connector: name }, 0);
      logger.info({ rows: report.rowsDone, seconds: Math.round(report.elapsedSeconds), rowsPerSecond: Math.round(report.rowsPerSecond) }, 'snapshot complete');
      return true;
    } finally {
      metrics.snapshotRunning.set({ connector: name }, 0);
      await reader.end().catch(() => undefined);
    }
  }

  /** Creates the topics, connects the transactional producer, then reads the stored offset. */
  private async prepareKafka(kafka: KafkaClient, keys: ReadonlyMap<string, readonly string[]>): Promise<SourceOffset | null> {
    const { logger, name } = this.context;
    await ensureSourceOffsetsTopic(kafka);
    await withAdmin(kafka, async (admin) => {
      const created = await ensureTopics(
        admin,
        this.tables.map((qualified) => {
          const { schema, table } = splitTableName(qualified);
          // Events of a table without a primary key have no key, which a
          // compacted topic refuses: its topic deletes by retention instead.
          const policy = keys.has(qualified) ? this.config.topicCleanupPolicy : 'delete';
          return {
            topic: `${this.topicPrefix}.${schema}.${table}`,
            partitions: this.config.topicPartitions,
            configs: { 'cleanup.policy': policy },
          };
        }),
      );
      if (created.length > 0) logger.info({ topics: created }, 'created change topics');
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
    const stored = await readSourceOffset(kafka, name);
    if (stored) {
      this.storedLsn = BigInt(stored.lsn);
      logger.info({ lsn: stored.lsnText, txId: stored.txId }, 'resuming after stored offset');
    } else {
      logger.info({ slot: this.slot }, 'no stored offset');
    }
    return stored;
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

  private async onMessage(lsn: string, message: Pgoutput.Message): Promise<void> {
    if (this.failure || this.stopping) return;
    try {
      await this.handle(lsn, message);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(errorMessage(error)));
    }
  }

  private async handle(lsn: string, message: Pgoutput.Message): Promise<void> {
    switch (message.tag) {
      case 'begin': {
        if (!message.commitLsn) throw new Error('BEGIN without a final LSN');
        const commitLsn = parseLsn(message.commitLsn);
        this.current = {
          xid: message.xid,
          commitLsn,
          commitTimeMs: Number(message.commitTime.valueOf() as bigint / 1000n),
          skip: commitLsn <= this.storedLsn,
        };
        return;
      }
      case 'relation':
        this.builder?.onRelation(message);
        return;
      case 'insert':
      case 'update':
      case 'delete': {
        const tx = this.current;
        if (!tx) throw new Error(`${message.tag} outside a transaction`);
        if (tx.skip) return;
        await this.enqueue(this.builder!.build(message, Number(parseLsn(lsn)), tx));
        return;
      }
      case 'truncate': {
        const tx = this.current;
        if (!tx) throw new Error('truncate outside a transaction');
        if (tx.skip) return;
        for (const relation of message.relations) await this.enqueue(this.builder!.buildTruncate(relation, Number(parseLsn(lsn)), tx));
        return;
      }
      case 'message':
        // Heartbeats (and other logical messages) carry no change; their
        // transaction still commits, which moves the slot forward.
        return;
      case 'commit':
        return this.onCommit();
      default:
        return;
    }
  }

  /** Adds the records of one change to the open Kafka transaction (sent once enough bytes are buffered). */
  private async enqueue({ records, events }: BuiltEvents): Promise<void> {
    for (const event of events) metrics.sourceEvents.inc({ connector: this.context.name, table: event.table, op: event.op });
    this.eventsInKafkaTx += events.length;
    await this.writer!.write(records);
  }

  private async onCommit(): Promise<void> {
    const tx = this.current;
    this.current = null;
    if (!tx) throw new Error('COMMIT without BEGIN');
    if (tx.skip) {
      this.context.logger.debug({ xid: tx.xid, lsn: formatLsn(tx.commitLsn) }, 'skipped transaction already in Kafka');
      return;
    }
    this.included.push(tx);
    if (this.included.length === 1) this.firstIncludedAt = Date.now();
    const due = this.eventsInKafkaTx >= this.config.maxBatchEvents || Date.now() - this.firstIncludedAt >= this.config.maxBatchDelayMs;
    if (due) {
      await this.commitKafka();
    } else if (!this.commitTimer) {
      const wait = Math.max(0, this.firstIncludedAt + this.config.maxBatchDelayMs - Date.now());
      this.commitTimer = setTimeout(() => {
        this.commitTimer = null;
        // Through the queue, so it never interleaves with message handling; it
        // commits only between PostgreSQL transactions.
        void this.queue.run(async () => {
          if (this.failure || this.current) return;
          try {
            await this.commitKafka();
          } catch (error) {
            this.fail(error instanceof Error ? error : new Error(errorMessage(error)));
          }
        });
      }, wait);
    }
  }

  /** The offset record: the last included commit (or the stored one), the snapshotted tables, and the snapshot position while one runs. */
  private offsetRecord(last: PgTransaction | null): SourceOffset {
    const lsn = last ? last.commitLsn : this.storedLsn < 0n ? 0n : this.storedLsn;
    return {
      lsn: lsn.toString(),
      lsnText: formatLsn(lsn),
      txId: last?.xid ?? null,
      commitTs: last?.commitTimeMs ?? Date.now(),
      snapshotted: this.snapshotted,
      ...(this.snapshotPosition ? { snapshot: this.snapshotPosition } : {}),
    };
  }

  /** Sends what is buffered plus the offset record, and commits the Kafka transaction. */
  private async commitOffset(offset: SourceOffset): Promise<void> {
    await this.writer!.commit({ offsetRecord: sourceOffsetRecord(this.context.name, offset) });
    this.eventsInKafkaTx = 0;
    this.lastCommitAt = Date.now();
  }

  /** Commits the open Kafka transaction with the offset record, then confirms to PostgreSQL. */
  private async commitKafka(): Promise<void> {
    const last = this.included.at(-1);
    if (!last || this.current) return;
    await this.commitOffset(this.offsetRecord(last));
    const now = Date.now();
    for (const tx of this.included) {
      metrics.sourceCommitToKafka.observe({ connector: this.context.name }, Math.max(0, now - tx.commitTimeMs) / 1000);
    }
    metrics.sourceTransactions.inc({ connector: this.context.name }, this.included.length);
    this.storedLsn = last.commitLsn;
    this.durableLsnText = formatLsn(last.commitLsn);
    this.included = [];
    if (this.commitTimer) {
      clearTimeout(this.commitTimer);
      this.commitTimer = null;
    }
    // Only now is the position safe to confirm: PostgreSQL may recycle WAL up to it.
    await this.stream!.acknowledge(this.durableLsnText);
  }

  /** Graceful stop: commit whole transactions already in the open Kafka transaction. */
  private async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.failure) throw this.failure;
    if (this.current) {
      // A PostgreSQL transaction is half-sent: drop it; it is re-read after restart.
      await this.abortQuietly();
      return;
    }
    if (this.included.length > 0) await this.commitKafka();
  }

  private async abortQuietly(): Promise<void> {
    await this.writer?.abort();
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
          { slot: this.slot, lagBytes: lag, thresholdBytes: threshold },
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
    if (Date.now() - this.lastCommitAt < this.config.heartbeatIntervalMs) return;
    try {
      await admin.query(`SELECT pg_catalog.pg_logical_emit_message(true, '${HEARTBEAT_PREFIX}', '')`);
      metrics.sourceHeartbeats.inc({ connector: this.context.name });
    } catch (error) {
      metrics.errors.inc({ connector: this.context.name, kind: 'heartbeat' });
      this.context.logger.warn({ err: error }, 'could not write a heartbeat message');
    }
  }
}
