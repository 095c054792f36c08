/**
 * PostgreSQL column types to Debezium's Connect schemas and values.
 *
 * The replication connection runs with DateStyle=ISO, TimeZone=UTC and
 * IntervalStyle=iso_8601, and pgoutput sends every value as text; each mapping
 * turns that text into the value Debezium would emit. Numeric values are kept
 * as exact decimal strings (Debezium's decimal.handling.mode=string) so that no
 * digit is lost, or with decimalHandling 'precise' as Connect Decimals (when
 * the column has a precision and a scale of 0 or more); the column's
 * precision and scale travel in the schema's parameters (Debezium's
 * column.propagate.source.type).
 */
import { parse as parseArrayLiteral } from 'postgres-array';
import { DECIMAL_PRECISION_PARAMETER, SemanticType, SourceTypeParameter, type ConnectSchema } from '../../core/connect-schema.js';
import { decimalToUnscaledBase64 } from '../../core/decimal.js';

export interface ColumnType {
  /** OID of the column's type. */
  oid: number;
  /** atttypmod: length, precision/scale, or -1. */
  typeMod: number;
  /** Type name as PostgreSQL spells it, when known (pgoutput 'Y' messages or the catalog). */
  name?: string;
}

/** What the catalog says about a type that is not built in (or an array of one). */
export interface CatalogType {
  oid: number;
  name: string;
  /** pg_type.typtype: b base, e enum, d domain, c composite, r range, ... */
  kind: string;
  /** Element type of an array type (pg_type.typelem with typcategory 'A'), else 0. */
  elementOid: number;
  /** Base type of a domain, else 0. */
  baseOid: number;
  /** Labels of an enum, in order. */
  labels: string[] | null;
}

/** Debezium's decimal.handling.mode: exact text, or Connect's Decimal (bytes of the unscaled value). */
export type DecimalHandling = 'string' | 'precise';

export interface ValueMapping {
  schema: Omit<ConnectSchema, 'optional'>;
  /** Converts pgoutput's text form to the event value. */
  fromText(text: string): unknown;
}

const MICROS_PER_DAY = 86_400_000_000;

const identity = (text: string): string => text;

/** int8 as a number while exact, as bigint beyond 2^53 (serialized as an exact JSON number). */
export function int64FromText(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
}

/** Built-in type OIDs (pg_type.oid; stable across PostgreSQL versions). */
export const Oid = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

function sourceType(name: string, length?: number, scale?: number): Record<string, string> {
  const parameters: Record<string, string> = { [SourceTypeParameter.type]: name };
  if (length !== undefined) parameters[SourceTypeParameter.length] = String(length);
  if (scale !== undefined) parameters[SourceTypeParameter.scale] = String(scale);
  return parameters;
}

/**
 * numeric(p,s) typmod: ((p << 16) | (s & 0x7ff)) + 4, -1 when unconstrained.
 * The scale is an 11-bit signed field: PostgreSQL 15 allows numeric(5,-2).
 */
export function numericPrecision(typeMod: number): { precision?: number; scale?: number } {
  if (typeMod < 4) return {};
  const value = typeMod - 4;
  const scale = value & 0x7ff;
  return { precision: (value >> 16) & 0xffff, scale: scale & 0x400 ? scale - 0x800 : scale };
}

/** varchar(n)/char(n) typmod: n + 4. */
function charLength(typeMod: number): number | undefined {
  return typeMod >= 4 ? typeMod - 4 : undefined;
}

/** The last date converted: the rows of a transaction mostly share their dates. */
let lastDate = '';
let lastDateDays = 0;

/** 'YYYY-MM-DD' (ISO DateStyle) to days since the epoch. */
export function dateToEpochDays(text: string): number {
  if (text === lastDate) return lastDateDays;
  const days = parseDate(text);
  lastDate = text;
  lastDateDays = days;
  return days;
}

const digitAt = (text: string, at: number): number => {
  const code = text.charCodeAt(at) - 0x30;
  return code >= 0 && code <= 9 ? code : Number.NaN;
};

