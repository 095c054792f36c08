/**
 * The batching sink runtime: Kafka change topics into a warehouse that only
 * knows how to write a batch (SinkWriter, writer.ts).
 *
 * Batching. Each fetched batch is only buffered (and resolved, which moves the
 * fetch position; nothing is committed by the consumer itself). A write takes
 * the whole buffer once it holds maxBatchRows records or maxBatchBytes bytes,
 * or maxBatchDelayMs after its first record, or at once when it holds records
 * the writer could not prepare (see schedule). One write runs at a time; the
 * consumer keeps fetching into the next buffer meanwhile, and once that buffer
 * is full too the consumer is paused until the write is done: memory stays
 * bounded by about two batches plus one fetch. The writer's prepare() runs as
 * records arrive, so that work overlaps the write in progress.
 *
 * Exactly-once. A batch is written (rows), then its dead letters are sent,
 * then the last offset of each partition it holds is saved by the writer
 * (next to the data), and then the group offset is committed (only for lag
 * monitoring). On assignment each new partition is sought to its saved offset
 * + 1. A crash at any point rewrites at most what was not yet saved, which the
 * writer makes idempotent.
 *
 * Rebalances. A new generation drops buffered records of revoked partitions;
 * a running write writes nothing more for them (SinkBatch.owned is checked
 * just before each write, and dead letters and offsets are filtered the same
 * way); retained partitions continue after what was buffered, new ones from
 * the saved offsets (fetched batches wait for that seek; the consumer drops
 * batches fetched while a seek is pending).
 *
 * Topic patterns. Given a TopicWatch (topics with patterns), the runtime
 * resolves the topic set every intervalMs and, when it changed, rejoins the
 * group subscribed to the new set: fetching is paused, the write in progress
 * and everything buffered are written and their offsets saved, every
 * partition is revoked (dropping what was fetched after the pause: its
 * offsets were not saved), and the consumer leaves and joins again. The new
 * assignment then starts every partition from its saved offset + 1, a new
 * topic's partitions from their first offset: nothing written is read
 * twice for lack of a saved offset, and nothing is skipped.
 */
import type { ConnectorContext } from '../../core/connector.js';
import { whenAborted } from '../../core/abort.js';
import { deadLetterAction } from '../../core/error-actions.js';
import type { DeadLetter } from '../../kafka/dead-letters.js';
import type { FetchedBatch, GroupConsumer, TopicPartition } from '../../kafka/group-consumer.js';
import { metrics } from '../../metrics/registry.js';
import { BatchBuffer, partitionKey } from './batch-buffer.js';
import { PartitionOwnership } from './ownership.js';
import { Retrier } from './retry.js';
import { SinkLag } from './sink-lag.js';
import type { HistogramSeries } from '../../metrics/weighted-histogram.js';
import type { PartitionRun, RefusedRecord, SinkBatch, SinkWriter, WriteContext } from './writer.js';
import { topicSetChange } from '../../kafka/topic-patterns.js';
import { sleep } from './topic-discovery.js';

export interface SinkSettings {
  maxBatchRows: number;
  maxBatchBytes: number;
  maxBatchDelayMs: number;
  maxRetryDelayMs: number;
  /** First wait between retries (doubles up to maxRetryDelayMs). Default 250 ms. */
  firstRetryDelayMs?: number;
}

/** Where dead letters go (DeadLetterWriter in src/kafka/dead-letters.ts, or a fake in tests). */
export interface DeadLetterSender {
  /** Runs while the group joins: send() called before it settles waits for it. */
  open(): Promise<void>;
  send(letters: readonly DeadLetter[]): Promise<void>;
  close(): Promise<void>;
}

/** A topic set that can change while the sink runs (topics with patterns: TopicDiscovery in topic-discovery.ts). */
export interface TopicWatch {
  /** The topics the consumer starts subscribed to. */
  initial: readonly string[];
  intervalMs: number;
  /** The topics to consume now. */
  resolve(): Promise<string[]>;
}

export interface SinkRuntimeParts<Prepared> {
  context: Pick<ConnectorContext<unknown>, 'name' | 'logger' | 'setState' | 'health'>;
  settings: SinkSettings;
  writer: SinkWriter<Prepared>;
  consumer: GroupConsumer;
  deadLetters: DeadLetterSender;
  /** Absent: the topics are fixed. */
  topics?: TopicWatch;
}

export class SinkRuntime<Prepared = unknown> {
  private readonly context: SinkRuntimeParts<Prepared>['context'];
  private readonly settings: SinkSettings;
  private readonly writer: SinkWriter<Prepared>;
  private readonly consumer: GroupConsumer;
  private readonly deadLetters: DeadLetterSender;
  private readonly topicWatch: TopicWatch | undefined;
  private readonly retrier: Retrier;
  private readonly labels: { connector: string };
  /** The warehouse as a service name for outage reports (`clickhouse`). */
  private readonly service: string;

