/**
 * A consumer-group member for code that must not know kafkajs (the sink
 * runtime): neutral records and assignment events, seek, pause and resume,
 * a commit for lag monitoring, heartbeats, and a promise that rejects when
 * kafkajs gives up.
 *
 * Defaults (the reasons are kafkajs's behaviour):
 * - no auto-commit and no auto-resolve: the caller decides what it consumed
 *   (FetchedBatch.resolve moves the fetch position past the batch) and
 *   where its position is kept;
 * - read_committed: aborted transactions are never seen;
 * - session 10 s, heartbeat 1 s: another instance's crash holds its
 *   partitions until its session times out; kafkajs heartbeats from its fetch
 *   loop, which keeps running while the caller writes elsewhere;
 * - maxWaitTimeInMs 100: while every partition is paused kafkajs sleeps this
 *   long per fetch round, which also bounds how late a resume takes effect;
 * - members are tagged with this instance's id, and a start removes the
 *   member a crash of this instance left behind (group-membership.ts).
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../core/logger.js';
import { waitForTopics } from './topics.js';
import { groupConsumer, joinGroup } from './client.js';

export type RecordHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** One consumed message (structurally a kafkajs message: no copy is made). */
export interface ConsumedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeaders;
  offset: string;
  timestamp: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

/** What one fetch returned for one partition, in offset order (never empty). */
export interface FetchedBatch extends TopicPartition {
  records: readonly ConsumedRecord[];
  /** Offset of the batch's last entry (may be past the last record: transaction markers). */
  lastOffset: string;
  /** The partition's high watermark when it was fetched (the offset after its last entry): for lag metrics. */
  highWatermark?: string;
  /**
   * False once the batch must be dropped: the consumer is stopping, or a seek
   * is pending and these records are from before it. Check after any wait.
   */
  isCurrent(): boolean;
  heartbeat(): Promise<void>;
  /** The batch is taken: the next fetch of this partition starts after lastOffset. */
  resolve(): void;
}

export interface GroupConsumerHandlers {
  /** A new generation of the group, with this member's whole assignment. Runs before the next fetch. */
  onAssignment(partitions: readonly TopicPartition[]): void;
  /** Batches of one partition arrive one after the other; the next fetch waits for this promise. */
  onBatch(batch: FetchedBatch): Promise<void>;
}

/** The consumer-group member a sink runtime needs (KafkaGroupConsumer, or a fake in tests). */
export interface GroupConsumer {
  /** Waits for the topics, joins the group and starts fetching. */
  start(handlers: GroupConsumerHandlers, signal: AbortSignal): Promise<void>;
  /**
   * Leaves the group and joins it again subscribed to `topics` (a rejoin:
   * kafkajs cannot change a running consumer's subscription). The handlers of
   * start() get the new assignment; nothing fetched before is delivered after.
   */
  resubscribe(topics: readonly string[], signal: AbortSignal): Promise<void>;
  /** The next fetch of the partition starts at `offset`. */
  seek(partition: TopicPartition, offset: string): void;
  /** Stops fetching every subscribed topic (kept across rebalances by the caller re-pausing). */
  pause(): void;
  resume(): void;
  /** Commits the group offsets (the next offset to read per partition). */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Rejects when the consumer crashed for good (kafkajs will not restart it). */
  readonly crashed: Promise<never>;
  stop(): Promise<void>;
}

export interface GroupConsumerOptions {
  groupId: string;
  topics: readonly string[];
  /** Fetch size, per request and per partition. */
  maxBytes: number;
  /** Told which topics are missing while start() waits for them (their creator may come later). */
  onWaitingForTopics?(missing: string[]): void;
}

export class KafkaGroupConsumer implements GroupConsumer {
  readonly crashed: Promise<never>;
  private crash: (error: unknown) => void = () => undefined;
  private consumer: Consumer | null = null;
  private handlers: GroupConsumerHandlers | null = null;
  private topics: readonly string[];
  private stopped = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: GroupConsumerOptions,
    private readonly logger: Logger,
  ) {
    this.crashed = new Promise<never>((_, reject) => (this.crash = reject));
    this.crashed.catch(() => undefined);
    this.topics = options.topics;
  }

  async start(handlers: GroupConsumerHandlers, signal: AbortSignal): Promise<void> {
    this.handlers = handlers;
    const { groupId } = this.options;
    const topics = this.topics;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await waitForTopics(admin, topics, signal, (missing) => this.options.onWaitingForTopics?.(missing));
    } finally {
      await admin.disconnect();
    }
    if (this.stopped) return; // stopped while waiting (a rejoin's start)
    const consumer = groupConsumer(this.kafka, {
      groupId,
      maxBytesPerPartition: this.options.maxBytes,
      maxBytes: this.options.maxBytes,
      maxWaitTimeInMs: 100,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) this.crash(event.payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const partitions: TopicPartition[] = [];
      for (const [topic, list] of Object.entries(event.payload.memberAssignment)) for (const partition of list) partitions.push({ topic, partition });
      handlers.onAssignment(partitions);
    });
    // Before joining: a member left by a crash of this instance would hold the join for a session.
    await joinGroup(this.kafka, consumer, groupId, this.logger);
    // fromBeginning: a partition with no stored and no committed offset (a new topic) is read from its first record.
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    if (this.stopped) {
      await consumer.disconnect(); // stop() ran during the join
      return;
    }
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.deliver(payload, handlers) });
  }

  private async deliver(payload: EachBatchPayload, handlers: GroupConsumerHandlers): Promise<void> {
    const { batch, isRunning, isStale, heartbeat, resolveOffset } = payload;
    if (batch.messages.length === 0) return;
    const lastOffset = batch.lastOffset();
    await handlers.onBatch({
      topic: batch.topic,
      partition: batch.partition,
      records: batch.messages,
      lastOffset,
      highWatermark: batch.highWatermark,
      isCurrent: () => isRunning() && !isStale(),
      heartbeat,
      resolve: () => resolveOffset(lastOffset),
    });
  }

  seek(partition: TopicPartition, offset: string): void {
    this.consumer?.seek({ ...partition, offset });
  }

  async resubscribe(topics: readonly string[], signal: AbortSignal): Promise<void> {
    if (!this.handlers) throw new Error('resubscribe before start');
    const previous = this.consumer;
    this.consumer = null;
    // disconnect() ends the run and sends LeaveGroup: the next join is a new member.
    await previous?.disconnect();
    this.topics = [...topics];
    if (this.stopped || signal.aborted) return;
    await this.start(this.handlers, signal);
  }

  pause(): void {
    this.consumer?.pause(this.topics.map((topic) => ({ topic })));
  }

  resume(): void {
    this.consumer?.resume(this.topics.map((topic) => ({ topic })));
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length > 0) await this.consumer?.commitOffsets(offsets.map((offset) => ({ ...offset })));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer?.disconnect();
    this.consumer = null;
  }
}
