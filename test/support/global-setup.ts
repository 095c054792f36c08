// vitest globalSetup for the integration project: find or start PostgreSQL, Kafka
// and ClickHouse once per run, then hand their addresses to the test files.
//
// Modes, first match wins:
//   1. environment     TIDELINE_PG_URL, TIDELINE_KAFKA_BROKERS and TIDELINE_CLICKHOUSE_URL
//                      are all set: use those services as they are.
//   2. testcontainers  a Docker engine answers (`docker info`): start postgres:16,
//                      apache/kafka:3.9.0 and clickhouse/clickhouse-server:24.
//   3. native stack    otherwise `stack/up` (PostgreSQL 15, Kafka 3.9.1, ClickHouse 18.16
//                      running natively); teardown stops only the services that were
//                      not already running (TIDELINE_KEEP_STACK=1 keeps them all).
//
// The addresses reach the tests as environment variables (vitest starts its
// workers after globalSetup, and they inherit process.env; see
// test/support/services.ts) and through provide/inject('tidelineServices').

import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { SERVICE_ENV } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    tidelineServices: { mode: Mode; pgUrl: string; kafkaBrokers: string; clickhouseUrl: string };
  }
}

type Mode = 'environment' | 'testcontainers' | 'native stack';
type Teardown = () => Promise<void>;
interface Found {
  mode: Mode;
  env: Record<(typeof SERVICE_ENV)[keyof typeof SERVICE_ENV], string>;
  teardown: Teardown;
}

const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STACK = (script: string): string => path.join(REPO_DIR, 'stack', script);
const KAFKA_PROBE = path.join(REPO_DIR, 'stack', 'lib', 'kafka-probe.mjs');

export default async function setup(project: TestProject): Promise<Teardown> {
  const found = fromEnvironment() ?? (dockerAvailable() ? await startContainers() : startNativeStack());
  Object.assign(process.env, found.env);
  // One embedded schema registry topic per run (test/support/test-registry.ts):
  // every daemon of the run, in-process or child, and the tests' readers share
  // it, and no run meets another run's schemas.
  process.env.TIDELINE_REGISTRY_TOPIC ||= `_schemas-it-${Date.now().toString(36)}`;
  project.provide('tidelineServices', {
    mode: found.mode,
    pgUrl: found.env.TIDELINE_PG_URL,
    kafkaBrokers: found.env.TIDELINE_KAFKA_BROKERS,
    clickhouseUrl: found.env.TIDELINE_CLICKHOUSE_URL,
  });
  console.log(
    `[tideline] integration tests use ${found.mode}: ` +
      `postgres ${withoutPassword(found.env.TIDELINE_PG_URL)}, ` +
      `kafka ${found.env.TIDELINE_KAFKA_BROKERS}, ` +
      `clickhouse ${withoutPassword(found.env.TIDELINE_CLICKHOUSE_URL)}, ` +
      `schema registry topic ${process.env.TIDELINE_REGISTRY_TOPIC}`,
  );
  return found.teardown;
}

// ------------------------------------------------------------------ 1. environment

function fromEnvironment(): Found | undefined {
  const pg = process.env[SERVICE_ENV.pgUrl];
  const kafka = process.env[SERVICE_ENV.kafkaBrokers];
  const ch = process.env[SERVICE_ENV.clickhouseUrl];
  if (!pg || !kafka || !ch) return undefined;
  return {
    mode: 'environment',
    env: { TIDELINE_PG_URL: pg, TIDELINE_KAFKA_BROKERS: kafka, TIDELINE_CLICKHOUSE_URL: ch },
    teardown: async () => {},
  };
}

// ------------------------------------------------------------------ 2. testcontainers

