/**
 * A single-partition topic that several processes append to and each read in
 * full, in offset order: the log of the embedded schema registry, from which
 * every reader derives the same state (src/registry/registry-state.ts).
 *
 * One partition because the order of the records is the data. Each reader
 * follows the topic from its first offset through a consumer group of its own
 * (deleted on close). Appends go through an idempotent producer, so a network
 * retry never writes a record twice.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from '../core/logger.js';
import { deleteGroupQuietly, withDeadline } from './compacted-topic-reader.js';
import { ConfigResourceTypes } from './kafkajs.js';
import { ensureTopics, partitionCount } from './topics.js';

/** How long close() waits for the log's clients to disconnect. */
const CLOSE_TIMEOUT_MS = 3_000;

export interface SharedLogOptions {
  topic: string;
  /** Configs of the topic when it is created (it is created with one partition). */
  topicConfigs: Record<string, string>;
  /** Prefix of the reader's consumer group id. */
  groupPrefix: string;
  /** Gets every record once, in offset order. It must not throw. */
  onRecord(offset: bigint, key: Buffer | null, value: Buffer | null): void;
  logger: Logger;
}

interface Waiter {
  offset: bigint;
  resolve(): void;
}

export class SharedLog {
  private admin: Admin | null = null;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private groupId = '';
  /** The last offset handed to onRecord (or passed over), -1 before any. */
  private reached = -1n;
  private waiters: Waiter[] = [];

  constructor(private readonly kafka: Kafka, private readonly options: SharedLogOptions) {}

  get topic(): string {
    return this.options.topic;
  }

  /** Creates the topic when missing, starts following it and reads it to its current end. */
  async start(timeoutMs: number): Promise<void> {
    const { topic } = this.options;
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await ensureTopics(this.admin, [{ topic, partitions: 1, configs: this.options.topicConfigs }]);
    const partitions = await partitionCount(this.admin, topic);
    if (partitions !== 1) throw new Error(`topic ${topic} has ${partitions} partitions; the registry's log needs exactly 1 (its order is the data)`);
    const expiry = expiryProblem(await this.topicConfigs(this.admin, topic));
    if (expiry) throw new Error(`topic ${topic} ${expiry}; the registry's log must keep every record: set cleanup.policy=compact (or retention.ms=-1 and retention.bytes=-1)`);

    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();

    this.groupId = `${this.options.groupPrefix}-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 100, readUncommitted: false });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => this.advance(BigInt(event.payload.lastOffset)));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset <= this.reached) continue;
          try {
            this.options.onRecord(offset, message.key, message.value);
          } catch (error) {
            this.options.logger.error({ err: error, topic, offset: message.offset }, 'registry log record could not be applied');
          }
          this.advance(offset);
        }
        this.advance(BigInt(batch.lastOffset()));
      },
    });
    await this.sync(timeoutMs);
  }

  private async topicConfigs(admin: Admin, topic: string): Promise<Map<string, string>> {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy', 'retention.ms', 'retention.bytes'] }],
    });
    return new Map((resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]));
  }

  /** Appends a record; resolves with its offset once the brokers acknowledged it. */
  async append(key: Buffer, value: Buffer): Promise<bigint> {
    if (!this.producer) throw new Error(`the registry log on ${this.options.topic} is not started`);
    const [result] = await this.producer.send({ topic: this.options.topic, acks: -1, messages: [{ key, value, partition: 0 }] });
    if (!result || result.baseOffset === undefined) throw new Error(`Kafka returned no offset for the record appended to ${this.options.topic}`);
    return BigInt(result.baseOffset);
  }

  /** Resolves once every record appended before the call has been read. */
  async sync(timeoutMs: number): Promise<void> {
    if (!this.admin) throw new Error(`the registry log on ${this.options.topic} is not started`);
    const offsets = await withDeadline(this.admin.fetchTopicOffsets(this.options.topic), timeoutMs, `timed out asking Kafka for the end of ${this.options.topic}`);
    const end = BigInt(offsets.find((partition) => partition.partition === 0)?.high ?? '0');
    await this.readThrough(end - 1n, timeoutMs);
  }

  /** Resolves once the record at `offset` (and every one before it) has been read. */
  async readThrough(offset: bigint, timeoutMs: number): Promise<void> {
    if (this.reached >= offset) return;
    const reached = new Promise<void>((resolve) => this.waiters.push({ offset, resolve }));
    await withDeadline(reached, timeoutMs, `timed out after ${timeoutMs} ms reading ${this.options.topic} to offset ${offset} (read to ${this.reached})`);
  }

  private advance(offset: bigint): void {
    if (offset <= this.reached) return;
    this.reached = offset;
    const due = this.waiters.filter((waiter) => waiter.offset <= offset);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((waiter) => waiter.offset > offset);
    for (const waiter of due) waiter.resolve();
  }

  /**
   * Disconnects within CLOSE_TIMEOUT_MS. Nothing here holds data (an append
   * resolves only once Kafka acknowledged it), so a client that does not
   * disconnect in time is left to the caller's releaseKafka: right after a
   * broker restart kafkajs's consumer can sit in its crash-restart backoff or
   * a coordinator lookup for tens of seconds, and a daemon's shutdown must not
   * wait for it.
   */
  async close(): Promise<void> {
    const clients = { consumer: this.consumer, producer: this.producer, admin: this.admin };
    this.consumer = this.producer = this.admin = null;
    const pending = new Set<string>();
    const disconnects = Object.entries(clients).map(async ([name, client]) => {
      if (!client) return;
      pending.add(name);
      await client.disconnect().catch(() => undefined);
      pending.delete(name);
    });
    const disconnected = await withDeadline(Promise.all(disconnects), CLOSE_TIMEOUT_MS, 'timed out').then(
      () => true,
      () => false,
    );
    if (!disconnected) {
      this.options.logger.info({ topic: this.options.topic, pending: [...pending] }, `log clients did not disconnect within ${CLOSE_TIMEOUT_MS} ms; leaving them`);
      return;
    }
    // Its group would expire by itself; deleting it keeps the broker tidy.
    if (clients.consumer) await deleteGroupQuietly(this.kafka, this.groupId);
  }
}

/**
 * Why a topic with these configs would lose records by age or size (the
 * `delete` cleanup policy with a finite retention), or null when it keeps them
 * all (`compact` alone removes only records a later one with the same key
 * replaces).
 */
export function expiryProblem(configs: ReadonlyMap<string, string>): string | null {
  const policy = (configs.get('cleanup.policy') ?? 'delete').split(',').map((part) => part.trim());
  if (!policy.includes('delete')) return null;
  const ms = configs.get('retention.ms') ?? '604800000';
  const bytes = configs.get('retention.bytes') ?? '-1';
  if (ms !== '-1') return `deletes records after ${ms} ms (cleanup.policy=${policy.join(',')}, retention.ms=${ms})`;
  if (bytes !== '-1') return `deletes records beyond ${bytes} bytes (cleanup.policy=${policy.join(',')}, retention.bytes=${bytes})`;
  return null;
}
