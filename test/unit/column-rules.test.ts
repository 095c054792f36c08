import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { SourceTypeParameter, UNAVAILABLE_VALUE } from '../../src/core/connect-schema.js';
import { ColumnRuleError, ColumnRules, columnPattern, protectedMapping } from '../../src/sources/postgres/column-rules.js';
import { columnsConfigSchema, postgresSourceConfigSchema, type ColumnsConfig } from '../../src/sources/postgres/spec.js';
import { mapColumnType, Oid } from '../../src/sources/postgres/type-mapping.js';

function rules(config: Partial<z.input<typeof columnsConfigSchema>>): ColumnRules {
  return new ColumnRules(columnsConfigSchema.parse(config) as ColumnsConfig);
}

type Plan = Record<string, string>;
function plan(ruleSet: ColumnRules, columns: string[], keys: string[] = ['id'], table = 'users'): Plan {
  const result: Plan = {};
  for (const [name, treatment] of ruleSet.plan('public', table, columns, keys)) result[name] = treatment.kind;
  return result;
}

function problems(config: unknown): string[] {
  const parsed = postgresSourceConfigSchema.safeParse({ url: 'postgres://x@h/db', tables: ['public.users'], columns: config });
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}


describe('column globs', () => {
  it('match one part per glob: * any run of characters, ? one, neither across a dot', () => {
    expect(columnPattern('public.*.ssn').test('public.users.ssn')).toBe(true);
    expect(columnPattern('public.*.ssn').test('public.users.ssn2')).toBe(false);
    expect(columnPattern('public.*.ssn').test('public.a.b.ssn')).toBe(false);
    expect(columnPattern('public.users.secret_*').test('public.users.secret_')).toBe(true);
    expect(columnPattern('public.users.secret_*').test('public.users.secret_key')).toBe(true);
    expect(columnPattern('public.users.secret_*').test('public.users.secrets')).toBe(false);
    expect(columnPattern('*.*.*').test('sales.orders.id')).toBe(true);
    expect(columnPattern('public.users.a?').test('public.users.ab')).toBe(true);
    expect(columnPattern('public.users.a?').test('public.users.a')).toBe(false);
    expect(columnPattern('public.users.a?').test('public.users.abc')).toBe(false);
    expect(columnPattern('p*.users.x').test('public.users.x')).toBe(true);
  });

  it('treat every other character literally', () => {
    expect(columnPattern('public.users.a+b').test('public.users.a+b')).toBe(true);
    expect(columnPattern('public.users.a+b').test('public.users.aab')).toBe(false);
    expect(columnPattern('public.user$.x').test('public.user$.x')).toBe(true);
    expect(columnPattern('public.users.x').test('publicXusers.x')).toBe(false);
  });
});

describe('columns config', () => {
  it('takes include or exclude with mask and hash, with defaults', () => {
    const parsed = columnsConfigSchema.parse({ exclude: ['public.users.ssn'], mask: [{ column: 'public.users.phone' }], hash: [{ column: 'public.users.email', salt: 'pepper' }] });
    expect(parsed).toEqual({
      exclude: ['public.users.ssn'],
      mask: [{ column: 'public.users.phone', length: 8 }],
      hash: [{ column: 'public.users.email', salt: 'pepper', algorithm: 'SHA-256', version: 2 }],
    });
    expect(problems({ include: ['public.users.*'] })).toEqual([]);
    expect(problems({ hash: [{ column: 'public.*.email', salt: 's', algorithm: 'SHA3-512', version: 1 }] })).toEqual([]);
  });

  it('refuses include together with exclude, naming both', () => {
    expect(problems({ include: ['public.users.id'], exclude: ['public.users.ssn'] })).toEqual([
      'columns.exclude: give either include or exclude, not both: include keeps only the columns it lists, exclude leaves out the ones it lists',
    ]);
  });

  it('refuses an empty columns setting and empty lists', () => {
    expect(problems({})).toEqual(['columns: name columns to include or exclude, or columns to mask or hash (or leave columns out)']);
    expect(problems({ exclude: [] })).toEqual(['columns.exclude: list at least one column to exclude, or leave the field out']);
  });

  it('refuses entries that are not schema.table.column', () => {
    const message = 'must be "schema.table.column", where * (any characters) and ? (one character) are wildcards within one part';
    expect(problems({ exclude: ['users.ssn', 'public.users.ssn', 'a.b.c.d', 'public. users.x'] })).toEqual([
      `columns.exclude.0: ${message}`,
      `columns.exclude.2: ${message}`,
      `columns.exclude.3: ${message}`,
    ]);
    expect(problems({ mask: [{ column: 'ssn' }] })).toEqual([`columns.mask.0.column: ${message}`]);
  });

  it('refuses a hash without salt, an empty salt, an unknown algorithm or version, and unknown fields', () => {
    expect(problems({ hash: [{ column: 'public.users.email' }] })).toHaveLength(1);
    expect(problems({ hash: [{ column: 'public.users.email', salt: '' }] })[0]).toMatch(/^columns\.hash\.0\.salt: must not be empty/);
    expect(problems({ hash: [{ column: 'public.users.email', salt: 's', algorithm: 'sha256' }] })[0]).toMatch(/^columns\.hash\.0\.algorithm: .*"SHA-256"/);
    expect(problems({ hash: [{ column: 'public.users.email', salt: 's', version: 3 }] })[0]).toMatch(/^columns\.hash\.0\.version/);
    expect(problems({ mask: [{ column: 'public.users.x', length: 0 }] })[0]).toMatch(/^columns\.mask\.0\.length/);
    expect(problems({ exclude: ['public.users.x'], drop: ['x'] })[0]).toMatch(/drop/);
  });
});

