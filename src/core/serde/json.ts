import type { ConnectSchema } from '../connect-schema.js';
import type { ChangeEvent, Row } from '../events.js';

/**
 * Debezium JsonConverter encoding with schemas enabled: every key and value is
 * `{ "schema": ..., "payload": ... }`. Schemas are serialized once per table
 * and spliced in as text, so the per-event cost is one JSON.stringify of the
 * payload.
 */
export class JsonEnvelopeCodec {
  private readonly schemaText: string;

  constructor(readonly schema: ConnectSchema) {
    this.schemaText = JSON.stringify(schema);
  }

  encode(payload: unknown): Buffer {
    return Buffer.from(`{"schema":${this.schemaText},"payload":${JSON.stringify(payload)}}`);
  }
}

export interface DecodedMessage<T> {
  schema: ConnectSchema | null;
  payload: T;
}

/** Reads a JsonConverter message; accepts schemaless payloads too (schema: null). */
export function decodeJsonMessage<T>(bytes: Buffer | string): DecodedMessage<T> {
  const parsed: unknown = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  if (parsed && typeof parsed === 'object' && 'payload' in parsed && 'schema' in parsed) {
    const envelope = parsed as { schema: ConnectSchema | null; payload: T };
    return { schema: envelope.schema, payload: envelope.payload };
  }
  return { schema: null, payload: parsed as T };
}

export type ChangeEventMessage = DecodedMessage<ChangeEvent>;
export type KeyMessage = DecodedMessage<Row>;
