/**
 * The embedded registry's state is a pure function of its log: ids follow the
 * first appearance of a schema text, versions and refusals follow the
 * compatibility level at each record's position, and any two readers of the
 * same log agree.
 */
import { describe, expect, it } from 'vitest';
import { expiryProblem } from '../../src/kafka/shared-log.js';
import { compatibilityProblems, parseAvroSchema, type CompatibilityLevel } from '../../src/registry/compatibility.js';
import { decodeLogRecord, encodeLogRecord, type LogRecord } from '../../src/registry/log-records.js';
import { RegistryState } from '../../src/registry/registry-state.js';
import { REQUIRED_ADDED, recordSchema, TYPE_CHANGED, V1, V2 } from '../support/registry-schemas.js';

let claims = 0;
const register = (subject: string, schema: string): LogRecord => ({ type: 'register', claim: `c${++claims}`, subject, schema });
const config = (subject: string | null, compatibility: CompatibilityLevel): LogRecord => ({ type: 'config', claim: `c${++claims}`, subject, compatibility });

/** Replays `records` as a reader of the topic would: encoded, at consecutive offsets. */
function replay(records: readonly LogRecord[]): RegistryState {
  const state = new RegistryState();
  records.forEach((record, offset) => {
    const { key, value } = encodeLogRecord(record);
    state.applyRaw(BigInt(offset), key, value);
  });
  return state;
}

