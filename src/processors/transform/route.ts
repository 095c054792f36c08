/** `route`: sends each record to the topic its expression names (e.g. by region or by op). */
import { z } from 'zod';
import { expressionText, TOPIC_NAME } from '../config.js';
import { Expression } from '../expression.js';
import { TransformError, type TransformStep } from './step.js';

export const routeStepSchema = z
  .object({
    type: z.literal('route'),
    expression: expressionText(
      'The destination topic, e.g. "orders." & after.region. Evaluated like filter (a tombstone gets null as its value); no result keeps the output topic. $topic is the input topic.',
    ),
  })
  .strict();

export function routeStep(config: z.output<typeof routeStepSchema>): TransformStep {
  const expression = Expression.compile(config.expression);
  return {
    type: 'route',
    schemas: (input) => input,
    async apply(record) {
      const topic = await expression.evaluate(record.value, { topic: record.topic, key: record.key });
      if (topic === undefined || topic === null) return record;
      if (typeof topic !== 'string' || !TOPIC_NAME.test(topic)) {
        throw new TransformError(`route expression gave ${JSON.stringify(topic)}, not a Kafka topic name`);
      }
      record.destination = topic;
      return record;
    },
  };
}
