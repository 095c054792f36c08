/**
 * The embedded schema registry on the real Kafka: registries that share a
 * topic (two in this process, one more as `tideline registry` in its own)
 * register many schemas at the same moment and agree on every id and version;
 * a restarted registry serves the same ids; the HTTP client works against it
 * with basic auth and keeps its ids while it is down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { createKafka } from '../../src/kafka/client.js';
import { EmbeddedRegistry } from '../../src/registry/embedded-registry.js';
import { HttpSchemaRegistry, SchemaRegistryRequestError } from '../../src/registry/http-client.js';
import { startRegistryServer } from '../../src/registry/rest-server.js';
import { IncompatibleSchemaError } from '../../src/registry/schema-registry.js';
import type { SchemaRegistry } from '../../src/registry/schema-registry.js';
import { tidelineArgs } from '../support/tideline-command.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { createTopic, testKafka } from '../support/debezium-events.js';
import { eventually, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import { recordSchema, REQUIRED_ADDED, V1, V2 } from '../support/registry-schemas.js';
import { serviceUrls } from '../support/services.js';
import { ConnectorHealth } from '../../src/runtime/connector-health.js';

const services = serviceUrls();
const logger = createLogger({ level: process.env.TIDELINE_TEST_LOG_LEVEL ?? 'warn' });
const topic = `_schemas_test_${uniqueSuffix()}`;
const opened: EmbeddedRegistry[] = [];

function embedded(onTopic = topic): EmbeddedRegistry {
  const registry = new EmbeddedRegistry(createKafka({ brokers: services.kafkaBrokers, ssl: false }, 'registry-test', logger, new ConnectorHealth('registry-test', logger)), { topic: onTopic, logger });
  opened.push(registry);
  return registry;
}

/** Schemas that any order keeps BACKWARD compatible: each adds a field with a default. */
function growingSchemas(name: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => recordSchema(name, Array.from({ length: i + 1 }, (_, f) => ({ name: `f${f}`, type: 'int', default: 0 }))));
}

/** Every registrar registers every (subject, schema), each in its own order, all at once. */
async function registerEverywhere(registrars: SchemaRegistry[], subjects: string[], schemas: string[]): Promise<Map<string, number>[]> {
  return Promise.all(
    registrars.map(async (registrar, r) => {
      const pairs = subjects.flatMap((subject) => schemas.map((schema, index) => ({ subject, schema, index })));
      if (r % 2 === 1) pairs.reverse();
      const ids = await Promise.all(pairs.map(({ subject, schema }) => registrar.register(subject, schema)));
      return new Map(pairs.map(({ subject, index }, i) => [`${subject}#${index}`, ids[i]!]));
    }),
  );
}

function expectConsistent(results: Map<string, number>[], subjects: string[], count: number): void {
  for (const result of results.slice(1)) expect(result).toEqual(results[0]);
  const ids = results[0]!;
  for (let index = 0; index < count; index += 1) {
    // The same schema text has one id under every subject...
    expect(new Set(subjects.map((subject) => ids.get(`${subject}#${index}`))).size).toBe(1);
  }
  // ...and different texts different ids.
  expect(new Set(ids.values()).size).toBe(count);
}

afterAll(async () => {
  await Promise.all(opened.map((registry) => registry.close()));
});

