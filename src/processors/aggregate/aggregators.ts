/**
 * The aggregate functions of mode event (mode table's, which can retract, are
 * in retractable.ts), as accumulators that serialize to JSON for the
 * changelog. Like SQL, count(expr), sum, min, max, avg and countDistinct skip
 * null (and missing) values; count without an expression counts events.
 * Numbers may arrive as text (Debezium's decimal.handling.mode=string): they
 * are read as numbers (doubles; sums of integers stay exact up to 2^53).
 * countDistinct keeps the set of distinct values of each open window in
 * memory and in the changelog, so it is bounded by maxDistinctValues.
 */
export type AggregateFunction = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'countDistinct';

export const AGGREGATE_FUNCTIONS: readonly AggregateFunction[] = ['count', 'sum', 'min', 'max', 'avg', 'countDistinct'];

/** A multiset as [value, times] pairs sorted by value (numbers, or text for countDistinct). */
export type Multiset = [number | string, number][];

/** Accumulator state as stored in the changelog (JSON). */
export type AccumulatorState = number | null | [number, number] | string[] | Multiset;

export class AggregateInputError extends Error {}

export interface Aggregator {
  fn: AggregateFunction;
  initial(): AccumulatorState;
  /** Adds one value (undefined: the function has no expression, as count()). */
  add(state: AccumulatorState, value: unknown): AccumulatorState;
  /**
   * Takes back one value added before (mode table only; see retractable.ts).
   * Absent on the event-mode aggregators, which never retract.
   */
  retract?(state: AccumulatorState, value: unknown): AccumulatorState;
  /** Throws when add(state, value) would break a bound, without changing anything: called for every window and column first, so a refused event changes nothing. */
  check?(state: AccumulatorState, value: unknown): void;
  /** The column value of a state. */
  result(state: AccumulatorState): number | null;
}

export function toNumber(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  // String() for numbers: JSON.stringify would print NaN and ±Infinity (double columns may hold them) as null.
  throw new AggregateInputError(`${what}: ${typeof value === 'number' ? String(value) : JSON.stringify(typeof value === 'bigint' ? String(value) : value)} is not a number`);
}

export const isNull = (value: unknown) => value === null || value === undefined;

/** avg's state [sum, non-null values] (and mode table's sum): one value added, nulls skipped. */
export function addToSumAndCount(state: AccumulatorState, value: unknown, column: string): AccumulatorState {
  if (isNull(value)) return state;
  const [sum, count] = state as [number, number];
  return [sum + toNumber(value, column), count + 1];
}

export function createAggregator(fn: AggregateFunction, column: string, options: { maxDistinctValues: number; hasExpression: boolean }): Aggregator {
  switch (fn) {
    case 'count':
      return {
        fn,
        initial: () => 0,
        add: (state, value) => (options.hasExpression && isNull(value) ? state : (state as number) + 1),
        result: (state) => state as number,
      };
    case 'sum':
      return {
        fn,
        initial: () => null,
        add: (state, value) => (isNull(value) ? state : ((state as number | null) ?? 0) + toNumber(value, column)),
        result: (state) => state as number | null,
      };
    case 'min':
    case 'max': {
      const better = fn === 'min' ? (a: number, b: number) => a < b : (a: number, b: number) => a > b;
      return {
        fn,
        initial: () => null,
        add: (state, value) => {
          if (isNull(value)) return state;
          const number = toNumber(value, column);
          return state === null || better(number, state as number) ? number : state;
        },
        result: (state) => state as number | null,
      };
    }
    case 'avg':
      return {
        fn,
        initial: () => [0, 0],
        add: (state, value) => addToSumAndCount(state, value, column),
        result: (state) => {
          const [sum, count] = state as [number, number];
          return count === 0 ? null : sum / count;
        },
      };
    case 'countDistinct': {
      const check = (values: string[], text: string, index: number) => {
        if (values[index] !== text && values.length >= options.maxDistinctValues) throw tooManyDistinct(column, options.maxDistinctValues);
      };
      return {
        fn,
        initial: () => [],
        add: (state, value) => {
          if (isNull(value)) return state;
          const values = state as string[];
          const text = distinctText(value);
          // Sorted, so membership is a binary search and the changelog form is canonical.
          const index = lowerBound(values, text, (entry) => entry);
          if (values[index] === text) return state;
          check(values, text, index);
          values.splice(index, 0, text);
          return values;
        },
        check: (state, value) => {
          if (isNull(value)) return;
          const text = distinctText(value);
          check(state as string[], text, lowerBound(state as string[], text, (entry) => entry));
        },
        result: (state) => (state as string[]).length,
      };
    }
  }
}

/** The text countDistinct compares: strings as they are, anything else as JSON. */
export function distinctText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(typeof value === 'bigint' ? String(value) : value);
}

export function tooManyDistinct(column: string, max: number): AggregateInputError {
  return new AggregateInputError(`${column}: more than ${max} distinct values in one window (maxDistinctValues)`);
}

/** First index whose value is not below `wanted` in a list sorted by `valueOf`. */
export function lowerBound<T, V extends number | string>(list: readonly T[], wanted: V, valueOf: (entry: T) => V): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (valueOf(list[middle]!) < wanted) low = middle + 1;
    else high = middle;
  }
  return low;
}
