/**
 * One transactional producer (one transactional id) and its open transaction:
 * records are buffered and sent in size-bounded chunks inside the
 * transaction, then the position (a source's offset record, a processor's
 * consumer offsets) goes into the same transaction and it commits, or it
 * aborts. Used by the PostgreSQL source and by every processor partition.
 */
import type { Kafka, Producer, Transaction } from 'kafkajs';
import { errorMessage } from '../core/errors.js';
import { keyPartitioner } from './client.js';
import { CompressionTypes } from './kafkajs.js';
import type { OutputRecord, RecordHeaders } from './records.js';

/**
 * The broker refuses a record batch above message.max.bytes (1 MiB by
 * default), and JsonConverter messages carry their schema, so sends are
 * bounded by bytes, not by a count of records.
 */
export const SEND_MAX_BYTES = 768 * 1024;
/** Per-record overhead counted against SEND_MAX_BYTES (headers, framing). */
const RECORD_OVERHEAD_BYTES = 64;

export interface TransactionalWriterOptions {
  transactionalId: string;
  /** The broker aborts a transaction left open longer than this. */
  transactionTimeoutMs: number;
  compression?: 'none' | 'gzip';
  /**
   * Chunks sent behind the caller before write() waits for Kafka (they are
   * chained, so they reach Kafka in order). Every send is awaited before a commit.
   */
  maxSendsInFlight?: number;
  /** A send failed behind the caller's back; the transaction can only abort now. */
  onSendError?: (error: Error) => void;
}

/** Consumer offsets committed with the transaction (Kafka's sendOffsetsToTransaction). */
export interface ConsumerOffsets {
  groupId: string;
  topic: string;
  partition: number;
  /** The next offset to consume. */
  offset: bigint;
}

/** What a transaction's commit records besides its outputs: where its input stopped. */
export interface CommitPosition {
  /** A record written last in the transaction (a source's stored offset). */
  offsetRecord?: OutputRecord;
  /** One partition's (a processor batch), or several groups' and partitions' (a processor replay). */
  consumerOffsets?: ConsumerOffsets | readonly ConsumerOffsets[];
}

type TopicMessages = { topic: string; messages: { key: Buffer | null; value: Buffer | null; partition?: number; headers?: RecordHeaders; timestamp?: string }[] }[];

/** Collects records into sends of at most SEND_MAX_BYTES, grouped by topic, in order. */
export class SendChunker {
  private current = new Map<string, TopicMessages[number]['messages']>();
  private bytes = 0;

  get isEmpty(): boolean {
    return this.current.size === 0;
  }

  /** Adds `record`; returns the full chunk it did not fit in, if any. */
  add(record: OutputRecord): TopicMessages | null {
    const size = recordBytes(record);
    const full = this.bytes > 0 && this.bytes + size > SEND_MAX_BYTES ? this.take() : null;
    let messages = this.current.get(record.topic);
    if (!messages) this.current.set(record.topic, (messages = []));
    const message: TopicMessages[number]['messages'][number] = { key: record.key, value: record.value };
    if (record.partition !== undefined) message.partition = record.partition;
    if (record.headers) message.headers = record.headers;
    if (record.timestamp) message.timestamp = record.timestamp;
    messages.push(message);
    this.bytes += size;
    return full;
  }

  /** The chunk collected so far (null if none). */
  take(): TopicMessages | null {
    if (this.current.size === 0) return null;
    const chunk = [...this.current].map(([topic, messages]) => ({ topic, messages }));
    this.current = new Map();
    this.bytes = 0;
    return chunk;
  }
}

/**
 * A record's bytes as counted against SEND_MAX_BYTES: key, value, header
 * names and values, and RECORD_OVERHEAD_BYTES. Headers count: a dead letter
 * carries its error and origin in them, and a batch of small dead letters
 * counted without them made record batches above the broker's limit (every
 * attempt refused as too large, the processor stuck).
 */
export function recordBytes(record: OutputRecord): number {
  let size = (record.key?.length ?? 0) + (record.value?.length ?? 0) + RECORD_OVERHEAD_BYTES;
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    size += name.length;
    for (const item of Array.isArray(value) ? value : [value]) size += item === undefined || item === null ? 0 : Buffer.byteLength(item);
  }
  return size;
}

/** Groups records by topic in sends of at most SEND_MAX_BYTES. */
export function chunkBySize(records: readonly OutputRecord[]): TopicMessages[] {
  const chunker = new SendChunker();
  const chunks: TopicMessages[] = [];
  for (const record of records) {
    const full = chunker.add(record);
    if (full) chunks.push(full);
  }
  const last = chunker.take();
  if (last) chunks.push(last);
  return chunks;
}

/** Offsets grouped as sendOffsets takes them: per group, per topic (a transaction may commit several groups'). */
function offsetsByGroup(offsets: readonly ConsumerOffsets[]): { groupId: string; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }[] {
  const groups = new Map<string, Map<string, { partition: number; offset: string }[]>>();
  for (const o of offsets) {
    let topics = groups.get(o.groupId);
    if (!topics) groups.set(o.groupId, (topics = new Map()));
    let partitions = topics.get(o.topic);
    if (!partitions) topics.set(o.topic, (partitions = []));
    partitions.push({ partition: o.partition, offset: o.offset.toString() });
  }
  return [...groups].map(([groupId, topics]) => ({ groupId, topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) }));
}

