/**
 * avsc Types compiled from Avro schemas, with three primitives replaced so that
 * values come out (and go in) in the neutral shape the JSON format gives:
 *
 *  - long: a number while exact, a bigint beyond 2^53 (avsc's own long throws
 *    there); both are accepted when writing, and so is an integer number
 *    beyond 2^53 (written as its exact value, as JSON prints it). avsc's
 *    writer zigzags in doubles (-2n - 1 for a negative n), which is not
 *    exact below -2^52: -(2^52 + 1) read back as 2^52. Values beyond ±2^52
 *    are written through BigInt. Reading is one pass in numbers up to 7
 *    bytes.
 *  - bytes (and Connect's Decimal, bytes underneath): base64 text, as
 *    JsonConverter writes bytes; base64 text or a Buffer when writing.
 *  - float: the shortest decimal that reads back as the same 32-bit float
 *    (Java's Float.toString, which JsonConverter prints), so a float4 column
 *    reads 3.14, not 3.140000104904175.
 *  - string (reading): each string field compares a short ASCII value with
 *    its own last one before decoding it, and returns that same string when
 *    the bytes are equal. Most of an event's strings repeat event after event
 *    (the source block: version, connector, name, db, schema, table, ...):
 *    they are then neither decoded nor allocated again.
 *
 * Replacing them in the Types (a typeHook) rather than walking each value
 * keeps encoding and decoding one pass of avsc's compiled readers and writers.
 * The custom long and bytes types are "abstract" to avsc, so unions of null
 * and them pick their branch by the value (number or bigint; string or Buffer).
 */
import avro from 'avsc';

type Tap = {
  buf: Buffer & { utf8Slice(start: number, end: number): string };
  pos: number;
  _invalidate(): void;
  readLong(): number;
  writeLong(value: number): void;
  skipLong(): void;
  readBytes(): Buffer;
  writeBytes(value: Buffer): void;
  readString(): string;
  readFloat(): number;
};
type Resolver = { _read: (tap: Tap) => unknown };
type TypeWithName = { typeName: string; _read(tap: Tap): unknown };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Reads a zigzag varint long exactly: in numbers while it has at most 7
 * bytes (49 bits, exact in a double), in one pass as avsc's readLong reads
 * it; else again from its start as a BigInt. A varint cut off by the end of
 * the buffer leaves pos past it, which the decode reports as truncated.
 */
function readExactLong(tap: Tap): number | bigint {
  const buf = tap.buf;
  const start = tap.pos;
  let at = start;
  let byte = buf[at++]!;
  let small = byte & 0x7f;
  // Up to 4 bytes (28 bits): 32-bit integer arithmetic.
  for (let shift = 7; byte & 0x80 && shift < 28; shift += 7) {
    byte = buf[at++]!;
    small |= (byte & 0x7f) << shift;
  }
  if (!(byte & 0x80)) {
    tap.pos = at;
    return (small >> 1) ^ -(small & 1);
  }
  // 5 to 7 bytes: double arithmetic, exact below 2^49.
  let value = small;
  for (let scale = 2 ** 28; byte & 0x80 && at - start < 7; scale *= 0x80) {
    byte = buf[at++]!;
    value += (byte & 0x7f) * scale;
  }
  if (!(byte & 0x80)) {
    tap.pos = at;
    return value % 2 ? -(value + 1) / 2 : value / 2;
  }
  let end = at;
  while (end < buf.length && buf[end]! & 0x80) end++;
  let zigzag = 0n;
  let shift = 0n;
  for (let index = start; index <= end; index++) {
    zigzag |= BigInt(buf[index]! & 0x7f) << shift;
    shift += 7n;
  }
  tap.pos = end + 1;
  const exact = zigzag & 1n ? -(zigzag >> 1n) - 1n : zigzag >> 1n;
  return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact;
}

function writeBigLong(tap: Tap, value: bigint): void {
  let zigzag = value >= 0n ? value << 1n : ((-value) << 1n) - 1n;
  zigzag = BigInt.asUintN(64, zigzag);
  const buf = tap.buf;
  do {
    let byte = Number(zigzag & 0x7fn);
    zigzag >>= 7n;
    if (zigzag > 0n) byte |= 0x80;
    // A write past the end is dropped by the Buffer; avsc sees pos beyond it and retries larger.
    buf[tap.pos++] = byte;
  } while (zigzag > 0n);
}

const TWO_POW_63 = 2 ** 63;
const TWO_POW_52 = 2 ** 52;

