/**
 * The record shapes tideline's Kafka code exchanges with the rest of the
 * daemon, so that sources and processors never name kafkajs types.
 */
import type { IHeaders, KafkaMessage } from 'kafkajs';

/** A message as consumed: key, value, headers, offset and timestamp (both as decimal text). */
export type ConsumedMessage = KafkaMessage;

export type RecordHeaders = IHeaders;

/** A record to produce. */
export interface OutputRecord {
  topic: string;
  /** Explicit partition (e.g. a changelog record goes to its input partition's number); otherwise by key. */
  partition?: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeaders;
  /** ms since epoch as decimal text; default: the broker's append time. */
  timestamp?: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** Consumed messages of one topic-partition, in offset order (never empty). */
export interface PartitionBatch extends TopicPartition {
  messages: ConsumedMessage[];
}
