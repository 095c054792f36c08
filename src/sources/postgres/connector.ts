/** The postgres-source kind: its config schema (spec.ts) and its connector class. */
import { defineConnector } from '../../core/connector.js';
import { withKafka } from '../../kafka/group-offsets.js';
import { readSourceOffset } from '../../kafka/source-offsets.js';
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
  // The position the source resumes from: its record in _tideline_offsets (position.ts's shape).
  readOffsets: async ({ name, kafka, logger }) => {
    const position = await withKafka(kafka, `tideline-${name}-admin`, logger, 20_000, (client) => readSourceOffset(client, name, 15_000));
    return position === null ? [] : [{ type: 'source', partition: { connector: name }, offset: position }];
  },
});