function isInt64(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= -TWO_POW_63 && value < TWO_POW_63;
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

/** Strings up to this many bytes are compared with the field's last value before being decoded. */
const REPEATED_MAX_BYTES = 64;

/**
 * avsc's Tap.readString, remembering the last short value read: when the
 * next one has the same bytes and they are ASCII, that string is returned as
 * it is (equal ASCII bytes decode to the equal string); any other value is
 * decoded as avsc decodes it.
 */
function repeatedStringReader(): (tap: Tap) => string | undefined {
  let last = '';
  return (tap) => {
    const length = tap.readLong();
    if (length < 0) {
      tap._invalidate();
      return '';
    }
    const start = tap.pos;
    const buf = tap.buf;
    tap.pos += length;
    if (tap.pos > buf.length) return undefined;
    // The last byte first: values that differ mostly differ at their end (counters, ids).
    if (length === last.length && length <= REPEATED_MAX_BYTES && (length === 0 || buf[start + length - 1] === last.charCodeAt(length - 1))) {
      let at = 0;
      while (at < length && buf[start + at] === last.charCodeAt(at)) at++;
      if (at === length) return last;
    }
    const value = buf.utf8Slice(start, start + length);
    // As many characters as bytes: ASCII, or invalid bytes each read as U+FFFD,
    // which no byte equals, so such a value never matches.
    if (length <= REPEATED_MAX_BYTES && value.length === length) last = value;
    return value;
  };
}

const LongBase = avro.types.LongType as unknown as new () => object;
const StringBase = avro.types.StringType as unknown as new () => object;
const BytesBase = avro.types.BytesType as unknown as new () => object;
const FloatBase = avro.types.FloatType as unknown as new () => object;

class ExactLongType extends LongBase {}
Object.assign(ExactLongType.prototype, {
  typeName: 'abstract:long',
  _concreteTypeName: 'long',
  _check(value: unknown, _flags: unknown, hook?: (value: unknown, type: unknown) => void): boolean {
    const valid = isInt64(value);
    if (!valid && hook) hook(value, this);
    return valid;
  },
  _read: readExactLong,
  _write(tap: Tap, value: unknown): void {
    // avsc's writeLong zigzags in doubles (2n or -2n - 1): exact up to 2^52 only.
    if (typeof value === 'number' && Number.isInteger(value) && value <= TWO_POW_52 && value >= -TWO_POW_52) tap.writeLong(value);
    else if (isInt64(value)) writeBigLong(tap, BigInt(value as number | bigint));
    else throw new Error(`invalid "long": ${String(value)}`);
  },
  _update(resolver: Resolver, writer: TypeWithName): void {
    if (writer.typeName === 'int') resolver._read = (tap) => writer._read(tap);
    else if (writer.typeName === 'long' || writer.typeName === 'abstract:long') resolver._read = readExactLong;
  },
  _copy(value: unknown): unknown {
    return value;
  },
  _deref(): string {
    return 'long';
  },
  compare(a: number | bigint, b: number | bigint): number {
    return a < b ? -1 : a > b ? 1 : 0;
  },
});

function readBase64(tap: Tap): string {
  return tap.readBytes().toString('base64');
}

class Base64BytesType extends BytesBase {}
Object.assign(Base64BytesType.prototype, {
  typeName: 'abstract:bytes',
  _concreteTypeName: 'bytes',
  _check(value: unknown, _flags: unknown, hook?: (value: unknown, type: unknown) => void): boolean {
    const valid = typeof value === 'string' || Buffer.isBuffer(value);
    if (!valid && hook) hook(value, this);
    return valid;
  },
  _read: readBase64,
  _write(tap: Tap, value: unknown): void {
    if (typeof value === 'string') tap.writeBytes(Buffer.from(value, 'base64'));
    else if (Buffer.isBuffer(value)) tap.writeBytes(value);
    else throw new Error(`invalid "bytes": ${typeof value}`);
  },
  _update(resolver: Resolver, writer: TypeWithName): void {
    if (writer.typeName === 'bytes' || writer.typeName === 'abstract:bytes') resolver._read = readBase64;
    else if (writer.typeName === 'string') resolver._read = (tap) => Buffer.from(tap.readString()).toString('base64');
  },
  _copy(value: unknown): unknown {
    return value;
  },
  _deref(): string {
    return 'bytes';
  },
});

/** The shortest decimal form of a 32-bit float (what Java's Float.toString prints). */
export function shortestFloat(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

function readShortFloat(tap: Tap): number {
  return shortestFloat(tap.readFloat());
}

class ShortFloatType extends FloatBase {}
Object.assign(ShortFloatType.prototype, {
  _read: readShortFloat,
});

/**
 * A string type of its own per string field (typeHook makes one each time),
 * so that the last value is that field's. The reader is on a prototype of
 * its own because avsc freezes its types; a resolver takes the same function
 * (StringType's _update), and with it the field's last value.
 */
function repeatedStringType(): avro.Type {
  class FieldStringType extends StringBase {}
  Object.assign(FieldStringType.prototype, { _read: repeatedStringReader() });
  return new FieldStringType() as unknown as avro.Type;
}

const EXACT_LONG = new ExactLongType() as avro.Type;
const BASE64_BYTES = new Base64BytesType() as avro.Type;
const SHORT_FLOAT = new ShortFloatType() as avro.Type;

function primitiveName(schema: avro.Schema): string | undefined {
  if (typeof schema === 'string') return schema;
  if (schema && typeof schema === 'object' && !Array.isArray(schema)) return (schema as { type?: unknown }).type as string | undefined;
  return undefined;
}

function typeHook(schema: avro.Schema): avro.Type | undefined {
  switch (primitiveName(schema)) {
    case 'long':
      return EXACT_LONG;
    case 'bytes':
      return BASE64_BYTES;
    case 'float':
      return SHORT_FLOAT;
    case 'string':
      return repeatedStringType();
    default:
      return undefined;
  }
}

/** An avsc Type for `schema` (Avro schema JSON) that reads and writes the neutral value shape. */
export function compileType(schema: avro.Schema): avro.Type {
  return avro.Type.forSchema(schema, { typeHook, wrapUnions: 'auto', omitRecordMethods: true });
}
