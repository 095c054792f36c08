import { z } from 'zod';

/** How a connector reaches Kafka: the `kafka:` block of a connector file. */
export const kafkaConnectionSchema = z
  .object({
    brokers: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .transform((value) => (Array.isArray(value) ? value : value.split(',').map((broker) => broker.trim()).filter(Boolean)))
      .describe('Bootstrap brokers: "host:port,host:port" or a list.'),
    clientId: z.string().min(1).optional().describe('Client id sent to Kafka; defaults to tideline-<connector name>.'),
    ssl: z.boolean().default(false).describe('Connect with TLS.'),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('SASL mechanism.'),
        username: z.string().min(1).describe('SASL user name.'),
        password: z.string().min(1).describe('SASL password; use ${ENV} interpolation, never a literal.'),
      })
      .strict()
      .optional()
      .describe('SASL authentication.'),
  })
  .strict();

export type KafkaConnection = z.output<typeof kafkaConnectionSchema>;
