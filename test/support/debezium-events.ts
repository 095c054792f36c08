/**
 * Debezium-shaped change events for processor tests and the bench, produced
 * straight to a topic (no PostgreSQL): the same envelope, schemas and codec
 * the postgres source uses, with event times the test chooses.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import { envelopeSchema, keySchema, SOURCE_VERSION, type ChangeEvent, type ColumnSchema, type Op, type Row } from '../../src/core/events.js';
import { keyPartitioner } from '../../src/kafka/client.js';
import { postgresSourceBlock, type PostgresSourceBlock } from '../../src/sources/postgres/source-block.js';
import { createConverter, type Converter, type SchemaEncoder } from '../../src/serde/index.js';
import { testRegistryConverter } from './test-registry.js';

/**
 * The converter tests encode and decode events with: Avro (the daemon's
 * default format) registered in the run's embedded registry, which the
 * daemons of the run share (test-registry.ts); it reads JSON messages too.
 * Decoding an Avro message needs its schemas loaded first: readTopics does
 * that for what it returns; a test with a consumer of its own awaits
 * loadSchemas(message.key, message.value) before keyOf/valueOf.
 */
export const testConverter: Converter = testRegistryConverter();

/** The converter tests produce events with: the daemons' format (TIDELINE_FORMAT=json: json; else avro, as testConverter). */
export const producerConverter: Converter = process.env.TIDELINE_FORMAT === 'json' ? createConverter('json') : testConverter;

/** Fetches the schemas these messages name that testConverter does not hold yet (Avro), so that keyOf/valueOf can decode them. */
export async function loadSchemas(...messages: (Buffer | null | undefined)[]): Promise<void> {
  await testConverter.loadSchemas(messages);
}

export interface TableEvents {
  topic: string;
  columns: ColumnSchema[];
  keyEncoder: SchemaEncoder;
  valueEncoder: SchemaEncoder;
}

export async function tableEvents(topic: string, columns: ColumnSchema[], converter: Converter = producerConverter): Promise<TableEvents> {
  return {
    topic,
    columns,
    keyEncoder: await converter.encoder(topic, 'key', keySchema(topic, columns)),
    valueEncoder: await converter.encoder(topic, 'value', envelopeSchema(topic, columns, postgresSourceBlock.schema)),
  };
}

/** A message's key payload (null bytes: null). Its schema must be loaded (loadSchemas). */
export function keyOf<T = Row>(bytes: Buffer | null): T | null {
  return bytes ? testConverter.decodeKey<T>(bytes).value : null;
}

/** A message's value payload (null bytes, a tombstone: null). Its schema must be loaded (loadSchemas). */
export function valueOf<T = ChangeEvent<PostgresSourceBlock>>(bytes: Buffer | null): T | null {
  return bytes ? testConverter.decodeValue<T>(bytes).value : null;
}

export const int64 = (optional = false): ConnectSchema => ({ type: 'int64', optional });
export const int32 = (optional = false): ConnectSchema => ({ type: 'int32', optional });
export const text = (optional = true): ConnectSchema => ({ type: 'string', optional });

let lsn = 1_000;

export function changeEvent(table: string, op: Op, before: Row | null, after: Row | null, tsMs: number): ChangeEvent<PostgresSourceBlock> {
  lsn += 8;
  return {
    before,
    after,
    source: { version: SOURCE_VERSION, connector: 'postgresql', name: 'test', ts_ms: tsMs, snapshot: 'false', db: 'tideline', schema: 'public', table, txId: lsn, lsn, xmin: null },
    op,
    ts_ms: tsMs,
  };
}

export interface ProducedEvent {
  key: Row;
  /** null: a tombstone. */
  event: ChangeEvent | null;
}

export function encodeEvent(table: TableEvents, produced: ProducedEvent): { key: Buffer; value: Buffer | null } {
  return { key: table.keyEncoder.encode(produced.key), value: produced.event ? table.valueEncoder.encode(produced.event) : null };
}

export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: 'tideline-test' });
}

export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }] });
  } finally {
    await admin.disconnect();
  }
}

export async function idempotentProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: keyPartitioner });
  await producer.connect();
  return producer;
}

export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Reads topics read_committed from the start until `done` says enough (or the
 * timeout), then for `settleMs` more; the schemas the messages name are
 * loaded into testConverter, so keyOf/valueOf decode them.
 */
export async function readTopics(
  kafka: Kafka,
  topics: string[],
  done: (messages: readonly ReadMessage[]) => boolean,
  options: { timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({ groupId: `tideline-test-reader-${Date.now()}-${Math.random()}`, readUncommitted: false, maxWaitTimeInMs: 200 });
  const messages: ReadMessage[] = [];
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
        messages.push({ topic, partition, offset: message.offset, key: message.key, value: message.value, headers });
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (!done(messages) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    await new Promise((resolve) => setTimeout(resolve, options.settleMs ?? 1_500));
  } finally {
    await consumer.disconnect();
  }
  await testConverter.loadSchemas(messages.flatMap((message) => [message.key, message.value]));
  return messages;
}
