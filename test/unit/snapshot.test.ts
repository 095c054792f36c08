import { describe, expect, it } from 'vitest';
import type { PostgresPosition } from '../../src/sources/postgres/position.js';
import { planSnapshot, SnapshotPlanError } from '../../src/sources/postgres/snapshot-plan.js';
import { SnapshotProgress } from '../../src/sources/postgres/snapshot-progress.js';

const TABLES = ['public.a', 'public.b', 'public.c'];

function offset(extra: Partial<PostgresPosition> = {}): PostgresPosition {
  return { lsn: '500', lsnText: '0/1F4', txId: 9, commitTs: 1, ...extra };
}

describe('planSnapshot', () => {
  it('creates the slot with an exported snapshot and reads every table on first start', () => {
    expect(planSnapshot({ mode: 'initial', slotExists: false, offset: null, tables: TABLES })).toMatchObject({ createSlot: 'export', tables: TABLES, resume: null });
    expect(planSnapshot({ mode: 'when_needed', slotExists: false, offset: null, tables: TABLES })).toMatchObject({ createSlot: 'export', tables: TABLES });
  });

  it('never reads a snapshot in mode never, creating a plain slot when missing', () => {
    expect(planSnapshot({ mode: 'never', slotExists: false, offset: null, tables: TABLES })).toMatchObject({ createSlot: 'plain', tables: [] });
    expect(planSnapshot({ mode: 'never', slotExists: true, offset: offset(), tables: TABLES })).toMatchObject({ createSlot: null, tables: [] });
  });

  it('reads after an existing slot position when there is no offset (slot made elsewhere, or offset lost)', () => {
    expect(planSnapshot({ mode: 'initial', slotExists: true, offset: null, tables: TABLES })).toMatchObject({ createSlot: null, tables: TABLES, resume: null });
  });

  it('reads nothing once every table is snapshotted, and treats an offset from before snapshots as all snapshotted', () => {
    expect(planSnapshot({ mode: 'initial', slotExists: true, offset: offset({ snapshotted: TABLES }), tables: TABLES }).tables).toEqual([]);
    expect(planSnapshot({ mode: 'initial', slotExists: true, offset: offset(), tables: TABLES })).toMatchObject({ tables: [], snapshotted: TABLES });
  });

  it('reads only tables added to the capture later', () => {
    const plan = planSnapshot({ mode: 'initial', slotExists: true, offset: offset({ snapshotted: ['public.a'] }), tables: TABLES });
    expect(plan).toMatchObject({ createSlot: null, tables: ['public.b', 'public.c'], resume: null, snapshotted: ['public.a'] });
  });

  it('resumes an unfinished snapshot after its last key, at its own version, then adds new tables', () => {
    const unfinished = offset({ snapshotted: ['public.a'], snapshot: { lsn: '77', pending: ['public.b'], lastKey: ['41'] } });
    const plan = planSnapshot({ mode: 'initial', slotExists: true, offset: unfinished, tables: TABLES });
    expect(plan.tables).toEqual(['public.b', 'public.c']);
    expect(plan.resume).toEqual({ lsn: '77', pending: ['public.b', 'public.c'], lastKey: ['41'] });
  });

  it('drops the resume key when the table being read left the capture', () => {
    const unfinished = offset({ snapshotted: [], snapshot: { lsn: '77', pending: ['public.gone', 'public.b'], lastKey: ['41'] } });
    const plan = planSnapshot({ mode: 'initial', slotExists: true, offset: unfinished, tables: TABLES });
    expect(plan.resume).toMatchObject({ pending: ['public.b', 'public.a', 'public.c'], lastKey: null });
  });

  it('starts over when the slot was lost mid-snapshot', () => {
    const unfinished = offset({ snapshot: { lsn: '77', pending: ['public.b'], lastKey: ['41'] } });
    expect(planSnapshot({ mode: 'initial', slotExists: false, offset: unfinished, tables: TABLES })).toMatchObject({ createSlot: 'export', tables: TABLES, resume: null, snapshotted: [] });
  });

  it('refuses to stream past a lost slot in mode initial, and re-snapshots in when_needed', () => {
    expect(() => planSnapshot({ mode: 'initial', slotExists: false, offset: offset({ snapshotted: TABLES }), tables: TABLES })).toThrow(SnapshotPlanError);
    expect(() => planSnapshot({ mode: 'initial', slotExists: false, offset: offset(), tables: TABLES })).toThrow(/slot is missing.*0\/1F4.*when_needed/);
    expect(planSnapshot({ mode: 'when_needed', slotExists: false, offset: offset({ snapshotted: TABLES }), tables: TABLES })).toMatchObject({ createSlot: 'export', tables: TABLES, snapshotted: [] });
  });
});

describe('SnapshotProgress', () => {
  it('reports rows done of the estimate, rate and ETA', () => {
    const progress = new SnapshotProgress(0);
    progress.estimate('public.a', 1000);
    progress.estimate('public.b', 3000);
    progress.add(1000);
    expect(progress.report(10_000)).toEqual({ rowsDone: 1000, rowsEstimate: 4000, rowsPerSecond: 100, etaSeconds: 30, elapsedSeconds: 10 });
  });

  it('has no ETA while an estimate is unknown, and never a negative one', () => {
    const progress = new SnapshotProgress(0);
    progress.estimate('public.a', null);
    progress.add(10);
    expect(progress.report(1000)).toMatchObject({ rowsEstimate: null, etaSeconds: null });
    const low = new SnapshotProgress(0);
    low.estimate('public.a', 5);
    low.add(10);
    expect(low.report(1000).etaSeconds).toBe(0);
  });
});
