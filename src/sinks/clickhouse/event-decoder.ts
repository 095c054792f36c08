/**
 * The one place the ClickHouse writer turns message bytes into change events,
 * through the connector's Converter (src/serde): the event, its table state,
 * the key columns from the message key, and the key-change headers.
 *
 * Fast path: a message whose schema is the topic's latest (the converter's
 * cached SchemaEntry, given as the hint) is decoded without parsing its
 * schema, only the source block fields the sink uses read, and its table
 * state is known without planning.
 */
import { NEW_KEY_HEADER, OLD_KEY_HEADER, type ChangeEvent, type Row } from '../../core/events.js';
import { RowVersionError, type RowVersions } from '../../core/row-versions.js';
import type { Converter, Projection, SchemaEntry } from '../../serde/converter.js';
import type { ConsumedRecord } from '../runtime/writer.js';
import { UnwritableEventError, type KeyChange } from './rows.js';
import type { TableCatalog, TableState } from './table-catalog.js';

export interface DecodedEvent {
  event: ChangeEvent;
  /** Null for a truncate: it has no key and must not (re)plan the table. */
  state: TableState | null;
}

/** One projection object per RowVersions (the daemon has one): converters key their projected readers by it. */
const projections = new WeakMap<RowVersions, Projection>();

function sourceProjection(rowVersions: RowVersions): Projection {
  let projection = projections.get(rowVersions);
  if (!projection) projections.set(rowVersions, (projection = { source: ['ts_ms', ...rowVersions.sourceFields] }));
  return projection;
}

export class EventDecoder {
  /** Per topic: the value schema of its latest planned event and that table state. */
  private readonly latest = new Map<string, { entry: SchemaEntry; state: TableState }>();
  /**
   * What the fast path reads of the source block: its commit time and the
   * row version's fields (the rest, a dozen strings and longs an event, is
   * skipped undecoded by the avro format).
   */
  private readonly projection: Projection;

  constructor(
    private readonly catalog: TableCatalog,
    private readonly converter: Converter,
    private readonly rowVersions: RowVersions,
  ) {
    this.projection = sourceProjection(rowVersions);
  }

  /**
   * The event's row version, as the kind that wrote its source block defines
   * it; an event of an unknown connector, or without the version, is unwritable.
   */
  rowVersion(event: ChangeEvent): number {
    try {
      return this.rowVersions.of(event.source);
    } catch (error) {
      if (error instanceof RowVersionError) throw new UnwritableEventError(error.message);
      throw error;
    }
  }

  /** The common case: a message with the topic's current schema; undefined when it is not (or a truncate). */
  fast(topic: string, record: ConsumedRecord): { event: ChangeEvent; state: TableState } | undefined {
    const known = this.latest.get(topic);
    if (!known || !record.value) return undefined;
    const decoded = this.converter.decodeValue<ChangeEvent>(record.value, known.entry, this.projection);
    if (decoded.schema !== known.entry || decoded.value?.op === 't') return undefined;
    return { event: decoded.value, state: known.state };
  }

  /** Any message: plans (creates, alters) the table of a schema not seen before. */
  async full(topic: string, record: ConsumedRecord): Promise<DecodedEvent> {
    const decoded = this.converter.decodeValue<ChangeEvent>(record.value!, this.latest.get(topic)?.entry);
    const envelope = decoded.schema.schema;
    if (!envelope) throw new UnwritableEventError(`message has no schema: the sink needs ${this.converter.format} messages with schemas`);
    const event = decoded.value;
    if (!event || typeof event !== 'object' || !event.source) throw new UnwritableEventError('message is not a Debezium change event (no source block)');
    if (event.op === 't') return { event, state: null };
    // A batch fetched before its table was planned comes here message by
    // message: once one has planned it, the rest of that schema are known.
    const known = this.latest.get(topic);
    if (known && known.entry === decoded.schema) return { event, state: known.state };
    const state = await this.catalog.tableFor(topic, event, envelope, this.keyFieldNames(record));
    this.latest.set(topic, { entry: decoded.schema, state });
    return { event, state };
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
    const payload = this.converter.decodeKey<Row>(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)).value;
    if (!payload || typeof payload !== 'object') throw new UnwritableEventError(`header ${OLD_KEY_HEADER} holds no key`);
    return { oldKey: payload };
  }

  /** Key columns from the message key's Connect schema (Debezium's `<topic>.Key`); empty for a table without a key. */
  private keyFieldNames(record: ConsumedRecord): Set<string> {
    if (!record.key) return new Set();
    const key = this.converter.decodeKey<Record<string, unknown> | null>(record.key);
    const fields = key.schema.schema?.fields?.map((field) => field.field ?? '');
    return new Set(fields ?? Object.keys(key.value ?? {}));
  }
}

/** Whether the record is the delete of a primary-key change (header __debezium.newkey). */
export function isKeyChangeDelete(record: ConsumedRecord): boolean {
  return record.headers?.[NEW_KEY_HEADER] !== undefined;
}
