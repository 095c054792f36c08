import { z } from 'zod';

const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase PostgreSQL identifier (a-z, 0-9, _; at most 63 characters)');

export const postgresSourceConfigSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection string')
      .describe('Connection string of the database to capture (a role with REPLICATION or superuser). Put the password in ${ENV}.'),
    slot: identifier.optional().describe('Logical replication slot; created when missing. Default: tideline_<connector name>.'),
    publication: identifier.optional().describe('Publication listing the captured tables; created and kept in step with `tables`. Default: same as the slot.'),
    tables: z
      .array(z.string().regex(/^[^.\s]+(\.[^.\s]+)?$/, 'must be "schema.table" or "table", where * and ? are wildcards'))
      .min(1, 'list at least one table to capture')
      .describe('Tables to capture, as "schema.table" ("table" means public.table); `*` matches any characters and `?` one, e.g. "public.*", "sales.order_?". Resolved against the catalog at each start.'),
    excludeTables: z
      .array(z.string().regex(/^[^.\s]+(\.[^.\s]+)?$/, 'must be "schema.table" or "table", where * and ? are wildcards'))
      .default([])
      .describe('Tables left out of what `tables` matches, same pattern syntax.'),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, "_", "." and "-" (Kafka topic characters)')
      .optional()
      .describe('Topic prefix and Debezium `source.name`; topics are <prefix>.<schema>.<table>. Default: the connector name.'),
    tombstones: z.boolean().default(true).describe('Write a tombstone (null value) after each delete, so compaction can remove the key.'),
    topicPartitions: z.number().int().min(1).max(1000).default(1).describe('Partitions of change topics that tideline creates.'),
    topicCleanupPolicy: z.enum(['compact', 'delete']).default('compact').describe('cleanup.policy of created change topics: compact keeps the latest event per key, so a replay rebuilds the table.'),
    compression: z
      .enum(['none', 'gzip'])
      .default('none')
      .describe('Compression of the record batches sent to Kafka (gzip runs on libuv\'s thread pool, off the main thread).'),
    maxBatchEvents: z.number().int().min(1).default(10_000).describe('Commit the Kafka transaction once it holds this many events (at a PostgreSQL commit boundary).'),
    maxBatchDelayMs: z.number().int().min(0).default(100).describe('Commit the Kafka transaction at most this long after its first PostgreSQL commit.'),
    lagIntervalMs: z.number().int().min(1000).default(10_000).describe('How often the slot lag (WAL bytes behind) is measured.'),
    lagWarningBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 ** 3)
      .describe('Log a warning while the slot holds back more WAL than this many bytes (0: never). Default 1 GiB.'),
    heartbeatIntervalMs: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe('When nothing was committed for this long, write a heartbeat message (pg_logical_emit_message) so the slot moves forward while captured tables are idle (0: off).'),
    snapshotMode: z
      .enum(['initial', 'never', 'when_needed'])
      .default('initial')
      .describe('initial: read every table once before streaming (first start, and tables added later); never: stream only; when_needed: as initial, and read a new snapshot when the slot was lost.'),
    signalTable: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/, 'must be "schema.table" (lowercase PostgreSQL identifiers)')
      .optional()
      .describe(
        "Debezium's signal table (signal.data.collection), \"schema.table\" with columns (id varchar primary key, type varchar, data varchar); created when missing and added to the publication. INSERT execute-snapshot, stop-snapshot, pause-snapshot or resume-snapshot rows to run incremental snapshots; the snapshot also writes its watermarks there. Its own changes are never written to Kafka.",
      ),
    signalTopic: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, "_", "." and "-" (Kafka topic characters)')
      .optional()
      .describe("Kafka topic of signals (Debezium's signal.kafka.topic): key = the topic prefix, value {\"type\": ..., \"data\": {...}}. Each record is inserted into signalTable (needs it) and acts from there. Created when missing."),
    incrementalSnapshotChunkSize: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1024)
      .describe("Rows per incremental snapshot chunk (Debezium's incremental.snapshot.chunk.size): each chunk is read between two watermarks and its rows are emitted in the Kafka transaction of the high watermark."),
    snapshotChunkRows: z.number().int().min(1).max(1_000_000).default(10_000).describe('Rows per snapshot chunk: each chunk is one Kafka transaction with the snapshot position, where a crash resumes.'),
    decimalHandling: z
      .enum(['string', 'precise'])
      .default('string')
      .describe("Debezium's decimal.handling.mode. string: numeric values as exact decimal text. precise: numeric(p,s) columns as Kafka Connect Decimals (bytes of the unscaled value; in Avro the decimal logical type with precision and scale); unconstrained numeric and negative scales stay text, NaN and infinity become null."),
    deadLetterTopic: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, "_", "." and "-" (Kafka topic characters)')
      .optional()
      .describe('Where the events of a table go while the schema registry refuses its schema (format avro; an incompatible ALTER TABLE), as JSON with the error in headers. Default: <connector name>.dlq.'),
    skippedOperations: z
      .array(z.enum(['c', 'u', 'd', 't']))
      .default([])
      .describe('Operations not emitted (Debezium\'s skipped.operations): c create, u update, d delete, t truncate.'),
  })
  .strict()
  .refine((config) => config.signalTopic === undefined || config.signalTable !== undefined, {
    message: 'signalTopic needs signalTable: Kafka signals are inserted into the signal table, where the snapshot also writes its watermarks',
    path: ['signalTopic'],
  });

export type PostgresSourceConfig = z.output<typeof postgresSourceConfigSchema>;