function parseDate(text: string): number {
  // The common case, 'YYYY-MM-DD' from year 1000 on, without a regex (Date.UTC reads years below 100 as 19xx: not here).
  if (text.length === 10 && text[4] === '-' && text[7] === '-' && text.charCodeAt(0) !== 0x30) {
    const year = digitAt(text, 0) * 1000 + digitAt(text, 1) * 100 + digitAt(text, 2) * 10 + digitAt(text, 3);
    const month = digitAt(text, 5) * 10 + digitAt(text, 6);
    const day = digitAt(text, 8) * 10 + digitAt(text, 9);
    if (!Number.isNaN(year + month + day)) return Math.round(Date.UTC(year, month - 1, day) / 86_400_000);
  }
  const match = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/.exec(text);
  if (!match) throw new Error(`unsupported date "${text}"`);
  const year = match[4] ? 1 - Number(match[1]) : Number(match[1]);
  const date = new Date(0);
  date.setUTCFullYear(year, Number(match[2]) - 1, Number(match[3]));
  return Math.round(date.getTime() / 86_400_000);
}

/** 'HH:MM:SS[.ffffff]' to microseconds since midnight. */
export function timeToMicros(text: string): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new Error(`unsupported time "${text}"`);
  const fraction = Number((match[4] ?? '').padEnd(6, '0'));
  return ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1_000_000 + fraction;
}

/** 'YYYY-MM-DD HH:MM:SS[.ffffff]' (no zone) to microseconds since the epoch. */
export function timestampToMicros(text: string): number {
  const space = text.indexOf(' ');
  if (space < 0) throw new Error(`unsupported timestamp "${text}"`);
  return dateToEpochDays(text.slice(0, space)) * MICROS_PER_DAY + timeToMicros(text.slice(space + 1));
}

/**
 * '2024-05-01 12:00:00.123456+00' (TimeZone=UTC) to Debezium's ZonedTimestamp
 * text, ISO-8601 in UTC with the fraction kept: '2024-05-01T12:00:00.123456Z'.
 */
