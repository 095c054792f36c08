/**
 * ClickHouse's RowBinary input format, built from a row's cells (rows.ts: a
 * value's text, or the decoded number, bigint or boolean itself for columns
 * with a raw kind, written without text in between) or, for rows resolved
 * from other rows, from its TabSeparated fields. Floats go to the server as their IEEE-754
 * bytes: 18.16's text float parser is off by one ulp for some values
 * (`toFloat64('2.857142857142857') = 20/7` is 0 there) and reads `5e-324` as
 * 0, while JavaScript's Number() of our shortest-round-trip text is exact.
 *
 * Encoders are built from the column types as ClickHouse has them (a column
 * the table has as Nullable(T) while the event's schema says T must still be
 * written with the Nullable byte). Layout per type (the same on 18.16 and
 * current servers): integers and floats little-endian; Nullable a 0/1 byte
 * (1 = NULL) before the value; String a LEB128 length and the bytes; Date
 * UInt16 days; DateTime UInt32 seconds; DateTime64(p) Int64 ticks; Decimal
 * the scaled integer in 4, 8 or 16 bytes; UUID two UInt64 halves, each
 * little-endian, high half first; Array a LEB128 count and the elements.
 */
import { rememberLast } from './remember-last.js';
import { unescapeTsv } from './tsv.js';
import type { ColumnMapping, RawKind } from './type-mapping.js';

/** Bytes appended to a growing buffer (one per insert). */
export class ByteWriter {
  private buffer: Buffer;
  length = 0;

