/**
 * Connect schemas (from Debezium-shaped events) to ClickHouse column types and
 * to the text each value takes in a row's fields (TabSeparated text, which
 * row-binary.ts turns into the RowBinary bytes the insert sends).
 */
import { DECIMAL_PRECISION_PARAMETER, SemanticType, SourceTypeParameter, type ConnectSchema } from '../../core/connect-schema.js';
import { unscaledBase64ToDecimal } from '../../core/decimal.js';
import { rememberLast } from './remember-last.js';
import type { ServerFeatures } from './server.js';

/**
 * Decoded values a column keeps as they are until the insert encodes them
 * (rows.ts: a row's cells), instead of as text: integer (a number or bigint),
 * float (a number), boolean, days (Connect Date: days since the epoch, a
 * number), micros (MicroTimestamp: microseconds since the epoch, a number).
 */
export type RawKind = 'integer' | 'float' | 'boolean' | 'days' | 'micros';

/** Whether a decoded value has the shape a column of this raw kind keeps as it is. */
export function isRawShape(kind: RawKind, value: unknown): boolean {
  switch (kind) {
    case 'integer':
      return typeof value === 'number' || typeof value === 'bigint';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return typeof value === 'number';
  }
}

export interface ColumnMapping {
  /** ClickHouse type, Nullable(...) included when the column is optional. */
  type: string;
  /** Text of a non-null value (for arrays: the array literal). */
  format(value: unknown): string;
  /** The text of a non-null value, unescaped (format), or null when it is written as NULL (numeric NaN under `nonFiniteNumeric: null`). */
  text(value: unknown): string | null;
  /** A value's text as a TabSeparated field: escaped (an array literal is safe as it is). */
  escape(text: string): string;
  /** Values of this kind's shape (isRawShape) are kept as they are until encoded; absent: every value becomes its text. */
  raw?: RawKind;
  /** The TabSeparated field of a non-null value, escaped. */
  tsv(value: unknown): string;
  /** The TabSeparated field of NULL: `\N`, or `[]` for arrays (ClickHouse has no Nullable(Array)). */
  nullTsv: string;
  /** A non-null value as an element of an array literal: numbers bare, the rest quoted. */
  quoted(value: unknown): string;
}

/** How a type's values appear inside an array literal. */
type Quoting = 'bare' | 'quoted';

interface BaseMapping {
  type: string;
  format(value: unknown): string;
  quoting: Quoting;
  raw?: RawKind;
  /** Values written as NULL when the column is Nullable (numeric NaN under `nonFiniteNumeric: null`). */
  nullFor?(value: unknown): boolean;
}

/** How a column's values are written, per connector (the sink's config). */
export interface MappingOptions {
  /**
   * numeric 'NaN', 'Infinity' and '-Infinity' (PostgreSQL has them, a
   * ClickHouse Decimal has not): `dead-letter` (the default) refuses the
   * event naming the column; `null` writes NULL into a Nullable column (a
   * NOT NULL one still dead-letters).
   */
  nonFiniteNumeric?: 'dead-letter' | 'null';
}

const NON_FINITE_NUMERIC: ReadonlySet<unknown> = new Set(['NaN', 'Infinity', '-Infinity']);

/** numeric NaN or ±Infinity, as the source carries them (Debezium's decimal.handling.mode=string). */
export function isNonFiniteNumeric(value: unknown): boolean {
  return NON_FINITE_NUMERIC.has(value);
}

/**
 * A float as the sink writes it: JavaScript's shortest round-trip text, with
 * ClickHouse's spellings `nan`, `inf`, `-inf` and `-0` keeping its sign.
 * JsonConverter (Jackson) writes NaN and the infinities as the JSON strings
 * "NaN", "Infinity", "-Infinity"; they are taken too.
 */
export function formatFloat(value: unknown): string {
  let number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof value === 'string') {
    number = value === 'NaN' ? Number.NaN : value === 'Infinity' ? Number.POSITIVE_INFINITY : value === '-Infinity' ? Number.NEGATIVE_INFINITY : Number(value);
    if (value.trim() === '' || (Number.isNaN(number) && value !== 'NaN')) throw new Error(`not a floating-point number: ${JSON.stringify(value)}`);
  }
  if (typeof number !== 'number') throw new Error(`not a floating-point number: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  if (Number.isNaN(number)) return 'nan';
  if (number === Number.POSITIVE_INFINITY) return 'inf';
  if (number === Number.NEGATIVE_INFINITY) return '-inf';
  if (Object.is(number, -0)) return '-0';
  return String(number);
}

const MAX_DECIMAL_PRECISION = 38;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Days since the epoch to 'YYYY-MM-DD'. */
export function formatDate(days: number): string {
  const date = new Date(days * 86_400_000);
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** Microseconds since the epoch to 'YYYY-MM-DD hh:mm:ss[.ffffff]' (UTC). */
export function formatMicros(micros: number, withFraction: boolean): string {
  const millis = Math.floor(micros / 1000);
  const date = new Date(millis);
  const base = `${formatDate(Math.floor(millis / 86_400_000))} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  if (!withFraction) return base;
  const fraction = ((micros % 1_000_000) + 1_000_000) % 1_000_000;
  return `${base}.${pad(fraction, 6)}`;
}

