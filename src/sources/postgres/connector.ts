/** The postgres-source kind: its config schema (spec.ts) and its connector class. */
import { defineConnector } from '../../core/connector.js';
import { PostgresSource } from './postgres-source.js';
import { postgresSourceBlock } from './source-block.js';
import { postgresSourceConfigSchema } from './spec.js';

export const postgresSourceConnector = defineConnector({
  kind: 'postgres-source',
  role: 'source',
  service: 'postgresql',
  description: 'Streams changes of PostgreSQL tables (pgoutput logical replication) into one Kafka topic per table, in Debezium\'s event shape, exactly once.',
  configSchema: postgresSourceConfigSchema,
  sourceBlocks: [postgresSourceBlock],
  create: (context) => new PostgresSource(context),
});