  private readonly buffer = new BatchBuffer<Prepared>();
  private readonly ownership = new PartitionOwnership();
  private readonly lag: SinkLag;
  /** tideline_sink_end_to_end_seconds per table, kept so a batch's observations look up nothing else. */
  private readonly endToEnd = new Map<string, HistogramSeries>();
  /** Settles once the partitions of the latest assignment are sought to their saved offsets. */
  private assignmentReady: Promise<void> = Promise.resolve();
  private writing: Promise<void> | null = null;
  /** Aborted at a graceful stop: ends the retries of the write in progress. */
  private readonly writeSignal = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  /** A rejoin for a new topic set is in progress: fetching stays paused until the new assignment. */
  private rejoining: Promise<void> | null = null;
  private stopping = false;
  /** A write failed for good: the run is ending (a rejoin must not go on). */
  private writeFailed = false;
  private failure: ((error: unknown) => void) | null = null;

  constructor(parts: SinkRuntimeParts<Prepared>) {
    ({ context: this.context, settings: this.settings, writer: this.writer, consumer: this.consumer, deadLetters: this.deadLetters, topics: this.topicWatch } = parts);
    this.labels = { connector: this.context.name };
    this.lag = new SinkLag(this.context.name);
    this.service = this.writer.name.toLowerCase();
    this.retrier = new Retrier({
      connector: this.context.name,
      errorKind: this.writer.name.toLowerCase(),
      logger: this.context.logger,
      setState: (state, detail) => this.context.setState(state, detail),
      health: this.context.health,
      firstDelayMs: this.settings.firstRetryDelayMs ?? 250,
      maxDelayMs: this.settings.maxRetryDelayMs,
      stopping: () => this.stopping,
    });
  }

  /** Runs until `signal` is aborted (then writes what is buffered, once) or something fails for good. */
  async run(signal: AbortSignal): Promise<void> {
    const { logger } = this.context;
    const failed = new Promise<never>((_, reject) => (this.failure = reject));
    failed.catch(() => undefined);
    try {
      await this.retrier.run(`connect to ${this.writer.name}`, signal, () => this.writer.open(), this.service);
      // The dead-letter topic and producer get ready while the group joins
      // (creating the topic takes a Kafka round of its own); a write that
      // refuses a record before then waits for them in send().
      const deadLettersReady = this.deadLetters.open();
      deadLettersReady.catch(() => undefined);
      await this.consumer.start({ onAssignment: (partitions) => this.assign(partitions, signal), onBatch: (batch) => this.receive(batch) }, signal);
      await deadLettersReady;
      if (!signal.aborted) this.context.setState('running');
      logger.info(`writing to ${this.writer.name}`);
      // Ends with the run: its errors go to `failed`, and a rejoin still joining ends with the consumer's stop.
      if (this.topicWatch) void this.watchTopics(this.topicWatch, signal);
      await Promise.race([whenAborted(signal), this.consumer.crashed, failed]);
      await this.finish(signal);
    } finally {
      this.stopping = true;
      if (this.timer) clearTimeout(this.timer);
      await this.consumer.stop().catch(() => undefined);
      await this.deadLetters.close().catch(() => undefined);
      await this.writer.close().catch(() => undefined);
      this.lag.clear();
    }
  }

  /** A new generation of the group: drop what was revoked, seek what is ours. Runs before the consumer fetches again. */
  private assign(partitions: readonly TopicPartition[], signal: AbortSignal): void {
    const { generation, resume, fromStore } = this.ownership.assign(partitions);
    metrics.sinkPartitionsAssigned.set(this.labels, partitions.length);
    this.context.logger.info({ generation, partitions: partitions.map((partition) => partitionKey(partition.topic, partition.partition)) }, 'partitions assigned');
    const dropped = this.buffer.retain((key) => this.ownership.has(key));
    this.lag.retain((key) => this.ownership.has(key));
    // Zero, so that the first dead letter of a topic is an increase (alerts use increase()).
    for (const topic of new Set(partitions.map((partition) => partition.topic))) metrics.sinkDeadLetters.inc({ ...this.labels, topic }, 0);
    // The consumer restarts a retained partition from the group's committed
    // offset; continue after what this member already buffered instead.
    for (const { partition, next } of resume) this.consumer.seek(partition, next.toString());
    if (dropped > 0) this.context.logger.info({ dropped }, 'dropped buffered messages of revoked partitions');
    if (this.paused) this.consumer.pause();
    if (fromStore.length === 0) {
      this.assignmentReady = Promise.resolve();
      return;
    }
    this.assignmentReady = this.retrier.run('read stored offsets', signal, async () => {
      const stored = new Map((await this.writer.loadOffsets()).map((saved) => [partitionKey(saved.topic, saved.partition), BigInt(saved.offset)]));
      if (this.ownership.generation !== generation) return; // a newer assignment seeks for itself
      for (const partition of fromStore) {
        const offset = stored.get(partitionKey(partition.topic, partition.partition));
        if (offset !== undefined) this.consumer.seek(partition, (offset + 1n).toString());
      }
    }, this.service);
    this.assignmentReady.catch(() => undefined);
  }

