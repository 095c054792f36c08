/**
 * kafkajs 2.2.4's produce request v3 (protocol/requests/produce/v3/request.js),
 * which v4 to v7 reuse, changing only the version number. kafkajs copies
 * every message into a new object to add its offset and timestamp deltas,
 * maps and sorts a partition's timestamps, and builds each record batch
 * through five nested Encoders, each copying the one before: 7 % of a
 * source's CPU profile. This writes the same bytes: each record by
 * encodeMessageRecord (record-encoder.ts) from the message as it is, an
 * uncompressed batch into one Buffer sized beforehand (its CRC-32C by
 * crc32c.ts), the request into one Buffer. A compressed batch is left to
 * kafkajs's RecordBatch. kafkajs-patches.ts installs it in place of kafkajs's.
 *
 * The request (Produce v3 to v7): transactional_id nullable string,
 * acks int16, timeout int32, [topic string, [partition int32,
 * record_set int32 length + record batch]]; strings are an int16 length
 * (-1: null) + UTF-8.
 * The batch (Kafka's DefaultRecordBatch, KIP-98):
 *   firstOffset int64 (0), length int32 (of what follows), partitionLeaderEpoch
 *   int32 (0), magic int8 (2), crc uint32 (CRC-32C of what follows),
 *   attributes int16, lastOffsetDelta int32, firstTimestamp int64,
 *   maxTimestamp int64, producerId int64, producerEpoch int16,
 *   firstSequence int32, record count int32, records.
 */
import { createRequire } from 'node:module';
import { crc32c } from './crc32c.js';
import { encodeMessageRecord, type EncodedRecord, type RecordContent } from './record-encoder.js';

const require = createRequire(import.meta.url);

interface KafkaLong {
  getHighBits(): number;
  getLowBits(): number;
}
type RecordBatchEncoder = (batch: object) => Promise<{ buffer: Buffer }>;

const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): KafkaLong; fromInt(value: number): KafkaLong };
const { Produce: apiKey } = require('kafkajs/src/protocol/requests/apiKeys.js') as { Produce: number };
const { Types } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { None: number } };

/** A message's timestamp as kafkajs takes it: milliseconds, a number or a string of digits. */
type Timestamp = number | string;

export interface ProducedMessage extends RecordContent {
  timestamp?: Timestamp | null;
}

export interface ProducedPartition {
  partition: number;
  firstSequence?: number;
  messages: ProducedMessage[];
}

export interface ProduceRequestInput {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: ProducedPartition[] }[];
}

/** The request as kafkajs's request sender takes it (protocol/request.js writes `encode()`'s result as an Encoder: `buf`, `buffer`). */
export interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: 'Produce';
  expectResponse(): boolean;
  encode(): Promise<EncodedRecord>;
}

const MAGIC_BYTE = 2;
const TRANSACTIONAL_MASK = 16;
/** The batch up to its records: firstOffset to record count. */
const BATCH_HEADER_SIZE = 61;
/** Where the CRC-32C starts covering: the attributes. */
const CRC_START = 21;

/** JavaScript's subtraction, as kafkajs's `(message.timestamp || dateNow) - firstTimestamp`: a string is read as a number. */
function difference(timestamp: Timestamp, first: Timestamp): number {
  return (timestamp as number) - (first as number);
}

/**
 * Whether `a` sorts before `b` in kafkajs's `timestamps.sort()`: the default
 * order, as strings ('999' after '1000'). 13-digit integers (milliseconds
 * of 2001 to 2286) order the same as numbers, without a string each.
 */
function sortsBefore(a: Timestamp, b: Timestamp): boolean {
  if (typeof a === 'number' && typeof b === 'number' && a >= 1e12 && a < 1e13 && b >= 1e12 && b < 1e13 && Number.isInteger(a) && Number.isInteger(b)) return a < b;
  return String(a) < String(b);
}

/**
 * The first and last of a partition's timestamps as kafkajs's
 * `messages.map(m => m.timestamp).filter(t => t != null).sort()` leaves them
 * (the sort is stable: of equal strings, the first stays first and the last
 * last), or `dateNow` for both when no message has one.
 */
function timestampRange(messages: readonly ProducedMessage[], dateNow: number): [Timestamp, Timestamp] {
  let first: Timestamp | undefined;
  let last: Timestamp = dateNow;
  for (const { timestamp } of messages) {
    if (timestamp == null) continue;
    if (first === undefined) {
      first = last = timestamp;
      continue;
    }
    if (sortsBefore(timestamp, first)) first = timestamp;
    if (!sortsBefore(timestamp, last)) last = timestamp;
  }
  return first === undefined ? [dateNow, dateNow] : [first, last];
}

function writeInt64(buffer: Buffer, at: number, value: unknown): void {
  // As kafkajs's Encoder.writeInt64: its Long takes numbers, strings, bigints and Longs.
  const long = Long.fromValue(value);
  buffer.writeInt32BE(long.getHighBits(), at);
  buffer.writeInt32BE(long.getLowBits(), at + 4);
}