export class TransactionalWriter {
  private readonly producer: Producer;
  private transaction: Transaction | null = null;
  private opening: Promise<Transaction> | null = null;
  private chunker = new SendChunker();
  /** The chain of sends of the open transaction; rejected once one failed. */
  private sending: Promise<void> = Promise.resolve();
  private sendsInFlight = 0;

  constructor(kafka: Kafka, private readonly options: TransactionalWriterOptions) {
    this.producer = kafka.producer({
      transactionalId: options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: options.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      createPartitioner: keyPartitioner,
      // Right after a commit the coordinator is still writing its markers and
      // answers the next transaction's AddPartitionsToTxn with
      // CONCURRENT_TRANSACTIONS. The Java client retries that after 20 ms;
      // kafkajs's default 300 ms first retry stalled every following transaction.
      retry: { initialRetryTime: 20, retries: 12, maxRetryTime: 2_000 },
    });
  }

  /**
   * Connects and initializes the transactional id. That fences every earlier
   * producer of the id (their next send or commit fails) and returns only once
   * the id's last transaction is complete: an open one aborted, a committing
   * one with its markers written. Only then do committed consumer offsets and
   * the last stable offsets of the partitions it wrote show its outcome.
   *
   * kafkajs's connect() alone does not do this: it gets a plain idempotent
   * producer id and initializes the transactional id lazily, at the first
   * transaction(). An empty transaction, aborted at once (no request: nothing
   * was added to it), does it here.
   */
  async connect(): Promise<void> {
    await this.producer.connect();
    const transaction = await this.producer.transaction();
    await transaction.abort();
  }

  /** Whether a transaction is open (records were written since the last commit or abort). */
  get inTransaction(): boolean {
    return this.transaction !== null || this.opening !== null || !this.chunker.isEmpty;
  }

  /**
   * Adds records to the open transaction (opening one if needed). Full chunks
   * are sent behind the caller; this waits only while too many are in flight.
   */
  async write(records: Iterable<OutputRecord>): Promise<void> {
    for (const record of records) {
      const full = this.chunker.add(record);
      if (full) await this.send(full);
    }
  }

  /** Sends `offsetRecord` and everything buffered, adds the consumer offsets, and commits. */
  async commit(position: CommitPosition = {}): Promise<void> {
    if (position.offsetRecord) await this.write([position.offsetRecord]);
    const rest = this.chunker.take();
    if (rest) await this.send(rest);
    await this.sending;
    const transaction = await this.open();
    const offsets = position.consumerOffsets;
    if (offsets) {
      for (const { groupId, topics } of offsetsByGroup(Array.isArray(offsets) ? offsets : [offsets as ConsumerOffsets])) {
        await transaction.sendOffsets({ consumerGroupId: groupId, topics });
      }
    }
    await transaction.commit();
    this.transaction = null;
  }

  /** Drops what is buffered and aborts the open transaction, never failing. */
  async abort(): Promise<void> {
    this.chunker = new SendChunker();
    await this.sending.catch(() => undefined);
    this.sending = Promise.resolve();
    const transaction = this.transaction ?? (await this.opening?.catch(() => null)) ?? null;
    this.transaction = null;
    this.opening = null;
    if (transaction) await transaction.abort().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
  }

  /**
   * Initializes each of `transactionalIds` and lets it go: whoever produced
   * with one is fenced (its next send or commit fails) and its last
   * transaction is settled (aborted if open, its markers written if
   * committing), so offsets and read_committed reads show its outcome.
   */
  static async fence(kafka: Kafka, transactionalIds: readonly string[], transactionTimeoutMs = 60_000): Promise<void> {
    await Promise.all(
      transactionalIds.map(async (transactionalId) => {
        const writer = new TransactionalWriter(kafka, { transactionalId, transactionTimeoutMs });
        try {
          await writer.connect();
        } finally {
          await writer.disconnect();
        }
      }),
    );
  }

  private async open(): Promise<Transaction> {
    if (this.transaction) return this.transaction;
    this.opening ??= this.producer.transaction();
    try {
      this.transaction = await this.opening;
    } finally {
      this.opening = null;
    }
    return this.transaction;
  }

  private async send(chunk: TopicMessages): Promise<void> {
    const transaction = await this.open();
    const compression = this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.sendsInFlight += 1;
    this.sending = this.sending.then(async () => {
      try {
        await transaction.sendBatch({ acks: -1, compression, topicMessages: chunk });
      } finally {
        this.sendsInFlight -= 1;
      }
    });
    // The chain stays rejected, so the commit never happens after a failed send.
    this.sending.catch((error: unknown) => this.options.onSendError?.(error instanceof Error ? error : new Error(errorMessage(error))));
    if (this.sendsInFlight > (this.options.maxSendsInFlight ?? 0)) await this.sending;
  }
}
