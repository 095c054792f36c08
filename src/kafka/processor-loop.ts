/**
 * The exactly-once consume → process → produce loop every processor runs.
 *
 * Per batch (one input partition): the handler turns the messages into output
 * records (results, changelog entries, dead letters); one Kafka transaction
 * then holds those records and the consumer offset after the batch
 * (sendOffsets), and commits. Input is read read_committed, so only committed
 * results of upstream transactions are seen; downstream readers see a batch's
 * results, state changes and offset together or not at all. Batches of
 * different partitions run at the same time (`concurrency`), each with its own
 * transactional writer and state; batches of one partition never overlap
 * (kafkajs fetches again only after every batch of a fetch is done).
 *
 * Fencing. kafkajs has no KIP-447 (fencing by consumer-group generation), so
 * this follows Kafka Streams' original exactly-once scheme: one transactional
 * producer per input partition, transactional.id = <prefix>-<topic>-<partition>.
 * Whoever owns a partition owns its transactional.id, whichever instance it runs
 * in: when a partition moves (rebalance, crash, second instance), the new owner
 * initializes that id, which fences the old owner (its next send or commit
 * fails, so a zombie cannot commit results for a partition it lost) and
 * completes or aborts the transaction it left open. Only after that are the
 * committed offsets read, and the handler restores the partition's state. A
 * single transactional.id per instance would not fence anything on a move;
 * one per connector would let two instances fence each other forever.
 *
 * States (loop-state.ts): a join makes the loop `assigned`; the next batch
 * starts a takeover (`taking-over`), which every batch waits for; then
 * `processing`. A batch that fails aborts its transaction (in-memory state may
 * then be ahead of Kafka). A rebalance or being fenced moves the loop back to
 * `assigned`, so every partition is taken over (restored) anew; a rebalance is
 * also handed to kafkajs to rejoin. Any other failure fails the connector; the
 * supervisor starts a fresh instance that restores from Kafka.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { ConnectorContext } from '../core/connector.js';
import { whenAborted } from '../core/abort.js';
import { deadLetterAction } from '../core/error-actions.js';
import { errorMessage } from '../core/errors.js';
import { metrics } from '../metrics/registry.js';
import { groupConsumer, joinGroup, whenCrashed } from './client.js';
import { classifyKafkaError } from './errors.js';
import { LoopStateMachine } from './loop-state.js';
import type { ConsumedMessage, OutputRecord, PartitionBatch, TopicPartition } from './records.js';
import { deadLetterMessage } from './dead-letters.js';
import { ensureTopics, waitForTopics, withAdmin } from './topics.js';
import { TransactionalWriter } from './transactional-writer.js';

export interface BatchContext {
  /** Sends `message` to the dead-letter topic (in the batch's transaction) with `error`. */
  deadLetter(message: ConsumedMessage, error: unknown): void;
}

export interface ProcessorHandler {
  /**
   * The partitions this instance owns from now on (all of them, after every
   * rebalance), after their transactional ids are initialized and before their
   * first batch: restore state here. `heartbeat` keeps the group membership
   * alive during a long restore.
   */
  onAssigned?(partitions: readonly TopicPartition[], heartbeat: () => Promise<void>): Promise<void>;
  /** Output records of one batch; runs before the batch's transaction starts. */
  processBatch(batch: PartitionBatch, context: BatchContext): Promise<OutputRecord[]>;
}

export interface ProcessorLoopOptions {
  context: ConnectorContext<unknown>;
  kafka: Kafka;
  /** Label for logs and metrics: the connector name, or `<name>.repartition` for an inner stage. */
  stage: string;
  groupId: string;
  transactionalIdPrefix: string;
  topics: readonly string[];
  deadLetterTopic: string;
  handler: ProcessorHandler;
  /** Partitions processed at the same time (default DEFAULT_CONCURRENCY). */
  concurrency?: number;
}

/**
 * Partitions of one loop processed at the same time, unless the options say
 * otherwise. Several partitions' producers then write the same output topics
 * at once, so a crash leaves overlapping aborted transactions there; readers
 * need the corrected read_committed filter (read-committed-fix.ts).
 */
export const DEFAULT_CONCURRENCY = 4;

