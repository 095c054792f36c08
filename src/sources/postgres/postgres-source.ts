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
import type { Kafka, Producer, Transaction } from 'kafkajs';
import type { Pgoutput } from 'pg-logical-replication';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.js';
import { whenAborted } from '../../core/abort.js';
import { errorMessage } from '../../core/errors.js';
import { SerialQueue } from '../../core/serial-queue.js';
import { createKafka, keyPartitioner } from '../../kafka/client.js';
import { ensureTopics } from '../../kafka/topics.js';
import { SOURCE_OFFSETS_TOPIC, encodeSourceOffset, ensureSourceOffsetsTopic, readSourceOffset } from '../../kafka/source-offsets.js';
import { metrics } from '../../metrics/registry.js';
import { ChangeEventBuilder, type KafkaRecord } from './change-events.js';
import { checkServer, checkTables, ensurePublication, ensureSlot, loadTypeCatalog, primaryKeys, slotLagBytes } from './replication-setup.js';
import type { CatalogType } from './type-mapping.js';
import { ReplicationStream } from './replication-stream.js';
import { splitTableName } from './sql.js';
import type { PostgresSourceConfig } from './spec.js';

/** Sends queued behind message handling before it waits for Kafka. */
const MAX_SENDS_IN_FLIGHT = 2;

/**
 * Buffered records are sent (inside the open transaction) once they reach this
 * many bytes. The broker refuses a produce request whose record batch exceeds
 * message.max.bytes (1 MiB by default), and JsonConverter messages carry their
 * schema, so the limit is on bytes, not on a count of records.
 */
