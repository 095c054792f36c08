/**
 * kafkajs 2.2.4 decodes each fetched record (a v2 record,
 * protocol/recordBatch/record/v0/decoder.js) reading its timestamp delta as a
 * Long (a BigInt wrapper, a new one per 7 bits), adding the batch's first
 * timestamp and first offset to every record's deltas through Long objects
 * made from their strings, and building the headers with an object spread
 * per header: about ten allocations per record and most of the sink's fetch
 * decoding. This reads the same fields straight from the Decoder's buffer in
 * numbers, the batch's first offset and timestamp parsed once per batch, and
 * returns the same object (kafkajs-patches.ts installs it in place of
 * kafkajs's). Where a number would not be exact (offsets or timestamps past
 * 2^53, a varlong of more than 7 bytes, a context that is not what kafkajs's
 * batch decoder passes) it falls back to kafkajs's own Long arithmetic.
 * record-batch-decoder.ts reads each record through decodeRecordWithin, in
 * place in the batch's buffer.
 *
 * The record (Kafka's DefaultRecord, KIP-98):
 *   length varint (read by the batch decoder), attributes int8,
 *   timestampDelta varlong, offsetDelta varint,
 *   key varint length (-1: null) + bytes, value varint length (-1: null) + bytes,
 *   header count varint, each: key varint length (-1: null) + UTF-8, value varint length (-1: null) + bytes.
 * Varints are zigzag-encoded LEB128.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** kafkajs's Long (utils/long.js): what its decoder adds and prints. */
interface KafkaLong {
  add(addend: unknown): KafkaLong;
  toString(): string;
}
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): KafkaLong };
const { LOG_APPEND_TIME } = require('kafkajs/src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number };

/** What this takes from kafkajs's Decoder (protocol/decoder.js): its bytes, its position, and its varlong reader for a delta a number cannot hold. */
export interface RecordSource {
  buffer: Buffer;
  offset: number;
  readVarLong(): KafkaLong;
}

/** The context kafkajs's batch decoder passes each record (strings for the 64-bit fields). */
export interface BatchContext {
  firstOffset?: unknown;
  firstTimestamp?: unknown;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: unknown;
  [field: string]: unknown;
}

export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: unknown;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean | undefined;
  batchContext: BatchContext;
}

/** A batch's first offset and timestamp as numbers, when exact (undefined: kafkajs's Long arithmetic instead). */
interface BatchBase {
  offset: number | undefined;
  timestamp: number | undefined;
  /** LOG_APPEND_TIME with a max timestamp: every record's timestamp is that (kafkajs's rule). */
  appendTime: boolean;
}