interface OwnedPartition {
  writer: TransactionalWriter;
  /** First offset not yet processed: messages before it (fetched again after a seek) are skipped. */
  nextOffset: bigint;
}

/** Every key, value and header value of `messages`: what may name a schema. */
function* schemaBytes(messages: readonly ConsumedMessage[]): Iterable<Buffer | null> {
  for (const message of messages) {
    yield message.key;
    yield message.value;
    for (const header of Object.values(message.headers ?? {})) {
      if (Buffer.isBuffer(header)) yield header;
      else if (Array.isArray(header)) for (const item of header) if (Buffer.isBuffer(item)) yield item;
    }
  }
}

export class ProcessorLoop {
  private readonly state: LoopStateMachine;
  private readonly owned = new Map<string, OwnedPartition>();
  private assignment: TopicPartition[] = [];
  private failure: Error | null = null;
  private failed: (error: Error) => void = () => undefined;
  /** The takeover in progress; batches wait for it. */
  private takeover: Promise<void> | null = null;
  /** Batches being processed; a takeover waits until none is left. */
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: ProcessorLoopOptions) {
    this.state = new LoopStateMachine(options.stage, (from, to) => options.context.logger.debug({ stage: options.stage, from, to }, 'processor loop state'));
    // At zero from the start, so the first dead letter is an increase (alerts use increase()).
    metrics.processorDeadLetters.inc(this.labels, 0);
  }

  /** The loop's state, for tests and status. */
  get currentState(): string {
    return this.state.state;
  }

  private get labels() {
    return { connector: this.options.stage };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { kafka, context, groupId, topics } = this.options;
    this.state.transitionTo('starting');
    const failedPromise = new Promise<never>((_, reject) => (this.failed = reject));
    failedPromise.catch(() => undefined);
    let consumer: Consumer | null = null;
    try {
      let waited = false;
      await withAdmin(kafka, async (admin) => {
        await ensureTopics(admin, [{ topic: this.options.deadLetterTopic, partitions: 1 }]);
        await waitForTopics(admin, topics, signal, (missing) => {
          waited = true;
          context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
          context.logger.info({ missing }, 'waiting for input topics to be created');
        });
      });
      if (signal.aborted) return;
      if (waited) context.setState('running');
      consumer = groupConsumer(kafka, { groupId, maxBytesPerPartition: 4 * 1024 * 1024, maxWaitTimeInMs: 500 });
      const crashed = whenCrashed(consumer);
      consumer.on(consumer.events.GROUP_JOIN, (event) => this.onJoin(event.payload.memberAssignment));
      await joinGroup(kafka, consumer, groupId, context.logger);
      for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: this.options.concurrency ?? DEFAULT_CONCURRENCY,
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.onBatch(consumer!, payload),
      });
      context.logger.info({ stage: this.options.stage, topics, groupId }, 'processing');
      await Promise.race([whenAborted(signal), crashed, failedPromise]);
    } finally {
      if (this.state.running) this.state.transitionTo('stopping');
      await consumer?.disconnect().catch(() => undefined);
      await this.closeWriters();
      if (this.state.is('stopping')) this.state.transitionTo('stopped');
    }
  }

  /** A new generation of the group: its partitions must be taken over before any batch. */
  private onJoin(memberAssignment: Record<string, number[]>): void {
    if (!this.state.running) return;
    this.state.guard('assign');
    this.assignment = Object.entries(memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })));
    this.state.transitionTo('assigned');
  }

  /** Fails the loop (and so the connector) once; `run` rejects with the first error. */
  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(errorMessage(error));
    if (this.state.running) this.state.transitionTo('failed');
    metrics.errors.inc({ connector: this.options.context.name, kind: 'processor' });
    this.failed(this.failure);
  }

  private async onBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, heartbeat } = payload;
    if (this.failure || batch.isEmpty() || !isRunning() || isStale()) return;
    try {
      while (!this.state.is('processing')) {
        if (!this.state.running) return;
        this.takeover ??= this.takeOwnership(consumer, heartbeat).finally(() => (this.takeover = null));
        await this.takeover;
      }
    } catch (error) {
      await this.onFailure(error, payload);
      return;
    }
    this.state.guard('processBatch');
    this.inFlight += 1;
    try {
      await this.processOwnedBatch(payload);
    } catch (error) {
      // Handled while still in flight: a takeover waiting for this batch sees its outcome.
      await this.onFailure(error, payload);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** A batch or a takeover failed: take everything over anew, rejoin, or fail the connector. */
  private async onFailure(error: unknown, { batch }: EachBatchPayload): Promise<void> {
    const kind = classifyKafkaError(error);
    if (kind === 'other') {
      // Not thrown to kafkajs (it would retry the batch): the connector restarts from Kafka.
      this.fail(error);
      return;
    }
    // A rebalance, or another instance took a partition (and fenced its
    // transactional id): the open transaction is aborted and in-memory state
    // may be ahead of Kafka, so every partition is taken over (restored) anew.
    if (this.state.is('processing', 'taking-over')) this.state.transitionTo('assigned');
    if (kind === 'fenced') {
      this.options.context.logger.info({ stage: this.options.stage, topic: batch.topic, partition: batch.partition }, 'fenced by a newer owner of the partition');
      await this.dropWriter(batch.topic, batch.partition);
      return;
    }
    throw error; // kafkajs rejoins the group
  }

  private async dropWriter(topic: string, partition: number): Promise<void> {
    const owned = this.owned.get(partitionId(topic, partition));
    this.owned.delete(partitionId(topic, partition));
    await owned?.writer.disconnect();
  }

  private async closeWriters(): Promise<void> {
    const writers = [...this.owned.values()].map((owned) => owned.writer);
    this.owned.clear();
    await Promise.all(writers.map((writer) => writer.disconnect()));
  }

  private async processOwnedBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, resolveOffset, isStale } = payload;
    const owned = this.owned.get(partitionId(batch.topic, batch.partition));
    if (!owned) return;
    const first = batch.firstOffset();
    if (isStale() && first !== null && BigInt(first) > owned.nextOffset) {
      // Fetched before the takeover's seek, from beyond the committed offset:
      // processing it would skip the records in between. The seek re-reads them.
      return;
    }
    const messages = batch.messages.filter((message) => BigInt(message.offset) >= owned.nextOffset);
    if (messages.length === 0) {
      // Already processed (fetched again after the seek to the committed offset):
      // resolving moves the fetch position on; kafkajs would fetch it again otherwise.
      resolveOffset(batch.lastOffset());
      return;
    }

    const started = Date.now();
    const deadLetters: OutputRecord[] = [];
    const context: BatchContext = { deadLetter: (message, error) => deadLetters.push(this.deadLetterRecord(batch.topic, batch.partition, message, error)) };
    // Schemas the batch names by registry id (format avro) are fetched once here, so the handler decodes synchronously.
    const loading = this.options.context.converter.loadSchemas(schemaBytes(messages));
    if (loading) await loading;
    const records = await this.options.handler.processBatch({ topic: batch.topic, partition: batch.partition, messages }, context);
    // The batch's last offset, past the records read_committed leaves out
    // (the commit marker that ends a source transaction, aborted records), as
    // Kafka's Java consumer commits its position: a caught-up processor then
    // shows lag 0, not 1 per partition.
    const last = maxOffset(BigInt(messages.at(-1)!.offset), BigInt(batch.lastOffset()));

    try {
      await owned.writer.write(records);
      await owned.writer.write(deadLetters);
      // The input position commits with the outputs: neither is visible without the other.
      await owned.writer.commit({ consumerOffsets: { groupId: this.options.groupId, topic: batch.topic, partition: batch.partition, offset: last + 1n } });
    } catch (error) {
      await owned.writer.abort();
      throw error;
    }
    owned.nextOffset = last + 1n;
    resolveOffset(last.toString());

    const labels = this.labels;
    metrics.processorEventsIn.inc(labels, messages.length);
    metrics.processorEventsOut.inc(labels, records.length);
    if (deadLetters.length > 0) {
      metrics.processorDeadLetters.inc(labels, deadLetters.length);
      this.options.context.logger.warn(
        { topic: batch.topic, partition: batch.partition, count: deadLetters.length, action: deadLetterAction(undefined) },
        'messages sent to the dead-letter topic',
      );
    }
    metrics.processorBatchSeconds.observe(labels, (Date.now() - started) / 1000);
    const oldest = Number(messages[0]!.timestamp);
    if (Number.isFinite(oldest)) metrics.processorLatency.observe(labels, Math.max(0, Date.now() - oldest) / 1000);
    await heartbeat();
  }

  /** Resolves once no batch is being processed. */
  private async idle(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * After a (re)assignment: a fresh transactional writer for every owned
   * partition (initializing each transactional id fences its previous owner
   * and settles its last transaction), committed offsets read after that, the
   * handler's restore, and a seek to the committed offsets.
   */
  private async takeOwnership(consumer: Consumer, heartbeat: () => Promise<void>): Promise<void> {
    this.state.transitionTo('taking-over');
    // Batches of the previous assignment finish (commit or fail) before state is restored.
    await this.idle();
    // A join or a failed batch meanwhile: the next takeover uses the newest assignment.
    if (!this.state.is('taking-over')) return;
    this.state.guard('takeOwnership');
    const assignment = [...this.assignment];
    const { kafka, context, transactionalIdPrefix, groupId } = this.options;
    const started = Date.now();
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
    try {
      // Every owned partition gets a new writer, also the partitions this
      // instance keeps: its connect() initializes the transactional id, and the
      // coordinator answers only once the id's last transaction is complete
      // (an open one aborted, a committing one with its markers written).
      // transaction.commit() returns before the markers are written, and until
      // they are, OffsetFetch returns the previous offset and read_committed
      // readers stop before that transaction: without this a takeover right
      // after a commit could restore the state and offset from before it. (The
      // two-partition race itself was kafkajs's read_committed filter
      // delivering aborted records: see read-committed-fix.ts.)
      await this.closeWriters();
      await Promise.all(
        assignment.map(async (tp) => {
          const writer = new TransactionalWriter(kafka, { transactionalId: partitionTransactionalId(transactionalIdPrefix, tp.topic, tp.partition), transactionTimeoutMs: 60_000 });
          try {
            await writer.connect();
          } catch (error) {
            await writer.disconnect();
            throw error;
          }
          this.owned.set(partitionId(tp.topic, tp.partition), { writer, nextOffset: 0n });
        }),
      );
      const committed = await this.committedOffsets(groupId, [...new Set(assignment.map((tp) => tp.topic))]);
      for (const tp of assignment) {
        this.owned.get(partitionId(tp.topic, tp.partition))!.nextOffset = committed.get(partitionId(tp.topic, tp.partition)) ?? 0n;
      }
      await this.options.handler.onAssigned?.(assignment, heartbeat);
      for (const tp of assignment) {
        const offset = committed.get(partitionId(tp.topic, tp.partition));
        // The consumer may have read its position before the previous owner's last commit settled.
        if (offset !== undefined) consumer.seek({ topic: tp.topic, partition: tp.partition, offset: offset.toString() });
      }
    } finally {
      clearInterval(beat);
    }
    if (!this.state.is('taking-over')) return;
    this.state.transitionTo('processing');
    context.logger.info({ stage: this.options.stage, partitions: assignment, ms: Date.now() - started }, 'took ownership of partitions');
  }

  private async committedOffsets(groupId: string, topics: string[]): Promise<Map<string, bigint>> {
    const offsets = new Map<string, bigint>();
    if (topics.length === 0) return offsets;
    const fetched = await withAdmin(this.options.kafka, (admin) => admin.fetchOffsets({ groupId, topics }));
    for (const { topic, partitions } of fetched) {
      for (const { partition, offset } of partitions) {
        if (BigInt(offset) >= 0n) offsets.set(partitionId(topic, partition), BigInt(offset));
      }
    }
    return offsets;
  }

  /** A dead letter as a record of the batch's transaction (the one header contract: dead-letters.ts). */
  private deadLetterRecord(topic: string, partition: number, message: ConsumedMessage, error: unknown): OutputRecord {
    const letter = { topic, partition, offset: message.offset, key: message.key, value: message.value, error: errorMessage(error) };
    return { topic: this.options.deadLetterTopic, ...deadLetterMessage(letter, this.options.context.name) };
  }
}

/** The transactional id of one input partition of a loop (its owner's; a replay fences it). */
export function partitionTransactionalId(prefix: string, topic: string, partition: number): string {
  return `${prefix}-${topic}-${partition}`;
}

function partitionId(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function maxOffset(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
