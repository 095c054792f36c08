import { parse as parseLossless } from 'lossless-json';
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
    return Buffer.from(`{"schema":${this.schemaText},"payload":${stringifyJson(payload)}}`);
  }
}

const BIGINT_MARK = '\u0000bigint:';
const BIGINT_TOKEN = /"\\u0000bigint:(-?\d+)"/g;

/**
 * JSON.stringify that writes bigint values (int64 beyond 2^53) as exact JSON
 * numbers, as Debezium does. The common case, no bigint, costs one native call.
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const marked = JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? `${BIGINT_MARK}${inner}` : inner));
    return marked.replace(BIGINT_TOKEN, '$1');
  }
}

/** A run of 16+ digits: a number that may not survive JSON.parse exactly. */
const LONG_NUMBER = /\d{16,}/;

function parseExactNumber(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) || !/^-?\d+$/.test(text) ? value : BigInt(text);
}

/**
 * JSON.parse, except that integers beyond 2^53 come back as exact bigint.
 * Only text with a long digit run takes the slower lossless parser.
 */
export function parseJson(text: string): unknown {
  return LONG_NUMBER.test(text) ? parseLossless(text, null, parseExactNumber) : JSON.parse(text);
}

export interface DecodedMessage<T> {
  schema: ConnectSchema | null;
  payload: T;
}

/** Reads a JsonConverter message; accepts schemaless payloads too (schema: null). */
export function decodeJsonMessage<T>(bytes: Buffer | string): DecodedMessage<T> {
  const parsed: unknown = parseJson(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  if (parsed && typeof parsed === 'object' && 'payload' in parsed && 'schema' in parsed) {
    const envelope = parsed as { schema: ConnectSchema | null; payload: T };
    return { schema: envelope.schema, payload: envelope.payload };
  }
  return { schema: null, payload: parsed as T };
}

export type ChangeEventMessage = DecodedMessage<ChangeEvent>;
export type KeyMessage = DecodedMessage<Row>;

/**
 * The bytes a JsonConverter message starts with when it carries `schemaText`
 * (compact JSON, schema first, as tideline and Debezium write them).
 */
export function schemaPrefix(schemaText: string): Buffer {
  return Buffer.from(`{"schema":${schemaText},"payload":`);
}

/**
 * Fast path for a stream of messages with one schema: when `bytes` starts with
 * `prefix`, only the payload is parsed (the schema is most of the bytes).
 * Returns undefined when the message has another schema or another layout.
 */
export function decodePayloadWithPrefix<T>(bytes: Buffer, prefix: Buffer): T | undefined {
  if (bytes.length <= prefix.length || bytes[bytes.length - 1] !== 0x7d /* } */) return undefined;
  if (bytes.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return undefined;
  return parseJson(bytes.toString('utf8', prefix.length, bytes.length - 1)) as T;
}