describe('registry state from the log', () => {
  it('gives ids by first appearance, shares them across subjects and gives versions per subject', () => {
    const log = [register('a-value', V1), register('b-value', V1), register('a-value', V2), register('a-value', V1), register('b-value', V2)];
    const state = replay(log);
    expect(log.map((record) => state.outcome(record.claim))).toEqual([
      { accepted: true, id: 1, version: 1 },
      { accepted: true, id: 1, version: 1 },
      { accepted: true, id: 2, version: 2 },
      { accepted: true, id: 1, version: 1 }, // a repeat: nothing new
      { accepted: true, id: 2, version: 2 },
    ]);
    expect(state.schemaById(1)).toBe(V1);
    expect(state.schemaById(2)).toBe(V2);
    expect(state.schemaById(3)).toBeUndefined();
    expect(state.subjectNames()).toEqual(['a-value', 'b-value']);
    expect(state.versionsOf('a-value')?.map((entry) => [entry.version, entry.id])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('refuses an incompatible claim under BACKWARD, yet the id of its text stays assigned', () => {
    const log = [register('s', V1), register('s', REQUIRED_ADDED), register('s', V2)];
    const state = replay(log);
    const refused = state.outcome(log[1]!.claim);
    expect(refused).toMatchObject({ accepted: false, id: 2 });
    expect(refused && !refused.accepted && refused.problems.join()).toContain("subject 's'");
    expect(state.outcome(log[2]!.claim)).toEqual({ accepted: true, id: 3, version: 2 });
    expect(state.schemaById(2)).toBe(REQUIRED_ADDED);
    expect(state.versionsOf('s')?.map((entry) => entry.id)).toEqual([1, 3]);
  });

  it('applies a compatibility level from its position in the log on', () => {
    const log = [register('s', V1), register('s', TYPE_CHANGED), config('s', 'NONE'), register('s', TYPE_CHANGED), config(null, 'FULL')];
    const state = replay(log);
    expect(state.outcome(log[1]!.claim)).toMatchObject({ accepted: false });
    expect(state.outcome(log[3]!.claim)).toEqual({ accepted: true, id: 2, version: 2 });
    expect(state.levelOf('s')).toBe('NONE');
    expect(state.levelOf('other')).toBe('FULL');
    expect(state.subjectLevel('other')).toBeUndefined();
    expect(state.globalCompatibility).toBe('FULL');
  });

  it('gives every reader the same ids for a log of racing claims', () => {
    // Two registrars appending claims for the same and different subjects, interleaved.
    const schemas = Array.from({ length: 12 }, (_, i) => recordSchema(`T${i % 4}`, [{ name: `f${i}`, type: 'int', default: 0 }]));
    const log: LogRecord[] = [];
    for (let i = 0; i < 40; i += 1) log.push(register(`subject-${i % 3}`, schemas[(i * 7) % schemas.length]!));
    const one = replay(log);
    const two = replay(log);
    const ids = (state: RegistryState) => log.map((record) => state.outcome(record.claim));
    expect(ids(two)).toEqual(ids(one));
    // No id names two schemas, and every schema has one id.
    const byId = new Map<number, string>();
    for (const record of log) {
      const outcome = one.outcome(record.claim)!;
      const id = (outcome as { id: number }).id;
      expect(byId.get(id) ?? (record as { schema: string }).schema).toBe((record as { schema: string }).schema);
      byId.set(id, (record as { schema: string }).schema);
    }
    expect(new Set(byId.values()).size).toBe(byId.size);
  });

  it('skips a record read twice and keeps the offset order', () => {
    const state = new RegistryState();
    const first = encodeLogRecord(register('s', V1));
    const second = encodeLogRecord(register('s', V2));
    state.applyRaw(0n, first.key, first.value);
    state.applyRaw(1n, second.key, second.value);
    state.applyRaw(1n, second.key, second.value);
    expect(state.appliedOffset).toBe(1n);
    expect(state.versionsOf('s')).toHaveLength(2);
  });

  it("marks a topic holding another registry's records, and ignores them for ids", () => {
    const state = new RegistryState();
    state.applyRaw(0n, Buffer.from('{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}'), Buffer.from('{"subject":"x","version":1,"id":7,"schema":"\\"int\\""}'));
    const own = encodeLogRecord(register('s', V1));
    state.applyRaw(1n, own.key, own.value);
    expect(state.problem).toMatch(/offset 0: key .*keytype.* is not tideline's/);
    expect(state.lookup('s', V1)?.id).toBe(1);
  });

  it('stops at a record of ours it cannot read: ids past it could have been given differently', () => {
    const state = new RegistryState();
    const v1 = encodeLogRecord(register('s', V1));
    const v2 = encodeLogRecord(register('s', V2));
    state.applyRaw(0n, v1.key, v1.value);
    state.applyRaw(1n, Buffer.from('tideline-registry:register:future'), Buffer.from('{"format":2,"type":"register"}'));
    state.applyRaw(2n, v2.key, v2.value);
    expect(state.problem).toMatch(/^offset 1: .*format 2/);
    expect(state.schemaById(1)).toBe(V1);
    expect(state.schemaById(2)).toBeUndefined();
    expect(state.appliedOffset).toBe(2n);
  });
});

describe('log records', () => {
  it('round-trip and refuse what this version cannot read', () => {
    const record = config(null, 'FORWARD_TRANSITIVE');
    const { key, value } = encodeLogRecord(record);
    expect(key.toString()).toBe(`tideline-registry:config:${record.claim}`);
    expect(decodeLogRecord(key, value)).toEqual({ kind: 'record', record });
    expect(decodeLogRecord(key, Buffer.from('{"format":2}'))).toMatchObject({ kind: 'unreadable', reason: expect.stringContaining('format 2') });
    expect(decodeLogRecord(key, null)).toMatchObject({ kind: 'unreadable' });
    expect(decodeLogRecord(null, value)).toMatchObject({ kind: 'foreign' });
  });
});

describe('compatibility levels', () => {
  const types = (...schemas: string[]) => schemas.map((schema, index) => ({ version: index + 1, type: parseAvroSchema(schema) }));
  const check = (level: CompatibilityLevel, candidate: string, ...existing: string[]) => compatibilityProblems(level, parseAvroSchema(candidate), types(...existing));

  it('BACKWARD: the new schema must read the latest data', () => {
    expect(check('BACKWARD', V2, V1)).toEqual([]);
    expect(check('BACKWARD', REQUIRED_ADDED, V1)).toHaveLength(1);
    // Removing a field is backward compatible (the reader ignores it).
    expect(check('BACKWARD', V1, V2)).toEqual([]);
  });

  it('FORWARD: the latest schema must read the new data', () => {
    expect(check('FORWARD', REQUIRED_ADDED, V1)).toEqual([]);
    expect(check('FORWARD', V1, REQUIRED_ADDED)).toHaveLength(1);
  });

  it('FULL: both ways; NONE: anything', () => {
    expect(check('FULL', V2, V1)).toEqual([]);
    expect(check('FULL', REQUIRED_ADDED, V1)).toHaveLength(1);
    expect(check('FULL', TYPE_CHANGED, V1)).toHaveLength(2);
    expect(check('NONE', TYPE_CHANGED, V1)).toEqual([]);
  });

  it('_TRANSITIVE checks every earlier version, the others only the latest', () => {
    // V1 → V2 (adds note with default) → V3 drops the default of note: reads V2 data, not V1 data.
    const v3 = recordSchema('Row', [
      { name: 'id', type: 'long' },
      { name: 'note', type: ['null', 'string'] },
    ]);
    expect(check('BACKWARD', v3, V1, V2)).toEqual([]);
    const problems = check('BACKWARD_TRANSITIVE', v3, V1, V2);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('version 1');
  });

  it('refuses a schema avsc cannot parse as 42201', () => {
    expect(() => parseAvroSchema('{"type":"record","name":"X"}')).toThrow(expect.objectContaining({ errorCode: 42201 }));
    expect(() => parseAvroSchema('not json')).toThrow(expect.objectContaining({ errorCode: 42201 }));
  });
});

describe("the registry log's topic", () => {
  it('must keep every record: compaction alone, or deletion with unlimited retention', () => {
    const configs = (entries: Record<string, string>) => new Map(Object.entries(entries));
    expect(expiryProblem(configs({ 'cleanup.policy': 'compact', 'retention.ms': '604800000' }))).toBeNull();
    expect(expiryProblem(configs({ 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' }))).toBeNull();
    expect(expiryProblem(configs({ 'cleanup.policy': 'delete', 'retention.ms': '604800000' }))).toBe('deletes records after 604800000 ms (cleanup.policy=delete, retention.ms=604800000)');
    expect(expiryProblem(configs({ 'cleanup.policy': 'compact,delete', 'retention.ms': '-1', 'retention.bytes': '1000' }))).toContain('beyond 1000 bytes');
  });
});
