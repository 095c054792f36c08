/**
 * Debezium's signals, as its PostgreSQL connector reads them from the signal
 * table `(id varchar primary key, type varchar, data varchar)` and from the
 * Kafka signal topic (value `{"type": ..., "data": {...}}`). Pure: parsing and
 * validation only; what a signal does is the incremental snapshotter's.
 *
 *  - execute-snapshot `{"data-collections": ["public.t"], "type": "incremental",
 *    "additional-conditions": [{"data-collection": "public.t", "filter": "id > 100"}]}`
 *    (Debezium 2.x; 1.x's `"additional-condition": "<filter>"` for every table is read too)
 *  - stop-snapshot `{"data-collections": [...], "type": "incremental"}` (none listed: every table)
 *  - pause-snapshot, resume-snapshot (no data)
 *  - snapshot-window-open, snapshot-window-close: the watermarks the source
 *    writes itself (the id names the chunk)
 */
import { TidelineError } from '../../core/errors.js';
import { splitTableName } from './sql.js';

export type SignalType = 'execute-snapshot' | 'stop-snapshot' | 'pause-snapshot' | 'resume-snapshot' | 'snapshot-window-open' | 'snapshot-window-close';

export const SIGNAL_TYPES: readonly SignalType[] = ['execute-snapshot', 'stop-snapshot', 'pause-snapshot', 'resume-snapshot', 'snapshot-window-open', 'snapshot-window-close'];

/** The types a user sends (the watermarks are the source's own). */
export const USER_SIGNAL_TYPES: readonly SignalType[] = ['execute-snapshot', 'stop-snapshot', 'pause-snapshot', 'resume-snapshot'];

/** One table of an execute-snapshot, with its additional condition (an SQL boolean expression), if any. */
export interface SnapshotRequestTable {
  /** "schema.table" */
  table: string;
  filter: string | null;
}

export type Signal =
  | { id: string; type: 'execute-snapshot'; tables: SnapshotRequestTable[] }
  /** `tables` null: stop the whole snapshot. */
  | { id: string; type: 'stop-snapshot'; tables: string[] | null }
  | { id: string; type: 'pause-snapshot' | 'resume-snapshot' | 'snapshot-window-open' | 'snapshot-window-close' };

/** A signal that cannot be used, with what is wrong and where. */
export class SignalError extends TidelineError {}

/** "public.t" or "t" (public) to "schema.table". */
function qualified(name: string): string {
  const { schema, table } = splitTableName(name);
  return `${schema}.${table}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `data` as sent: the signal table's text column (JSON or empty), or the Kafka value's object. */
function dataObject(data: unknown, where: string): Record<string, unknown> {
  if (data === null || data === undefined || data === '') return {};
  let parsed = data;
  if (typeof data === 'string') {
    try {
      parsed = JSON.parse(data);
    } catch (error) {
      throw new SignalError(`${where}: data is not JSON (${(error as Error).message})`);
    }
  }
  if (parsed === null) return {};
  if (!isObject(parsed)) throw new SignalError(`${where}: data must be a JSON object, got ${JSON.stringify(parsed)}`);
  return parsed;
}

function collections(data: Record<string, unknown>, where: string, required: boolean): string[] | null {
  const value = data['data-collections'];
  if (value === undefined || value === null) {
    if (required) throw new SignalError(`${where}: data-collections is missing (a list of "schema.table")`);
    return null;
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.trim() !== '')) {
    throw new SignalError(`${where}: data-collections must be a list of "schema.table" names, got ${JSON.stringify(value)}`);
  }
  if (required && value.length === 0) throw new SignalError(`${where}: data-collections is empty`);
  return (value as string[]).map((name) => qualified(name.trim()));
}

function snapshotKind(data: Record<string, unknown>, where: string): void {
  const type = data.type;
  if (type === undefined || type === null) return;
  if (typeof type !== 'string' || type.toLowerCase() !== 'incremental') {
    throw new SignalError(`${where}: snapshot type ${JSON.stringify(type)} is not supported (only "incremental")`);
  }
}

/** Filters by table from Debezium 2.x's additional-conditions, or 1.x's additional-condition for all. */
function filters(data: Record<string, unknown>, tables: readonly string[], where: string): Map<string, string> {
  const byTable = new Map<string, string>();
  const single = data['additional-condition'];
  if (single !== undefined && single !== null) {
    if (typeof single !== 'string') throw new SignalError(`${where}: additional-condition must be a string`);
    if (single.trim()) for (const table of tables) byTable.set(table, single.trim());
  }
  const list = data['additional-conditions'];
  if (list === undefined || list === null) return byTable;
  if (!Array.isArray(list)) throw new SignalError(`${where}: additional-conditions must be a list of {"data-collection", "filter"}`);
  list.forEach((entry: unknown, index) => {
    const at = `${where}: additional-conditions[${index}]`;
    if (!isObject(entry)) throw new SignalError(`${at} must be an object {"data-collection", "filter"}`);
    const table = entry['data-collection'];
    const filter = entry.filter;
    if (typeof table !== 'string' || !table.trim()) throw new SignalError(`${at}: data-collection must be a "schema.table" name`);
    if (typeof filter !== 'string') throw new SignalError(`${at}: filter must be a string (an SQL condition)`);
    const name = qualified(table.trim());
    if (!tables.includes(name)) throw new SignalError(`${at}: ${name} is not in data-collections`);
    if (filter.trim()) byTable.set(name, filter.trim());
  });
  return byTable;
}

/**
 * Parses one signal. `where` names its origin for errors (e.g. `signal table
 * row "s-1"`). Throws SignalError for an unknown type or bad data.
 */
export function parseSignal(id: string, type: string, data: unknown, where: string): Signal {
  const known = SIGNAL_TYPES.find((candidate) => candidate === type);
  if (!known) throw new SignalError(`${where}: unknown signal type ${JSON.stringify(type)} (known: ${SIGNAL_TYPES.join(', ')})`);
  switch (known) {
    case 'execute-snapshot': {
      const object = dataObject(data, where);
      snapshotKind(object, where);
      const tables = [...new Set(collections(object, where, true)!)];
      const byTable = filters(object, tables, where);
      return { id, type: known, tables: tables.map((table) => ({ table, filter: byTable.get(table) ?? null })) };
    }
    case 'stop-snapshot': {
      const object = dataObject(data, where);
      snapshotKind(object, where);
      const tables = collections(object, where, false);
      return { id, type: known, tables: tables && tables.length > 0 ? tables : null };
    }
    default:
      return { id, type: known };
  }
}

/**
 * A signal as Debezium's Kafka channel carries it: key = the connector's topic
 * prefix (signals for other connectors are skipped: null), value
 * `{"type": ..., "data": {...}}` (an `id` in the value is ignored).
 */
export function parseKafkaSignal(key: Buffer | null, value: Buffer | null, topicPrefix: string, where: string): { type: string; data: unknown } | null {
  if (key?.toString() !== topicPrefix) return null;
  if (!value) throw new SignalError(`${where}: no value`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString());
  } catch (error) {
    throw new SignalError(`${where}: value is not JSON (${(error as Error).message})`);
  }
  if (!isObject(parsed) || typeof parsed.type !== 'string') throw new SignalError(`${where}: value must be {"type": ..., "data": {...}}`);
  return { type: parsed.type, data: parsed.data ?? null };
}
