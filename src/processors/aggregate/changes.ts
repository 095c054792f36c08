/**
 * What the aggregation stage applies to one group: a signed change. `add` is
 * a contribution to count (an event in mode event, a row's new version in mode
 * table); `retract` is one to take back (the row's previous version, which was
 * added before to this same group). An update that keeps the row in its group
 * is one change with both, so the group's result never shows the row missing;
 * one that moves the row is two changes, one per group.
 *
 * Repartition records (key = the group, so a group always lands in one
 * partition) carry a change compactly: `{g, t, v}` is an addition (the
 * format of mode event, unchanged), `rt`/`rv` a retraction; either may be
 * absent in mode table.
 */
import { parseJson, stringifyJson } from '../../serde/json/lossless.js';
import { EventInputError, type AggregateInput } from './extract.js';

export interface Contribution {
  /** Event time, ms since the epoch. */
  ts: number;
  /** One value per aggregate, in config order (null: no expression, or SQL null). */
  values: unknown[];
}

export interface GroupChange {
  group: unknown[];
  add: Contribution | null;
  retract: Contribution | null;
}

/** An event of mode event (or of the input itself without repartition): an addition only. */
export function additionOf(input: AggregateInput): GroupChange {
  return { group: input.group, add: { ts: input.ts, values: input.values }, retract: null };
}

interface RepartitionRecord {
  g: unknown[];
  t?: number;
  v?: unknown[];
  rt?: number;
  rv?: unknown[];
}

export function encodeChange(change: GroupChange): { key: Buffer; value: Buffer } {
  const record: RepartitionRecord = { g: change.group };
  // undefined (no expression) is kept as null; aggregators treat both alike.
  if (change.add) Object.assign(record, { t: change.add.ts, v: change.add.values.map((value) => value ?? null) });
  if (change.retract) Object.assign(record, { rt: change.retract.ts, rv: change.retract.values.map((value) => value ?? null) });
  return { key: Buffer.from(stringifyJson(change.group)), value: Buffer.from(stringifyJson(record)) };
}

export function decodeChange(value: Buffer): GroupChange {
  const parsed = parseJson(value.toString('utf8')) as RepartitionRecord | null;
  if (!parsed || !Array.isArray(parsed.g)) throw new EventInputError('not a repartition record');
  const part = (ts: unknown, values: unknown): Contribution | null => {
    if (ts === undefined) return null;
    if (typeof ts !== 'number' || !Array.isArray(values)) throw new EventInputError('not a repartition record');
    return { ts, values };
  };
  const change = { group: parsed.g, add: part(parsed.t, parsed.v), retract: part(parsed.rt, parsed.rv) };
  if (!change.add && !change.retract) throw new EventInputError('not a repartition record');
  return change;
}
