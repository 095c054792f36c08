import { structSchema, type ConnectSchema } from './connect-schema.js';

/** c create, u update, d delete, r snapshot read, t truncate (Debezium's op codes). */
export type Op = 'c' | 'u' | 'd' | 'r' | 't';

export type Row = Record<string, unknown>;

/** Debezium's `source` block for the PostgreSQL connector. */
export interface SourceInfo {
  version: string;
  connector: 'postgresql';
  /** The connector's logical name: the topic prefix. */
  name: string;
  /** Commit time of the transaction in PostgreSQL, ms since epoch. */
  ts_ms: number;
  snapshot: 'true' | 'false' | 'last' | 'first' | 'incremental';
  db: string;
  schema: string;
  table: string;
  txId: number | null;
  /** LSN of this change; the sink uses it as the row version. */
  lsn: number | null;
  xmin: null;
}

export interface ChangeEvent {
  before: Row | null;
  after: Row | null;
  source: SourceInfo;
  op: Op;
  /** When tideline processed the event, ms since epoch. */
  ts_ms: number;
}

/** One column of a captured table, as the event schema describes it. */
export interface ColumnSchema {
  name: string;
  /** The Connect schema of the value, without `field`. */
  schema: ConnectSchema;
  /** Part of the primary key (or replica identity key). */
  key: boolean;
}

export const SOURCE_VERSION = '0.1.0';

/**
 * Headers of a primary-key change, as Debezium names them: the delete of the
 * old key carries the new key, the create of the new key the old one (each
 * encoded as the message keys are). A sink fills the new key's unchanged
 * TOASTed values from the old key's row with them.
 */
export const NEW_KEY_HEADER = '__debezium.newkey';
export const OLD_KEY_HEADER = '__debezium.oldkey';

const sourceSchema: ConnectSchema = structSchema(
  'io.debezium.connector.postgresql.Source',
  [
    { type: 'string', optional: false, field: 'version' },
    { type: 'string', optional: false, field: 'connector' },
    { type: 'string', optional: false, field: 'name' },
    { type: 'int64', optional: false, field: 'ts_ms' },
    { type: 'string', optional: true, field: 'snapshot', name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,last,false,incremental' } },
    { type: 'string', optional: false, field: 'db' },
    { type: 'string', optional: false, field: 'schema' },
    { type: 'string', optional: false, field: 'table' },
    { type: 'int64', optional: true, field: 'txId' },
    { type: 'int64', optional: true, field: 'lsn' },
    { type: 'int64', optional: true, field: 'xmin' },
  ],
  false,
);

function rowSchema(name: string, columns: readonly ColumnSchema[], optional: boolean): ConnectSchema {
  return structSchema(
    name,
    columns.map((column) => ({ ...column.schema, field: column.name })),
    optional,
  );
}

/** The value schema of a table topic: Debezium's Envelope. */
export function envelopeSchema(topic: string, columns: readonly ColumnSchema[]): ConnectSchema {
  const value = rowSchema(`${topic}.Value`, columns, true);
  return structSchema(
    `${topic}.Envelope`,
    [
      { ...value, field: 'before' },
      { ...value, field: 'after' },
      { ...sourceSchema, field: 'source' },
      { type: 'string', optional: false, field: 'op' },
      { type: 'int64', optional: true, field: 'ts_ms' },
    ],
    false,
  );
}

/** The key schema of a table topic: the key columns, as a required struct. */
export function keySchema(topic: string, columns: readonly ColumnSchema[]): ConnectSchema {
  return rowSchema(
    `${topic}.Key`,
    columns.filter((column) => column.key),
    false,
  );
}

/** Columns as the envelope schema declares them (the `after` struct's fields). */
export function columnsFromEnvelope(schema: ConnectSchema, keyFields: ReadonlySet<string> = new Set()): ColumnSchema[] {
  const after = schema.fields?.find((field) => field.field === 'after');
  if (!after?.fields) throw new Error(`schema ${schema.name ?? '?'} is not a Debezium envelope: no "after" struct`);
  return after.fields.map((field) => {
    const { field: name, ...rest } = field;
    return { name: name ?? '', schema: rest, key: keyFields.has(name ?? '') };
  });
}
