/**
 * Turns decoded pgoutput row messages into Kafka messages in Debezium's shape:
 * topic `<prefix>.<schema>.<table>`, key = the replica-identity key columns,
 * value = `{ before, after, source, op, ts_ms }`, encoded by the connector's
 * converter (the format setting) with one encoder per table schema.
 *
 * With a schema registry (format avro) a table's schema is registered when
 * its Relation message arrives. When the registry refuses it (an ALTER TABLE
 * the subject's compatibility forbids), the table's events go to the
 * dead-letter topic instead, as JsonConverter messages naming the error, in
 * the same Kafka transaction: nothing is lost, and every other table (and
 * this one after a change the registry accepts) keeps flowing.
 */
import type { Pgoutput } from 'pg-logical-replication';
import { unavailablePlaceholder } from '../../core/connect-schema.js';
import { envelopeSchema, keySchema, NEW_KEY_HEADER, OLD_KEY_HEADER, SOURCE_VERSION, type ChangeEvent, type ColumnSchema, type Op, type Row } from '../../core/events.js';
import type { ConnectSchema } from '../../core/connect-schema.js';
import { deadLetterMessage } from '../../kafka/dead-letters.js';
import { IncompatibleSchemaError } from '../../registry/schema-registry.js';
import { createConverter, type Converter, type SchemaEncoder } from '../../serde/index.js';
import { protectedMapping, type ColumnRules } from './column-rules.js';
import { POSTGRES_CONNECTOR, postgresSourceBlock, type PostgresSourceBlock } from './source-block.js';
import { mapColumnType, type CatalogType, type ColumnType, type DecimalHandling, type ValueMapping } from './type-mapping.js';

export interface KafkaRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer>;
}


/** The transaction a change belongs to. */
export interface TransactionContext {
  /** Null for snapshot reads. */
  xid: number | null;
  /** Commit time in PostgreSQL, ms since epoch. */
  commitTimeMs: number;
}

export interface ChangeEventOptions {
  /** Encodes keys and values (the connector's format). */
  converter: Converter;
  topicPrefix: string;
  database: string;
  /** Write a null-valued record after each delete so compaction can drop the key. */
  tombstones: boolean;
  /** Operations not emitted (Debezium's skipped.operations): any of c, u, d, t. */
  skippedOperations?: ReadonlySet<Op>;
  /**
   * Primary-key columns by "schema.table", from the catalog. The Kafka key is
   * the primary key, as in Debezium: pgoutput's key columns are the replica
   * identity, which under REPLICA IDENTITY FULL is every column.
   */
  primaryKeys?: ReadonlyMap<string, readonly string[]>;
  /** Enums, domains and arrays of the captured columns, from the catalog (loadTypeCatalog). */
  types?: ReadonlyMap<number, CatalogType>;
  /** numeric(p,s) as exact text (default) or as Connect Decimals (Debezium's decimal.handling.mode). */
  decimalHandling?: DecimalHandling;
  /** Called once per column whose type has no specific mapping. */
  onUnknownType?: (table: string, column: string, type: ColumnType) => void;
  /** Called when a value cannot be converted (it is emitted as null). */
  onBadValue?: (table: string, column: string, text: string, error: unknown) => void;
  /**
   * Where the events of a table whose schema the registry refused go, and the
   * connector named in their headers. Without it a refusal fails the build.
   */
  deadLetters?: { topic: string; connector: string };
  /** Called (and awaited) when the registry refuses a table's schema, before its events are dead-lettered. */
  onSchemaRefused?: (table: string, error: SchemaRefusedError) => Promise<void>;
  /**
   * The `columns` setting: columns left out, masked or hashed, applied where a
   * table's columns become its schemas (onRelation), so keys, values, before
   * images and dead letters agree. Absent: every column as it is.
   */
  columnRules?: ColumnRules;
}

/** The schema registry refused a table's new schema: names the table, the columns that changed, and the registry's reason. */
export class SchemaRefusedError extends Error {
  override readonly name = 'SchemaRefusedError';
  constructor(
    readonly table: string,
    readonly columns: string[],
    message: string,
  ) {
    super(message);
  }
}