  constructor(capacity = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  private ensure(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  /** LEB128, as RowBinary writes string lengths and array sizes. */
  varUInt(value: number): void {
    this.ensure(10);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  int(value: number, bytes: 1 | 2 | 4, signed: boolean): void {
    this.ensure(bytes);
    const buffer = this.buffer;
    if (bytes === 1) this.length = signed ? buffer.writeInt8(value, this.length) : buffer.writeUInt8(value, this.length);
    else if (bytes === 2) this.length = signed ? buffer.writeInt16LE(value, this.length) : buffer.writeUInt16LE(value, this.length);
    else this.length = signed ? buffer.writeInt32LE(value, this.length) : buffer.writeUInt32LE(value, this.length);
  }

  /** A 64-bit integer; `value` a safe integer or a bigint. */
  int64(value: number | bigint, signed: boolean): void {
    this.ensure(8);
    if (typeof value === 'number') {
      // Two 32-bit halves: exact for safe integers, and no bigint on the common path.
      const high = Math.floor(value / 0x1_0000_0000);
      this.buffer.writeUInt32LE(value - high * 0x1_0000_0000, this.length);
      if (high < 0) this.buffer.writeInt32LE(high, this.length + 4);
      else this.buffer.writeUInt32LE(high, this.length + 4);
      this.length += 8;
    } else {
      this.length = signed ? this.buffer.writeBigInt64LE(value, this.length) : this.buffer.writeBigUInt64LE(value, this.length);
    }
  }

  /** A 128-bit two's-complement integer, little-endian. */
  int128(value: bigint): void {
    const unsigned = BigInt.asUintN(128, value);
    this.ensure(16);
    this.buffer.writeBigUInt64LE(unsigned & 0xffff_ffff_ffff_ffffn, this.length);
    this.buffer.writeBigUInt64LE(unsigned >> 64n, this.length + 8);
    this.length += 16;
  }

  float32(value: number): void {
    this.ensure(4);
    this.length = this.buffer.writeFloatLE(value, this.length);
  }

  float64(value: number): void {
    this.ensure(8);
    this.length = this.buffer.writeDoubleLE(value, this.length);
  }

  string(text: string): void {
    if (text.length < 43) {
      // At most 3 UTF-8 bytes per UTF-16 unit: under 128 bytes, so a one-byte length; written in one pass.
      this.ensure(1 + text.length * 3);
      const written = this.buffer.write(text, this.length + 1, 'utf8');
      this.buffer[this.length] = written;
      this.length += 1 + written;
      return;
    }
    const bytes = Buffer.byteLength(text);
    this.varUInt(bytes);
    this.ensure(bytes);
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  /** A copy of what was written since `from`. */
  slice(from = 0): Buffer {
    return Buffer.from(this.buffer.subarray(from, this.length));
  }

  /** The bytes from `from` to `to`, not copied: valid until the writer is reset and written again. */
  view(from: number, to: number): Buffer {
    return this.buffer.subarray(from, to);
  }

  reset(): void {
    this.length = 0;
  }
}

/** A value ClickHouse would refuse (or store as something else); the row is dead-lettered with this message. */
export class RowBinaryValueError extends Error {}

/** Writes one value given as text (unescaped), or null. */
type ValueEncoder = (text: string | null, out: ByteWriter) => void;

/** Writes one TabSeparated field (escaped, `\N` for NULL, an array literal for arrays). */
export type FieldEncoder = (field: string, out: ByteWriter) => void;

const INTEGER = /^-?\d+$/;

function notNull(type: string, text: string | null): string {
  if (text === null) throw new RowBinaryValueError(`NULL for the non-Nullable ${type} column`);
  return text;
}

function integerEncoder(type: string, bits: 8 | 16 | 32 | 64, signed: boolean): ValueEncoder {
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return (text, out) => {
    const value = notNull(type, text);
    const number = Number(value);
    // Fast path: the text is a safe integer in range (the regex only when it may not be).
    if (bits !== 64 && Number.isInteger(number) && number >= min && number <= max && value !== '' && INTEGER.test(value)) return out.int(number, (bits / 8) as 1 | 2 | 4, signed);
    if (!INTEGER.test(value)) throw new RowBinaryValueError(`"${value}" is not an integer (${type})`);
    if (bits === 64) {
      if (Number.isSafeInteger(number) && (signed || number >= 0)) return out.int64(number, signed);
      const big = BigInt(value);
      if (big !== (signed ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big))) throw new RowBinaryValueError(`${value} is out of range for ${type}`);
      return out.int64(big, signed);
    }
    if (number < min || number > max) throw new RowBinaryValueError(`${value} is out of range for ${type}`);
    out.int(number, (bits / 8) as 1 | 2 | 4, signed);
  };
}

/**
 * The float of a text: JavaScript's shortest round-trip form (as the sink
 * writes it) or ClickHouse's (as a stored row reads back), both exact under
 * Number(); plus the special values in both spellings.
 */
export function parseFloatText(text: string): number {
  switch (text) {
    case 'nan':
    case '-nan':
    case 'NaN':
      return Number.NaN;
    case 'inf':
    case '+inf':
    case 'Infinity':
      return Number.POSITIVE_INFINITY;
    case '-inf':
    case '-Infinity':
      return Number.NEGATIVE_INFINITY;
    default: {
      const value = Number(text);
      if (text.trim() === '' || Number.isNaN(value)) throw new RowBinaryValueError(`"${text}" is not a floating-point number`);
      return value;
    }
  }
}

function decimalEncoder(type: string, precision: number, scale: number): ValueEncoder {
  const limit = 10n ** BigInt(precision);
  const bytes = precision <= 9 ? 4 : precision <= 18 ? 8 : 16;
  const numberLimit = precision <= 15 ? 10 ** precision : 0;
  return (text, out) => {
    const value = notNull(type, text);
    if (numberLimit > 0 && value.length <= 16) {
      // Fast path, exact in doubles: at most 15 digits, and no more decimals
      // than the scale. The text is read by hand as -?\d+(\.\d+)?, its digits
      // into one integer (exact below 2^53; more digits fail the limit anyway).
      const negative = value.charCodeAt(0) === 0x2d;
      const start = negative ? 1 : 0;
      let digits = 0;
      let dot = -1;
      let valid = start < value.length;
      for (let at = start; valid && at < value.length; at++) {
        const code = value.charCodeAt(at);
        if (code >= 0x30 && code <= 0x39) digits = digits * 10 + (code - 0x30);
        else if (code === 0x2e && dot < 0 && at > start && at < value.length - 1) dot = at;
        else valid = false;
      }
      const decimals = dot < 0 ? 0 : value.length - dot - 1;
      if (valid && decimals <= scale) {
        const scaled = (negative ? -digits : digits) * 10 ** (scale - decimals);
        if (Math.abs(scaled) >= numberLimit) throw new RowBinaryValueError(`${value} does not fit ${type}`);
        if (bytes === 4) out.int(scaled, 4, true);
        else out.int64(scaled === 0 ? 0 : scaled, true);
        return;
      }
    }
    const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
    if (!match) throw new RowBinaryValueError(`"${value}" is not a decimal number (${type})`);
    const fraction = match[3] ?? '';
    if (fraction.length > scale && !/^0*$/.test(fraction.slice(scale))) throw new RowBinaryValueError(`${value} has more than ${scale} decimal places (${type})`);
    const digits = BigInt(`${match[2]}${fraction.slice(0, scale).padEnd(scale, '0')}`);
    if (digits >= limit) throw new RowBinaryValueError(`${value} does not fit ${type}`);
    const scaled = match[1] === '-' ? -digits : digits;
    if (bytes === 16) out.int128(scaled);
    else if (bytes === 8) out.int64(scaled, true);
    else out.int(Number(scaled), 4, true);
  };
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/** Milliseconds since the epoch of a UTC date and time (Date.UTC takes years below 100 as 19xx). */
function utcMillis(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** The last date part parsed and its seconds since the epoch: rows of a batch mostly share a day. */
let lastDay = '';
let lastDaySeconds = 0;

const digit = (text: string, at: number): number => text.charCodeAt(at) - 48;
function isDigits(text: string, from: number, to: number): boolean {
  for (let at = from; at < to; at++) if (text.charCodeAt(at) < 48 || text.charCodeAt(at) > 57) return false;
  return true;
}
const twoDigits = (text: string, at: number): number => digit(text, at) * 10 + digit(text, at + 1);

/** Seconds since the epoch (UTC) of 'YYYY-MM-DD hh:mm:ss[.f]', and the fraction digits. */
function dateTimeParts(type: string, text: string): { seconds: number; fraction: string } {
  if ((text.length === 19 || (text.length > 20 && text[19] === '.')) && text.slice(0, 10) === lastDay && text[10] === ' ' && text[13] === ':' && text[16] === ':') {
    const hours = twoDigits(text, 11);
    const minutes = twoDigits(text, 14);
    const seconds = twoDigits(text, 17);
    if (hours < 24 && minutes < 60 && seconds < 60 && isDigits(text, 11, 13) && isDigits(text, 14, 16) && isDigits(text, 17, 19) && (text.length === 19 || isDigits(text, 20, text.length))) {
      return { seconds: lastDaySeconds + hours * 3600 + minutes * 60 + seconds, fraction: text.length === 19 ? '' : text.slice(20) };
    }
  }
  const match = DATE_TIME.exec(text);
  if (!match) throw new RowBinaryValueError(`"${text}" is not a date and time (${type})`);
  const [, year, month, day, hour, minute, second, fraction] = match;
  lastDay = text.slice(0, 10);
  lastDaySeconds = utcMillis(Number(year), Number(month), Number(day)) / 1000;
  return { seconds: utcMillis(Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second)) / 1000, fraction: fraction ?? '' };
}

function dateEncoder(type: string): ValueEncoder {
  const daysOf = rememberLast((value: string) => {
    const match = DATE.exec(value);
    if (!match) throw new RowBinaryValueError(`"${value}" is not a date (${type})`);
    const days = utcMillis(Number(match[1]), Number(match[2]), Number(match[3])) / 86_400_000;
    if (days < 0 || days > 0xffff) throw new RowBinaryValueError(`${value} is outside the range of ${type} (1970-01-01 to 2149-06-06)`);
    return days;
  });
  return (text, out) => out.int(daysOf(notNull(type, text)), 2, false);
}

function dateTimeEncoder(type: string): ValueEncoder {
  const secondsOf = rememberLast((value: string) => {
    const { seconds } = dateTimeParts(type, value);
    if (seconds < 0 || seconds > 0xffff_ffff) throw new RowBinaryValueError(`${value} is outside the range of ${type} (1970 to 2106)`);
    return seconds;
  });
  return (text, out) => out.int(secondsOf(notNull(type, text)), 4, false);
}

function dateTime64Encoder(type: string, precision: number): ValueEncoder {
  const factor = 10 ** precision;
  const ticksOf = rememberLast((value: string) => {
    const { seconds, fraction } = dateTimeParts(type, value);
    const ticks = Number(fraction.padEnd(precision, '0').slice(0, precision) || '0');
    const total = seconds * factor + ticks;
    return Number.isSafeInteger(total) ? total : BigInt(seconds) * BigInt(factor) + BigInt(ticks);
  });
  return (text, out) => out.int64(ticksOf(notNull(type, text)), true);
}

function uuidEncoder(type: string): ValueEncoder {
  return (text, out) => {
    const value = notNull(type, text);
    const hex = value.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RowBinaryValueError(`"${value}" is not a UUID`);
    out.int64(BigInt(`0x${hex.slice(0, 16)}`), false);
    out.int64(BigInt(`0x${hex.slice(16)}`), false);
  };
}

/** `'...'` with the backslash escapes ClickHouse's quoted-string reader takes. */
function unquote(text: string): string {
  const body = text.slice(1, -1);
  if (!body.includes('\\')) return body;
  const map: Record<string, string> = { b: '\b', f: '\f', r: '\r', n: '\n', t: '\t', '0': '\0', a: '\x07', v: '\v' };
  return body.replace(/\\(x[0-9a-fA-F]{2}|.)/gs, (_, escape: string) => (escape.length === 3 ? String.fromCharCode(parseInt(escape.slice(1), 16)) : (map[escape] ?? escape)));
}

/**
 * The elements of an array literal (`[1,NULL,'a\'b',[2]]`, as the sink writes
 * it and ClickHouse prints it): quoted strings unquoted, NULL as null, nested
 * arrays and bare values as their text.
 */
export function splitArrayLiteral(literal: string): (string | null)[] {
  const text = literal.trim();
  if (!text.startsWith('[') || !text.endsWith(']')) throw new RowBinaryValueError(`"${literal}" is not an array`);
  const items: (string | null)[] = [];
  let at = 1;
  const end = text.length - 1;
  while (at < end) {
    while (text[at] === ' ') at++;
    let item: string;
    if (text[at] === "'") {
      let close = at + 1;
      while (close < end && text[close] !== "'") close += text[close] === '\\' ? 2 : 1;
      item = text.slice(at, close + 1);
      at = close + 1;
    } else if (text[at] === '[') {
      let depth = 0;
      let close = at;
      for (; close < end; close++) {
        const char = text[close];
        if (char === "'") {
          close++;
          while (close < end && text[close] !== "'") close += text[close] === '\\' ? 2 : 1;
        } else if (char === '[') depth++;
        else if (char === ']' && --depth === 0) break;
      }
      item = text.slice(at, close + 1);
      at = close + 1;
    } else {
      let comma = text.indexOf(',', at);
      if (comma < 0 || comma > end) comma = end;
      item = text.slice(at, comma).trim();
      at = comma;
    }
    items.push(item === 'NULL' ? null : item.startsWith("'") ? unquote(item) : item);
    while (text[at] === ' ') at++;
    if (at < end && text[at] !== ',') throw new RowBinaryValueError(`"${literal}" is not an array literal`);
    at++;
  }
  return items;
}

/** Splits `A, B` at the top-level comma (type arguments). */
function typeArguments(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, index).trim());
      start = index + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/** UTC, or no time zone (18.16 then uses the server's, which the sink never creates). */
function isUtc(argument: string | undefined): boolean {
  return argument === undefined || argument === "'UTC'";
}

/**
 * Writes a raw value (a row cell of a column with a raw kind) straight as
 * the bytes its text would give, and returns true; returns false, writing
 * nothing, for a value it does not take (out of range, a bigint, a type it
 * has no shortcut for): that value then goes the way of its text, which
 * writes it or refuses it with the reason.
 */
type RawWriter = (value: unknown, out: ByteWriter) => boolean;

const INTEGER_TYPES: Readonly<Record<string, [bits: 8 | 16 | 32 | 64, signed: boolean]>> = {
  Int8: [8, true],
  Int16: [16, true],
  Int32: [32, true],
  Int64: [64, true],
  UInt8: [8, false],
  UInt16: [16, false],
  UInt32: [32, false],
  UInt64: [64, false],
};

function rawIntegerWriter(bits: 8 | 16 | 32 | 64, signed: boolean): RawWriter {
  if (bits === 64) {
    return (value, out) => {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || (!signed && value < 0)) return false;
      out.int64(value, signed);
      return true;
    };
  }
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const bytes = (bits / 8) as 1 | 2 | 4;
  return (value, out) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) return false;
    out.int(value, bytes, signed);
    return true;
  };
}