export function timestamptzToIso(text: string): string {
  const match = /^(\d{4,}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\+00$/.exec(text);
  if (!match) {
    if (text === 'infinity' || text === '-infinity') return text;
    throw new Error(`unsupported timestamptz "${text}" (expected UTC output)`);
  }
  return `${match[1]}T${match[2]}Z`;
}

/**
 * timetz ('12:34:56.123456+02', '12:34:56-03:30') to Debezium's ZonedTime:
 * the time in UTC with 'Z' ('10:34:56.123456Z'), wrapping around midnight.
 */
export function timetzToUtc(text: string): string {
  const match = /^(\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?$/.exec(text);
  if (!match) throw new Error(`unsupported timetz "${text}"`);
  const offset = ((Number(match[3]) * 60 + Number(match[4] ?? 0)) * 60 + Number(match[5] ?? 0)) * 1_000_000;
  const day = MICROS_PER_DAY;
  const micros = (((timeToMicros(match[1]!) - (match[2] === '+' ? offset : -offset)) % day) + day) % day;
  const fraction = match[1]!.includes('.') ? `.${String(micros % 1_000_000).padStart(6, '0')}` : '';
  const seconds = Math.floor(micros / 1_000_000);
  const pad = (value: number): string => String(value).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}${fraction}Z`;
}

/** bytea hex output ('\x0a0b') to base64, as JsonConverter writes bytes. */
export function byteaToBase64(text: string): string {
  if (!text.startsWith('\\x')) throw new Error('unsupported bytea output (expected bytea_output=hex)');
  return Buffer.from(text.slice(2), 'hex').toString('base64');
}

/**
 * The mapping for one column type. Types without a specific mapping fall back
 * to their text form as a string; `onFallback` lets the caller warn once.
 */
export function mapColumnType(
  type: ColumnType,
  onFallback?: (type: ColumnType) => void,
  catalog: ReadonlyMap<number, CatalogType> = new Map(),
  decimalHandling: DecimalHandling = 'string',
): ValueMapping {
  switch (type.oid) {
    case Oid.bool:
      return { schema: { type: 'boolean' }, fromText: (text) => text === 't' };
    case Oid.int2:
      return { schema: { type: 'int16' }, fromText: Number };
    case Oid.int4:
    case Oid.oid:
      return { schema: { type: 'int32' }, fromText: Number };
    case Oid.int8:
      return { schema: { type: 'int64' }, fromText: int64FromText };
    case Oid.float4:
      return { schema: { type: 'float' }, fromText: Number };
    case Oid.float8:
      return { schema: { type: 'double' }, fromText: Number };
    case Oid.numeric: {
      const { precision, scale } = numericPrecision(type.typeMod);
      // Precise needs a fixed scale: unconstrained numeric (Debezium: VariableScaleDecimal) and negative scales stay text.
      if (decimalHandling === 'precise' && precision !== undefined && scale !== undefined && scale >= 0) {
        return {
          schema: {
            type: 'bytes',
            name: SemanticType.Decimal,
            version: 1,
            parameters: { scale: String(scale), [DECIMAL_PRECISION_PARAMETER]: String(precision), ...sourceType('NUMERIC', precision, scale) },
          },
          // NaN and ±Infinity have no Decimal: they throw, and the value is emitted as null (onBadValue).
          fromText: (text) => decimalToUnscaledBase64(text, scale),
        };
      }
      return { schema: { type: 'string', parameters: sourceType('NUMERIC', precision, scale) }, fromText: identity };
    }
    case Oid.text:
    case Oid.name:
      return { schema: { type: 'string', parameters: sourceType('TEXT') }, fromText: identity };
    case Oid.varchar:
      return { schema: { type: 'string', parameters: sourceType('VARCHAR', charLength(type.typeMod)) }, fromText: identity };
    case Oid.bpchar:
      return { schema: { type: 'string', parameters: sourceType('BPCHAR', charLength(type.typeMod)) }, fromText: identity };
    case Oid.uuid:
      return { schema: { type: 'string', name: SemanticType.Uuid, version: 1 }, fromText: identity };
    case Oid.json:
    case Oid.jsonb:
      return { schema: { type: 'string', name: SemanticType.Json, version: 1 }, fromText: identity };
    case Oid.date:
      return { schema: { type: 'int32', name: SemanticType.Date, version: 1 }, fromText: dateToEpochDays };
    case Oid.time:
      return { schema: { type: 'int64', name: SemanticType.MicroTime, version: 1 }, fromText: timeToMicros };
    case Oid.timestamp:
      return { schema: { type: 'int64', name: SemanticType.MicroTimestamp, version: 1 }, fromText: timestampToMicros };
    case Oid.timestamptz:
      return { schema: { type: 'string', name: SemanticType.ZonedTimestamp, version: 1 }, fromText: timestamptzToIso };
    case Oid.bytea:
      return { schema: { type: 'bytes' }, fromText: byteaToBase64 };
    case Oid.interval:
      // Debezium's interval.handling.mode=string: ISO-8601 (IntervalStyle=iso_8601), exact.
      return { schema: { type: 'string', name: SemanticType.Interval, version: 1 }, fromText: identity };
    case Oid.timetz:
      return { schema: { type: 'string', name: SemanticType.ZonedTime, version: 1 }, fromText: timetzToUtc };
    default:
      break;
  }
  const known = catalog.get(type.oid);
  if (known?.kind === 'e') {
    return {
      schema: { type: 'string', name: SemanticType.Enum, version: 1, parameters: { allowed: (known.labels ?? []).join(',') } },
      fromText: identity,
    };
  }
  if (known?.kind === 'd' && known.baseOid) {
    // A domain is its base type, with the base type's typmod unknown (-1).
    return mapColumnType({ oid: known.baseOid, typeMod: -1, name: known.name }, onFallback, catalog, decimalHandling);
  }
  if (known?.elementOid) {
    const element = mapColumnType({ oid: known.elementOid, typeMod: type.typeMod }, onFallback, catalog, decimalHandling);
    return {
      schema: { type: 'array', items: { ...element.schema, optional: true } },
      fromText: (text) => parseArrayLiteral(text, (item) => element.fromText(item)),
    };
  }
  onFallback?.(type);
  return {
    schema: { type: 'string', parameters: sourceType((known?.name ?? type.name ?? `oid ${type.oid}`).toUpperCase()) },
    fromText: identity,
  };
}
