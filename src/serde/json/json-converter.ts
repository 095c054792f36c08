/**
 * The `json` format: Debezium's JsonConverter with schemas enabled, byte for
 * byte as tideline has always written it (test/unit/serde-golden.test.ts).
 * Schemaless messages (a bare JSON value) are read, and written for records
 * that have no schema.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { ConnectData, Converter, MessagePart, SchemaEncoder, SchemaEntry } from '../converter.js';
import { JsonEnvelopeEncoder, NULL_ENVELOPE, SchemalessJsonEncoder } from './envelope.js';
import { JsonSchemaCache } from './schema-cache.js';

const SCHEMALESS = new SchemalessJsonEncoder();

export class JsonConverter implements Converter {
  readonly format = 'json';
  private readonly cache: JsonSchemaCache;

  /** `nextId`: where entry ids come from (a converter that embeds this one shares its ids). */
  constructor(nextId?: () => number) {
    this.cache = new JsonSchemaCache(nextId);
  }

  // Topic and part do not change JSON bytes; formats with a schema registry need them.
  encoder(_topic: string, _part: MessagePart, schema: ConnectSchema | null): Promise<SchemaEncoder> {
    return Promise.resolve(schema ? new JsonEnvelopeEncoder(schema) : SCHEMALESS);
  }

  /** JSON messages carry their schema: nothing to load. */
  loadSchemas(): null {
    return null;
  }

  nullKey(): Buffer {
    return NULL_ENVELOPE;
  }

  decodeKey<T = unknown>(bytes: Buffer, hint?: SchemaEntry): ConnectData<T> {
    return this.cache.decode<T>(bytes, true, hint);
  }

  decodeValue<T = unknown>(bytes: Buffer, hint?: SchemaEntry): ConnectData<T> {
    return this.cache.decode<T>(bytes, false, hint);
  }
}