describe('column plan of a table', () => {
  const columns = ['id', 'name', 'email', 'ssn', 'secret_a', 'secret_b'];

  it('keeps every column a rule set without include or exclude does not replace', () => {
    expect(plan(rules({ mask: [{ column: 'public.users.ssn' }] }), columns)).toEqual({ id: 'keep', name: 'keep', email: 'keep', ssn: 'mask', secret_a: 'keep', secret_b: 'keep' });
  });

  it('leaves out excluded columns, and keeps table order', () => {
    const result = plan(rules({ exclude: ['public.users.ssn', 'public.*.secret_*'] }), columns);
    expect(Object.keys(result)).toEqual(['id', 'name', 'email']);
  });

  it('keeps only included columns, in every table: a table include does not mention keeps none', () => {
    const ruleSet = rules({ include: ['public.users.id', 'public.users.e*', 'public.orders.*'] });
    expect(Object.keys(plan(ruleSet, columns))).toEqual(['id', 'email']);
    expect(Object.keys(plan(ruleSet, ['id', 'total'], ['id'], 'orders'))).toEqual(['id', 'total']);
    expect(Object.keys(plan(ruleSet, ['note'], [], 'events'))).toEqual([]);
  });

  it('masks and hashes kept columns; an excluded column stays out', () => {
    const ruleSet = rules({ exclude: ['public.users.ssn'], mask: [{ column: 'public.users.ssn' }, { column: 'public.users.name' }], hash: [{ column: 'public.users.email', salt: 'p' }] });
    expect(plan(ruleSet, columns)).toEqual({ id: 'keep', name: 'mask', email: 'hash', secret_a: 'keep', secret_b: 'keep' });
  });

  it('refuses a key column left out, masked or hashed, naming each, with every problem of the table', () => {
    const refuse = (config: Parameters<typeof rules>[0], keys: string[]): string => {
      try {
        rules(config).plan('public', 'users', columns, keys);
      } catch (error) {
        expect(error).toBeInstanceOf(ColumnRuleError);
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refuse({ exclude: ['public.users.id'] }, ['id'])).toBe(
      'columns: column public.users.id is a key column of public.users and cannot be left out (columns.exclude lists it); the key must reach Kafka',
    );
    expect(refuse({ include: ['public.users.name'] }, ['id', 'email'])).toBe(
      'columns: column public.users.id is a key column of public.users and cannot be left out (columns.include does not list it); the key must reach Kafka; ' +
        'column public.users.email is a key column of public.users and cannot be left out (columns.include does not list it); the key must reach Kafka',
    );
    expect(refuse({ mask: [{ column: 'public.users.id' }] }, ['id'])).toBe('columns: column public.users.id is a key column of public.users and cannot be masked (mask public.users.id)');
    expect(refuse({ hash: [{ column: 'public.*.id', salt: 'p' }] }, ['id'])).toBe('columns: column public.users.id is a key column of public.users and cannot be hashed (hash public.*.id)');
  });

  it('refuses a column two replace rules claim, naming them', () => {
    expect(() => rules({ mask: [{ column: 'public.users.*' }], hash: [{ column: 'public.*.email', salt: 'p' }] }).plan('public', 'users', ['email'], [])).toThrow(
      'columns: column public.users.email is matched by more than one rule (mask public.users.*, hash public.*.email); keep one',
    );
  });

  it('lists entries that match no column', () => {
    const ruleSet = rules({ exclude: ['public.users.snn', 'public.*.ssn'], hash: [{ column: 'public.users.mail', salt: 'p' }] });
    expect(ruleSet.unmatched(new Map([['public.users', columns]]))).toEqual(['exclude public.users.snn', 'hash public.users.mail']);
  });
});

describe('a masked or hashed column\'s mapping', () => {
  const mask = { kind: 'mask' as const, text: '***', entry: 'mask x' };
  const hash = { kind: 'hash' as const, hash: (length?: number) => (text: string) => `h(${text})`.slice(0, length ?? Infinity), entry: 'hash x' };

  it('keeps a text column\'s schema and adds masked=true; cuts the hash to varchar(n)', () => {
    const varchar = mapColumnType({ oid: Oid.varchar, typeMod: 6 + 4 });
    const hashed = protectedMapping(varchar, hash);
    expect(hashed.mapping.schema).toEqual({ type: 'string', parameters: { [SourceTypeParameter.type]: 'VARCHAR', [SourceTypeParameter.length]: '6', masked: 'true' } });
    expect(hashed.mapping.fromText('abcdefgh')).toBe('h(abcd');
    expect(hashed.nullValue).toBeNull();
    expect(hashed.unavailable).toBe(UNAVAILABLE_VALUE);
    expect(protectedMapping(mapColumnType({ oid: Oid.text, typeMod: -1 }), hash).mapping.fromText('abcdefgh')).toBe('h(abcdefgh)');
  });

  it('makes any other type a plain string of its replaced text form (no semantic name or source type left)', () => {
    for (const oid of [Oid.int4, Oid.numeric, Oid.date, Oid.uuid, Oid.jsonb, Oid.bytea]) {
      const result = protectedMapping(mapColumnType({ oid, typeMod: -1 }), hash);
      expect(result.mapping.schema).toEqual({ type: 'string', parameters: { masked: 'true' } });
    }
    expect(protectedMapping(mapColumnType({ oid: Oid.date, typeMod: -1 }), hash).mapping.fromText('2024-05-01')).toBe('h(2024-05-01)');
  });

  it('masks every value, null and unchanged TOASTed values included, as Debezium masks null', () => {
    const masked = protectedMapping(mapColumnType({ oid: Oid.text, typeMod: -1 }), mask);
    expect(masked.mapping.fromText('anything')).toBe('***');
    expect(masked.nullValue).toBe('***');
    expect(masked.unavailable).toBe('***');
  });
});
