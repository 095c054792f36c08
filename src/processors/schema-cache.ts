/**
 * Decoding JsonConverter messages of a stream where a few schemas repeat: the
 * schema text is most of each message, so once a schema is known, messages
 * that start with it have only their payload parsed (as the sink does).
 */
import type { ConnectSchema } from '../core/connect-schema.js';
import { decodeJsonMessage, decodePayloadWithPrefix, schemaPrefix } from '../core/serde/json.js';

export interface KnownSchema<Extra> {
  schema: ConnectSchema | null;
  /** The schema as JSON text ('null' for schemaless messages). */
  text: string;
  extra: Extra;
}

/** How many distinct schemas are kept before the cache starts over (schema changes are rare). */
const MAX_SCHEMAS = 64;

export class SchemaCache<Extra> {
  private readonly known: { prefix: Buffer; entry: KnownSchema<Extra> }[] = [];
  private readonly byText = new Map<string, KnownSchema<Extra>>();

  /** `derive` computes the per-schema extra (a plan, codecs) the first time a schema is seen. */
  constructor(private readonly derive: (schema: ConnectSchema | null) => Extra) {}

  decode<T>(bytes: Buffer): { entry: KnownSchema<Extra>; payload: T } {
    for (const { prefix, entry } of this.known) {
      const payload = decodePayloadWithPrefix<T>(bytes, prefix);
      if (payload !== undefined) return { entry, payload };
    }
    const decoded = decodeJsonMessage<T>(bytes);
    return { entry: this.entryFor(decoded.schema), payload: decoded.payload };
  }

  entryFor(schema: ConnectSchema | null): KnownSchema<Extra> {
    const text = JSON.stringify(schema);
    let entry = this.byText.get(text);
    if (!entry) {
      if (this.byText.size >= MAX_SCHEMAS) {
        this.byText.clear();
        this.known.length = 0;
      }
      entry = { schema, text, extra: this.derive(schema) };
      this.byText.set(text, entry);
      if (schema) this.known.push({ prefix: schemaPrefix(text), entry });
    }
    return entry;
  }
}
