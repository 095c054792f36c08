/** The clickhouse-sink kind: its config schema (spec.ts) and its connector class. */
import { defineConnector } from '../../core/connector.js';
import { ClickHouseSink } from './clickhouse-sink.js';
import { clickhouseSinkConfigSchema } from './spec.js';

export const clickhouseSinkConnector = defineConnector({
  kind: 'clickhouse-sink',
  role: 'sink',
  service: 'clickhouse',
  description: 'Upserts Debezium-shaped change topics into ClickHouse ReplacingMergeTree tables, with offsets stored in ClickHouse.',
  configSchema: clickhouseSinkConfigSchema,
  create: (context) => new ClickHouseSink(context),
});
