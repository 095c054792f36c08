/**
 * kafkajs 2.2.4's record batch decoder (protocol/recordBatch/v0/decoder.js),
 * the same but for one step: kafkajs reads each record through a Buffer view
 * of its bytes and a new Decoder over it, half the cost of a record once the
 * record itself is read in numbers (record-decoder.ts); this reads each
 * record in place in the batch's buffer, and a malformed one (reading past
 * its length) again as kafkajs does. kafkajs-patches.ts installs it in place
 * of kafkajs's.
 *
 * The batch (Kafka's DefaultRecordBatch, KIP-98):
 *   firstOffset int64, length int32, partitionLeaderEpoch int32, magic int8,
 *   crc int32, attributes int16, lastOffsetDelta int32, firstTimestamp int64,
 *   maxTimestamp int64, producerId int64, producerEpoch int16,
 *   firstSequence int32, record count int32, records (compressed together
 *   when the attributes name a codec), each: length varint + record.
 */
import { createRequire } from 'node:module';
import { decodeRecord, decodeRecordWithin, type BatchContext, type DecodedRecord, type RecordSource } from './record-decoder.js';

const require = createRequire(import.meta.url);

/** What this uses of kafkajs's Decoder (protocol/decoder.js). */
interface BatchSource extends RecordSource {
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): bigint;
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readAll(): Buffer;
  readArray<T>(reader: (decoder: BatchSource) => T): T[];
  slice(size: number): BatchSource;
  forward(size: number): void;
}
interface Codec {
  decompress(buffer: Buffer): Promise<Buffer>;
}

const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer | null) => BatchSource;
const { KafkaJSPartialMessageError } = require('kafkajs/src/errors.js') as { KafkaJSPartialMessageError: new (message: string) => Error };
// kafkajs's codec table itself: codecs an application registers (Snappy, LZ4, ZSTD) are found here too.
const { lookupCodecByAttributes } = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes(attributes: number): Codec | null };
const { LOG_APPEND_TIME, CREATE_TIME } = require('kafkajs/src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number; CREATE_TIME: number };

const TIMESTAMP_TYPE_FLAG_MASK = 0x8;
const TRANSACTIONAL_FLAG_MASK = 0x10;
const CONTROL_FLAG_MASK = 0x20;

export async function decodeRecordBatch(fetchDecoder: BatchSource): Promise<BatchContext & { records: DecodedRecord[] }> {
  const firstOffset = fetchDecoder.readInt64().toString();
  const length = fetchDecoder.readInt32();
  const decoder = fetchDecoder.slice(length);
  fetchDecoder.forward(length);

  const remainingBytes = Buffer.byteLength(decoder.buffer);
  if (remainingBytes < length) {
    throw new KafkaJSPartialMessageError(`Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`);
  }

  const partitionLeaderEpoch = decoder.readInt32();
  // The magic byte was read by the fetch response to tell record batches from message sets.
  const magicByte = decoder.readInt8();
  decoder.readInt32(); // the CRC: kafkajs does not check it
  const attributes = decoder.readInt16();
  const lastOffsetDelta = decoder.readInt32();
  const firstTimestamp = decoder.readInt64().toString();
  const maxTimestamp = decoder.readInt64().toString();
  const producerId = decoder.readInt64().toString();
  const producerEpoch = decoder.readInt16();
  const firstSequence = decoder.readInt32();

  const inTransaction = (attributes & TRANSACTIONAL_FLAG_MASK) > 0;
  const isControlBatch = (attributes & CONTROL_FLAG_MASK) > 0;
  const timestampType = (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? LOG_APPEND_TIME : CREATE_TIME;
  const codec = lookupCodecByAttributes(attributes);

  const recordContext = {
    firstOffset,
    firstTimestamp,
    partitionLeaderEpoch,
    inTransaction,
    isControlBatch,
    lastOffsetDelta,
    producerId,
    producerEpoch,
    firstSequence,
    maxTimestamp,
    timestampType,
  };
  const records = await decodeRecords(codec, decoder, { ...recordContext, magicByte });
  return { ...recordContext, records };
}

async function decodeRecords(codec: Codec | null, recordsDecoder: BatchSource, recordContext: BatchContext): Promise<DecodedRecord[]> {
  if (!codec) return recordsDecoder.readArray((decoder) => readRecord(decoder, recordContext));

  const length = recordsDecoder.readInt32();
  if (length <= 0) return [];
  const decompressed = new Decoder(await codec.decompress(recordsDecoder.readAll()));
  const records = new Array<DecodedRecord>(length);
  for (let i = 0; i < length; i++) records[i] = readRecord(decompressed, recordContext);
  return records;
}

/** A record's length, then the record: in place, or (malformed) from its own view and Decoder as kafkajs reads it. */
function readRecord(decoder: BatchSource, recordContext: BatchContext): DecodedRecord {
  const start = decoder.offset;
  const record = decodeRecordWithin(decoder, decoder.readVarInt(), recordContext);
  if (record) return record;
  decoder.offset = start;
  return decodeRecord(new Decoder(decoder.readVarIntBytes()), recordContext);
}
