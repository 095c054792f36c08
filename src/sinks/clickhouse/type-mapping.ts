/**
 * Connect schemas (from Debezium-shaped events) to ClickHouse column types and
 * to the text each value takes in a TabSeparated row.
 */
import { SemanticType, SourceTypeParameter, type ConnectSchema } from '../../core/connect-schema.js';
import type { ServerFeatures } from './server.js';

export interface ColumnMapping {
  /** ClickHouse type, Nullable(...) included when the column is optional. */
  type: string;
  /** Text of a non-null value in TabSeparated (escaping applied by the caller). */
  format(value: unknown): string;
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

/** ISO-8601 UTC ('2024-05-01T12:00:00.123456Z') to ClickHouse DateTime text. */
export function formatIsoUtc(iso: string, withFraction: boolean): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(iso);
  if (!match) throw new Error(`not an ISO-8601 UTC timestamp: "${iso}"`);
  const base = `${match[1]} ${match[2]}`;
  return withFraction ? `${base}.${(match[3] ?? '').padEnd(6, '0').slice(0, 6)}` : base;
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

function baseMapping(schema: ConnectSchema, features: ServerFeatures): ColumnMapping {
  const text = (value: unknown) => String(value);
  switch (schema.name) {
    case SemanticType.Date:
      return { type: 'Date', format: (value) => formatDate(value as number) };
    case SemanticType.MicroTimestamp:
      return features.dateTime64
        ? { type: "DateTime64(6, 'UTC')", format: (value) => formatMicros(value as number, true) }
        : { type: "DateTime('UTC')", format: (value) => formatMicros(value as number, false) };
    case SemanticType.ZonedTimestamp:
      return features.dateTime64
        ? { type: "DateTime64(6, 'UTC')", format: (value) => formatIsoUtc(value as string, true) }
        : { type: "DateTime('UTC')", format: (value) => formatIsoUtc(value as string, false) };
    case SemanticType.Uuid:
      return { type: 'UUID', format: text };
    case SemanticType.MicroTime:
      return { type: 'Int64', format: text };
    case SemanticType.Json:
      return { type: 'String', format: text };
    default:
      break;
  }
  switch (schema.type) {
    case 'int8':
      return { type: 'Int8', format: text };
    case 'int16':
      return { type: 'Int16', format: text };
    case 'int32':
      return { type: 'Int32', format: text };
    case 'int64':
      return { type: 'Int64', format: text };
    case 'float':
      return { type: 'Float32', format: text };
    case 'double':
      return { type: 'Float64', format: text };
    case 'boolean':
      return { type: 'UInt8', format: (value) => (value ? '1' : '0') };
    case 'string': {
      const decimal = decimalType(schema);
      return { type: decimal ?? 'String', format: text };
    }
    case 'bytes':
      // Kept as the base64 text JsonConverter carries.
      return { type: 'String', format: text };
    default:
      return { type: 'String', format: (value) => JSON.stringify(value) };
  }
}

export function mapColumn(schema: ConnectSchema, features: ServerFeatures): ColumnMapping {
  const base = baseMapping(schema, features);
  return schema.optional ? { ...base, type: `Nullable(${base.type})` } : base;
}

/** Escapes a field for TabSeparated: backslash, tab, newline, carriage return, NUL. */
export function escapeTsv(text: string): string {
  return /[\\\t\n\r\0]/.test(text)
    ? text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\0/g, '\\0')
    : text;
}