  /** A fetched batch: buffer it and let the consumer fetch on. */
  private async receive(batch: FetchedBatch): Promise<void> {
    await waitWithHeartbeat(this.assignmentReady, batch.heartbeat);
    // Not current: e.g. a seek (to the saved offset) is pending and these records are from before it.
    if (!batch.isCurrent() || this.stopping) return;
    const key = partitionKey(batch.topic, batch.partition);
    if (!this.ownership.has(key)) return;
    const prepare = this.writer.prepare?.bind(this.writer);
    this.buffer.add(batch.topic, batch.partition, batch.records, batch.lastOffset, Date.now(), prepare && ((record) => prepare(batch.topic, record)));
    this.ownership.fetched(key, BigInt(batch.lastOffset) + 1n);
    this.lag.fetched(batch.topic, batch.partition, batch.highWatermark, batch.records[0]?.offset ?? batch.lastOffset);
    batch.resolve();
    this.schedule();
  }

  private full(): boolean {
    return this.buffer.rows >= this.settings.maxBatchRows || this.buffer.bytes >= this.settings.maxBatchBytes;
  }

  /** Starts a write when the buffer is due, else arms the timer; pauses the consumer when a full buffer waits. */
  private schedule(): void {
    if (this.stopping || this.buffer.empty) return;
    if (this.writing) {
      if (this.full() && !this.paused) {
        this.paused = true;
        this.consumer.pause();
      }
      return;
    }
    const wait = this.buffer.firstAt + this.settings.maxBatchDelayMs - Date.now();
    // Records the writer could not prepare on arrival (a table or schema it
    // does not know yet, as at the start) are written at once: that write
    // learns the table, and the records after it are prepared as they arrive,
    // while it runs, instead of all waiting to be converted in one batch.
    const unknown = this.buffer.unprepared && this.writer.prepare !== undefined;
    if (this.full() || wait <= 0 || unknown) {
      this.startWrite();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
    }
  }

  private startWrite(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const runs = this.buffer.take();
    this.writing = this.writeBatch(runs, this.ownership.generation, this.writeSignal.signal).then(
      () => {
        this.writing = null;
        if (this.paused && !this.stopping && !this.rejoining) {
          this.paused = false;
          this.consumer.resume();
        }
        this.schedule();
      },
      (error: unknown) => {
        this.writing = null;
        this.writeFailed = true;
        if (!this.stopping) this.failure?.(error);
      },
    );
  }

  /**
   * Graceful stop: no more fetching; the write in progress and what is
   * buffered are written once more (one attempt: what fails is read again at
   * the next start, since its offsets were not saved).
   */
  private async finish(signal: AbortSignal): Promise<void> {
    if (!signal.aborted) return; // crashed or failed: leave it to the restart
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.consumer.pause();
    this.writeSignal.abort();
    // A rejoin in progress writes nothing more once stopping (see rejoin); its write, if any, is this.writing.
    await this.writing?.catch(() => undefined);
    if (!this.buffer.empty) {
      await this.writeBatch(this.buffer.take(), this.ownership.generation, this.writeSignal.signal).catch((error: unknown) =>
        this.context.logger.warn({ err: error }, 'could not write the last batch before stopping; it is read again at the next start'),
      );
    }
  }

  /**
   * Checks the topic set every intervalMs and rejoins when it changed. A
   * failed check is retried at the next; a failed rejoin fails the run (the
   * supervisor restarts the sink, which resumes from the saved offsets).
   */
  private async watchTopics(watch: TopicWatch, signal: AbortSignal): Promise<void> {
    const { logger } = this.context;
    let current = [...watch.initial];
    for (;;) {
      await sleep(watch.intervalMs, signal);
      if (signal.aborted || this.stopping) return;
      let next: string[];
      try {
        next = await watch.resolve();
      } catch (error) {
        if (this.context.health.isUnreachable('kafka')) logger.debug({ err: error }, 'could not list topics; next check later');
        else logger.warn({ err: error }, `could not list topics; next check in ${watch.intervalMs} ms`);
        continue;
      }
      const { added, removed } = topicSetChange(current, next);
      if ((added.length === 0 && removed.length === 0) || next.length === 0) continue;
      logger.info({ added, removed, topics: next }, 'topic set changed: rejoining the consumer group');
      this.rejoining = this.rejoin(next, signal);
      try {
        await this.rejoining;
        current = next;
      } catch (error) {
        if (!this.stopping) this.failure?.(error);
        return;
      } finally {
        this.rejoining = null;
      }
    }
  }