/** A column that reaches Kafka: its conversion, and what it carries for NULL and for an unchanged TOASTed value. */
interface EncodedColumn {
  name: string;
  mapping: ValueMapping;
  /** null, except for a masked column (Debezium masks NULL too). */
  nullValue: unknown;
  /** Debezium's placeholder in the column's schema form (a masked column: its mask). */
  unavailable: unknown;
}

interface TableEncoding {
  topic: string;
  schema: string;
  table: string;
  /** The columns that reach Kafka (the `columns` setting leaves others out), in table order. */
  columns: EncodedColumn[];
  keyColumns: string[];
  /** The Connect schema of each column, to name what changed when a new schema is refused. */
  columnSchemas: Map<string, ConnectSchema>;
  keyEncoder: SchemaEncoder | null;
  valueEncoder: SchemaEncoder;
  /** JsonConverter encoders of the same schemas, for dead letters (readable whatever the format). */
  deadLetterKeyEncoder: SchemaEncoder | null;
  deadLetterValueEncoder: SchemaEncoder;
  /** Why the registry refused this schema: its events then go to the dead-letter topic. */
  refused: SchemaRefusedError | null;
}

export type RowMessage = Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete;

export interface BuiltEvents {
  records: KafkaRecord[];
  /** Events written to their table topic. */
  events: { table: string; op: Op }[];
  /** Events written to the dead-letter topic instead (their schema was refused), by table. */
  deadLettered?: string[];
}

/** The records of one change being built: its table, its source block, what it emitted. */
interface ChangeOutput {
  table: TableEncoding;
  source: PostgresSourceBlock;
  built: BuiltEvents;
}

/** A table's encoding for rows read outside the stream (opaque to callers). */
export interface ReadEncoding {
  readonly topic: string;
}

export class ChangeEventBuilder {
  private readonly tables = new Map<number, TableEncoding>();
  private readonly readEncodings = new Map<string, TableEncoding>();
  /** Dead letters are JsonConverter messages: readable whatever the connector's format. */
  private readonly deadLetterConverter = createConverter('json');

  constructor(private readonly options: ChangeEventOptions) {}

  topicFor(schema: string, table: string): string {
    return `${this.options.topicPrefix}.${schema}.${table}`;
  }

  /**
   * pgoutput sends a Relation message before the first change of a table in a
   * session and after DDL. Makes the table's encoders (registering its schemas
   * with a registry format); a refusal makes the table's events dead letters.
   */
  async onRelation(relation: Pgoutput.MessageRelation): Promise<void> {
    this.tables.set(relation.relationOid, await this.makeEncoding(relation, this.tables.get(relation.relationOid)));
  }

  /**
   * The encoding of rows read outside the stream (an incremental snapshot's
   * chunks, described by the reader in the transaction it read them in), kept
   * apart from the stream's, which follows the Relation messages. Made once
   * per distinct description.
   */
  async readEncoding(relation: Pgoutput.MessageRelation): Promise<ReadEncoding> {
    const signature = JSON.stringify([relation.relationOid, relation.schema, relation.name, relation.keyColumns, relation.columns.map((c) => [c.name, c.typeOid, c.typeMod])]);
    let encoding = this.readEncodings.get(signature);
    if (!encoding) {
      encoding = await this.makeEncoding(relation, this.tables.get(relation.relationOid));
      this.readEncodings.set(signature, encoding);
    }
    return encoding;
  }

  /** An incremental snapshot's row as an op "r" event (source.snapshot "incremental"). */
  buildIncrementalRead(encoding: ReadEncoding, tuple: Record<string, string | null>, lsn: number, tx: TransactionContext): BuiltEvents {
    const table = encoding as TableEncoding;
    const out = this.output(table, this.sourceBlock(table, lsn, tx, 'incremental'));
    this.emit(out, 'r', null, this.row(table, tuple));
    return out.built;
  }

