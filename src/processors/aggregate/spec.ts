import { z } from 'zod';
import { durationSchema, expressionText, topicName } from '../config.js';
import { AGGREGATE_FUNCTIONS } from './aggregators.js';

const GROUP_TYPES = ['string', 'int32', 'int64', 'double', 'boolean'] as const;

const groupField = z.union([
  expressionText('Expression of the group column (its values become text).'),
  z
    .object({
      expression: expressionText('Expression of the group column, on the input envelope.'),
      type: z.enum(GROUP_TYPES).default('string').describe('Type of the group column.'),
    })
    .strict(),
]);

const aggregateField = z
  .object({
    fn: z.enum(AGGREGATE_FUNCTIONS as [string, ...string[]]).describe(`One of ${AGGREGATE_FUNCTIONS.join(', ')}.`),
    expression: expressionText('The value aggregated, on the input envelope (e.g. after.amount). count without it counts events.').optional(),
    type: z.enum(['int64', 'double']).optional().describe('Column type of the result: int64 (count, countDistinct; sums of integers) or double (default for sum, min, max, avg).'),
  })
  .strict()
  .superRefine((field, context) => {
    if (field.fn !== 'count' && !field.expression) context.addIssue({ code: 'custom', path: ['expression'], message: `${field.fn} needs an expression` });
    if (field.fn === 'avg' && field.type === 'int64') context.addIssue({ code: 'custom', path: ['type'], message: 'avg is a double' });
  });

const windowSchema = z
  .object({
    type: z.enum(['tumbling', 'hopping']).describe('tumbling: back-to-back windows of `size`; hopping: windows of `size` starting every `advance`.'),
    size: durationSchema('Window length, e.g. 1m.'),
    advance: durationSchema('For hopping windows: how often a window starts (divides size).').optional(),
  })
  .strict()
  .superRefine((window, context) => {
    if (window.size <= 0) context.addIssue({ code: 'custom', path: ['size'], message: 'must be longer than 0' });
    if (window.type === 'hopping' && window.advance === undefined) context.addIssue({ code: 'custom', path: ['advance'], message: 'a hopping window needs advance' });
    if (window.type === 'tumbling' && window.advance !== undefined) context.addIssue({ code: 'custom', path: ['advance'], message: 'only hopping windows take advance' });
    if (window.advance !== undefined && (window.advance <= 0 || window.advance > window.size)) {
      context.addIssue({ code: 'custom', path: ['advance'], message: 'must be longer than 0 and at most size' });
    }
  });

export const AGGREGATE_MODES = ['table', 'event'] as const;

export const aggregateConfigSchema = z
  .object({
    mode: z
      .enum(AGGREGATE_MODES)
      .default('table')
      .describe(
        'table: each input row (by its Kafka message key, the primary key) counts once, as its latest version: an update retracts what the previous version added and adds the new one, a delete retracts, and a group left empty is deleted from the results. ' +
          'event: every event adds to its window and nothing is retracted (for append-only streams).',
      ),
    topics: z.array(topicName('Input topic.')).min(1, 'list at least one topic').describe('Input topics (Debezium-shaped, JsonConverter).'),
    outputTopic: topicName('Result topic.').describe('Topic of the results: Debezium-shaped upserts, one key per group and window.'),
    table: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
      .optional()
      .describe("The results' source.table, which names the ClickHouse sink's table. Default: the connector name with _ for other characters."),
    groupBy: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'column names are plain identifiers'), groupField)
      .refine((map) => Object.keys(map).length > 0, 'name at least one group column')
      .describe('Group column name to expression (or {expression, type}); with window_start they are the result key.'),
    aggregates: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'column names are plain identifiers'), aggregateField)
      .refine((map) => Object.keys(map).length > 0, 'name at least one aggregate')
      .describe('Result column name to {fn, expression, type}.'),
    window: windowSchema.describe('The windows: {type: tumbling, size} or {type: hopping, size, advance}.'),
    allowedLateness: durationSchema('How long after its end a window still takes events (by event time); later events are dropped and counted.').default(0),
    timestamp: expressionText('Event time in ms since the epoch.').default('source.ts_ms'),
    filter: expressionText(
      'mode event: only events for which this is true are aggregated (e.g. op = "c"). mode table: a row version for which it is false does not count (its previous version is retracted), e.g. after.status = "paid".',
    ).optional(),
    repartition: z
      .boolean()
      .default(true)
      .describe('Re-key events by group through the topic <name>.repartition, so each group is aggregated in one place. false only when the (single) input topic is already partitioned by the group.'),
    partitions: z.number().int().min(1).optional().describe('Partitions of <name>.repartition and <name>.changelog (the unit of scaling). Default: those of the first input topic.'),
    outputPartitions: z.number().int().min(1).default(1).describe('Partitions of the output topic when tideline creates it.'),
    maxDistinctValues: z.number().int().min(1).default(100_000).describe('Bound on the distinct values countDistinct (and, in mode table, min and max) keep per window and group; beyond it the event goes to the dead-letter topic.'),
    groupId: z.string().min(1).optional().describe('Kafka consumer group of the aggregation (the repartition stage uses <groupId>.repartition). Default: tideline-<name>.'),
    deadLetterTopic: topicName('Dead-letter topic.').optional().describe('Where events that cannot be read or aggregated go, with the error in headers. Default: <name>.dlq.'),
  })
  .strict()
  .superRefine((config, context) => {
    if (!config.repartition && config.mode === 'table') {
      // The last image of a row lives where its key's events arrive, its group's windows where the group's do: two stages.
      context.addIssue({ code: 'custom', path: ['repartition'], message: 'mode table needs the repartition stage (it keeps each row\'s last image); set repartition: true or mode: event' });
    }
    if (!config.repartition && config.topics.length !== 1) {
      context.addIssue({ code: 'custom', path: ['repartition'], message: 'without repartition, read exactly one topic (its partitions are the state partitions)' });
    }
    const clash = Object.keys(config.aggregates).find((name) => name in config.groupBy || name === 'window_start' || name === 'window_end');
    if (clash) context.addIssue({ code: 'custom', path: ['aggregates', clash], message: 'is also a group column or a window column' });
    if (config.window.advance !== undefined && config.window.size % config.window.advance !== 0) {
      context.addIssue({ code: 'custom', path: ['window', 'advance'], message: 'must divide size' });
    }
  });

export type AggregateConfig = z.output<typeof aggregateConfigSchema>;
