import { z } from 'zod';
import { TOPIC_ENTRY } from '../../kafka/topic-patterns.js';

export const clickhouseSinkConfigSchema = z
  .object({
    url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL of the ClickHouse HTTP interface').describe('ClickHouse HTTP endpoint, e.g. http://127.0.0.1:8123.'),
    username: z.string().default('default').describe('ClickHouse user.'),
    password: z.string().optional().describe('ClickHouse password; use ${ENV} interpolation.'),
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain ClickHouse identifier').default('default').describe('Database of the tables; created when missing.'),
    topics: z
      .array(z.string().regex(TOPIC_ENTRY, 'must be a Kafka topic name (letters, digits, ".", "_", "-") or a glob pattern of one with "*" and "?"'))
      .min(1, 'list at least one topic')
      .describe(
        'Debezium-shaped change topics to write: names, or glob patterns where "*" matches any run of characters and "?" one character within one dot-separated part (e.g. "tideline.public.*"). A pattern matches the existing topics and, checked every topicDiscoveryIntervalMs, topics created later (read from their first offset); never internal ones (names starting with "_", *.dlq, *.repartition, *.changelog, the deadLetterTopic).',
      ),
    topicDiscoveryIntervalMs: z
      .number()
      .int()
      .min(100)
      .optional()
      .describe('With patterns in topics: how often Kafka is asked for topics matching them (default 10000); a new topic starts being written about this long after it is created.'),
    tableName: z
      .string()
      .regex(/^([A-Za-z0-9_]|\{schema\}|\{table\}|\{topic\})+$/, 'may hold letters, digits, "_" and the placeholders {schema}, {table} and {topic}')
      .default('{table}')
      .describe('Table name pattern; {schema} and {table} come from the event source block, {topic} is the topic with every character other than letters, digits and "_" as "_".'),
    viewSuffix: z.string().regex(/^[A-Za-z0-9_]+$/).default('_current').describe('The view <table><suffix> reads FINAL and hides deleted rows.'),
    groupId: z.string().min(1).optional().describe('Kafka consumer group. Default: tideline-<connector name>.'),
    deadLetterTopic: z.string().min(1).optional().describe('Topic for messages that cannot be written, with the error in headers. Default: <connector name>.dlq.'),
    maxRetryDelayMs: z.number().int().min(100).default(30_000).describe('Longest wait between retries while ClickHouse is unreachable.'),
    maxBatchRows: z.number().int().min(1).default(100_000).describe('Write a batch once it holds this many messages (across Kafka fetches and partitions).'),
    maxBatchBytes: z
      .number()
      .int()
      .min(1024)
      .default(16 * 1024 * 1024)
      .describe('Write a batch once its messages hold this many bytes (Kafka key + value); the consumer fetches at most this much (and at most 4 MiB) at a time.'),
    maxBatchDelayMs: z.number().int().min(0).default(100).describe('Write a batch at most this long after its first message arrived.'),
    orderBy: z
      .record(z.string(), z.array(z.string().min(1)).min(1))
      .default({})
      .describe('ORDER BY override per ClickHouse table name; must hold every primary-key column. Default: the primary key.'),
    nonFiniteNumeric: z
      .enum(['dead-letter', 'null'])
      .default('dead-letter')
      .describe(
        "numeric 'NaN', 'Infinity' and '-Infinity' have no ClickHouse Decimal value: dead-letter refuses the event naming the column; null writes NULL into a Nullable column (a NOT NULL column still dead-letters). Unconstrained numeric columns are String and keep the text.",
      ),
    engineSettings: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a ClickHouse setting name'), z.union([z.number(), z.string()]))
      .default({})
      .describe('MergeTree settings for the tables the sink creates (the SETTINGS clause), e.g. index_granularity: 8192.'),
  })
  .strict();

export type ClickHouseSinkConfig = z.output<typeof clickhouseSinkConfigSchema>;