const SEND_MAX_BYTES = 768 * 1024;

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

  private producer: Producer | null = null;
  private stream: ReplicationStream | null = null;
  private builder: ChangeEventBuilder | null = null;

  /** Highest commit LSN known to be committed in Kafka. */
  private storedLsn: Lsn = -1n;
  /** What keepalive replies confirm: the durable position in text form. */
  private durableLsnText = '0/0';
  private current: PgTransaction | null = null;
  private kafkaTx: Transaction | null = null;
  private buffered: KafkaRecord[] = [];
  private bufferedBytes = 0;
  /**
   * Sends of the open transaction run behind message handling, chained so they
   * reach Kafka in order; at most MAX_SENDS_IN_FLIGHT are queued before
   * handling waits (and the replication stream with it). Every send is awaited
   * before the transaction commits.
   */
  private sending: Promise<void> = Promise.resolve();
  private sendsInFlight = 0;
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

  constructor(private readonly context: ConnectorContext<PostgresSourceConfig>) {
    this.config = context.config;
    this.slot = this.config.slot ?? defaultSlotName(context.name);
    this.publication = this.config.publication ?? this.slot;
    this.topicPrefix = this.config.topicPrefix ?? context.name;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { logger, name } = this.context;
    const admin = new pg.Client({ connectionString: this.config.url, application_name: `tideline:${name}:admin` });
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger);
    const failedPromise = new Promise<never>((_, reject) => (this.failed = reject));
    failedPromise.catch(() => undefined);
    admin.on('error', (error) => this.fail(error));
    let lagTimer: NodeJS.Timeout | undefined;
    try {
      await admin.connect();
      const { database, keys, types } = await this.preparePostgres(admin);
      await this.prepareKafka(kafka);
      this.builder = this.createBuilder(database, keys, types);
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

      lagTimer = setInterval(() => void this.measureLag(admin), this.config.lagIntervalMs);
      this.context.setState('running');
      logger.info({ slot: this.slot, publication: this.publication, tables: this.config.tables }, 'streaming changes');
      await Promise.race([whenAborted(signal), failedPromise, streaming]);
      await this.queue.run(() => this.shutdown());
    } catch (error) {
      await this.abortQuietly();
      throw error;
    } finally {
      if (lagTimer) clearInterval(lagTimer);
      if (this.commitTimer) clearTimeout(this.commitTimer);
      await this.stream?.stop().catch(() => undefined);
      await this.producer?.disconnect().catch(() => undefined);
      await admin.end().catch(() => undefined);
    }
  }

  /** Checks the server and tables, keeps publication and slot in place; returns what events need. */
  private async preparePostgres(
    admin: pg.Client,
  ): Promise<{ database: string; keys: Map<string, string[]>; types: Map<number, CatalogType> }> {
    await checkServer(admin);
    await checkTables(admin, this.config.tables);
    await ensurePublication(admin, this.publication, this.config.tables, this.context.logger);
    const slot = await ensureSlot(admin, this.slot, this.context.logger);
    // Keepalive replies before the first commit confirm nothing new.
    if (slot.confirmedFlushLsn) this.durableLsnText = formatLsn(parseLsn(slot.confirmedFlushLsn) - 1n);
    const keys = await primaryKeys(admin, this.config.tables);
    const types = await loadTypeCatalog(admin, this.config.tables);
    const database = (await admin.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
    return { database, keys, types };
  }

  /** Creates the topics, connects the transactional producer, then reads the stored offset. */
  private async prepareKafka(kafka: Kafka): Promise<void> {
    const { logger, name } = this.context;
    await ensureSourceOffsetsTopic(kafka);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const created = await ensureTopics(
        admin,
        this.config.tables.map((qualified) => {
          const { schema, table } = splitTableName(qualified);
          return {
            topic: `${this.topicPrefix}.${schema}.${table}`,
            partitions: this.config.topicPartitions,
            configs: { 'cleanup.policy': this.config.topicCleanupPolicy },
          };
        }),
      );
      if (created.length > 0) logger.info({ topics: created }, 'created change topics');
    } finally {
      await admin.disconnect();
    }

    // Connecting a transactional producer initializes its transactional id:
    // an older instance is fenced and its open transaction aborted, which
    // must happen before the offset is read (see readSourceOffset).
    this.producer = kafka.producer({
      transactionalId: `tideline-${name}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 300_000,
      createPartitioner: keyPartitioner,
    });
    await this.producer.connect();
    const stored = await readSourceOffset(kafka, name);
    if (stored) {
      this.storedLsn = BigInt(stored.lsn);
      logger.info({ lsn: stored.lsnText, txId: stored.txId }, 'resuming after stored offset');
    } else {
      logger.info({ slot: this.slot }, 'no stored offset: streaming from the slot position');
    }
  }

  private createBuilder(database: string, keys: Map<string, string[]>, types: Map<number, CatalogType>): ChangeEventBuilder {
    const { logger, name } = this.context;
    return new ChangeEventBuilder({
      topicPrefix: this.topicPrefix,
      database,
      tombstones: this.config.tombstones,
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
        const { records, events } = this.builder!.build(message, Number(parseLsn(lsn)), { xid: tx.xid, commitTimeMs: tx.commitTimeMs });
        for (const event of events) metrics.sourceEvents.inc({ connector: this.context.name, table: event.table, op: event.op });
        for (const record of records) {
          this.buffered.push(record);
          this.bufferedBytes += (record.key?.length ?? 0) + (record.value?.length ?? 0);
        }
        this.eventsInKafkaTx += events.length;
        if (this.bufferedBytes >= SEND_MAX_BYTES) await this.sendBuffered(false);
        return;
      }
      case 'truncate':
        this.context.logger.warn({ tables: message.relations.map((r) => `${r.schema}.${r.name}`) }, 'TRUNCATE is not propagated (as Debezium\'s default skipped.operations=t)');
        return;
      case 'commit':
        return this.onCommit();
      default:
        return;
    }
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

  /**
   * Hands the buffered records to Kafka inside the open transaction. With
   * `wait`, returns once every send so far is acknowledged; otherwise only
   * waits while too many sends are queued.
   */
  private async sendBuffered(wait: boolean): Promise<void> {
    if (this.buffered.length > 0) {
      if (!this.kafkaTx) this.kafkaTx = await this.producer!.transaction();
      const tx = this.kafkaTx;
      const byTopic = new Map<string, { key: Buffer | null; value: Buffer | null }[]>();
      for (const record of this.buffered) {
        let messages = byTopic.get(record.topic);
        if (!messages) byTopic.set(record.topic, (messages = []));
        messages.push({ key: record.key, value: record.value });
      }
      this.buffered = [];
      this.bufferedBytes = 0;
      this.sendsInFlight += 1;
      this.sending = this.sending.then(async () => {
        try {
          await tx.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
        } finally {
          this.sendsInFlight -= 1;
        }
      });
      // A failed send fails the connector; the chain stays rejected so the commit never happens.
      this.sending.catch((error: unknown) => this.fail(error instanceof Error ? error : new Error(errorMessage(error))));
    }
    if (wait || this.sendsInFlight > MAX_SENDS_IN_FLIGHT) await this.sending;
  }

  /** Commits the open Kafka transaction with the offset record, then confirms to PostgreSQL. */
  private async commitKafka(): Promise<void> {
    const last = this.included.at(-1);
    if (!last || this.current) return;
    this.buffered.push({
      topic: SOURCE_OFFSETS_TOPIC,
      key: Buffer.from(this.context.name),
      value: encodeSourceOffset({
        lsn: last.commitLsn.toString(),
        lsnText: formatLsn(last.commitLsn),
        txId: last.xid,
        commitTs: last.commitTimeMs,
      }),
    });
    await this.sendBuffered(true);
    await this.kafkaTx!.commit();
    this.kafkaTx = null;
    const now = Date.now();
    for (const tx of this.included) {
      metrics.sourceCommitToKafka.observe({ connector: this.context.name }, Math.max(0, now - tx.commitTimeMs) / 1000);
    }
    metrics.sourceTransactions.inc({ connector: this.context.name }, this.included.length);
    this.storedLsn = last.commitLsn;
    this.durableLsnText = formatLsn(last.commitLsn);
    this.included = [];
    this.eventsInKafkaTx = 0;
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
    const tx = this.kafkaTx;
    this.kafkaTx = null;
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.sending.catch(() => undefined);
    this.sending = Promise.resolve();
    if (tx) await tx.abort().catch(() => undefined);
  }

  private async measureLag(admin: pg.Client): Promise<void> {
    try {
      const lag = await slotLagBytes(admin, this.slot);
      if (lag !== null) metrics.sourceLagBytes.set({ connector: this.context.name, slot: this.slot }, lag);
    } catch (error) {
      this.context.logger.warn({ err: error }, 'could not measure slot lag');
    }
  }
}
