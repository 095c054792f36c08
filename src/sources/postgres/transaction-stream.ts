/**
 * The stream: pgoutput messages of the slot into Kafka, exactly once.
 *
 *  - Transactions whose commit LSN is at or below the stored one are already
 *    in Kafka and are dropped.
 *  - Each change is built into events and written through the KafkaOutput as
 *    it arrives, so a huge PostgreSQL transaction is never held in memory whole.
 *  - The Kafka transaction commits only at a PostgreSQL commit boundary, with
 *    the position of the last included commit, once it holds maxBatchEvents
 *    or maxBatchDelayMs after its first commit.
 *  - Only after the Kafka commit is the commit LSN confirmed to PostgreSQL.
 */
import type { Pgoutput } from 'pg-logical-replication';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import { SerialQueue } from '../../core/serial-queue.js';
import { metrics } from '../../metrics/registry.js';
import type { ChangeEventBuilder } from './change-events.js';
import type { StreamHooks } from './incremental-snapshot.js';
import type { KafkaOutput } from './kafka-output.js';
import { positionAt } from './position.js';
import { ReplicationStream } from './replication-stream.js';

interface PgTransaction {
  xid: number;
  commitLsn: Lsn;
  commitTimeMs: number;
  /** Already in Kafka before this run (commit LSN at or below the stored one). */
  skip: boolean;
}

export interface TransactionStreamOptions {
  url: string;
  slot: string;
  publication: string;
  connector: string;
  /** The stored commit LSN (-1: none). */
  storedLsn: Lsn;
  /** What keepalive replies confirm until the first commit: the slot's confirmed position, in text form. */
  durableLsnText: string;
  /** Tables whose snapshot is complete, carried in every position. */
  snapshotted: readonly string[];
  maxBatchEvents: number;
  maxBatchDelayMs: number;
  builder: ChangeEventBuilder;
  output: KafkaOutput;
  logger: Logger;
  /**
   * The incremental snapshot (with a signal table): its table's changes are
   * signals, never events; it sees every captured change first (its window)
   * and its state is stored with each commit.
   */
  hooks?: StreamHooks;
  /** The source's failure, if any (messages are then ignored: not acknowledged, so re-sent after restart). */
  failure(): Error | null;
  onError(error: Error): void;
}

export class TransactionStream {
  private readonly queue = new SerialQueue();
  private stream: ReplicationStream | null = null;
  private storedLsn: Lsn;
  /** What keepalive replies confirm: the durable position in text form. */
  private durableLsnText: string;
  private current: PgTransaction | null = null;
  /** PostgreSQL transactions inside the open Kafka transaction. */
  private included: PgTransaction[] = [];
  private firstIncludedAt = 0;
  private commitTimer: NodeJS.Timeout | null = null;
  /** Set by a graceful stop: messages still arriving are ignored (not acknowledged, so re-sent later). */
  private stopping = false;

  constructor(private readonly options: TransactionStreamOptions) {
    this.storedLsn = options.storedLsn;
    this.durableLsnText = options.durableLsnText;
  }

  /** Streams from the slot; resolves when the stream ends (stop() or connection loss). */
  async run(): Promise<void> {
    this.stream = new ReplicationStream({
      url: this.options.url,
      slot: this.options.slot,
      publication: this.options.publication,
      onMessage: (lsn, message) => this.queue.run(() => this.onMessage(lsn, message)),
      durableLsn: () => this.durableLsnText,
      onError: (error) => this.options.onError(error),
    });
    await this.stream.run();
  }

  /**
   * Graceful stop: commits the whole PostgreSQL transactions already in the
   * open Kafka transaction (a half-sent one is aborted, to be re-read after
   * restart). Throws the source's failure instead if there is one.
   */
  async shutdown(): Promise<void> {
    await this.queue.run(async () => {
      this.stopping = true;
      const failure = this.options.failure();
      if (failure) throw failure;
      if (this.current) {
        await this.options.output.abort();
        return;
      }
      if (this.included.length > 0) await this.commitKafka();
      await this.options.output.settle();
    });
  }

  /** Closes the replication connection and drops the commit timer. */
  async stop(): Promise<void> {
    this.clearTimer();
    await this.stream?.stop().catch(() => undefined);
  }

