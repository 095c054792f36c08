/**
 * Kafka Connect schemas, as Debezium's JsonConverter writes them next to each
 * payload (`{ schema, payload }`). Sinks read column types from them, so the
 * names Debezium uses for semantic types (io.debezium.time.MicroTimestamp, ...)
 * are kept exactly.
 */
export type ConnectType =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float'
  | 'double'
  | 'boolean'
  | 'string'
  | 'bytes'
  | 'array'
  | 'struct';

export interface ConnectSchema {
  type: ConnectType;
  optional: boolean;
  field?: string;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  fields?: ConnectSchema[];
  items?: ConnectSchema;
}

/** Debezium's semantic type names that tideline emits. */
export const SemanticType = {
  Date: 'io.debezium.time.Date',
  MicroTime: 'io.debezium.time.MicroTime',
  MicroTimestamp: 'io.debezium.time.MicroTimestamp',
  ZonedTimestamp: 'io.debezium.time.ZonedTimestamp',
  ZonedTime: 'io.debezium.time.ZonedTime',
  MicroDuration: 'io.debezium.time.MicroDuration',
  Interval: 'io.debezium.time.Interval',
  Json: 'io.debezium.data.Json',
  Uuid: 'io.debezium.data.Uuid',
  Enum: 'io.debezium.data.Enum',
  /** Kafka Connect's logical Decimal (decimal.handling.mode=precise): bytes of the unscaled value, parameter `scale`. */
  Decimal: 'org.apache.kafka.connect.data.Decimal',
} as const;

/** The Decimal parameter AvroData and Debezium carry the precision in. */
export const DECIMAL_PRECISION_PARAMETER = 'connect.decimal.precision';

/**
 * Parameters Debezium adds with `column.propagate.source.type`: the column's
 * database type, length (precision) and scale. tideline always adds them so a
 * sink can create Decimal(P,S) and similar without asking the source database.
 */
export const SourceTypeParameter = {
  type: '__debezium.source.column.type',
  length: '__debezium.source.column.length',
  scale: '__debezium.source.column.scale',
} as const;

/** Placeholder Debezium writes for an unchanged TOASTed value it did not receive. */
export const UNAVAILABLE_VALUE = '__debezium_unavailable_value';

export function structSchema(name: string, fields: ConnectSchema[], optional: boolean): ConnectSchema {
  return { type: 'struct', optional, name, fields };
}

export function withField(schema: ConnectSchema, field: string): ConnectSchema {
  return { ...schema, field };
}

const UNAVAILABLE_BYTES_BASE64 = Buffer.from(UNAVAILABLE_VALUE, 'utf8').toString('base64');

/**
 * Debezium's placeholder in the form a column's schema can carry: the string
 * for string columns (text, json, numeric, ...), the placeholder's UTF-8 bytes
 * (base64, as JsonConverter writes bytes) for bytea, and a one-element list for
 * arrays.
 */
export function unavailablePlaceholder(schema: Pick<ConnectSchema, 'type'>): unknown {
  if (schema.type === 'bytes') return UNAVAILABLE_BYTES_BASE64;
  if (schema.type === 'array') return [UNAVAILABLE_VALUE];
  return UNAVAILABLE_VALUE;
}

/** True for every form unavailablePlaceholder produces: a sink must keep the stored value. */
export function isUnavailablePlaceholder(value: unknown): boolean {
  if (value === UNAVAILABLE_VALUE || value === UNAVAILABLE_BYTES_BASE64) return true;
  return Array.isArray(value) && value.length === 1 && value[0] === UNAVAILABLE_VALUE;
}
