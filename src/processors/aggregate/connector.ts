/** The aggregate kind: its config schema (spec.ts) and its connector class. */
import { defineConnector } from '../../core/connector.js';
import { AggregateProcessor } from './aggregate-processor.js';
import { resultSourceBlock } from './result-source.js';
import { aggregateConfigSchema } from './spec.js';

export const aggregateConnector = defineConnector({
  kind: 'aggregate',
  role: 'processor',
  description: 'Stream processor: windowed group-by aggregations (count, sum, min, max, avg, countDistinct) on event time over a table (updates and deletes retract) or an event stream, emitted as upserts; state in changelog topics; exactly once.',
  configSchema: aggregateConfigSchema,
  sourceBlocks: [resultSourceBlock],
  create: (context) => new AggregateProcessor(context),
});
