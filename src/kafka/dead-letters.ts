/**
 * Dead letters: messages a connector cannot handle, copied to a topic with
 * why and where from in headers. One contract for every connector:
 *
 *   tideline.error             the reason
 *   tideline.source.topic      where the message was read
 *   tideline.source.partition
 *   tideline.source.offset
 *   tideline.connector         the connector that gave up on it
 *
 * Key and value are the original bytes, so a fixed message can be replayed
 * to its topic as it was.
 */
import type { Kafka, Producer } from 'kafkajs';
import { ensureTopics } from './topics.js';

export interface DeadLetter {
  /** Where the message was read. */
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  error: string;
}

/** A dead letter as a Kafka message (for a producer send, or a transaction's records). */
export interface DeadLetterMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export function deadLetterMessage(letter: DeadLetter, connector: string): DeadLetterMessage {
  return {
    key: letter.key,
    value: letter.value,
    headers: {
      'tideline.error': letter.error,
      'tideline.source.topic': letter.topic,
      'tideline.source.partition': String(letter.partition),
      'tideline.source.offset': letter.offset,
      'tideline.connector': connector,
    },
  };
}

/** Sends dead letters to their topic (created with one partition when missing) with an idempotent producer. */
export class DeadLetterWriter {
  private producer: Producer | null = null;
  private opening: Promise<void> | null = null;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly connector: string,
  ) {}

  /** Creates the topic if needed and connects the producer; send() waits for it. */
  open(): Promise<void> {
    this.opening ??= this.connect();
    return this.opening;
  }

  private async connect(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [{ topic: this.topic, partitions: 1 }]);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  /** Resolves once every letter is acknowledged by all in-sync replicas. */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.opening;
    if (!this.producer) throw new Error('dead-letter writer is not open');
    await this.producer.send({ topic: this.topic, acks: -1, messages: letters.map((letter) => deadLetterMessage(letter, this.connector)) });
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    await this.producer?.disconnect();
    this.producer = null;
    this.opening = null;
  }
}
