/**
 * kafkajs 2.2.4 encodes each record of a produce request (a v2 record,
 * protocol/recordBatch/record/v0) through an Encoder that writes every varint
 * as a new Buffer made from an array, the timestamp delta through Long
 * objects, and grows its own buffer by copying: about a dozen allocations per
 * record, the largest single cost of a source's CPU profile. This writes the
 * same bytes into one Buffer sized beforehand (produce-request.ts, which
 * replaces kafkajs's produce request, calls it for each message).
 *
 * The record (Kafka's DefaultRecord, KIP-98):
 *   length varint (of what follows), attributes int8 (0),
 *   timestampDelta varlong, offsetDelta varint,
 *   key varint length (-1: null) + bytes, value varint length (-1: null) + bytes,
 *   header count varint, each: key varint length + UTF-8, value varint length (-1: null) + bytes.
 * Varints are zigzag-encoded LEB128.
 */

type Bytes = Buffer | string | null | undefined;

/** What a record takes from a produced message. */
export interface RecordContent {
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[] | undefined>;
}

/** What kafkajs's record batch takes from a record: its bytes as an Encoder shows them (`buf`, `buffer`, `size()`). */
export interface EncodedRecord {
  readonly buf: Buffer;
  readonly buffer: Buffer;
  size(): number;
}

/** An encoded record (a class: no closure made per record for size()). */
class RecordBytes implements EncodedRecord {
  readonly buf: Buffer;
  constructor(readonly buffer: Buffer) {
    this.buf = buffer;
  }
  size(): number {
    return this.buffer.length;
  }
}

/** Zigzag of a safe integer (Kafka's 64-bit zigzag, in numbers: no Long needed below 2^52). */
function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function sizeOfUnsigned(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

function writeUnsigned(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[offset++] = value;
  return offset;
}

function byteLength(value: Bytes): number {
  if (value === null || value === undefined) return -1;
  return Buffer.isBuffer(value) ? value.length : Buffer.byteLength(String(value), 'utf8');
}

function sizeOfBytes(length: number): number {
  return sizeOfUnsigned(zigzag(length)) + Math.max(0, length);
}

function writeBytes(buffer: Buffer, offset: number, value: Bytes, length: number): number {
  offset = writeUnsigned(buffer, offset, zigzag(length));
  if (length <= 0) return offset;
  if (Buffer.isBuffer(value)) return offset + value.copy(buffer, offset);
  return offset + buffer.write(String(value), offset, length, 'utf8');
}

/** A message's record; its deltas given apart from it, so that the produce request passes each message as it is, not a copy with its deltas added. */
export function encodeMessageRecord(content: RecordContent, offsetDelta: number, timestampDelta: number): EncodedRecord {
  const { key, value, headers = {} } = content;
  const headerList: [string, Bytes][] = [];
  for (const name of Object.keys(headers)) {
    const entry = headers[name];
    if (Array.isArray(entry)) for (const item of entry) headerList.push([name, item]);
    else headerList.push([name, entry]);
  }
  const timestamp = zigzag(Number(timestampDelta));
  const offset = zigzag(offsetDelta);
  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  const headerLengths = headerList.map(([name, item]) => [Buffer.byteLength(name, 'utf8'), byteLength(item)] as const);
  let body = 1 + sizeOfUnsigned(timestamp) + sizeOfUnsigned(offset) + sizeOfBytes(keyLength) + sizeOfBytes(valueLength) + sizeOfUnsigned(zigzag(headerList.length));
  for (const [nameLength, itemLength] of headerLengths) body += sizeOfBytes(nameLength) + sizeOfBytes(itemLength);

  const buffer = Buffer.allocUnsafe(sizeOfUnsigned(zigzag(body)) + body);
  let at = writeUnsigned(buffer, 0, zigzag(body));
  buffer[at++] = 0; // attributes: none used
  at = writeUnsigned(buffer, at, timestamp);
  at = writeUnsigned(buffer, at, offset);
  at = writeBytes(buffer, at, key, keyLength);
  at = writeBytes(buffer, at, value, valueLength);
  at = writeUnsigned(buffer, at, zigzag(headerList.length));
  headerList.forEach(([name, item], index) => {
    const [nameLength, itemLength] = headerLengths[index]!;
    at = writeBytes(buffer, at, name, nameLength);
    at = writeBytes(buffer, at, item, itemLength);
  });
  if (at !== buffer.length) throw new Error(`record encoder: wrote ${at} bytes of ${buffer.length}`);
  return new RecordBytes(buffer);
}
