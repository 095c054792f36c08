import { z } from 'zod';
import { topicName } from '../config.js';
import { castStepSchema } from './cast.js';
import { computeStepSchema } from './compute.js';
import { dropStepSchema, keepStepSchema, renameStepSchema } from './fields.js';
import { filterStepSchema } from './filter.js';
import { hashStepSchema, maskStepSchema } from './mask.js';
import { routeStepSchema } from './route.js';
import { unwrapStepSchema } from './unwrap.js';

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