  private async onMessage(lsn: string, message: Pgoutput.Message): Promise<void> {
    if (this.options.failure() || this.stopping) return;
    try {
      await this.handle(lsn, message);
    } catch (error) {
      this.options.onError(error instanceof Error ? error : new Error(errorMessage(error)));
    }
  }

  private async handle(lsn: string, message: Pgoutput.Message): Promise<void> {
    const { builder, output } = this.options;
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
        // The signal table has no topic: nothing to register.
        if (this.options.hooks?.isSignalTable(message)) return;
        // With a schema registry this registers the table's schema (a refusal dead-letters its events).
        await builder.onRelation(message);
        return;
      case 'insert':
      case 'update':
      case 'delete': {
        const tx = this.current;
        if (!tx) throw new Error(`${message.tag} outside a transaction`);
        // Skipped: already in Kafka, and any signal in it already acted (its effect is in the stored position).
        if (tx.skip) return;
        const hooks = this.options.hooks;
        if (hooks?.isSignalTable(message.relation)) {
          const built = await hooks.onSignalRow(message, tx);
          if (built) await output.write(built);
          return;
        }
        hooks?.onChange(message);
        await output.write(builder.build(message, Number(parseLsn(lsn)), tx));
        return;
      }
      case 'truncate': {
        const tx = this.current;
        if (!tx) throw new Error('truncate outside a transaction');
        if (tx.skip) return;
        for (const relation of message.relations) {
          if (this.options.hooks?.isSignalTable(relation)) continue;
          this.options.hooks?.onTruncate(relation);
          await output.write(builder.buildTruncate(relation, Number(parseLsn(lsn)), tx));
        }
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

  private async onCommit(): Promise<void> {
    const tx = this.current;
    this.current = null;
    if (!tx) throw new Error('COMMIT without BEGIN');
    if (tx.skip) {
      this.options.logger.debug({ xid: tx.xid, lsn: formatLsn(tx.commitLsn) }, 'skipped transaction already in Kafka');
      return;
    }
    this.included.push(tx);
    if (this.included.length === 1) this.firstIncludedAt = Date.now();
    const { maxBatchEvents, maxBatchDelayMs } = this.options;
    const due = this.options.output.eventsInTransaction >= maxBatchEvents || Date.now() - this.firstIncludedAt >= maxBatchDelayMs;
    if (due) {
      await this.commitKafka();
    } else if (!this.commitTimer) {
      const wait = Math.max(0, this.firstIncludedAt + maxBatchDelayMs - Date.now());
      this.commitTimer = setTimeout(() => {
        this.commitTimer = null;
        // Through the queue, so it never interleaves with message handling; it
        // commits only between PostgreSQL transactions.
        void this.queue.run(async () => {
          if (this.options.failure() || this.current) return;
          try {
            await this.commitKafka();
          } catch (error) {
            this.options.onError(error instanceof Error ? error : new Error(errorMessage(error)));
          }
        });
      }, wait);
    }
  }

  /**
   * Commits the open Kafka transaction with the position of its last
   * PostgreSQL commit, then confirms that to PostgreSQL. The commit runs
   * behind the stream (KafkaOutput.commitBehind): the next changes are built
   * meanwhile and go into the next Kafka transaction once it is done.
   */
  private async commitKafka(): Promise<void> {
    const last = this.included.at(-1);
    if (!last || this.current) return;
    // The position now: the incremental snapshot's state as of these transactions.
    const position = positionAt(last, this.storedLsn, this.options.snapshotted, null, this.options.hooks?.position() ?? null);
    const included = this.included;
    this.included = [];
    this.clearTimer();
    await this.options.output.commitBehind(
      position,
      async () => {
        const now = Date.now();
        for (const tx of included) metrics.sourceCommitToKafka.observe({ connector: this.options.connector }, Math.max(0, now - tx.commitTimeMs) / 1000);
        metrics.sourceTransactions.inc({ connector: this.options.connector }, included.length);
        this.storedLsn = last.commitLsn;
        this.durableLsnText = formatLsn(last.commitLsn);
        // Only now is the position safe to confirm: PostgreSQL may recycle WAL up to it.
        await this.stream!.acknowledge(this.durableLsnText);
      },
      (error) => this.options.onError(error),
    );
  }

  private clearTimer(): void {
    if (this.commitTimer) {
      clearTimeout(this.commitTimer);
      this.commitTimer = null;
    }
  }
}