function sizeOfString(value: string | null | undefined): number {
  return value == null ? 2 : 2 + Buffer.byteLength(value, 'utf8');
}

function writeString(buffer: Buffer, at: number, value: string | null | undefined): number {
  if (value == null) return buffer.writeInt16BE(-1, at);
  const length = Buffer.byteLength(value, 'utf8');
  at = buffer.writeInt16BE(length, at);
  return at + buffer.write(value, at, length, 'utf8');
}

interface BatchFields {
  compression: number;
  transactionalId: string | null;
  producerId: unknown;
  producerEpoch: number;
}

/** One partition's record batch, from firstOffset on. */
async function encodeBatch({ messages, firstSequence }: ProducedPartition, { compression, transactionalId, producerId, producerEpoch }: BatchFields): Promise<Buffer> {
  // Read once per partition, as kafkajs does, for the messages without a timestamp.
  const dateNow = Date.now();
  const [firstTimestamp, maxTimestamp] = timestampRange(messages, dateNow);
  const records = new Array<EncodedRecord>(messages.length);
  let recordsSize = 0;
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!;
    const record = encodeMessageRecord(message, index, difference(message.timestamp || dateNow, firstTimestamp));
    records[index] = record;
    recordsSize += record.buffer.length;
  }
  if (compression !== Types.None) {
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: RecordBatchEncoder };
    const batch = await RecordBatch({ compression, records, firstTimestamp, maxTimestamp, producerId, producerEpoch, firstSequence, transactional: !!transactionalId, lastOffsetDelta: records.length - 1 });
    return batch.buffer;
  }

  const batch = Buffer.allocUnsafe(BATCH_HEADER_SIZE + recordsSize);
  let at = batch.writeInt32BE(0, 0); // firstOffset: 0
  at = batch.writeInt32BE(0, at);
  at = batch.writeInt32BE(batch.length - 12, at); // length: after firstOffset and itself
  at = batch.writeInt32BE(0, at); // partitionLeaderEpoch
  at = batch.writeInt8(MAGIC_BYTE, at);
  at += 4; // crc, once the rest is written
  at = batch.writeInt16BE(transactionalId ? TRANSACTIONAL_MASK : 0, at); // no codec, create time
  at = batch.writeInt32BE(records.length - 1, at);
  writeInt64(batch, at, firstTimestamp);
  writeInt64(batch, at + 8, maxTimestamp);
  writeInt64(batch, at + 16, producerId);
  at = batch.writeInt16BE(producerEpoch, at + 24);
  at = batch.writeInt32BE(firstSequence === undefined ? 0 : firstSequence, at);
  at = batch.writeInt32BE(records.length, at);
  for (const record of records) at += record.buffer.copy(batch, at);
  batch.writeUInt32BE(crc32c(batch.subarray(CRC_START)), CRC_START - 4);
  return batch;
}

/** kafkajs's produce request v3, which its v4 to v7 return with their own apiVersion. */
export function produceRequest({ acks, timeout, transactionalId = null, producerId = Long.fromInt(-1), producerEpoch = 0, compression = Types.None, topicData }: ProduceRequestInput): ProduceRequest {
  return {
    apiKey,
    apiVersion: 3,
    apiName: 'Produce',
    expectResponse: () => acks !== 0,
    encode: async () => {
      const fields: BatchFields = { compression, transactionalId, producerId, producerEpoch };
      const topics: { topic: string; batches: [number, Buffer][] }[] = [];
      let size = sizeOfString(transactionalId) + 2 + 4 + 4;
      for (const { topic, partitions } of topicData) {
        const batches: [number, Buffer][] = [];
        size += sizeOfString(topic) + 4;
        for (const data of partitions) {
          const batch = await encodeBatch(data, fields);
          batches.push([data.partition, batch]);
          size += 8 + batch.length;
        }
        topics.push({ topic, batches });
      }

      const buffer = Buffer.allocUnsafe(size);
      let at = writeString(buffer, 0, transactionalId);
      at = buffer.writeInt16BE(acks, at);
      at = buffer.writeInt32BE(timeout, at);
      at = buffer.writeInt32BE(topics.length, at);
      for (const { topic, batches } of topics) {
        at = writeString(buffer, at, topic);
        at = buffer.writeInt32BE(batches.length, at);
        for (const [partition, batch] of batches) {
          at = buffer.writeInt32BE(partition, at);
          at = buffer.writeInt32BE(batch.length, at);
          at += batch.copy(buffer, at);
        }
      }
      if (at !== buffer.length) throw new Error(`produce request encoder: wrote ${at} bytes of ${buffer.length}`);
      return { buf: buffer, buffer, size: () => buffer.length };
    },
  };
}
