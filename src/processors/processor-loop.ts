/**
 * The exactly-once consume → process → produce loop every processor runs.
 *
 * Per batch (one input partition): the handler turns the messages into output
 * records (results, changelog entries, dead letters); one Kafka transaction
 * then holds those records and the consumer offset after the batch
 * (sendOffsets), and commits. Input is read read_committed, so only committed
 * results of upstream transactions are seen; downstream readers see a batch's
 * results, state changes and offset together or not at all.
 *
 * Fencing. kafkajs has no KIP-447 (fencing by consumer-group generation), so
 * this follows Kafka Streams' original exactly-once scheme: one transactional
 * producer per input partition, transactional.id = <prefix>-<topic>-<partition>.
 * Whoever owns a partition owns its transactional.id, whichever instance it runs
 * in: when a partition moves (rebalance, crash, second instance), the new owner
 * initializes that id, which fences the old owner (its next send or commit
 * fails, so a zombie cannot commit results for a partition it lost) and
 * completes or aborts the transaction it left open. Only after that are the
 * committed offsets read (an in-doubt offset commit of the old owner is
 * settled by then), and the handler restores the partition's state. A single
 * transactional.id per instance would not fence anything on a move; one per
 * connector would let two instances fence each other forever.
 *
 * A batch that fails aborts its transaction; in-memory state may then be
 * ahead of Kafka. A rebalance (the group says rejoin) or being fenced (another
 * instance took the partition) makes the loop take every partition over anew
 * (restore included) and, for a rebalance, hands the error to kafkajs to
 * rejoin. Any other failure fails the connector; the supervisor starts a fresh
 * instance that restores from Kafka.
 */
