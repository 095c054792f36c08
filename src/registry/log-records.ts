/**
 * The records the embedded registry appends to its topic (default `_schemas`).
 *
 * Every record has its own key, `tideline-registry:<type>:<claim uuid>`, never
 * written twice (a retried append gets a new uuid; the producer is idempotent,
 * so a network retry does not duplicate a record). Compaction only removes a
 * record when a later one has the same key, so it never removes any of these:
 * the topic stays the whole history, and every reader replays the same log.
 * That matters because ids and versions are not written in the records: they
 * follow from the records' order (registry-state.ts).
 *
 * Confluent's registry keys its records `{"keytype":"SCHEMA",...}` and puts
 * ids in them; a record that is not ours marks the topic as another
 * registry's (see RegistryState.problem), never as data.
 */
import { isCompatibilityLevel, type CompatibilityLevel } from './compatibility.js';

/** A schema registered under a subject (the text in canonical form). */
export interface RegisterRecord {
  type: 'register';
  claim: string;
  subject: string;
  schema: string;
}

/** The compatibility level of one subject, or the global one (subject null). */
export interface ConfigRecord {
  type: 'config';
  claim: string;
  subject: string | null;
  compatibility: CompatibilityLevel;
}

export type LogRecord = RegisterRecord | ConfigRecord;

const KEY_PREFIX = 'tideline-registry:';
/** The record format; a reader refuses records of a newer one rather than misread them. */
const FORMAT = 1;

export function encodeLogRecord(record: LogRecord): { key: Buffer; value: Buffer } {
  const { claim, ...body } = record;
  return {
    key: Buffer.from(`${KEY_PREFIX}${record.type}:${claim}`),
    value: Buffer.from(JSON.stringify({ format: FORMAT, ...body })),
  };
}

export type DecodedRecord =
  | { kind: 'record'; record: LogRecord }
  /** Not written by tideline's registry (e.g. Confluent's `_schemas`). */
  | { kind: 'foreign'; reason: string }
  /** Ours by its key, but unreadable: a newer format or a damaged value. */
  | { kind: 'unreadable'; reason: string };

export function decodeLogRecord(key: Buffer | null, value: Buffer | null): DecodedRecord {
  const keyText = key?.toString() ?? '';
  if (!keyText.startsWith(KEY_PREFIX)) return { kind: 'foreign', reason: `key ${JSON.stringify(keyText.slice(0, 120))} is not tideline's` };
  const [type, claim] = keyText.slice(KEY_PREFIX.length).split(':', 2);
  if (!value) return { kind: 'unreadable', reason: `record ${keyText} has no value (tideline never deletes)` };
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(value.toString()) as Record<string, unknown>;
  } catch {
    return { kind: 'unreadable', reason: `record ${keyText} is not JSON` };
  }
  if (body.format !== FORMAT) return { kind: 'unreadable', reason: `record ${keyText} has format ${String(body.format)}; this tideline reads format ${FORMAT} (upgrade it)` };
  if (!claim) return { kind: 'unreadable', reason: `record key ${keyText} has no claim id` };
  if (type === 'register' && type === body.type && typeof body.subject === 'string' && typeof body.schema === 'string') {
    return { kind: 'record', record: { type, claim, subject: body.subject, schema: body.schema } };
  }
  if (type === 'config' && type === body.type && (body.subject === null || typeof body.subject === 'string') && isCompatibilityLevel(body.compatibility)) {
    return { kind: 'record', record: { type, claim, subject: body.subject, compatibility: body.compatibility } };
  }
  return { kind: 'unreadable', reason: `record ${keyText} is not a register or config record this tideline knows` };
}
