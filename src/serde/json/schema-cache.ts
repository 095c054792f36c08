/**
 * The JSON converter's one schema cache. Messages of a stream repeat a few
 * schemas, and the schema text is most of each message: once a schema is
 * known, a message that starts with it has only its payload parsed. Keys and
 * values, of every topic a connector reads, share it.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import { DecodeError, type ConnectData, type SchemaEntry } from '../converter.js';
import { hasPrefix, parseEnvelope, schemaPrefix } from './envelope.js';
import { parseJson } from './lossless.js';
import { floatFieldsOf, reviveFloats } from './special-floats.js';

interface JsonSchemaEntry extends SchemaEntry {
  /** The schema as JSON text ('null' for schemaless messages). */
  readonly text: string;
  /** How its messages start; null for schemaless messages (no envelope to skip). */
  readonly prefix: Buffer | null;
  /** Out of the cache: no longer handed out (a hint holding it is ignored). */
  dropped: boolean;
  /** Its float fields, whose "NaN", "Infinity" and "-Infinity" are read back as numbers; null when none. */
  readonly floats: ReturnType<typeof floatFieldsOf>;
}

/** How many distinct schemas are kept; past that the oldest is dropped (schema changes are rare). */
const MAX_SCHEMAS = 64;

export class JsonSchemaCache {
  private readonly byText = new Map<string, JsonSchemaEntry>();
  private readonly nextId: () => number;
  /** The entry the last key and the last value matched: tried first (streams repeat). */
  private lastKey: JsonSchemaEntry | null = null;
  private lastValue: JsonSchemaEntry | null = null;
  /** Schemaless messages all share one entry, never dropped. */
  private readonly schemaless: JsonSchemaEntry;

  constructor(nextId?: () => number) {
    let counter = 1;
    this.nextId = nextId ?? (() => counter++);
    this.schemaless = { id: nextId ? nextId() : 0, schema: null, text: 'null', prefix: null, dropped: false, floats: null };
  }

  /** Decodes a key (isKey) or value; `hint` (an entry of this cache) is tried first. */
  decode<T>(bytes: Buffer, isKey: boolean, hint?: SchemaEntry): ConnectData<T> {
    let entry: JsonSchemaEntry | undefined;
    let value: unknown;
    try {
      const last = isKey ? this.lastKey : this.lastValue;
      entry = this.startsWith(bytes, hint as JsonSchemaEntry | undefined) ?? this.startsWith(bytes, last) ?? this.scan(bytes, last);
      if (entry) {
        value = parseJson(bytes.toString('utf8', entry.prefix!.length, bytes.length - 1));
      } else {
        const decoded = parseEnvelope(bytes);
        entry = this.entryFor(decoded.schema);
        value = decoded.payload;
      }
    } catch (error) {
      if (error instanceof SyntaxError && !(error instanceof DecodeError)) throw new DecodeError(error.message);
      throw error;
    }
    if (entry.floats) value = reviveFloats(entry.floats, value);
    if (isKey) this.lastKey = entry;
    else this.lastValue = entry;
    return { schema: entry, value: value as T };
  }

  /** The cached entry of `schema`, added if new. */
  entryFor(schema: ConnectSchema | null): JsonSchemaEntry {
    if (schema === null) return this.schemaless;
    const text = JSON.stringify(schema);
    let entry = this.byText.get(text);
    if (!entry) {
      if (this.byText.size >= MAX_SCHEMAS) this.dropOldest();
      entry = { id: this.nextId(), schema, text, prefix: schemaPrefix(text), dropped: false, floats: floatFieldsOf(schema) };
      this.byText.set(text, entry);
    }
    return entry;
  }

  private dropOldest(): void {
    const [text, oldest] = this.byText.entries().next().value!;
    this.byText.delete(text);
    oldest.dropped = true;
  }

  /** `entry` when `bytes` is a message with its schema (only the payload then needs parsing). */
  private startsWith(bytes: Buffer, entry: JsonSchemaEntry | null | undefined): JsonSchemaEntry | undefined {
    return entry?.prefix && !entry.dropped && hasPrefix(bytes, entry.prefix) ? entry : undefined;
  }

  private scan(bytes: Buffer, skip: JsonSchemaEntry | null): JsonSchemaEntry | undefined {
    for (const entry of this.byText.values()) {
      if (entry !== skip && this.startsWith(bytes, entry)) return entry;
    }
    return undefined;
  }
}
