import { describe, expect, it } from 'vitest';
import { capturableTables } from '../../src/sources/postgres/replication-setup.js';
import { diffTables, discoverySignalId, selectedTableOids } from '../../src/sources/postgres/table-discovery.js';

const catalog = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));

describe('table discovery', () => {
  it('finds tables selected but not captured, and captured ones no longer selected', () => {
    const captured = catalog({ 'public.a': 1, 'public.b': 2 });
    expect(diffTables(captured, catalog({ 'public.a': 1, 'public.b': 2 }))).toEqual({ added: [], gone: [] });
    expect(diffTables(captured, catalog({ 'public.a': 1, 'public.b': 2, 'public.c': 3 }))).toEqual({ added: ['public.c'], gone: [] });
    expect(diffTables(captured, catalog({ 'public.a': 1 }))).toEqual({ added: [], gone: ['public.b'] });
  });

  it('treats a table dropped and created again under its name as gone and added', () => {
    expect(diffTables(catalog({ 'public.a': 1 }), catalog({ 'public.a': 7 }))).toEqual({ added: ['public.a'], gone: ['public.a'] });
  });

  it('selects with the include and exclude patterns, never the signal table', () => {
    const existing = catalog({ 'public.orders': 1, 'public.order_items': 2, 'public.signals': 3, 'audit.log': 4 });
    expect([...selectedTableOids(existing, ['public.*'], ['public.order_items'], 'public.signals')]).toEqual([['public.orders', 1]]);
    expect([...selectedTableOids(existing, ['*.*'], [], null).keys()]).toEqual(['audit.log', 'public.order_items', 'public.orders', 'public.signals']);
  });

  it('selects nothing when a pattern matches nothing (no error while streaming)', () => {
    expect(selectedTableOids(catalog({ 'public.a': 1 }), ['sales.*'], [], null).size).toBe(0);
  });

  it('names one signal per table incarnation, within the signal table id column', () => {
    const id = discoverySignalId('public.a_rather_long_table_name_of_sixty_three_characters_xxxxxx', 4_294_967_295);
    expect(id.length).toBeLessThanOrEqual(42);
    expect(discoverySignalId('public.a', 10)).toBe(discoverySignalId('public.a', 10));
    expect(discoverySignalId('public.a', 10)).not.toBe(discoverySignalId('public.a', 11));
    expect(discoverySignalId('public.a', 10)).not.toBe(discoverySignalId('public.b', 10));
  });
});

describe('capturable tables', () => {
  it('leaves partitions out: a partitioned table is captured through its root', () => {
    const tables = capturableTables([
      { name: 'public.events', oid: 1, partition: false },
      { name: 'public.events_eu', oid: 2, partition: true },
      { name: 'public.events_2025', oid: 3, partition: true },
      { name: 'public.users', oid: 4, partition: false },
    ]);
    expect([...tables]).toEqual([['public.events', 1], ['public.users', 4]]);
    expect([...selectedTableOids(tables, ['public.events*'], [], null).keys()]).toEqual(['public.events']);
  });
});
