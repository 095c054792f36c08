import { structSchema, type ConnectSchema } from './connect-schema.js';

/** c create, u update, d delete, r snapshot read, t truncate (Debezium's op codes). */
export type Op = 'c' | 'u' | 'd' | 'r' | 't';

export type Row = Record<string, unknown>;

/**
 * The fields every Debezium `source` block has, whatever the connector
 * (Debezium's AbstractSourceInfo). Each source kind extends it with its own
 * fields (src/sources/<kind>/source-block.ts) and supplies the Connect schema
 * of the whole block (sourceBlockSchema); nothing outside the kind reads
 * those fields by name, except through the row-version lookup (row-versions.ts).
 */
export interface SourceBlock {
  version: string;
  /** Which connector wrote the event (Debezium: postgresql, mysql, ...); keys the row-version lookup. */
  connector: string;
  /** The connector's logical name: the topic prefix. */
  name: string;
  /** When the change happened in the source (commit time), ms since epoch. */
  ts_ms: number;
  snapshot: 'true' | 'false' | 'last' | 'first' | 'incremental' | null;
  db: string;
  /** Debezium's ordering fields, for connectors that set them. */
  sequence?: string | null;
  ts_us?: number | null;
  ts_ns?: number | null;
  /**
   * Where the change happened, for connectors that name it (relational ones
   * set `table`; PostgreSQL and SQL Server also `schema`). Sinks name their
   * tables with them.
   */
  schema?: string;
  table?: string;
}

export interface ChangeEvent<Source extends SourceBlock = SourceBlock> {
  before: Row | null;
  after: Row | null;
  source: Source;
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

/**
 * The Connect fields of SourceBlock's common part, in Debezium's order; a
 * source kind's block schema starts with them (sourceBlockSchema).
 */
const COMMON_SOURCE_FIELDS: readonly ConnectSchema[] = [
  { type: 'string', optional: false, field: 'version' },
  { type: 'string', optional: false, field: 'connector' },
  { type: 'string', optional: false, field: 'name' },
  { type: 'int64', optional: false, field: 'ts_ms' },
  { type: 'string', optional: true, field: 'snapshot', name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,last,false,incremental' } },
  { type: 'string', optional: false, field: 'db' },
];

/** The Connect schema of a source block: the common fields, then the kind's own (`fields`, each with `field`). */
export function sourceBlockSchema(name: string, fields: readonly ConnectSchema[]): ConnectSchema {
  return structSchema(name, [...COMMON_SOURCE_FIELDS, ...fields], false);
}

function rowSchema(name: string, columns: readonly ColumnSchema[], optional: boolean): ConnectSchema {
  return structSchema(
    name,
    columns.map((column) => ({ ...column.schema, field: column.name })),
    optional,
  );
}

/**
 * The value schema of a table topic: Debezium's Envelope, with the source
 * block schema of the kind that writes the topic (sourceBlockSchema).
 */
export function envelopeSchema(topic: string, columns: readonly ColumnSchema[], sourceSchema: ConnectSchema): ConnectSchema {
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