const isDigitAt = (text: string, at: number): boolean => text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39;

const ISO_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

/** 'YYYY-MM-DDThh:mm:ss' then '.' and 1 to 9 digits or nothing, then 'Z' (the regex of formatIsoUtc, by hand). */
function isIsoShape(iso: string): boolean {
  for (const at of ISO_DIGITS) if (!isDigitAt(iso, at)) return false;
  if (iso[4] !== '-' || iso[7] !== '-' || iso[13] !== ':' || iso[16] !== ':') return false;
  if (iso.length === 20) return true;
  if (iso[19] !== '.' || iso.length < 22 || iso.length > 30) return false;
  for (let at = 20; at < iso.length - 1; at++) if (!isDigitAt(iso, at)) return false;
  return true;
}

/** ISO-8601 UTC ('2024-05-01T12:00:00.123456Z') to ClickHouse DateTime text. */
export function formatIsoUtc(iso: string, withFraction: boolean): string {
  // What the source writes (Debezium's ZonedTimestamp): 'YYYY-MM-DDThh:mm:ss[.f{1,9}]Z', checked without a regex.
  if (iso.length >= 20 && iso.charCodeAt(10) === 0x54 && iso.charCodeAt(iso.length - 1) === 0x5a && isIsoShape(iso)) {
    const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
    if (!withFraction) return base;
    return `${base}.${iso.length === 20 ? '000000' : iso.slice(20, -1).padEnd(6, '0').slice(0, 6)}`;
  }
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(iso);
  if (!match) throw new Error(`not an ISO-8601 UTC timestamp: "${iso}"`);
  const base = `${match[1]} ${match[2]}`;
  return withFraction ? `${base}.${(match[3] ?? '').padEnd(6, '0').slice(0, 6)}` : base;
}

/**
 * formatIsoUtc for one column, remembering its last value: rows of a
 * transaction sharing a timestamp get the same string, which row-binary.ts's
 * date-and-time encoders, remembering theirs too, take without parsing again.
 */
function isoUtcFormatter(withFraction: boolean): (value: unknown) => string {
  return rememberLast((value: unknown) => formatIsoUtc(value as string, withFraction));
}

function decimalType(schema: ConnectSchema): string | undefined {
  const parameters = schema.parameters ?? {};
  if (parameters[SourceTypeParameter.type] !== 'NUMERIC') return undefined;
  const precision = Number(parameters[SourceTypeParameter.length]);
  const scale = Number(parameters[SourceTypeParameter.scale] ?? 0);
  if (!Number.isInteger(precision) || precision < 1 || precision > MAX_DECIMAL_PRECISION) return undefined;
  // ClickHouse has no negative scale (numeric(5,-2) in PostgreSQL 15): keep such values as text.
  if (!Number.isInteger(scale) || scale < 0 || scale > precision) return undefined;
  return `Decimal(${precision}, ${scale})`;
}

/**
 * Connect's Decimal (precise decimals): Decimal(P,S) with the value's unscaled
 * bytes written as decimal text; String (the decimal text) when ClickHouse
 * cannot hold the precision.
 */
function connectDecimal(schema: ConnectSchema, bare: (type: string, format: (value: unknown) => string) => BaseMapping, quoted: (type: string, format: (value: unknown) => string) => BaseMapping): BaseMapping {
  const parameters = schema.parameters ?? {};
  const scale = Number(parameters['scale'] ?? 0);
  const precision = Number(parameters[DECIMAL_PRECISION_PARAMETER] ?? parameters[SourceTypeParameter.length]);
  const format = (value: unknown) => unscaledBase64ToDecimal(String(value), scale);
  const fits = Number.isInteger(precision) && precision >= 1 && precision <= MAX_DECIMAL_PRECISION && Number.isInteger(scale) && scale >= 0 && scale <= precision;
  return fits ? bare(`Decimal(${precision}, ${scale})`, format) : quoted('String', format);
}

function decimalMapping(type: string, options: MappingOptions): BaseMapping {
  return {
    type,
    quoting: 'bare',
    format: (value) => {
      if (isNonFiniteNumeric(value)) {
        throw new Error(
          `numeric ${String(value)} has no value in ClickHouse's ${type}` +
            (options.nonFiniteNumeric === 'null' ? ' and the column is not Nullable' : " (the sink's nonFiniteNumeric setting can write NULL instead)"),
        );
      }
      return String(value);
    },
    nullFor: options.nonFiniteNumeric === 'null' ? isNonFiniteNumeric : undefined,
  };
}

