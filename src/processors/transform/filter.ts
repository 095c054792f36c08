/** `filter`: keeps a record when its expression is true (JSONata truthiness). */
import { z } from 'zod';
import { expressionText } from '../config.js';
import { Expression, isTruthy } from '../expression.js';
import type { TransformStep } from './step.js';

export const filterStepSchema = z
  .object({
    type: z.literal('filter'),
    expression: expressionText(
      'Keep records for which this is true. Evaluated on the value: the envelope {before, after, source, op, ts_ms}, or the flat row after unwrap; $topic and $key are bound.',
    ),
  })
  .strict();

export function filterStep(config: z.output<typeof filterStepSchema>): TransformStep {
  const expression = Expression.compile(config.expression);
  return {
    type: 'filter',
    schemas: (input) => input,
    async apply(record) {
      // A tombstone has nothing to test; it follows the delete it belongs to.
      if (record.value === null) return record;
      return isTruthy(await expression.evaluate(record.value, { topic: record.topic, key: record.key })) ? record : null;
    },
  };
}