import type { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { ConnectorContext } from '../core/connector.js';
import { whenAborted } from '../core/abort.js';
import { errorMessage } from '../core/errors.js';
import { keyPartitioner } from '../kafka/client.js';
import { instanceId, removeEarlierIncarnations, taggedRoundRobin } from '../kafka/group-membership.js';
import { ensureTopics, waitForTopics } from '../kafka/topics.js';
import { metrics } from '../metrics/registry.js';

export interface OutputRecord {
  topic: string;
  /** Explicit partition (changelog records go to the input partition's number); otherwise by key. */
  partition?: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
  timestamp?: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface PartitionBatch extends TopicPartition {
  /** Messages not processed before, in offset order (never empty). */
  messages: KafkaMessage[];
}

export interface BatchContext {
  /** Sends `message` to the dead-letter topic (in the batch's transaction) with `error`. */
  deadLetter(message: KafkaMessage, error: unknown): void;
}

export interface ProcessorHandler {
  /**
   * The partitions this instance owns from now on (all of them, after every
   * rebalance), after their transactional ids are fenced and before their first
   * batch: restore state here. `heartbeat` keeps the group membership alive
   * during a long restore.
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
  /**
   * Partitions processed at the same time (default 1). With 2, the aggregate
   * crash test failed 2 runs of 4 (a result version emitted twice; a stall),
   * against 3 passes of 3 with 1: kept at 1 until the race is found.
   */
  concurrency?: number;
}

/** The broker refuses record batches above message.max.bytes (1 MiB by default); sends stay below. */
const SEND_MAX_BYTES = 768 * 1024;

interface OwnedPartition {
  producer: Producer;
  /** First offset not yet processed: batches fetched from before it (a stale position) are skipped. */
  nextOffset: bigint;
}

export class ProcessorLoop {
  private readonly owned = new Map<string, OwnedPartition>();
  private assignment: TopicPartition[] = [];
  private assignmentVersion = 0;
  private initializedVersion = -1;
  private failure: Error | null = null;
  private failed: (error: Error) => void = () => undefined;
  private admin: Admin | null = null;
  /** The takeover in progress; batches wait for it. */
  private takeover: Promise<void> | null = null;
  /** Batches past the takeover check; a takeover waits until none is left. */
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: ProcessorLoopOptions) {}

  private get labels() {
    return { connector: this.options.stage };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { kafka, context, groupId, topics } = this.options;
    const failedPromise = new Promise<never>((_, reject) => (this.failed = reject));
    failedPromise.catch(() => undefined);
    let consumer: Consumer | null = null;
    this.admin = kafka.admin();
    try {
      await this.admin.connect();
      await ensureTopics(this.admin, [{ topic: this.options.deadLetterTopic, partitions: 1 }]);
      let waited = false;
      await waitForTopics(this.admin, topics, signal, (missing) => {
        waited = true;
        context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
        context.logger.info({ missing }, 'waiting for input topics to be created');
      });
      if (signal.aborted) return;
      if (waited) context.setState('running');
      consumer = kafka.consumer({
        groupId,
        readUncommitted: false,
        maxBytesPerPartition: 4 * 1024 * 1024,
        maxWaitTimeInMs: 500,
        // Tagged with this instance: a restart after a crash removes the member
        // the crash left behind instead of waiting out its session (group-membership.ts).
        partitionAssigners: [taggedRoundRobin(instanceId())],
        // Another instance's crash holds its partitions until its session times out.
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
        this.assignment = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => ({ topic, partition })),
        );
        this.assignmentVersion += 1;
      });
      await removeEarlierIncarnations(kafka, groupId, instanceId(), context.logger);
      await consumer.connect();
      for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        // Batches of different partitions may overlap (each has its own producer and state).
        partitionsConsumedConcurrently: this.options.concurrency ?? 1,
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.onBatch(consumer!, payload),
      });
      context.logger.info({ stage: this.options.stage, topics, groupId }, 'processing');
      await Promise.race([whenAborted(signal), crashed, failedPromise]);
    } finally {
      await consumer?.disconnect().catch(() => undefined);
      await Promise.all([...this.owned.values()].map((owned) => owned.producer.disconnect().catch(() => undefined)));
      this.owned.clear();
      await this.admin.disconnect().catch(() => undefined);
    }
  }

  /** Fails the loop (and so the connector) once; `run` rejects with the first error. */
  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(errorMessage(error));
    metrics.errors.inc({ connector: this.options.context.name, kind: 'processor' });
    this.failed(this.failure);
  }

  private async onBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    if (this.failure) return;
    try {
      await this.processBatch(consumer, payload);
    } catch (error) {
      const kind = classifyKafkaError(error);
      if (kind === 'other') {
        // Not thrown to kafkajs (it would retry the batch): the connector restarts from Kafka.
        this.fail(error);
        return;
      }
      // A rebalance, or another instance took a partition (and fenced its
      // transactional id): the open transaction is aborted and in-memory state
      // may be ahead of Kafka, so every partition is taken over (restored) anew.
      this.initializedVersion = -1;
      if (kind === 'fenced') {
        this.options.context.logger.info({ stage: this.options.stage, topic: payload.batch.topic, partition: payload.batch.partition }, 'fenced by a newer owner of the partition');
        await this.dropProducer(payload.batch.topic, payload.batch.partition);
        return;
      }
      throw error; // kafkajs rejoins the group
    }
  }

  private async dropProducer(topic: string, partition: number): Promise<void> {
    const owned = this.owned.get(partitionId(topic, partition));
    this.owned.delete(partitionId(topic, partition));
    await owned?.producer.disconnect().catch(() => undefined);
  }

  private async processBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, heartbeat } = payload;
    if (batch.isEmpty() || !isRunning() || isStale()) return;
    while (this.initializedVersion !== this.assignmentVersion) {
      this.takeover ??= this.takeOwnership(consumer, heartbeat).finally(() => (this.takeover = null));
      await this.takeover;
    }
    this.inFlight += 1;
    try {
      await this.processOwnedBatch(payload);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async processOwnedBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, resolveOffset } = payload;
    const owned = this.owned.get(partitionId(batch.topic, batch.partition));
    if (!owned) return;
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
    const records = await this.options.handler.processBatch({ topic: batch.topic, partition: batch.partition, messages }, context);
    const last = BigInt(messages.at(-1)!.offset);

    const transaction = await owned.producer.transaction();
    try {
      for (const chunk of chunkBySize([...records, ...deadLetters])) {
        await transaction.sendBatch({ acks: -1, topicMessages: chunk });
      }
      // The input position commits with the outputs: neither is visible without the other.
      await transaction.sendOffsets({
        consumerGroupId: this.options.groupId,
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (last + 1n).toString() }] }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
    owned.nextOffset = last + 1n;
    resolveOffset(last.toString());

    const labels = this.labels;
    metrics.processorEventsIn.inc(labels, messages.length);
    metrics.processorEventsOut.inc(labels, records.length);
    if (deadLetters.length > 0) {
      metrics.processorDeadLetters.inc(labels, deadLetters.length);
      this.options.context.logger.warn({ topic: batch.topic, partition: batch.partition, count: deadLetters.length }, 'messages sent to the dead-letter topic');
    }
    metrics.processorBatchSeconds.observe(labels, (Date.now() - started) / 1000);
    const oldest = Number(messages[0]!.timestamp);
    if (Number.isFinite(oldest)) metrics.processorLatency.observe(labels, Math.max(0, Date.now() - oldest) / 1000);
    await heartbeat();
  }

  /**
   * After a (re)assignment: producers for owned partitions (initializing each
   * transactional id fences its previous owner), committed offsets read after
   * that, the handler's restore, and a seek to the committed offsets.
   */
  private async takeOwnership(consumer: Consumer, heartbeat: () => Promise<void>): Promise<void> {
    // Batches of the previous assignment finish (commit or fail) before state is restored.
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const version = this.assignmentVersion;
    const assignment = [...this.assignment];
    const { kafka, context, transactionalIdPrefix, groupId } = this.options;
    const wanted = new Set(assignment.map((tp) => partitionId(tp.topic, tp.partition)));
    const started = Date.now();
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
    try {
      for (const [id, owned] of this.owned) {
        if (wanted.has(id)) continue;
        this.owned.delete(id);
        await owned.producer.disconnect().catch(() => undefined);
      }
      await Promise.all(
        assignment.map(async (tp) => {
          const id = partitionId(tp.topic, tp.partition);
          const existing = this.owned.get(id);
          if (existing) return;
          const producer = kafka.producer({
            transactionalId: `${transactionalIdPrefix}-${tp.topic}-${tp.partition}`,
            idempotent: true,
            maxInFlightRequests: 1,
            transactionTimeout: 60_000,
            allowAutoTopicCreation: false,
            createPartitioner: keyPartitioner,
          });
          await producer.connect(); // initializes the transactional id: fences the previous owner
          this.owned.set(id, { producer, nextOffset: 0n });
        }),
      );
      const committed = await this.committedOffsets(groupId, [...new Set(assignment.map((tp) => tp.topic))]);
      for (const tp of assignment) {
        const owned = this.owned.get(partitionId(tp.topic, tp.partition))!;
        const offset = committed.get(partitionId(tp.topic, tp.partition));
        owned.nextOffset = offset ?? 0n;
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
    this.initializedVersion = version;
    context.logger.info({ stage: this.options.stage, partitions: assignment, ms: Date.now() - started }, 'took ownership of partitions');
  }

  private async committedOffsets(groupId: string, topics: string[]): Promise<Map<string, bigint>> {
    const offsets = new Map<string, bigint>();
    if (topics.length === 0) return offsets;
    for (const { topic, partitions } of await this.admin!.fetchOffsets({ groupId, topics })) {
      for (const { partition, offset } of partitions) {
        if (BigInt(offset) >= 0n) offsets.set(partitionId(topic, partition), BigInt(offset));
      }
    }
    return offsets;
  }

  private deadLetterRecord(topic: string, partition: number, message: KafkaMessage, error: unknown): OutputRecord {
    return {
      topic: this.options.deadLetterTopic,
      key: message.key,
      value: message.value,
      headers: {
        'tideline.error': errorMessage(error),
        'tideline.source.topic': topic,
        'tideline.source.partition': String(partition),
        'tideline.source.offset': message.offset,
        'tideline.connector': this.options.context.name,
      },
    };
  }
}

const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE']);
const FENCED_ERRORS = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TXN_STATE']);

/** kafkajs errors carry a protocol `type`, possibly on a wrapped `cause`. */
export function classifyKafkaError(error: unknown): 'rebalance' | 'fenced' | 'other' {
  for (let current = error as { type?: unknown; cause?: unknown } | undefined, depth = 0; current && depth < 5; current = current.cause as typeof current, depth++) {
    if (typeof current.type === 'string' && REBALANCE_ERRORS.has(current.type)) return 'rebalance';
    if (typeof current.type === 'string' && FENCED_ERRORS.has(current.type)) return 'fenced';
  }
  return 'other';
}

function partitionId(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

type TopicMessages = { topic: string; messages: { key: Buffer | null; value: Buffer | null; partition?: number; headers?: IHeaders; timestamp?: string }[] }[];

/** Groups records by topic in sends of at most SEND_MAX_BYTES. */
export function chunkBySize(records: readonly OutputRecord[]): TopicMessages[] {
  const chunks: TopicMessages[] = [];
  let current = new Map<string, TopicMessages[number]['messages']>();
  let bytes = 0;
  const flush = () => {
    if (current.size > 0) chunks.push([...current].map(([topic, messages]) => ({ topic, messages })));
    current = new Map();
    bytes = 0;
  };
  for (const record of records) {
    const size = (record.key?.length ?? 0) + (record.value?.length ?? 0) + 64;
    if (bytes + size > SEND_MAX_BYTES && bytes > 0) flush();
    let messages = current.get(record.topic);
    if (!messages) current.set(record.topic, (messages = []));
    const message: TopicMessages[number]['messages'][number] = { key: record.key, value: record.value };
    if (record.partition !== undefined) message.partition = record.partition;
    if (record.headers) message.headers = record.headers;
    if (record.timestamp) message.timestamp = record.timestamp;
    messages.push(message);
    bytes += size;
  }
  flush();
  return chunks;
}
