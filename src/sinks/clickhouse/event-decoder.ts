/**
 * The one place the ClickHouse writer turns message bytes into change events
 * (JsonConverter JSON with schemas, core/serde/json.ts): the event, its
 * table state, the key columns from the message key, and the key-change
 * headers.
 *
 * Fast path: a message with the topic's current schema starts with that
 * schema's bytes, so only its payload is parsed.
 */
import { NEW_KEY_HEADER, OLD_KEY_HEADER, type ChangeEvent, type Row } from '../../core/events.js';
import type { ConnectSchema } from '../../core/connect-schema.js';
import { decodeJsonMessage, parseJson, schemaPrefix } from '../../core/serde/json.js';
import type { ConsumedRecord } from '../runtime/writer.js';
import { UnwritableEventError, type KeyChange } from './rows.js';
import type { TableCatalog, TableState } from './table-catalog.js';

export interface DecodedEvent {
  event: ChangeEvent;
  /** Null for a truncate: it has no key and must not (re)plan the table. */
  state: TableState | null;
}

export class EventDecoder {
  /** How messages of a table state's schema start. */
  private readonly prefixes = new WeakMap<TableState, Buffer>();

  constructor(private readonly catalog: TableCatalog) {}

  /** The common case: a message with the topic's current schema; undefined when it is not. */
  fast(topic: string, record: ConsumedRecord): { event: ChangeEvent; state: TableState } | undefined {
    const known = this.catalog.latest(topic);
    if (!known || !record.value) return undefined;
    let prefix = this.prefixes.get(known);
    if (!prefix) this.prefixes.set(known, (prefix = schemaPrefix(known.schemaText)));
    const event = decodePayload(record.value, prefix);
    return event ? { event, state: known } : undefined;
  }

  /** Any message: parses the schema too, and plans (creates, alters) the table of a new one. */
  async full(topic: string, record: ConsumedRecord): Promise<DecodedEvent> {
    const fast = this.fast(topic, record);
    if (fast) return fast;
    const decoded = decodeJsonMessage<ChangeEvent>(record.value!);
    if (!decoded.schema) throw new UnwritableEventError('message has no schema: the sink needs JsonConverter messages with schemas');
    const event = decoded.payload;
    if (!event || typeof event !== 'object' || !event.source) throw new UnwritableEventError('message is not a Debezium change event (no source block)');
    if (event.op === 't') return { event, state: null };
    return { event, state: await this.catalog.tableFor(topic, event, decoded.schema, keyFieldNames(record)) };
  }

  /** The primary-key change an event belongs to, from Debezium's headers (see change-events.ts). */
  keyChange(record: ConsumedRecord): KeyChange | undefined {
    const headers = record.headers;
    if (!headers) return undefined;
    if (headers[NEW_KEY_HEADER] !== undefined) return { newKey: true };
    const oldKey = headers[OLD_KEY_HEADER];
    if (oldKey === undefined) return undefined;
    const bytes = Array.isArray(oldKey) ? oldKey[0] : oldKey;
    if (bytes === undefined) return undefined;
    const payload = decodeJsonMessage<Row>(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)).payload;
    if (!payload || typeof payload !== 'object') throw new UnwritableEventError(`header ${OLD_KEY_HEADER} holds no key`);
    return { oldKey: payload };
  }
}

/** Whether the record is the delete of a primary-key change (header __debezium.newkey). */
export function isKeyChangeDelete(record: ConsumedRecord): boolean {
  return record.headers?.[NEW_KEY_HEADER] !== undefined;
}

/** Key columns from the message key's Connect schema (Debezium's `<topic>.Key`); empty for a table without a key. */
function keyFieldNames(record: ConsumedRecord): Set<string> {
  if (!record.key) return new Set();
  const key = decodeJsonMessage<Record<string, unknown>>(record.key);
  const fields = (key.schema as ConnectSchema | null)?.fields?.map((field) => field.field ?? '');
  return new Set(fields ?? Object.keys(key.payload ?? {}));
}

/**
 * decodePayloadWithPrefix for change events, faster: plain JSON.parse, and
 * the exact (lossless) parser only when an integer came out beyond 2^53 (a
 * 16-digit double such as 0.3333333333333333 does not need it).
 */
function decodePayload(bytes: Buffer, prefix: Buffer): ChangeEvent | undefined {
  if (bytes.length <= prefix.length || bytes[bytes.length - 1] !== 0x7d /* } */) return undefined;
  if (bytes.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return undefined;
  const text = bytes.toString('utf8', prefix.length, bytes.length - 1);
  const event = JSON.parse(text) as ChangeEvent;
  return hasUnsafeInteger(event.after) || hasUnsafeInteger(event.before) || hasUnsafeInteger(event.source) ? (parseJson(text) as ChangeEvent) : event;
}

function hasUnsafeInteger(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasUnsafeInteger);
  for (const key in value) if (hasUnsafeInteger((value as Record<string, unknown>)[key])) return true;
  return false;
}
