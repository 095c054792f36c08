/** The transform kind: its config schema (spec.ts) and its connector class. */
import { defineConnector } from '../../core/connector.js';
import { readConsumerGroupOffsets } from '../../kafka/group-offsets.js';
import { TransformProcessor } from './transform-processor.js';
import { transformConfigSchema } from './spec.js';

export const transformConnector = defineConnector({
  kind: 'transform',
  role: 'processor',
  description: 'Stream processor: a chain of filter, keep/drop, rename, mask/hash, cast, compute, route and unwrap steps, topic to topic, exactly once.',
  configSchema: transformConfigSchema,
  create: (context) => new TransformProcessor(context),
  // Its offsets are its group's, committed in the Kafka transaction of each batch.
  readOffsets: ({ name, config, kafka, logger }) => readConsumerGroupOffsets(kafka, name, logger, [{ groupId: config.groupId ?? `tideline-${name}`, topics: config.topics }]),
  consumerGroups: (name, config) => [{ groupId: config.groupId ?? `tideline-${name}`, topics: config.topics }],
});