describe('embedded schema registry on Kafka', () => {
  const subjects = ['a-value', 'b-value', 'c-key', 'd-value'];
  const schemas = growingSchemas('Row', 10);
  let first: EmbeddedRegistry;
  let second: EmbeddedRegistry;
  let ids: Map<string, number>;

  it('two registries registering concurrently agree on every id and version', async () => {
    first = embedded();
    second = embedded();
    await Promise.all([first.start(), second.start()]);
    const results = await registerEverywhere([first, second], subjects, schemas);
    expectConsistent(results, subjects, schemas.length);
    ids = results[0]!;
    for (const subject of subjects) {
      const versions = await first.versions(subject);
      expect(versions).toEqual(Array.from({ length: schemas.length }, (_, i) => i + 1));
      for (const version of versions) expect(await second.version(subject, version)).toEqual(await first.version(subject, version));
    }
    for (const id of new Set(ids.values())) expect(await second.schemaById(id)).toBe(await first.schemaById(id));
  });

  it('a restarted registry serves the same ids and versions', async () => {
    await first.close();
    const restarted = embedded();
    await restarted.start();
    for (const subject of subjects) {
      for (const [index, schema] of schemas.entries()) expect(await restarted.register(subject, schema)).toBe(ids.get(`${subject}#${index}`));
      expect(await restarted.version(subject, 'latest')).toEqual(await second.version(subject, 'latest'));
    }
    for (const [index, schema] of schemas.entries()) expect(await restarted.schemaById(ids.get(`c-key#${index}`)!)).toBe(schema);
    first = restarted;
  });

  it('refuses an incompatible schema, and follows a level another registry set', async () => {
    expect(await first.register('e-value', V1)).toBeGreaterThan(0);
    const refusal = (await second.register('e-value', REQUIRED_ADDED).catch((error: unknown) => error)) as Error;
    expect(refusal).toBeInstanceOf(IncompatibleSchemaError);
    expect(refusal.message).toContain('incompatible with an earlier schema for subject "e-value"');
    expect(await second.compatibilityProblems('e-value', V2)).toEqual([]);
    await first.setCompatibility('e-value', 'NONE');
    expect(await second.compatibility('e-value')).toBe('NONE');
    const id = await second.register('e-value', REQUIRED_ADDED);
    expect(await first.lookup('e-value', REQUIRED_ADDED)).toMatchObject({ id, version: 2 });
  });

  it('serves Confluent clients over HTTP with basic auth; the client keeps its ids while the registry is down', async () => {
    const credentials = { username: 'svc', password: `pw-${uniqueSuffix()}` };
    const server = await startRegistryServer(first, { host: '127.0.0.1', port: 0, credentials, logger });
    const client = new HttpSchemaRegistry({ url: server.url, credentials, retries: 1, retryDelayMs: 50 });
    expect(await client.register('a-value', schemas[3]!)).toBe(ids.get('a-value#3'));
    const fresh = recordSchema('Fresh', [{ name: 'x', type: 'string' }]);
    const freshId = await client.register('fresh-value', fresh);
    expect(await second.schemaById(freshId)).toBe(fresh);
    expect(await client.schemaById(ids.get('b-value#5')!)).toBe(schemas[5]);

    const anonymous = new HttpSchemaRegistry({ url: server.url, retries: 0 });
    const refused = (await anonymous.schemaById(1).catch((error: unknown) => error)) as SchemaRegistryRequestError;
    expect(refused).toMatchObject({ status: 401 });
    const wrong = new HttpSchemaRegistry({ url: server.url, credentials: { username: 'svc', password: 'wrong' }, retries: 0 });
    await expect(wrong.register('a-value', V1)).rejects.toMatchObject({ status: 401, message: expect.not.stringContaining('wrong') });

    await server.close();
    expect(await client.register('a-value', schemas[3]!)).toBe(ids.get('a-value#3'));
    expect(await client.register('fresh-value', fresh)).toBe(freshId);
    expect(await client.schemaById(ids.get('b-value#5')!)).toBe(schemas[5]);
    await expect(client.register('fresh-value', V1)).rejects.toThrow(/unavailable after 2 attempts/);
  });

  it('`tideline registry` in its own process agrees with a registry in this one', async () => {
    const port = await freePort();
    const child: ChildProcess = spawn(
      process.execPath,
      tidelineArgs('registry', '--brokers', services.kafkaBrokers.join(','), '--topic', topic, '--port', String(port)),
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TIDELINE_LOG_LEVEL: 'warn', TIDELINE_REGISTRY_USERNAME: '', TIDELINE_REGISTRY_PASSWORD: '' } },
    );
    const output: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    try {
      const url = `http://127.0.0.1:${port}`;
      await eventually('tideline registry to answer', async () => {
        if (child.exitCode !== null) throw new Error(`tideline registry exited with ${child.exitCode}: ${output.join('')}`);
        return (await fetch(`${url}/subjects`).catch(() => null))?.ok ? true : undefined;
      }, 60_000);
      const client = new HttpSchemaRegistry({ url });
      const more = growingSchemas('Other', 8);
      const results = await registerEverywhere([client, second], ['x-value', 'y-value'], more);
      expectConsistent(results, ['x-value', 'y-value'], more.length);
      expect(await (await fetch(`${url}/subjects/x-value/versions`)).json()).toEqual(await second.versions('x-value'));
      expect(await client.register('a-value', schemas[9]!)).toBe(ids.get('a-value#9'));
    } finally {
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('`tideline run --registry-port` serves its embedded registry, behind basic auth', async () => {
    const dir = writeConnectorFiles({
      'idle.yaml': `name: idle\nkind: clickhouse-sink\nenabled: false\nkafka: { brokers: "${services.kafkaBrokers.join(',')}" }\nconfig: { url: "http://127.0.0.1:9", topics: [t] }\n`,
    });
    const port = await freePort();
    const credentials = { username: 'svc', password: `pw-${uniqueSuffix()}` };
    // No enabled connector: the registry's Kafka comes from TIDELINE_KAFKA_BROKERS.
    const daemon = new DaemonProcess(dir, await freePort(), {
      TIDELINE_REGISTRY_PORT: String(port),
      TIDELINE_REGISTRY_TOPIC: topic,
      TIDELINE_REGISTRY_USERNAME: credentials.username,
      TIDELINE_REGISTRY_PASSWORD: credentials.password,
    });
    await daemon.start({ healthy: false });
    try {
      const client = new HttpSchemaRegistry({ url: `http://127.0.0.1:${port}`, credentials });
      expect(await client.register('a-value', schemas[2]!)).toBe(ids.get('a-value#2'));
      const anonymous = await fetch(`http://127.0.0.1:${port}/subjects`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('content-type')).toBe('application/vnd.schemaregistry.v1+json');
      expect(daemon.log.join('')).not.toContain(credentials.password);
    } finally {
      await daemon.stop();
    }
  });

  it("stops registering on a topic that holds another registry's records", async () => {
    const foreignTopic = `_schemas_foreign_${uniqueSuffix()}`;
    const kafka = testKafka(services.kafkaBrokers);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: foreignTopic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: foreignTopic,
      messages: [{ key: '{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}', value: '{"subject":"x","version":1,"id":1,"schema":"\\"int\\""}' }],
    });
    await producer.disconnect();
    const registry = embedded(foreignTopic);
    await expect(registry.register('x', V1)).rejects.toThrow(/holds a record tideline's registry cannot use .*offset 0.*give tideline's registry its own topic/);
  });

  it('refuses a topic that would delete old records', async () => {
    const expiringTopic = `_schemas_expiring_${uniqueSuffix()}`;
    await createTopic(testKafka(services.kafkaBrokers), expiringTopic, 1);
    await expect(embedded(expiringTopic).register('x', V1)).rejects.toThrow(
      new RegExp(`topic ${expiringTopic} deletes records after \\d+ ms .*set cleanup.policy=compact`),
    );
  });
});