  private async makeEncoding(relation: Pgoutput.MessageRelation, previous: TableEncoding | undefined): Promise<TableEncoding> {
    const topic = this.topicFor(relation.schema, relation.name);
    const qualified = `${relation.schema}.${relation.name}`;
    const keyColumns = [...(this.options.primaryKeys?.get(qualified) ?? (relation.replicaIdentity === 'full' ? [] : relation.keyColumns))];
    const keySet = new Set(keyColumns);
    // Throws naming a key column the rules would leave out or replace: the table's events are refused, not sent without their key.
    const plan = this.options.columnRules?.plan(relation.schema, relation.name, relation.columns.map((column) => column.name), keyColumns);
    const columns: ColumnSchema[] = [];
    const mapped: EncodedColumn[] = [];
    for (const column of relation.columns) {
      const treatment = plan ? plan.get(column.name) : undefined;
      if (plan && !treatment) continue;
      const type: ColumnType = { oid: column.typeOid, typeMod: column.typeMod, name: column.typeName ?? undefined };
      let mapping = mapColumnType(type, (unknown) => this.options.onUnknownType?.(qualified, column.name, unknown), this.options.types, this.options.decimalHandling);
      let nullValue: unknown = null;
      let unavailable: unknown;
      if (treatment && treatment.kind !== 'keep') ({ mapping, nullValue, unavailable } = protectedMapping(mapping, treatment));
      else unavailable = unavailablePlaceholder(mapping.schema);
      // Key columns are never null in PostgreSQL; everything else may be.
      columns.push({ name: column.name, schema: { ...mapping.schema, optional: !keySet.has(column.name) }, key: keySet.has(column.name) });
      mapped.push({ name: column.name, mapping, nullValue, unavailable });
    }
    const columnSchemas = new Map(columns.map((column) => [column.name, column.schema]));
    const key = keyColumns.length > 0 ? keySchema(topic, columns) : null;
    const value = envelopeSchema(topic, columns, postgresSourceBlock.schema);
    const fallback = this.deadLetterConverter;
    const deadLetterKeyEncoder = key ? await fallback.encoder(topic, 'key', key) : null;
    const deadLetterValueEncoder = await fallback.encoder(topic, 'value', value);
    let encoders = { keyEncoder: deadLetterKeyEncoder, valueEncoder: deadLetterValueEncoder };
    let refused: SchemaRefusedError | null = null;
    try {
      const { converter } = this.options;
      encoders = { keyEncoder: key ? await converter.encoder(topic, 'key', key) : null, valueEncoder: await converter.encoder(topic, 'value', value) };
    } catch (error) {
      if (!(error instanceof IncompatibleSchemaError) || !this.options.deadLetters) throw error;
      refused = this.refusal(qualified, topic, previous?.columnSchemas, columnSchemas, error);
      await this.options.onSchemaRefused?.(qualified, refused);
    }
    return {
      topic,
      schema: relation.schema,
      table: relation.name,
      columns: mapped,
      keyColumns,
      columnSchemas,
      ...encoders,
      deadLetterKeyEncoder,
      deadLetterValueEncoder,
      refused,
    };
  }

  /** The error of a refused schema, naming the columns that differ from the table's previous schema. */
  private refusal(table: string, topic: string, before: Map<string, ConnectSchema> | undefined, after: Map<string, ConnectSchema>, error: IncompatibleSchemaError): SchemaRefusedError {
    const changes: string[] = [];
    const columns: string[] = [];
    const describe = (schema: ConnectSchema): string => `${schema.name ?? schema.type}${schema.optional ? '' : ' required'}`;
    const change = (name: string, what: string): void => {
      changes.push(`${name} ${what}`);
      columns.push(name);
    };
    for (const [name, schema] of after) {
      const old = before?.get(name);
      if (!old) {
        if (before) change(name, `added (${describe(schema)})`);
      } else if (JSON.stringify(old) !== JSON.stringify(schema)) {
        change(name, `changed from ${describe(old)} to ${describe(schema)}`);
      }
    }
    for (const name of before?.keys() ?? []) if (!after.has(name)) change(name, 'dropped');
    const what = changes.length > 0 ? `column ${changes.join(', column ')}` : 'columns unknown: the previous schema was registered by an earlier run';
    return new SchemaRefusedError(table, columns, `table ${table}: the schema registry refused the new schema of ${topic} (${what}); its events go to the dead-letter topic until a compatible schema: ${error.message}`);
  }

