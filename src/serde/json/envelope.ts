/**
 * Debezium's JsonConverter layout with schemas enabled: every key and value is
 * `{"schema":<schema>,"payload":<value>}`, compact, schema first. Schemas are
 * serialized once per schema and spliced in as text, so the per-event cost is
 * one JSON.stringify of the payload; a reader that knows a schema's text skips
 * it by comparing bytes and parses only the payload.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { SchemaEncoder } from '../converter.js';
import { parseJson, stringifyJson } from './lossless.js';
import { floatFieldsOf, stringifyWithFloats } from './special-floats.js';

export class JsonEnvelopeEncoder implements SchemaEncoder {
  /** The schema as JSON text, as it appears in every message. */
  readonly schemaText: string;
  /** Its float fields, where NaN, ±Infinity and -0 are written as JsonConverter writes them (special-floats.ts). */
  private readonly floats: ReturnType<typeof floatFieldsOf>;

  constructor(readonly schema: ConnectSchema) {
    this.schemaText = JSON.stringify(schema);
    this.floats = floatFieldsOf(schema);
  }

  encode(payload: unknown): Buffer {
    const text = this.floats ? stringifyWithFloats(this.floats, payload) : stringifyJson(payload);
    return Buffer.from(`{"schema":${this.schemaText},"payload":${text}}`);
  }
}

/** Schemaless messages (JsonConverter with schemas.enable=false): the bare value. */
export class SchemalessJsonEncoder implements SchemaEncoder {
  readonly schema = null;

  encode(value: unknown): Buffer {
    return Buffer.from(stringifyJson(value));
  }
}

/** JsonConverter's bytes for a record with neither schema nor value. */
export const NULL_ENVELOPE = Buffer.from('{"schema":null,"payload":null}');

/** The bytes a message with schema text `schemaText` starts with. */
export function schemaPrefix(schemaText: string): Buffer {
  return Buffer.from(`{"schema":${schemaText},"payload":`);
}

/**
 * True when `bytes` is a message that starts with `prefix` (a known schema's)
 * and ends the envelope right after the payload: its payload is then the bytes
 * between, and the schema need not be parsed.
 */
export function hasPrefix(bytes: Buffer, prefix: Buffer): boolean {
  if (bytes.length <= prefix.length || bytes[bytes.length - 1] !== 0x7d /* } */) return false;
  return bytes.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** Reads a whole JsonConverter message; a value without the envelope is schemaless (schema null). */
export function parseEnvelope(bytes: Buffer): { schema: ConnectSchema | null; payload: unknown } {
  const parsed: unknown = parseJson(bytes.toString('utf8'));
  if (parsed && typeof parsed === 'object' && 'payload' in parsed && 'schema' in parsed) {
    const envelope = parsed as { schema: ConnectSchema | null; payload: unknown };
    return { schema: envelope.schema, payload: envelope.payload };
  }
  return { schema: null, payload: parsed };
}
