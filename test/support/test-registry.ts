/**
 * The schema registry of the integration tests: tideline's EmbeddedRegistry
 * (what `tideline run` uses by default) on the run's registry topic.
 *
 * global-setup.ts names that topic once per run (TIDELINE_REGISTRY_TOPIC,
 * `_schemas-it-<run>`), so every daemon of the run shares it: child daemons
 * (`tideline run`, DaemonProcess) read the variable as users' daemons do, and
 * in-process daemons (startDaemon) and the tests' own readers and writers
 * (debezium-events.ts) use testRegistry, one EmbeddedRegistry per test file
 * on that topic. Ids are a function of the topic's records, so every
 * instance gives a schema the same id, whichever registered it first: a test
 * decodes whatever format a daemon wrote, and a daemon reads Avro events a
 * test produced. A fresh topic per run keeps runs apart; test files of one
 * run share it as daemons of one cluster do (subjects are per topic, and
 * test topics carry a unique suffix).
 *
 * Lazy: nothing connects until a schema is registered or fetched, so a test
 * that never meets Avro opens no registry. Closed after each test file
 * (registry-teardown.ts, a setup file of the integration project).
 */
import { createLogger } from '../../src/core/logger.js';
import { createSchemaRegistry, type ManagedSchemaRegistry } from '../../src/registry/create-registry.js';
import { DEFAULT_REGISTRY_TOPIC } from '../../src/registry/embedded-registry.js';
import type { SchemaRegistry } from '../../src/registry/schema-registry.js';
import { AvroConverter } from '../../src/serde/avro/avro-converter.js';
import type { Converter } from '../../src/serde/index.js';

/** The registry topic of this run (as `tideline run` picks it: TIDELINE_REGISTRY_TOPIC, else `_schemas`). */
export function testRegistryTopic(): string {
  return process.env.TIDELINE_REGISTRY_TOPIC || DEFAULT_REGISTRY_TOPIC;
}

let managed: Promise<ManagedSchemaRegistry> | null = null;

function open(): Promise<ManagedSchemaRegistry> {
  managed ??= (async () => {
    const brokers = (process.env.TIDELINE_KAFKA_BROKERS ?? '').split(',').map((broker) => broker.trim()).filter(Boolean);
    if (brokers.length === 0) throw new Error('the test schema registry needs TIDELINE_KAFKA_BROKERS (set by test/support/global-setup.ts or `eval "$(stack/env)"`)');
    const logger = createLogger({ level: process.env.TIDELINE_TEST_LOG_LEVEL ?? 'warn' });
    return createSchemaRegistry({ kind: 'embedded', topic: testRegistryTopic() }, { logger, kafka: { brokers, ssl: false } });
  })();
  return managed;
}

/** This test file's EmbeddedRegistry on the run's registry topic (started on first use). */
export const testRegistry: SchemaRegistry = {
  register: async (subject, schema) => (await open()).register(subject, schema),
  schemaById: async (id) => (await open()).schemaById(id),
};

/** Closes this file's registry, if it was opened. */
export async function closeTestRegistry(): Promise<void> {
  const opened = managed;
  managed = null;
  await (await opened?.catch(() => undefined))?.close();
}

/**
 * A converter that reads what daemons of this run write, in either format
 * (an AvroConverter reads JSON messages too, told apart by their first byte),
 * and writes Avro registered in testRegistry.
 */
export function testRegistryConverter(): Converter {
  return new AvroConverter(testRegistry);
}