/** The shortcut of a raw kind into a ClickHouse type (without Nullable), where the bytes are plain to get right. */
function rawWriter(kind: RawKind, type: string): RawWriter | undefined {
  const integer = INTEGER_TYPES[type];
  switch (kind) {
    case 'integer':
      return integer ? rawIntegerWriter(...integer) : undefined;
    case 'boolean':
      return integer?.[0] === 8 ? (value, out) => (out.u8(value === true ? 1 : 0), true) : undefined;
    case 'float':
      // NaN as the same NaN the text 'nan' gives.
      if (type === 'Float64') return (value, out) => (out.float64(Number.isNaN(value) ? Number.NaN : (value as number)), true);
      if (type === 'Float32') return (value, out) => (out.float32(Number.isNaN(value) ? Number.NaN : (value as number)), true);
      return undefined;
    case 'days':
      // 1970-01-01 to 2149-06-06: the range of Date, outside which the text refuses the value.
      return type === 'Date' ? (value, out) => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffff && (out.int(value as number, 2, false), true) : undefined;
    case 'micros': {
      // From 1970 on (earlier ones go the way of their text); DateTime truncates to whole seconds, as the text does.
      if (/^DateTime64\(6(?:, 'UTC')?\)$/.test(type)) return (value, out) => Number.isSafeInteger(value) && (value as number) >= 0 && (out.int64(value as number, true), true);
      if (/^DateTime(?:\('UTC'\))?$/.test(type)) {
        return (value, out) => {
          if (!Number.isSafeInteger(value) || (value as number) < 0) return false;
          const seconds = Math.floor((value as number) / 1_000_000);
          if (seconds > 0xffff_ffff) return false;
          out.int(seconds, 4, false);
          return true;
        };
      }
      return undefined;
    }
  }
}

