/**
 * The daemon's schema registry from its settings: an HTTP client of a
 * Confluent-compatible registry, or the embedded registry (started on first
 * use; at once, and served over HTTP, when a port is set).
 */
import type { KafkaConnection } from '../core/kafka-connection.js';
import type { Logger } from '../core/logger.js';
import { TidelineError } from '../core/errors.js';
import { createKafka, releaseKafka } from '../kafka/client.js';
import { EmbeddedRegistry } from './embedded-registry.js';
import { HttpSchemaRegistry } from './http-client.js';
import { startRegistryServer } from './rest-server.js';
import type { SchemaRegistry } from './schema-registry.js';
import type { RegistrySettings } from './settings.js';
import { ConnectorHealth } from '../runtime/connector-health.js';

/** A registry the daemon owns: close it on shutdown. */
export interface ManagedSchemaRegistry extends SchemaRegistry {
  /** The HTTP address when the embedded registry is served. */
  readonly servedAt?: string;
  /**
   * Starts what the first lookup would otherwise wait for (the embedded
   * registry reading its log), in the background: a sink's first batch then
   * finds its schemas loaded. A failure is left to that lookup, which tries again.
   */
  warmUp?(): void;
  close(): Promise<void>;
}

export interface RegistryDeps {
  logger: Logger;
  /** Kafka for the embedded registry when its settings name none (the connectors'). */
  kafka?: KafkaConnection;
}

export async function createSchemaRegistry(settings: RegistrySettings, deps: RegistryDeps): Promise<ManagedSchemaRegistry> {
  if (settings.kind === 'url') {
    const client = new HttpSchemaRegistry({ url: settings.url, credentials: settings.credentials });
    return {
      register: (subject, schema) => client.register(subject, schema),
      schemaById: (id) => client.schemaById(id),
      close: async () => undefined,
    };
  }
  const kafka = settings.kafka ?? deps.kafka;
  if (!kafka) {
    const missing = new TidelineError('the embedded schema registry needs Kafka: pass --registry-brokers or set TIDELINE_KAFKA_BROKERS');
    if (settings.serve) throw missing;
    // A daemon whose connectors need no registry runs without Kafka for it.
    return { register: () => Promise.reject(missing), schemaById: () => Promise.reject(missing), close: async () => undefined };
  }
  const logger = deps.logger.child({ component: 'schema-registry' });
  const client = createKafka(kafka, 'tideline-registry', logger, new ConnectorHealth('schema-registry', logger));
  const registry = new EmbeddedRegistry(client, { topic: settings.topic, logger });
  // Then the connections kafkajs left open (see releaseKafka).
  const closeRegistry = async (): Promise<void> => {
    await registry.close();
    releaseKafka(client);
  };
  if (!settings.serve) {
    return {
      register: (subject, schema) => registry.register(subject, schema),
      schemaById: (id) => registry.schemaById(id),
      warmUp: () => void registry.start().catch(() => undefined),
      close: closeRegistry,
    };
  }
  try {
    await registry.start();
    const server = await startRegistryServer(registry, { ...settings.serve, credentials: settings.credentials, logger });
    logger.info({ address: server.url, topic: settings.topic, auth: settings.credentials ? 'basic' : 'none' }, 'schema registry listening');
    return {
      servedAt: server.url,
      register: (subject, schema) => registry.register(subject, schema),
      schemaById: (id) => registry.schemaById(id),
      close: async () => {
        await server.close();
        await closeRegistry();
      },
    };
  } catch (error) {
    await closeRegistry();
    throw error;
  }
}
