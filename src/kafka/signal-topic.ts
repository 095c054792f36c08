/**
 * A source's Kafka signal topic (Debezium's signal.kafka.topic), read as a
 * consumer group: each record is handed to the source, and the group offset
 * is committed after the handler finished. A crash in between hands the
 * record over again, so the handler must be idempotent (the PostgreSQL source
 * inserts it into its signal table under an id made from its offset).
 */
import type { Kafka } from 'kafkajs';
import type { Logger } from '../core/logger.js';
import { KafkaGroupConsumer } from './group-consumer.js';

export interface SignalRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface SignalTopicOptions {
  topic: string;
  groupId: string;
  logger: Logger;
  onRecord(record: SignalRecord): Promise<void>;
}

export class SignalTopicReader {
  private readonly consumer: KafkaGroupConsumer;

  constructor(kafka: Kafka, private readonly options: SignalTopicOptions) {
    this.consumer = new KafkaGroupConsumer(kafka, { groupId: options.groupId, topics: [options.topic], maxBytes: 1024 * 1024 }, options.logger);
  }

  /** Rejects when kafkajs gives the consumer up. */
  get crashed(): Promise<never> {
    return this.consumer.crashed;
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.consumer.start(
      {
        onAssignment: () => undefined,
        onBatch: async (batch) => {
          for (const record of batch.records) {
            if (!batch.isCurrent()) return;
            await this.options.onRecord({ topic: batch.topic, partition: batch.partition, offset: record.offset, key: record.key, value: record.value });
            await this.consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(record.offset) + 1n).toString() }]);
          }
          batch.resolve();
        },
      },
      signal,
    );
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
  }
}
