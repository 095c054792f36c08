import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { Expression, ExpressionError, isTruthy, parseExpression } from '../../src/processors/expression.js';
import { compileFastPath, NOT_FAST } from '../../src/processors/fast-path.js';

const inputs: unknown[] = [
  { op: 'c', before: null, after: { id: 1, amount: 12, name: 'ann', region: 'eu', flag: true, price: '12.50', tags: ['a', 'b'] }, source: { ts_ms: 1_700_000_000_000, table: 'orders' } },
  { op: 'u', before: { id: 2, amount: 3 }, after: { id: 2, amount: 0, name: '', region: null, flag: false }, source: { ts_ms: 5 } },
  { op: 'd', before: { id: 3, amount: -7.5 }, after: null, source: { ts_ms: 6 } },
  { op: 'c', after: { id: 4, amount: 1e300, name: 'x' } },
  {},
];

const expressions = [
  "op = 'c'",
  "op != 'c'",
  "op in ['c', 'u']",
  "op in ['r']",
  'after.amount > 10',
  'after.amount >= 0 and after.id < 3',
  'after.amount > 10 or before.amount < 0',
  'after.missing > 1',
  'after.missing = 1',
  'after.missing != 1',
  '-after.amount',
  'after.amount * 2 + 1',
  'after.amount / 0',
  'after.amount % 5',
  "after.name & '-' & after.id",
  "after.name & after.flag",
  "after.region = 'eu' ? 'europe' : 'elsewhere'",
  "after.region ? after.region : 'none'",
  'after.flag',
  'after.name',
  'after.region',
  'after.tags',
  "after.tags = 'a'",
  "after.name > 'a'",
  'after.price > 10',
  'source.ts_ms',
  '$topic',
  "$topic & '.out'",
  '$key.id = after.id',
  'after.amount + after.amount * after.amount',
  'true and null',
  '$',
];

/** JSONata's own answer: a value, or the error code it throws. */
async function reference(text: string, input: unknown, bindings: Record<string, unknown>): Promise<unknown> {
  try {
    return { value: await jsonata(text).evaluate(input, bindings) };
  } catch (error) {
    return { error: (error as { code?: string }).code };
  }
}

async function ours(text: string, input: unknown, bindings: Record<string, unknown>): Promise<unknown> {
  try {
    return { value: await Expression.compile(text).evaluate(input, bindings) };
  } catch (error) {
    return { error: (error as { code?: string }).code };
  }
}

describe('expressions', () => {
  it('give exactly what JSONata gives, fast path or not', async () => {
    for (const text of expressions) {
      for (const input of inputs) {
        const bindings = { topic: 'shop.public.orders', key: { id: 1 } };
        expect({ text, input, result: await ours(text, input, bindings) }).toEqual({ text, input, result: await reference(text, input, bindings) });
      }
    }
  });

  it('take the fast path for plain comparisons and leave the rest to JSONata', () => {
    const fast = (text: string) => Expression.compile(text).isFast;
    expect(fast("op in ['c', 'u'] and after.amount >= 10")).toBe(true);
    expect(fast("'orders.' & after.region")).toBe(true);
    expect(fast('$number(after.price) > 10')).toBe(false);
    expect(fast('after.items[0]')).toBe(false);
    expect(fast('after.items[price > 10]')).toBe(false);
    // An array in a path: JSONata's mapping semantics, so the fast path steps aside.
    const evaluator = compileFastPath(jsonata('after.tags').ast())!;
    expect(evaluator({ after: { tags: ['a'] } }, {})).toBe(NOT_FAST);
  });

  it('report a syntax error with the expression and its position', () => {
    const parsed = parseExpression('after.amount > ');
    expect(parsed).toMatchObject({ error: { code: 'S0207', position: 15, message: 'Unexpected end of expression' } });
    expect(() => Expression.compile('(op = "c"')).toThrow(ExpressionError);
    expect(() => Expression.compile('(op = "c"')).toThrow(/invalid expression "\(op = \\"c\\"" at position 9: Expected "\)" before end of expression/);
  });

  it('cannot reach JavaScript', async () => {
    // No globals, no constructors: JSONata resolves names in the input only.
    expect(await Expression.compile('process.env').evaluate({})).toBeUndefined();
    expect(await Expression.compile('$eval("1 + 1")').evaluate({})).toBe(2); // JSONata's own $eval: still JSONata
    expect(await Expression.compile('constructor.constructor("return process")()').evaluate({})).toBeUndefined();
  });

  it('follow JSONata truthiness', () => {
    expect([undefined, null, 0, '', [], {}, false, [0, false]].map(isTruthy)).toEqual([false, false, false, false, false, false, false, false]);
    expect([1, 'x', true, { a: 1 }, [0, 1], -1].map(isTruthy)).toEqual([true, true, true, true, true, true]);
  });
});