  /** The Kafka records for one row change (a key change yields delete + create). */
  build(message: RowMessage, lsn: number, tx: TransactionContext): BuiltEvents {
    const table = this.encodingOf(message.relation);
    const out = this.output(table, this.sourceBlock(table, lsn, tx, 'false'));
    switch (message.tag) {
      case 'insert':
        this.emit(out, 'c', null, this.row(table, message.new));
        break;
      case 'update': {
        // An unchanged TOASTed value is not in the new tuple; under REPLICA
        // IDENTITY FULL the old tuple has it (PostgreSQL logs it detoasted).
        const after = this.row(table, message.new, message.old);
        if (message.key) {
          // The replica-identity key changed: Debezium emits a delete of the old
          // key (plus tombstone) and a create under the new key, linked by headers.
          this.emitKeyChange(out, this.keyOnlyRow(table, message.key), after);
        } else if (message.old && this.keyChanged(table, message.old, message.new)) {
          // REPLICA IDENTITY FULL sends the whole old row instead of a key: a
          // changed primary key shows only as different values.
          this.emitKeyChange(out, this.row(table, message.old), after);
        } else {
          this.emit(out, 'u', message.old ? this.row(table, message.old) : null, after);
        }
        break;
      }
      case 'delete':
        this.emit(out, 'd', message.old ? this.row(table, message.old) : this.keyOnlyRow(table, message.key ?? {}), null);
        break;
    }
    return out.built;
  }

  /**
   * A snapshot row as Debezium's op "r" event. `tuple` holds PostgreSQL's text
   * form of each column (null for NULL), as pgoutput would send it.
   */
  buildRead(relation: Pgoutput.MessageRelation, tuple: Record<string, string | null>, lsn: number, tx: TransactionContext, marker: PostgresSourceBlock['snapshot']): BuiltEvents {
    const table = this.encodingOf(relation);
    const out = this.output(table, this.sourceBlock(table, lsn, tx, marker));
    this.emit(out, 'r', null, this.row(table, tuple));
    return out.built;
  }

  /**
   * TRUNCATE as Debezium's op "t" event: no key, no before or after image. The
   * key is the converter's null key (JsonConverter: schema and payload null)
   * rather than no bytes at all: a
   * compacted topic refuses records without a key. It goes to one partition
   * (all truncates of a table to the same one), so with several partitions it
   * is ordered only against the events of that partition.
   */
  buildTruncate(relation: Pgoutput.MessageRelation, lsn: number, tx: TransactionContext): BuiltEvents {
    const table = this.encodingOf(relation);
    const out = this.output(table, this.sourceBlock(table, lsn, tx, 'false'));
    this.emit(out, 't', null, null);
    for (const record of out.built.records) record.key = this.options.converter.nullKey(table.topic);
    return out.built;
  }

  /** The columns of a table that reach Kafka (after its onRelation), so a snapshot reads no others. */
  columnsOf(relation: Pgoutput.MessageRelation): string[] {
    return this.encodingOf(relation).columns.map((column) => column.name);
  }

  private encodingOf(relation: Pgoutput.MessageRelation): TableEncoding {
    const table = this.tables.get(relation.relationOid);
    if (!table) throw new Error(`change for relation ${relation.schema}.${relation.name} before its Relation message`);
    return table;
  }

  private sourceBlock(table: TableEncoding, lsn: number, tx: TransactionContext, snapshot: PostgresSourceBlock['snapshot']): PostgresSourceBlock {
    return {
      version: SOURCE_VERSION,
      connector: POSTGRES_CONNECTOR,
      name: this.options.topicPrefix,
      ts_ms: tx.commitTimeMs,
      snapshot,
      db: this.options.database,
      schema: table.schema,
      table: table.table,
      txId: tx.xid,
      lsn,
      xmin: null,
    };
  }

  /** A primary-key change: delete of the old key (header: the new key), then create of the new key (header: the old key). */
  private emitKeyChange(out: ChangeOutput, before: Row, after: Row): void {
    const oldKey = this.encodeKey(out.table, before);
    const newKey = this.encodeKey(out.table, after);
    this.emit(out, 'd', before, null, newKey ? { [NEW_KEY_HEADER]: newKey } : undefined);
    this.emit(out, 'c', null, after, oldKey ? { [OLD_KEY_HEADER]: oldKey } : undefined);
  }

