/**
 * The format seam, after Kafka Connect's `Converter`: between the neutral
 * model (a ConnectSchema plus a value) and the bytes of a Kafka key or value.
 * Connectors and processors never build or parse event bytes themselves; they
 * get a Converter from the runtime (ConnectorContext.converter), chosen by the
 * `format` setting.
 *
 *  - Encoding (Connect's fromConnectData) goes through a SchemaEncoder made
 *    once per schema, so a stream of events of one table pays for its schema
 *    once, not per event. Making one is async (a format with a schema
 *    registry registers the schema then; the registry may refuse it, see
 *    IncompatibleSchemaError); encoding with it is synchronous.
 *  - Decoding (Connect's toConnectData) goes through the converter's one
 *    schema cache: a message whose schema is already known skips parsing the
 *    schema, and comes back with the cached SchemaEntry, whose identity callers
 *    key their own per-schema state by (plans, table state). Messages that
 *    name their schema by a registry id need it loaded first: a consumer calls
 *    loadSchemas() once per batch (null, no Promise, when there is nothing to
 *    load, which is every batch of the json format and almost every batch of
 *    avro), then decodes synchronously.
 */
import type { ConnectSchema } from '../core/connect-schema.js';

/** The formats tideline can write and read. */
export const FORMATS = ['json', 'avro'] as const;
export type FormatName = (typeof FORMATS)[number];

/** Which half of a Kafka record: formats with a schema registry name subjects by it. */
export type MessagePart = 'key' | 'value';

/**
 * A schema the converter's cache holds. While it is cached, every message with
 * that schema decodes to the same SchemaEntry object. The cache is bounded:
 * after many distinct schemas the oldest are dropped and a schema seen again
 * gets a new entry (with a new id), so key per-schema state by the entry in a
 * WeakMap, or bound it.
 */
export interface SchemaEntry {
  /** Unique for the converter's life, never reused. */
  readonly id: number;
  /** null: the message carries no schema (schemaless). */
  readonly schema: ConnectSchema | null;
}

/**
 * The fields to read of records nested in a value, by the value field that
 * holds the record: `{ source: ['connector', 'ts_ms', 'lsn'] }` reads only
 * those fields of `source` and skips the others undecoded (the sink's hot
 * path reads three of a source block's twelve). A converter may read more
 * (json parses the whole text anyway); the caller must not read the other
 * fields of those records. Pass the same object every time: converters key
 * their projected readers by it.
 */
export type Projection = Readonly<Record<string, readonly string[]>>;

/** A decoded message: its schema (cached) and its value. */
export interface ConnectData<T> {
  schema: SchemaEntry;
  value: T;
}

/** Encodes values of one schema; made once per schema (the hot path of a source or processor). */
export interface SchemaEncoder {
  readonly schema: ConnectSchema | null;
  /** The message bytes of `value` (a null value is encoded too: it is not a tombstone). */
  encode(value: unknown): Buffer;
}

/** Bytes that are not a message of the converter's format. A SyntaxError, as JSON.parse throws. */
export class DecodeError extends SyntaxError {
  override readonly name = 'DecodeError';
}

export interface Converter {
  readonly format: FormatName;
  /**
   * The encoder of `part` messages of `topic` with `schema` (null: schemaless
   * messages). Make it once per schema and keep it. Rejects with the
   * registry's IncompatibleSchemaError (src/registry/schema-registry.ts) when
   * the schema is refused as a new version of the subject `<topic>-<part>`.
   */
  encoder(topic: string, part: MessagePart, schema: ConnectSchema | null): Promise<SchemaEncoder>;
  /**
   * The key of a record that has neither key schema nor key value (a
   * truncate): compacted topics refuse records without key bytes.
   */
  nullKey(topic: string): Buffer;
  /**
   * Loads the schemas that `messages` (keys, values, header values) name and
   * the converter does not hold yet, so that decodeKey/decodeValue of them is
   * synchronous. Null when there is nothing to load. Rejects when the
   * registry cannot be reached (retry the batch); an id the registry does not
   * have is not an error here: decoding its messages throws DecodeError.
   */
  loadSchemas(messages: Iterable<Buffer | null | undefined>): Promise<void> | null;
  /**
   * Decodes a message key. `hint`: the entry a message of this stream had
   * last; it is tried first (and with avro, a message of an older schema of
   * the same record is resolved to it). Throws DecodeError on bytes it cannot
   * read; a schema not loaded yet (no loadSchemas() call) is a programming
   * error and throws another Error.
   */
  decodeKey<T = unknown>(bytes: Buffer, hint?: SchemaEntry): ConnectData<T>;
  /**
   * Decodes a message value (not a tombstone: callers handle null bytes). As
   * decodeKey; `projection`: fields of nested records to read (see Projection).
   */
  decodeValue<T = unknown>(bytes: Buffer, hint?: SchemaEntry, projection?: Projection): ConnectData<T>;
}
