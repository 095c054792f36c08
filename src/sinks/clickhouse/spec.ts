import { z } from 'zod';
import type { ConnectorSpec } from '../../core/connector.js';
import { ClickHouseSink } from './clickhouse-sink.js';

export const clickhouseSinkConfigSchema = z
  .object({
    url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL of the ClickHouse HTTP interface').describe('ClickHouse HTTP endpoint, e.g. http://127.0.0.1:8123.'),
    username: z.string().default('default').describe('ClickHouse user.'),
    password: z.string().optional().describe('ClickHouse password; use ${ENV} interpolation.'),
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain ClickHouse identifier').default('default').describe('Database of the tables; created when missing.'),
    topics: z.array(z.string().min(1)).min(1, 'list at least one topic').describe('Debezium-shaped change topics to write.'),
    tableName: z
      .string()
      .regex(/^[A-Za-z0-9_{}]+$/, 'may hold letters, digits, "_" and the placeholders {schema} and {table}')
      .default('{table}')
      .describe('Table name pattern; {schema} and {table} come from the event source block.'),
    viewSuffix: z.string().regex(/^[A-Za-z0-9_]+$/).default('_current').describe('The view <table><suffix> reads FINAL and hides deleted rows.'),
    groupId: z.string().min(1).optional().describe('Kafka consumer group. Default: tideline-<connector name>.'),
    deadLetterTopic: z.string().min(1).optional().describe('Topic for messages that cannot be written, with the error in headers. Default: <connector name>.dlq.'),
    maxRetryDelayMs: z.number().int().min(100).default(30_000).describe('Longest wait between retries while ClickHouse is unreachable.'),
  })
  .strict();

export type ClickHouseSinkConfig = z.output<typeof clickhouseSinkConfigSchema>;

export const clickhouseSinkSpec: ConnectorSpec<typeof clickhouseSinkConfigSchema> = {
  kind: 'clickhouse-sink',
  role: 'sink',
  description: 'Upserts Debezium-shaped change topics into ClickHouse ReplacingMergeTree tables, with offsets stored in ClickHouse.',
  configSchema: clickhouseSinkConfigSchema,
  create: (context) => new ClickHouseSink(context),
};
