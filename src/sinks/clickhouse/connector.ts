/** The clickhouse-sink kind: its config schema (spec.ts) and its connector class. */
import { defineConnector } from '../../core/connector.js';
import { ClickHouseSink } from './clickhouse-sink.js';
import { readSinkOffsets } from './offset-store.js';
import { clickhouseSinkConfigSchema } from './spec.js';

export const clickhouseSinkConnector = defineConnector({
  kind: 'clickhouse-sink',
  role: 'sink',
  service: 'clickhouse',
  description: 'Upserts Debezium-shaped change topics into ClickHouse ReplacingMergeTree tables, with offsets stored in ClickHouse.',
  configSchema: clickhouseSinkConfigSchema,
  create: (context) => new ClickHouseSink(context),
  readOffsets: ({ name, config }) => readSinkOffsets(config, name),
  // Patterns in topics are resolved by the lag look-up against the topics that exist then.
  consumerGroups: (name, config) => [{ groupId: config.groupId ?? `tideline-${name}`, topics: config.topics, excludeTopics: [config.deadLetterTopic ?? `${name}.dlq`] }],
});
