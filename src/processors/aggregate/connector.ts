/** The aggregate kind: its config schema (spec.ts) and its connector class. */
import { defineConnector, type ConsumerGroupInput } from '../../core/connector.js';
import { readConsumerGroupOffsets } from '../../kafka/group-offsets.js';
import { AggregateProcessor } from './aggregate-processor.js';
import { resultSourceBlock } from './result-source.js';
import { aggregateConfigSchema, type AggregateConfig } from './spec.js';

export const aggregateConnector = defineConnector({
  kind: 'aggregate',
  role: 'processor',
  description: 'Stream processor: windowed group-by aggregations (count, sum, min, max, avg, countDistinct) on event time over a table (updates and deletes retract) or an event stream, emitted as upserts; state in changelog topics; exactly once.',
  configSchema: aggregateConfigSchema,
  sourceBlocks: [resultSourceBlock],
  create: (context) => new AggregateProcessor(context),
  // Offsets of both stages, committed in the Kafka transaction of each batch.
  readOffsets: ({ name, config, kafka, logger }) => readConsumerGroupOffsets(kafka, name, logger, aggregateGroups(name, config)),
  consumerGroups: (name, config) => aggregateGroups(name, config),
});

/** The stages' groups (aggregate-processor.ts): repartition on the input topics, then aggregation on <name>.repartition. */
function aggregateGroups(name: string, config: AggregateConfig): ConsumerGroupInput[] {
  const groupId = config.groupId ?? `tideline-${name}`;
  if (!config.repartition) return [{ groupId, topics: config.topics }];
  return [
    { groupId: `${groupId}.repartition`, topics: config.topics },
    { groupId, topics: [`${name}.repartition`] },
  ];
}
