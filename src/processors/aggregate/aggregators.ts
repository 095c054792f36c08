/**
 * The aggregate functions, as accumulators that serialize to JSON for the
 * changelog. Like SQL, count(expr), sum, min, max, avg and countDistinct skip
 * null (and missing) values; count without an expression counts events.
 * Numbers may arrive as text (Debezium's decimal.handling.mode=string): they
 * are read as numbers (doubles; sums of integers stay exact up to 2^53).
 * countDistinct keeps the set of distinct values of each open window in
 * memory and in the changelog, so it is bounded by maxDistinctValues.
 */
export type AggregateFunction = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'countDistinct';

export const AGGREGATE_FUNCTIONS: readonly AggregateFunction[] = ['count', 'sum', 'min', 'max', 'avg', 'countDistinct'];

/** Accumulator state as stored in the changelog (JSON). */
export type AccumulatorState = number | null | [number, number] | string[];

export class AggregateInputError extends Error {}

export interface Aggregator {
  fn: AggregateFunction;
  initial(): AccumulatorState;
  /** Adds one value (undefined: the function has no expression, as count()). */
  add(state: AccumulatorState, value: unknown): AccumulatorState;
  /** The column value of a state. */
  result(state: AccumulatorState): number | null;
}

export function toNumber(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw new AggregateInputError(`${what}: ${JSON.stringify(typeof value === 'bigint' ? String(value) : value)} is not a number`);
}

const isNull = (value: unknown) => value === null || value === undefined;

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
        add: (state, value) => {
          if (isNull(value)) return state;
          const [sum, count] = state as [number, number];
          return [sum + toNumber(value, column), count + 1];
        },
        result: (state) => {
          const [sum, count] = state as [number, number];
          return count === 0 ? null : sum / count;
        },
      };
    case 'countDistinct':
      return {
        fn,
        initial: () => [],
        add: (state, value) => {
          if (isNull(value)) return state;
          const values = state as string[];
          const text = typeof value === 'string' ? value : JSON.stringify(typeof value === 'bigint' ? String(value) : value);
          // Sorted, so membership is a binary search and the changelog form is canonical.
          const index = lowerBound(values, text);
          if (values[index] === text) return state;
          if (values.length >= options.maxDistinctValues) {
            throw new AggregateInputError(`${column}: more than ${options.maxDistinctValues} distinct values in one window (maxDistinctValues)`);
          }
          values.splice(index, 0, text);
          return values;
        },
        result: (state) => (state as string[]).length,
      };
  }
}

function lowerBound(values: readonly string[], text: string): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! < text) low = middle + 1;
    else high = middle;
  }
  return low;
}
