/**
 * The format seam, after Kafka Connect's `Converter`: between the neutral
 * model (a ConnectSchema plus a value) and the bytes of a Kafka key or value.
 * Connectors and processors never build or parse event bytes themselves; they
 * get a Converter from the runtime (ConnectorContext.converter), chosen by the
 * `format` setting.
 *
 *  - Encoding (Connect's fromConnectData) goes through a SchemaEncoder made
 *    once per schema, so a stream of events of one table pays for its schema
 *    once, not per event.
 *  - Decoding (Connect's toConnectData) goes through the converter's one
 *    schema cache: a message whose schema is already known skips parsing the
 *    schema, and comes back with the cached SchemaEntry, whose identity callers
 *    key their own per-schema state by (plans, table state).
 */
import type { ConnectSchema } from '../core/connect-schema.js';

/** The formats tideline can write and read. */
export const FORMATS = ['json'] as const;
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
   * messages). Make it once per schema and keep it.
   */
  encoder(topic: string, part: MessagePart, schema: ConnectSchema | null): SchemaEncoder;
  /**
   * The key of a record that has neither key schema nor key value (a
   * truncate): compacted topics refuse records without key bytes.
   */
  nullKey(topic: string): Buffer;
  /**
   * Decodes a message key. `hint`: the entry a message of this stream had
   * last; it is tried first. Throws DecodeError on bytes of another format.
   */
  decodeKey<T = unknown>(bytes: Buffer, hint?: SchemaEntry): ConnectData<T>;
  /** Decodes a message value (not a tombstone: callers handle null bytes). As decodeKey. */
  decodeValue<T = unknown>(bytes: Buffer, hint?: SchemaEntry): ConnectData<T>;
}