  /** Where the records of one change are collected (a method writes them, not a closure made per change: that costs an allocation each). */
  private output(table: TableEncoding, source: PostgresSourceBlock): ChangeOutput {
    return { table, source, built: { records: [], events: [] } };
  }

  /** One event of a change; skipped operations produce nothing (a skipped delete no tombstone either). */
  private emit(out: ChangeOutput, op: Op, before: Row | null, after: Row | null, headers?: Record<string, Buffer>): void {
    const { table, source, built } = out;
    if (this.options.skippedOperations?.has(op)) return;
    const event: ChangeEvent<PostgresSourceBlock> = { before, after, source, op, ts_ms: Date.now() };
    let why = table.refused?.message;
    if (!why) {
      try {
        const key = this.encodeKey(table, after ?? before);
        const value = table.valueEncoder.encode(event);
        built.records.push(headers ? { topic: table.topic, key, value, headers } : { topic: table.topic, key, value });
        built.events.push({ table: `${table.schema}.${table.table}`, op });
        if (op === 'd' && this.options.tombstones) built.records.push({ topic: table.topic, key, value: null });
        return;
      } catch (error) {
        // A value its format cannot hold (Avro: the TOAST placeholder in a non-text array): a dead letter, not a stuck source.
        if (!this.options.deadLetters) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        why = `table ${table.schema}.${table.table}: the ${op} event does not fit the ${this.options.converter.format} schema of ${table.topic}: ${reason.slice(0, 500)}`;
      }
    }
    const key = this.encodeKey(table, after ?? before, table.deadLetterKeyEncoder);
    built.records.push(this.deadLetter(table, why, key, table.deadLetterValueEncoder.encode(event), source.lsn));
    (built.deadLettered ??= []).push(`${table.schema}.${table.table}`);
  }

  /** An event of a refused table (or one its format cannot hold) as a dead letter (the dead-letter contract; offset: the change's LSN, as no partition offset exists yet). */
  private deadLetter(table: TableEncoding, error: string, key: Buffer | null, value: Buffer, lsn: number | null): KafkaRecord {
    const { topic, connector } = this.options.deadLetters!;
    const message = deadLetterMessage({ topic: table.topic, partition: -1, offset: `lsn:${lsn ?? ''}`, key, value, error }, connector);
    const headers: Record<string, Buffer> = {};
    for (const [name, text] of Object.entries(message.headers)) headers[name] = Buffer.from(text);
    return { topic, key, value, headers };
  }

  private keyChanged(table: TableEncoding, before: Record<string, unknown>, after: Record<string, unknown>): boolean {
    return table.keyColumns.some((name) => before[name] !== after[name]);
  }

  private encodeKey(table: TableEncoding, row: Row | null, encoder = table.keyEncoder): Buffer | null {
    if (!encoder || !row) return null;
    const key: Row = {};
    for (const name of table.keyColumns) key[name] = row[name] ?? null;
    return encoder.encode(key);
  }

  private keyOnlyRow(table: TableEncoding, key: Record<string, unknown>): Row {
    const row: Row = {};
    for (const column of table.columns) {
      const text = key[column.name];
      row[column.name] = typeof text === 'string' ? this.convert(table, column, text) : column.nullValue;
    }
    return row;
  }

  /**
   * Converts a tuple of text values. `undefined` marks an unchanged TOASTed value
   * that pgoutput did not send: it is taken from `old` (the old tuple under
   * REPLICA IDENTITY FULL) when that has it, else it becomes Debezium's
   * placeholder so no sink overwrites the stored value with it.
   */
  private row(table: TableEncoding, tuple: Record<string, unknown>, old?: Record<string, unknown> | null): Row {
    const row: Row = {};
    for (const column of table.columns) {
      let value = tuple[column.name];
      if (value === undefined && old) value = old[column.name];
      if (value === null) row[column.name] = column.nullValue;
      else if (value === undefined) row[column.name] = column.unavailable;
      else row[column.name] = this.convert(table, column, value as string);
    }
    return row;
  }

  private convert(table: TableEncoding, column: EncodedColumn, text: string): unknown {
    try {
      return column.mapping.fromText(text);
    } catch (error) {
      this.options.onBadValue?.(`${table.schema}.${table.table}`, column.name, text, error);
      return null;
    }
  }
}
