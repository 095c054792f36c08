import { z } from 'zod';
import type { ConnectorSpec } from '../../core/connector.js';
import { topicName } from '../config.js';
import { castStep, castStepSchema } from './cast.js';
import { computeStep, computeStepSchema } from './compute.js';
import { dropStep, dropStepSchema, keepStep, keepStepSchema, renameStep, renameStepSchema } from './fields.js';
import { filterStep, filterStepSchema } from './filter.js';
import { hashStep, hashStepSchema, maskStep, maskStepSchema } from './mask.js';
import { routeStep, routeStepSchema } from './route.js';
import type { TransformStep } from './step.js';
import { TransformProcessor } from './transform-processor.js';
import { unwrapStep, unwrapStepSchema } from './unwrap.js';

export const transformStepSchema = z.discriminatedUnion('type', [
  filterStepSchema,
  keepStepSchema,
  dropStepSchema,
  renameStepSchema,
  maskStepSchema,
  hashStepSchema,
  castStepSchema,
  computeStepSchema,
  routeStepSchema,
  unwrapStepSchema,
]);

export type TransformStepConfig = z.output<typeof transformStepSchema>;

export function createStep(config: TransformStepConfig): TransformStep {
  switch (config.type) {
    case 'filter':
      return filterStep(config);
    case 'keep':
      return keepStep(config);
    case 'drop':
      return dropStep(config);
    case 'rename':
      return renameStep(config);
    case 'mask':
      return maskStep(config);
    case 'hash':
      return hashStep(config);
    case 'cast':
      return castStep(config);
    case 'compute':
      return computeStep(config);
    case 'route':
      return routeStep(config);
    case 'unwrap':
      return unwrapStep(config);
  }
}

export const transformConfigSchema = z
  .object({
    topics: z.array(topicName('Input topic.')).min(1, 'list at least one topic').describe('Input topics (Debezium-shaped, JsonConverter).'),
    outputTopic: z
      .string()
      .regex(/^[A-Za-z0-9._{}-]+$/, 'may hold letters, digits, ".", "_", "-" and the placeholder {topic}')
      .describe('Where results go unless a route step chooses; {topic} is the input topic, e.g. "{topic}.clean".'),
    steps: z.array(transformStepSchema).min(1, 'list at least one step').describe('The chain, applied in order.'),
    groupId: z.string().min(1).optional().describe('Kafka consumer group. Default: tideline-<name>.'),
    deadLetterTopic: topicName('Dead-letter topic.').optional().describe('Where messages that cannot be decoded or transformed go, with the error in headers. Default: <name>.dlq.'),
    outputPartitions: z.number().int().min(1).default(1).describe('Partitions of output topics tideline creates (existing topics are used as they are).'),
  })
  .strict();

export type TransformConfig = z.output<typeof transformConfigSchema>;

export const transformSpec: ConnectorSpec<typeof transformConfigSchema> = {
  kind: 'transform',
  role: 'processor',
  description: 'Stream processor: a chain of filter, keep/drop, rename, mask/hash, cast, compute, route and unwrap steps, topic to topic, exactly once.',
  configSchema: transformConfigSchema,
  create: (context) => new TransformProcessor(context),
};
