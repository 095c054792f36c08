import { describe, expect, it } from 'vitest';
import { selectTables, tablePattern } from '../../src/sources/postgres/table-selection.js';

const EXISTING = ['public.orders', 'public.order_items', 'public.users', 'sales.order_1', 'sales.order_22', 'audit.log'];

describe('table selection', () => {
  it('takes plain names as public.<table> or schema.table', () => {
    expect(selectTables(EXISTING, ['orders', 'audit.log'])).toEqual({ tables: ['audit.log', 'public.orders'], unmatched: [] });
  });

  it('matches * and ? wildcards in schema and table, and nothing else as a pattern', () => {
    expect(selectTables(EXISTING, ['public.order*']).tables).toEqual(['public.order_items', 'public.orders']);
    expect(selectTables(EXISTING, ['sales.order_?']).tables).toEqual(['sales.order_1']);
    expect(selectTables(EXISTING, ['*.order_*']).tables).toEqual(['public.order_items', 'sales.order_1', 'sales.order_22']);
    expect(tablePattern('public.a.b').test('public.aXb')).toBe(false);
  });

  it('removes excluded tables', () => {
    expect(selectTables(EXISTING, ['public.*'], ['public.order_items', '*.users']).tables).toEqual(['public.orders']);
  });

  it('names include entries that match nothing', () => {
    expect(selectTables(EXISTING, ['missing', 'nope.*', 'orders']).unmatched).toEqual(['public.missing', 'nope.*']);
  });
});