function baseMapping(schema: ConnectSchema, features: ServerFeatures, options: MappingOptions): BaseMapping {
  const text = (value: unknown) => String(value);
  const quoted = (type: string, format: (value: unknown) => string, raw?: RawKind): BaseMapping => ({ type, format, quoting: 'quoted', raw });
  const bare = (type: string, format: (value: unknown) => string = text, raw?: RawKind): BaseMapping => ({ type, format, quoting: 'bare', raw });
  const integer = (type: string): BaseMapping => bare(type, text, 'integer');
  switch (schema.name) {
    case SemanticType.Date:
      return quoted('Date', (value) => formatDate(value as number), 'days');
    case SemanticType.MicroTimestamp:
      return features.dateTime64
        ? quoted("DateTime64(6, 'UTC')", (value) => formatMicros(value as number, true), 'micros')
        : quoted("DateTime('UTC')", (value) => formatMicros(value as number, false), 'micros');
    case SemanticType.ZonedTimestamp:
      return features.dateTime64 ? quoted("DateTime64(6, 'UTC')", isoUtcFormatter(true)) : quoted("DateTime('UTC')", isoUtcFormatter(false));
    case SemanticType.Uuid:
      return quoted('UUID', text);
    case SemanticType.MicroTime:
      return integer('Int64');
    case SemanticType.Json:
      return quoted('String', text);
    case SemanticType.Decimal:
      return connectDecimal(schema, bare, quoted);
    default:
      break;
  }
  switch (schema.type) {
    case 'int8':
      return integer('Int8');
    case 'int16':
      return integer('Int16');
    case 'int32':
      return integer('Int32');
    case 'int64':
      return integer('Int64');
    case 'float':
      return bare('Float32', formatFloat, 'float');
    case 'double':
      return bare('Float64', formatFloat, 'float');
    case 'boolean':
      return bare('UInt8', (value) => (value ? '1' : '0'), 'boolean');
    case 'string': {
      const decimal = decimalType(schema);
      return decimal ? decimalMapping(decimal, options) : quoted('String', text);
    }
    case 'bytes':
      // Kept as the base64 text JsonConverter carries.
      return quoted('String', text);
    default:
      return quoted('String', (value) => JSON.stringify(value));
  }
}

/** A string inside an array literal: single-quoted, with the escapes ClickHouse's quoted-text parser reads. */
export function quoteArrayString(text: string): string {
  return `'${/[\\'\t\n\r\0]/.test(text) ? text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\0') : text}'`;
}

/**
 * PostgreSQL arrays (Connect `array` with `items`) as `Array(T)`, elements
 * `Nullable(T)` when the element schema is optional (PostgreSQL array elements
 * may always be NULL). ClickHouse has no Nullable(Array): a NULL array is
 * written as `[]`. The literal is TabSeparated-safe as is: strings inside are
 * quoted and escaped (tab, newline, backslash) by the quoted-text rules.
 */
function arrayMapping(schema: ConnectSchema, features: ServerFeatures, options: MappingOptions): ColumnMapping {
  const element = mapColumn(schema.items ?? { type: 'string', optional: true }, features, options);
  const format = (value: unknown): string => {
    if (!Array.isArray(value)) throw new Error(`not an array: ${JSON.stringify(value)}`);
    return `[${value.map((item) => (item === null || item === undefined ? 'NULL' : element.quoted(item))).join(',')}]`;
  };
  return { type: `Array(${element.type})`, format, text: format, escape: (literal) => literal, tsv: format, nullTsv: '[]', quoted: format };
}

export function mapColumn(schema: ConnectSchema, features: ServerFeatures, options: MappingOptions = {}): ColumnMapping {
  if (schema.type === 'array') return arrayMapping(schema, features, options);
  const base = baseMapping(schema, features, options);
  const format = base.format;
  const tsv = (value: unknown): string => escapeTsv(format(value));
  const quoted = base.quoting === 'bare' ? format : (value: unknown) => quoteArrayString(format(value));
  const nullFor = schema.optional ? base.nullFor : undefined;
  return {
    type: schema.optional ? `Nullable(${base.type})` : base.type,
    format,
    text: nullFor ? (value) => (nullFor(value) ? null : format(value)) : format,
    escape: escapeTsv,
    ...(base.raw ? { raw: base.raw } : {}),
    tsv: nullFor ? (value) => (nullFor(value) ? '\\N' : tsv(value)) : tsv,
    nullTsv: '\\N',
    quoted: nullFor ? (value) => (nullFor(value) ? 'NULL' : quoted(value)) : quoted,
  };
}

/** Escapes a field for TabSeparated: backslash, tab, newline, carriage return, NUL. */
export function escapeTsv(text: string): string {
  return /[\\\t\n\r\0]/.test(text)
    ? text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\0')
    : text;
}