function dockerAvailable(): boolean {
  // The docker CLI may exist without an engine (as on the project's machines).
  const r = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startContainers(): Promise<Found> {
  // Loaded only here: the native path should not pay for importing them.
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { ClickHouseContainer } = await import('@testcontainers/clickhouse');
  console.log('[tideline] Docker is available: starting postgres, kafka and clickhouse containers');

  const dockerHost = (await getContainerRuntimeClient()).info.containerRuntime.host;
  // Kafka advertises the address clients must use. Publishing the same port inside
  // and outside the container makes that address known before the container starts
  // (as in docker-compose.yml). @testcontainers/kafka targets Confluent images,
  // so apache/kafka is configured by hand.
  const kafkaHostPort = await freePort();

  const [pg, kafka, ch] = await Promise.all([
    new PostgreSqlContainer('postgres:16')
      .withDatabase('tideline')
      .withUsername('tideline')
      .withPassword('tideline')
      .withCommand(['postgres', '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20'])
      .start(),
    new GenericContainer('apache/kafka:3.9.0')
      .withHostname('kafka')
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        CLUSTER_ID: 'uYNnzH9oy_LSO-bc_Oh4yw',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENERS: `PLAINTEXT://:9092,CONTROLLER://:9093,PLAINTEXT_HOST://:${kafkaHostPort}`,
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://kafka:9092,PLAINTEXT_HOST://${dockerHost}:${kafkaHostPort}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'PLAINTEXT',
        // One node: replication factor and ISR 1, or transactions never start.
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_MIN_INSYNC_REPLICAS: '1',
        KAFKA_DEFAULT_REPLICATION_FACTOR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_NUM_PARTITIONS: '1',
      })
      .withExposedPorts({ container: kafkaHostPort, host: kafkaHostPort })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(180_000)
      .start(),
    new ClickHouseContainer('clickhouse/clickhouse-server:24')
      .withDatabase('tideline')
      // User `default` without a password, reachable from the host, like the native
      // stack; the variable makes the image's entrypoint grant network access.
      .withUsername('default')
      .withPassword('')
      .withEnvironment({ CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: '1' })
      .start(),
  ]);

  const brokers = `${dockerHost}:${kafkaHostPort}`;
  const teardown: Teardown = async () => {
    await Promise.allSettled([pg.stop(), kafka.stop(), ch.stop()]);
  };
  try {
    // Same readiness check as stack/up: a transactional produce that commits.
    execFileSync(process.execPath, [KAFKA_PROBE, brokers, '180'], { stdio: 'inherit', cwd: REPO_DIR });
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    mode: 'testcontainers',
    env: {
      TIDELINE_PG_URL: pg.getConnectionUri(),
      TIDELINE_KAFKA_BROKERS: brokers,
      TIDELINE_CLICKHOUSE_URL: ch.getHttpUrl(),
    },
    teardown,
  };
}

// ------------------------------------------------------------------ 3. native stack

/** Names of the stack services that are running now, from `stack/status`. */
function runningStackServices(): Set<string> {
  const r = spawnSync('bash', [STACK('status')], { encoding: 'utf8' });
  const running = new Set<string>();
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^(\S+)\s+running\b/.exec(line);
    if (m?.[1]) running.add(m[1]);
  }
  return running;
}

/** Parse `export A=x B=y ...` as printed by stack/env. */
function parseStackEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/\b(TIDELINE_[A-Z_]+)=(\S+)/g)) {
    if (m[1] && m[2]) env[m[1]] = m[2];
  }
  return env;
}

function startNativeStack(): Found {
  const services = ['postgres', 'kafka', 'clickhouse'];
  const before = runningStackServices();
  console.log(
    before.size === services.length
      ? '[tideline] native stack already running: reusing it'
      : '[tideline] no Docker engine: starting the native stack (stack/up)',
  );
  try {
    // Output (progress, and log tails on failure) goes straight to the terminal.
    execFileSync('bash', [STACK('up')], { stdio: 'inherit' });
  } catch {
    throw new Error('stack/up failed to start PostgreSQL, Kafka and ClickHouse (see its output above)');
  }
  const env = parseStackEnv(execFileSync('bash', [STACK('env')], { encoding: 'utf8' }));
  const pg = env[SERVICE_ENV.pgUrl];
  const kafka = env[SERVICE_ENV.kafkaBrokers];
  const ch = env[SERVICE_ENV.clickhouseUrl];
  if (!pg || !kafka || !ch) throw new Error(`stack/env printed no complete environment: ${JSON.stringify(env)}`);

  const startedHere = services.filter((s) => !before.has(s));
  const teardown: Teardown = async () => {
    if (startedHere.length === 0) return;
    if (process.env.TIDELINE_KEEP_STACK === '1') {
      console.log(`[tideline] TIDELINE_KEEP_STACK=1: leaving ${startedHere.join(', ')} running`);
      return;
    }
    console.log(`[tideline] stopping what this run started: ${startedHere.join(', ')}`);
    execFileSync('bash', [STACK('down'), ...startedHere], { stdio: 'inherit' });
  };
  return {
    mode: 'native stack',
    env: { TIDELINE_PG_URL: pg, TIDELINE_KAFKA_BROKERS: kafka, TIDELINE_CLICKHOUSE_URL: ch },
    teardown,
  };
}

// ------------------------------------------------------------------ helpers

function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
