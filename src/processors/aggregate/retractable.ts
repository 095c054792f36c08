/**
 * The aggregate functions of mode table: each can take back (retract) a value
 * it added before, because an update or delete of a row retracts what the
 * row's previous version contributed.
 *
 *   count          number of (non-null) values
 *   sum, avg       [sum, number of non-null values]: with none left the result
 *                  is null and the sum restarts at exactly 0 (no rounding
 *                  residue of doubles added and subtracted)
 *   min, max       a multiset of the values ([value, times], sorted): the
 *                  extreme is recomputed when it is retracted
 *   countDistinct  a multiset of the values' text
 *
 * The multisets are bounded by maxDistinctValues (distinct values per window
 * and group), like countDistinct's set in mode event. Retracting a value that
 * is not there (only possible after an event was refused) changes nothing.
 * The states are JSON, stored in the changelog like the event-mode ones.
 */
import {
  addToSumAndCount,
  distinctText,
  isNull,
  lowerBound,
  toNumber,
  tooManyDistinct,
  type AggregateFunction,
  type Aggregator,
  type Multiset,
} from './aggregators.js';

export function createRetractableAggregator(fn: AggregateFunction, column: string, options: { maxDistinctValues: number; hasExpression: boolean }): Aggregator {
  switch (fn) {
    case 'count': {
      const counts = (value: unknown) => !options.hasExpression || !isNull(value);
      return {
        fn,
        initial: () => 0,
        add: (state, value) => (counts(value) ? (state as number) + 1 : state),
        retract: (state, value) => (counts(value) ? Math.max(0, (state as number) - 1) : state),
        result: (state) => state as number,
      };
    }
    case 'sum':
    case 'avg':
      return {
        fn,
        initial: () => [0, 0],
        add: (state, value) => addToSumAndCount(state, value, column),
        retract: (state, value) => {
          if (isNull(value)) return state;
          const [sum, count] = state as [number, number];
          return count <= 1 ? [0, 0] : [sum - toNumber(value, column), count - 1];
        },
        result: (state) => {
          const [sum, count] = state as [number, number];
          if (count === 0) return null;
          return fn === 'sum' ? sum : sum / count;
        },
      };
    case 'min':
    case 'max':
    case 'countDistinct': {
      const keyOf = fn === 'countDistinct' ? distinctText : (value: unknown) => toNumber(value, column);
      return {
        fn,
        initial: () => [],
        add: (state, value) => (isNull(value) ? state : multisetAdd(state as Multiset, keyOf(value), column, options.maxDistinctValues)),
        retract: (state, value) => (isNull(value) ? state : multisetRemove(state as Multiset, keyOf(value))),
        check: (state, value) => {
          if (!isNull(value)) multisetCheck(state as Multiset, keyOf(value), column, options.maxDistinctValues);
        },
        result: (state) => {
          const values = state as Multiset;
          if (fn === 'countDistinct') return values.length;
          const extreme = fn === 'min' ? values[0] : values.at(-1);
          return extreme === undefined ? null : (extreme[0] as number);
        },
      };
    }
  }
}

const valueOf = (entry: Multiset[number]) => entry[0];

function multisetCheck(values: Multiset, key: number | string, column: string, max: number): number {
  const index = lowerBound(values, key, valueOf);
  if (values[index]?.[0] !== key && values.length >= max) throw tooManyDistinct(column, max);
  return index;
}

/** Adds one occurrence of `key` (in place: the state is owned by its window). */
export function multisetAdd(values: Multiset, key: number | string, column: string, max: number): Multiset {
  const index = multisetCheck(values, key, column, max);
  const entry = values[index];
  if (entry?.[0] === key) entry[1] += 1;
  else values.splice(index, 0, [key, 1]);
  return values;
}

/** Removes one occurrence of `key`; a key not there is left alone. */
export function multisetRemove(values: Multiset, key: number | string): Multiset {
  const index = lowerBound(values, key, valueOf);
  const entry = values[index];
  if (entry?.[0] !== key) return values;
  if (entry[1] > 1) entry[1] -= 1;
  else values.splice(index, 1);
  return values;
}
