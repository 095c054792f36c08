import { z } from 'zod';
import { HASH_ALGORITHMS, type HashAlgorithm } from './column-masking.js';

const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase PostgreSQL identifier (a-z, 0-9, _; at most 63 characters)');

const columnEntry = z
  .string()
  .regex(/^[^.\s]+\.[^.\s]+\.[^.\s]+$/, 'must be "schema.table.column", where * (any characters) and ? (one character) are wildcards within one part');

const columnEntries = (what: string) => z.array(columnEntry).min(1, `list at least one column to ${what}, or leave the field out`);

const hashAlgorithms = Object.keys(HASH_ALGORITHMS) as [HashAlgorithm, ...HashAlgorithm[]];

export const columnsConfigSchema = z
  .object({
    include: columnEntries('include')
      .optional()
      .describe('Only these columns of the captured tables reach Kafka ("schema.table.column" globs, e.g. "public.users.*", "public.*.id"); every other column, of every captured table, is left out. Not with exclude.'),
    exclude: columnEntries('exclude').optional().describe('Columns left out of keys, values and schemas, e.g. "public.users.ssn", "public.*.password_*". Not with include.'),
    mask: z
      .array(
        z
          .object({
            column: columnEntry.describe('The column (glob) to mask.'),
            length: z.number().int().min(1).max(1024).default(8).describe("How many '*' replace each value (Debezium's column.mask.with.<length>.chars)."),
          })
          .strict(),
      )
      .default([])
      .describe("Columns whose every value (null included) is replaced by asterisks, as Debezium's column.mask.with.<length>.chars."),
    hash: z
      .array(
        z
          .object({
            column: columnEntry.describe('The column (glob) to hash.'),
            algorithm: z.enum(hashAlgorithms).default('SHA-256').describe("Digest, by its Java name as in Debezium's property (SHA-256, SHA-512, SHA3-256, MD5, ...)."),
            salt: z.string().min(1, 'must not be empty (put it in ${ENV}: without a salt, short values are found by trying them all)').describe('Bytes hashed before each value; a secret: put it in ${ENV}.'),
            version: z
              .union([z.literal(1), z.literal(2)])
              .default(2)
              .describe("2: hash the value's UTF-8 bytes (Debezium's column.mask.hash.v2.<algorithm>.with.salt.<salt>); 1: hash its Java serialization, as Debezium's column.mask.hash.<algorithm>.with.salt.<salt>, to keep a Debezium pipeline's hashes."),
          })
          .strict(),
      )
      .default([])
      .describe("Columns whose non-null values are replaced by the hex digest of salt + value, cut to the column's length (varchar(n), char(n)), as Debezium's column.mask.hash."),
  })
  .strict()
  .superRefine((columns, context) => {
    if (columns.include && columns.exclude) {
      context.addIssue({ code: 'custom', path: ['exclude'], message: 'give either include or exclude, not both: include keeps only the columns it lists, exclude leaves out the ones it lists' });
    }
    if (!columns.include && !columns.exclude && columns.mask.length === 0 && columns.hash.length === 0) {
      context.addIssue({ code: 'custom', message: 'name columns to include or exclude, or columns to mask or hash (or leave columns out)' });
    }
  });

export type ColumnsConfig = z.output<typeof columnsConfigSchema>;

export const postgresSourceConfigSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection string')
      .describe('Connection string of the database to capture (a role with REPLICATION or superuser). Put the password in ${ENV}.'),
    slot: identifier.optional().describe('Logical replication slot; created when missing. Default: tideline_<connector name>.'),
    publication: identifier.optional().describe('Publication listing the captured tables; created and kept in step with `tables` (tables discovered while streaming are added to it), with publish_via_partition_root = true (set on an existing publication that lacks it). Default: same as the slot.'),
    tables: z
      .array(z.string().regex(/^[^.\s]+(\.[^.\s]+)?$/, 'must be "schema.table" or "table", where * and ? are wildcards'))
      .min(1, 'list at least one table to capture')
      .describe('Tables to capture, as "schema.table" ("table" means public.table); `*` matches any characters and `?` one, e.g. "public.*", "sales.order_?". Resolved against the catalog at each start, and every tableDiscoveryIntervalMs while streaming. A partitioned table is captured through its root (one topic for all its partitions); partitions are never selected on their own.'),
    excludeTables: z
      .array(z.string().regex(/^[^.\s]+(\.[^.\s]+)?$/, 'must be "schema.table" or "table", where * and ? are wildcards'))
      .default([])
      .describe('Tables left out of what `tables` matches, same pattern syntax.'),
    tableDiscoveryIntervalMs: z
      .number()
      .int()
      .refine((ms) => ms === 0 || ms >= 100, 'must be 0 (off) or at least 100 ms (each check queries the catalog)')
      .default(10_000)
      .describe(
        'How often the catalog is checked for tables created while streaming that `tables` matches (and `excludeTables` does not): such a table is added to the publication and its topic created, its changes stream from then on, and its existing rows are read by an incremental snapshot (needs signalTable; not with snapshotMode never). A new table is captured within this delay. 0: off (new tables are captured from the next start).',
      ),
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
    columns: columnsConfigSchema
      .optional()
      .describe('Column filters: include or exclude columns, mask or hash them at the source (see the README, "Column filters").'),
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
