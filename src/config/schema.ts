import { z } from 'zod';
import { kafkaConnectionSchema } from '../core/kafka-connection.js';
import { isFormat, unknownFormatMessage } from '../serde/index.js';

/** The part of a connector file common to every kind; `config` is the kind's own. */
export const connectorFileSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must start with a letter or digit and hold only letters, digits, "_", "." and "-"')
      .max(100)
      .describe('Unique connector name; names its transactional id, consumer group and offsets.'),
    kind: z.string().min(1).describe('Connector kind, e.g. postgres-source or clickhouse-sink.'),
    enabled: z.boolean().default(true).describe('Set false to keep the file but not run the connector.'),
    kafka: kafkaConnectionSchema.describe('How to reach Kafka.'),
    format: z
      .string()
      .superRefine((value, context) => {
        if (!isFormat(value)) context.addIssue({ code: 'custom', message: unknownFormatMessage(value) });
      })
      .optional()
      .describe("Event format of the topics it writes and reads: avro or json. Default: the daemon's (--format, TIDELINE_FORMAT, else avro)."),
    config: z.unknown().optional().describe("The kind's own settings (checked by the kind's schema)."),
  })
  .strict();