/**
 * The encoder of a row's cells for one column (rows.ts): null is NULL (`[]`
 * for an array), a string is the value's text, anything else the raw value
 * of the column's raw kind (mapping.raw; written straight when rawWriter
 * takes it, else through its text, mapping.format). The bytes are those the
 * column's TabSeparated field gives through fieldEncoder. Undefined for a
 * type without a RowBinary encoder here.
 */
export function cellEncoder(type: string, mapping: Pick<ColumnMapping, 'format' | 'raw'>): CellEncoder | undefined {
  const trimmed = type.trim();
  const nullable = /^Nullable\((.*)\)$/s.exec(trimmed);
  const inner = nullable ? nullable[1]!.trim() : trimmed;
  const value = valueEncoder(inner);
  if (!value) return undefined;
  if (/^Array\(/.test(trimmed)) return (cell, out) => value(cell === null ? '[]' : (cell as string), out);
  const raw = mapping.raw ? rawWriter(mapping.raw, inner) : undefined;
  const present: CellEncoder = raw
    ? (cell, out) => {
        if (typeof cell !== 'string' && raw(cell, out)) return;
        value(typeof cell === 'string' ? cell : mapping.format(cell), out);
      }
    : (cell, out) => value(typeof cell === 'string' ? cell : mapping.format(cell), out);
  if (!nullable) return (cell, out) => (cell === null ? value(null, out) : present(cell, out));
  return (cell, out) => {
    if (cell === null) return out.u8(1);
    out.u8(0);
    present(cell, out);
  };
}

/** Writes one cell of a row: null (NULL), a value's text, or a raw value (cellEncoder). */
export type CellEncoder = (cell: unknown, out: ByteWriter) => void;

/** The encoder of one ClickHouse type; undefined for a type the sink does not write in RowBinary. */
function valueEncoder(type: string): ValueEncoder | undefined {
  const compound = /^(\w+)\((.*)\)$/s.exec(type.trim());
  if (compound) {
    const [, name, inner] = compound as unknown as [string, string, string];
    const args = typeArguments(inner);
    switch (name) {
      case 'Nullable': {
        const value = valueEncoder(inner);
        if (!value) return undefined;
        return (text, out) => {
          if (text === null) return out.u8(1);
          out.u8(0);
          value(text, out);
        };
      }
      case 'LowCardinality':
        // The same bytes as the type itself in RowBinary.
        return valueEncoder(inner);
      case 'Array': {
        const element = valueEncoder(inner);
        if (!element) return undefined;
        return (text, out) => {
          const items = splitArrayLiteral(notNull(type, text));
          out.varUInt(items.length);
          for (const item of items) element(item, out);
        };
      }
      case 'Decimal':
        return decimalEncoder(type, Number(args[0]), Number(args[1]));
      case 'Decimal32':
        return decimalEncoder(type, 9, Number(args[0]));
      case 'Decimal64':
        return decimalEncoder(type, 18, Number(args[0]));
      case 'Decimal128':
        return decimalEncoder(type, 38, Number(args[0]));
      case 'DateTime':
        return isUtc(args[0]) ? dateTimeEncoder(type) : undefined;
      case 'DateTime64':
        return isUtc(args[1]) ? dateTime64Encoder(type, Number(args[0])) : undefined;
      default:
        return undefined;
    }
  }
  switch (type.trim()) {
    case 'Int8':
      return integerEncoder(type, 8, true);
    case 'Int16':
      return integerEncoder(type, 16, true);
    case 'Int32':
      return integerEncoder(type, 32, true);
    case 'Int64':
      return integerEncoder(type, 64, true);
    case 'UInt8':
      return integerEncoder(type, 8, false);
    case 'UInt16':
      return integerEncoder(type, 16, false);
    case 'UInt32':
      return integerEncoder(type, 32, false);
    case 'UInt64':
      return integerEncoder(type, 64, false);
    case 'Float32':
      return (text, out) => out.float32(parseFloatText(notNull(type, text)));
    case 'Float64':
      return (text, out) => out.float64(parseFloatText(notNull(type, text)));
    case 'String':
      return (text, out) => out.string(notNull(type, text));
    case 'Date':
      return dateEncoder(type);
    case 'DateTime':
      return dateTimeEncoder(type);
    case 'UUID':
      return uuidEncoder(type);
    default:
      return undefined;
  }
}

/**
 * The encoder of a column's TabSeparated fields: `\N` is NULL, an array
 * literal is parsed as it is (TabSeparated escaping never applies inside
 * it), other fields are unescaped first. Undefined for a type without a
 * RowBinary encoder here (the insert then stays TabSeparated).
 */
export function fieldEncoder(type: string): FieldEncoder | undefined {
  const trimmed = type.trim();
  const nullable = /^Nullable\((.*)\)$/s.exec(trimmed);
  // Nullable(T) here rather than through valueEncoder: one closure less per field.
  const value = valueEncoder(nullable ? nullable[1]! : trimmed);
  if (!value) return undefined;
  if (/^Array\(/.test(trimmed)) return value;
  // Only string values can hold what TabSeparated escapes; numbers, dates and UUIDs never do.
  const text = /String/.test(trimmed) ? unescapeTsv : (field: string) => field;
  if (!nullable) return (field, out) => value(field === '\\N' ? null : text(field), out);
  return (field, out) => {
    if (field === '\\N') return out.u8(1);
    out.u8(0);
    value(text(field), out);
  };
}