  /**
   * Writes and saves everything fetched so far, revokes every partition and
   * joins again subscribed to `topics`: the new assignment starts each
   * partition at its saved offset + 1 (sink-runtime's module comment).
   */
  private async rejoin(topics: readonly string[], signal: AbortSignal): Promise<void> {
    this.consumer.pause();
    // The write in progress and then the buffer, each with its offsets saved (writeBatch's order).
    while (!this.stopping && (this.writing || !this.buffer.empty)) {
      if (!this.writing) this.startWrite();
      await this.writing;
    }
    if (this.stopping || this.writeFailed) return;
    // Nothing is buffered or being written: the backpressure pause is over.
    this.paused = false;
    // Revoke all: a batch fetched after the pause is dropped (its offsets were not saved; the new assignment reads it again).
    this.assign([], signal);
    await this.consumer.resubscribe(topics, signal);
  }

  /** One batch: the writer's write, then dead letters, then offsets (only after the rows), then the group commit. */
  private async writeBatch(taken: PartitionRun<Prepared>[], generation: number, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    const owned = (run: PartitionRun<Prepared>) => this.ownership.owns(run.key, generation);
    const runs = taken.filter(owned);
    if (runs.length === 0) return;
    const batch: SinkBatch<Prepared> = { runs, owned };
    const context: WriteContext = { retry: (operation, task) => this.retrier.run(operation, signal, task, this.service) };
    const result = await this.retrier.run(`write to ${this.writer.name}`, signal, () => this.writer.write(batch, context), this.service);

    await this.retrier.run('send dead letters', signal, async () => {
      const letters = result.deadLetters.filter((letter) => owned(letter.run));
      if (letters.length > 0) await this.sendDeadLetters(letters);
    }, 'kafka');
    // Offsets only after the rows: a crash in between rewrites the batch.
    let saved: PartitionRun<Prepared>[] = [];
    await this.retrier.run(`store offsets in ${this.writer.name}`, signal, async () => {
      saved = runs.filter(owned);
      await this.writer.saveOffsets(saved.map((run) => ({ topic: run.topic, partition: run.partition, offset: run.lastOffset })));
    }, this.service);
    // The group offset is for lag monitoring only; a rebalance may refuse it.
    const committed = saved.filter(owned).map((run) => ({ topic: run.topic, partition: run.partition, offset: (BigInt(run.lastOffset) + 1n).toString() }));
    if (committed.length > 0) await this.consumer.commit(committed).catch(() => undefined);
    for (const run of saved) this.lag.stored(run.topic, run.partition, run.lastOffset);

    const now = Date.now();
    metrics.sinkFlush.observe(this.labels, (now - started) / 1000);
    metrics.sinkBatchRows.observe(this.labels, result.rows ?? 0);
    for (const [table, count] of result.rowsByTable ?? []) if (count > 0) metrics.sinkRowsWritten.inc({ ...this.labels, table }, count);
    for (const [table, latencies] of result.latencies ?? []) {
      let series = this.endToEnd.get(table);
      if (!series) this.endToEnd.set(table, (series = metrics.sinkEndToEnd.labels({ ...this.labels, table })));
      for (const [latencyMs, rows] of latencies) series.observe(latencyMs / 1000, rows);
    }
  }

  private async sendDeadLetters(letters: readonly RefusedRecord<Prepared>[]): Promise<void> {
    await this.deadLetters.send(
      letters.map(({ run, record, error }) => ({ topic: run.topic, partition: run.partition, offset: record.offset, key: record.key, value: record.value, error })),
    );
    const byTopic = new Map<string, number>();
    for (const letter of letters) byTopic.set(letter.run.topic, (byTopic.get(letter.run.topic) ?? 0) + 1);
    for (const [topic, count] of byTopic) metrics.sinkDeadLetters.inc({ ...this.labels, topic }, count);
    this.context.logger.warn({ count: letters.length, first: letters[0]?.error, action: deadLetterAction(letters[0]?.error) }, 'messages sent to the dead-letter topic');
  }
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