/** A safe integer whose decimal string is the one given (so base + delta printed equals Long's sum). */
function exactNumber(value: unknown): number | undefined {
  if (typeof value === 'string') {
    const number = Number(value);
    return Number.isSafeInteger(number) && String(number) === value ? number : undefined;
  }
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

// One batch's records are decoded one after the other (kafkajs's batch decoder
// loops over them synchronously), so the last context is the only one worth
// keeping; it holds only the batch's header fields.
let cachedContext: BatchContext | undefined;
let cachedBase: BatchBase = { offset: undefined, timestamp: undefined, appendTime: false };

function baseOf(context: BatchContext): BatchBase {
  if (context !== cachedContext) {
    cachedBase = {
      offset: exactNumber(context.firstOffset),
      timestamp: exactNumber(context.firstTimestamp),
      appendTime: context.timestampType === LOG_APPEND_TIME && Boolean(context.maxTimestamp),
    };
    cachedContext = context;
  }
  return cachedBase;
}

// Where the last read ended (a module variable rather than a returned pair: no allocation per field).
let position = 0;
// Set when a length below -1 (malformed) moved the reading backwards: see decodeRecordWithin.
let movedBack = false;

/** kafkajs's Decoder.readVarInt, step for step (the same 32-bit arithmetic, the same result for a malformed varint). */
function readVarInt(buffer: Buffer, at: number): number {
  let byte: number;
  let result = 0;
  let shift = 0;
  do {
    byte = buffer[at++]!;
    result += (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  position = at;
  return (result >>> 1) ^ -(result & 1);
}

/** kafkajs's Decoder.readVarIntBytes: a view of the buffer (kafkajs slices, it does not copy), null for length -1. */
function readBytes(buffer: Buffer, at: number): Buffer | null {
  const length = readVarInt(buffer, at);
  if (length === -1) return null;
  if (length < 0) movedBack = true;
  at = position;
  position = at + length;
  return buffer.subarray(at, at + length);
}

/** kafkajs's Decoder.readVarIntString: a header name. */
function readName(buffer: Buffer, at: number): string | null {
  const length = readVarInt(buffer, at);
  if (length === -1) return null;
  if (length < 0) movedBack = true;
  at = position;
  position = at + length;
  return buffer.subarray(at, at + length).toString('utf8');
}

/**
 * The headers as kafkajs's reduce builds them: one value per key, a repeated
 * key's values in an array in order. Its test `obj[key] === undefined` sees
 * inherited members too (a header named "toString" becomes [the function,
 * value]), and its spread makes even "__proto__" an own property: kept so.
 */
function readHeaders(buffer: Buffer, at: number): Record<string, unknown> {
  const count = readVarInt(buffer, at);
  const headers: Record<string, unknown> = {};
  if (count === -1) return headers;
  if (count < 0) throw new RangeError('Invalid array length'); // kafkajs's new Array(count)
  for (let index = 0; index < count; index++) {
    const key = String(readName(buffer, position));
    const value = readBytes(buffer, position);
    const existing = headers[key];
    const entry = existing === undefined ? value : Array.isArray(existing) ? (existing.push(value), existing) : [existing, value];
    if (key === '__proto__') Object.defineProperty(headers, key, { value: entry, writable: true, enumerable: true, configurable: true });
    else headers[key] = entry;
  }
  return headers;
}

export function decodeRecord(decoder: RecordSource, batchContext: BatchContext = {}): DecodedRecord {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, maxTimestamp } = batchContext;
  const base = baseOf(batchContext);
  const buffer = decoder.buffer;
  let at = decoder.offset;
  const attributes = buffer.readInt8(at++);

  // The timestamp delta in a number while it has at most 7 bytes (< 2^49: exact).
  const deltaStart = at;
  let byte = buffer[at++]!;
  let raw = byte & 0x7f;
  for (let scale = 0x80; byte >= 0x80 && scale < 2 ** 49; scale *= 0x80) {
    byte = buffer[at++]!;
    raw += (byte & 0x7f) * scale;
  }
  let timestampDelta: number | KafkaLong;
  if (byte >= 0x80) {
    decoder.offset = deltaStart;
    timestampDelta = decoder.readVarLong();
    at = decoder.offset;
  } else {
    timestampDelta = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }
  let timestamp: unknown;
  if (base.appendTime) timestamp = maxTimestamp;
  else {
    const sum = typeof timestampDelta === 'number' && base.timestamp !== undefined ? base.timestamp + timestampDelta : NaN;
    timestamp = Number.isSafeInteger(sum) ? String(sum) : Long.fromValue(firstTimestamp).add(timestampDelta).toString();
  }

  const offsetDelta = readVarInt(buffer, at);
  const offsetSum = base.offset !== undefined ? base.offset + offsetDelta : NaN;
  const offset = Number.isSafeInteger(offsetSum) ? String(offsetSum) : Long.fromValue(firstOffset).add(offsetDelta).toString();

  const key = readBytes(buffer, position);
  const value = readBytes(buffer, position);
  const headers = readHeaders(buffer, position);
  decoder.offset = position;

  return {
    magicByte,
    attributes, // Record level attributes are presently unused
    timestamp,
    offset,
    key,
    value,
    headers,
    isControlRecord: isControlBatch,
    batchContext,
  };
}

/**
 * The record in the `length` bytes at the decoder's offset, read in place
 * (kafkajs's batch decoder gives each record a Buffer view and a Decoder of
 * its own), the decoder left at their end; or undefined when the reading did
 * not stay within those bytes (a malformed record: the caller reads it again
 * as kafkajs does, from a view of exactly those bytes, which gives kafkajs's
 * result or error). Within them, both readings see the same bytes.
 */
export function decodeRecordWithin(decoder: RecordSource, length: number, batchContext: BatchContext): DecodedRecord | undefined {
  const end = decoder.offset + length;
  if (length < 0) return undefined;
  movedBack = false;
  let record: DecodedRecord;
  try {
    record = decodeRecord(decoder, batchContext);
  } catch {
    return undefined;
  }
  if (movedBack || decoder.offset > end) return undefined;
  decoder.offset = end;
  return record;
}
