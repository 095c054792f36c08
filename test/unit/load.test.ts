import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConnectorFiles } from '../../src/config/load.js';
import { ConfigError, type ConfigProblem } from '../../src/core/errors.js';
import { connectorKinds } from '../../src/runtime/registry.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tideline-load-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The problems of the ConfigError that loading throws (fails the test when nothing is thrown). */
function problemsOf(paths: string[], env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  try {
    loadConnectorFiles(paths, connectorKinds, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected loadConnectorFiles to throw a ConfigError');
}

const SOURCE = `name: orders-source
kind: postgres-source
kafka:
  brokers: "a:1, b:2"
config:
  url: postgres://tideline:secret@db:5432/app
  tables:
    - public.orders
`;

describe('loadConnectorFiles', () => {
  it('parses a valid file and applies defaults', () => {
    const file = write('source.yaml', SOURCE);
    const [definition, ...rest] = loadConnectorFiles([file], connectorKinds, {});
    expect(rest).toEqual([]);
    expect(definition).toBeDefined();
    expect(definition!.file).toBe(file);
    expect(definition!.name).toBe('orders-source');
    expect(definition!.kind).toBe('postgres-source');
    expect(definition!.enabled).toBe(true);
    expect(definition!.spec).toBe(connectorKinds.get('postgres-source'));
    expect(definition!.kafka).toEqual({ brokers: ['a:1', 'b:2'], ssl: false });
    expect(definition!.config).toEqual({
      url: 'postgres://tideline:secret@db:5432/app',
      tables: ['public.orders'],
      excludeTables: [],
      tableDiscoveryIntervalMs: 10_000,
      tombstones: true,
      topicPartitions: 1,
      topicCleanupPolicy: 'compact',
      compression: 'none',
      maxBatchEvents: 10_000,
      maxBatchDelayMs: 100,
      lagIntervalMs: 10_000,
      lagWarningBytes: 1024 ** 3,
      heartbeatIntervalMs: 10_000,
      snapshotMode: 'initial',
      snapshotChunkRows: 10_000,
      incrementalSnapshotChunkSize: 1024,
      decimalHandling: 'string',
      skippedOperations: [],
    });
  });

  it('interpolates the environment before validating', () => {
    const file = write(
      'sink.yml',
      `name: sink
kind: clickhouse-sink
enabled: \${ENABLED:-true}
kafka:
  brokers:
    - \${BROKER}
config:
  url: \${CH_URL:-http://127.0.0.1:8123}
  topics: [demo.public.orders]
  maxRetryDelayMs: \${DELAY:-5000}
`,
    );
    const [definition] = loadConnectorFiles([file], connectorKinds, { BROKER: 'k:9092', ENABLED: 'false' });
    expect(definition!.enabled).toBe(false);
    expect(definition!.kafka).toEqual({ brokers: ['k:9092'], ssl: false });
    expect(definition!.config).toEqual({
      url: 'http://127.0.0.1:8123',
      username: 'default',
      database: 'default',
      topics: ['demo.public.orders'],
      tableName: '{table}',
      viewSuffix: '_current',
      orderBy: {},
      engineSettings: {},
      nonFiniteNumeric: 'dead-letter',
      maxBatchRows: 100_000,
      maxBatchBytes: 16 * 1024 * 1024,
      maxBatchDelayMs: 100,
      maxRetryDelayMs: 5000,
    });
  });

  it('loads every .yaml and .yml file of a directory, sorted, ignoring other files', () => {
    write('b.yml', SOURCE.replace('orders-source', 'b'));
    write('a.yaml', SOURCE.replace('orders-source', 'a'));
    write('notes.txt', 'not a connector');
    const definitions = loadConnectorFiles([dir], connectorKinds, {});
    expect(definitions.map((definition) => [definition.name, definition.file])).toEqual([
      ['a', join(dir, 'a.yaml')],
      ['b', join(dir, 'b.yml')],
    ]);
  });

  it('reports all mistakes of a file at once, with field paths', () => {
    const file = write(
      'bad.yaml',
      `kind: postgres-source
kafka:
  brokers: a:1
config:
  url: mysql://db/app
  tabels: [public.orders]
  tables: [public.orders]
`,
    );
    expect(problemsOf([file])).toEqual([
      { file, path: 'name', message: 'Invalid input: expected string, received undefined' },
      { file, path: 'config.url', message: 'must be a postgres:// or postgresql:// connection string' },
      { file, path: 'config', message: 'Unrecognized key: "tabels"' },
    ]);
  });

  it('formats the problems into the error message, one per line', () => {
    const file = write('bad.yaml', 'name: x\nkind: postgres-source\nkafka: {brokers: a}\nconfig: {url: "x", tables: [t]}\n');
    expect(() => loadConnectorFiles([file], connectorKinds, {})).toThrow(
      `${file}: config.url: must be a postgres:// or postgresql:// connection string`,
    );
  });

  it('names array elements by index', () => {
    const file = write('bad.yaml', 'name: x\nkind: postgres-source\nkafka: {brokers: a}\nconfig: {url: "postgres://h/d", tables: [ok, "bad table"]}\n');
    expect(problemsOf([file])).toEqual([{ file, path: 'config.tables[1]', message: 'must be "schema.table" or "table", where * and ? are wildcards' }]);
  });

  it('lists the known kinds for an unknown kind', () => {
    const file = write('mysql.yaml', 'name: x\nkind: mysql-source\nkafka: {brokers: a}\nconfig: {}\n');
    expect(problemsOf([file])).toEqual([
      { file, path: 'kind', message: 'unknown kind "mysql-source"; known kinds: postgres-source, clickhouse-sink, transform, aggregate' },
    ]);
  });

  it('takes a per-connector format and refuses an unknown one, naming file and field', () => {
    const [definition] = loadConnectorFiles([write('json.yaml', SOURCE.replace('kafka:', 'format: json\nkafka:'))], connectorKinds, {});
    expect(definition!.format).toBe('json');
    expect(loadConnectorFiles([write('plain.yaml', SOURCE)], connectorKinds, {})[0]!.format).toBeUndefined();
    expect(loadConnectorFiles([write('avro.yaml', SOURCE.replace('kafka:', 'format: avro\nkafka:'))], connectorKinds, {})[0]!.format).toBe('avro');
    const file = write('protobuf.yaml', SOURCE.replace('kafka:', 'format: protobuf\nkafka:'));
    expect(problemsOf([file])).toEqual([{ file, path: 'format', message: expect.stringMatching(/^unknown format "protobuf"; known formats: json, avro$/) }]);
  });

  it('refuses the same connector name in two files', () => {
    const first = write('1-first.yaml', SOURCE);
    const second = write('2-second.yaml', SOURCE);
    expect(problemsOf([dir])).toEqual([
      { file: second, path: 'name', message: `connector name "orders-source" is already used in ${first}` },
    ]);
  });

  it('reports a YAML syntax error against the whole file', () => {
    const file = write('broken.yaml', 'name: x\nkind: postgres-source\nkafka: {brokers: a\n');
    const problems = problemsOf([file]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.file).toBe(file);
    expect(problems[0]!.path).toBe('');
    expect(problems[0]!.message).toMatch(/^invalid YAML: /);
    expect(problems[0]!.message).toContain('line 4, column 1');
  });

  it('reports a missing environment variable with its field path', () => {
    const file = write('env.yaml', 'name: x\nkind: postgres-source\nkafka: {brokers: "${BROKERS:-k:1}"}\nconfig:\n  url: ${PG_URL}\n  tables: [t]\n');
    expect(problemsOf([file])).toEqual([
      { file, path: 'config.url', message: 'environment variable PG_URL is not set (give a default with ${PG_URL:-value})' },
      { file, path: 'config.url', message: 'must be a postgres:// or postgresql:// connection string' },
    ]);
    expect(loadConnectorFiles([file], connectorKinds, { PG_URL: 'postgres://h/d' })[0]!.kafka.brokers).toEqual(['k:1']);
  });

  it('refuses a directory without connector files', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'readme.txt'), 'nothing here');
    expect(problemsOf([empty])).toEqual([{ file: empty, path: '', message: 'directory holds no .yaml or .yml connector files' }]);
  });

  it('refuses a path that does not exist, naming it as given', () => {
    const missing = join(dir, 'nope.yaml');
    expect(problemsOf([missing])).toEqual([{ file: missing, path: '', message: 'no such file or directory' }]);
  });

  it('collects problems across files before failing', () => {
    const good = write('a-good.yaml', SOURCE);
    const bad = write('b-bad.yaml', 'name: "bad name"\nkind: postgres-source\nkafka: {brokers: a, extra: 1}\nconfig: {url: "postgres://h/d", tables: []}\n');
    expect(problemsOf([good, bad])).toEqual([
      { file: bad, path: 'name', message: 'must start with a letter or digit and hold only letters, digits, "_", "." and "-"' },
      { file: bad, path: 'kafka', message: 'Unrecognized key: "extra"' },
      { file: bad, path: 'config.tables', message: 'list at least one table to capture' },
    ]);
  });
});

describe('loadConnectorFiles and quoting', () => {
  it('keeps a quoted reference a string even when the variable holds digits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-quoted-'));
    const file = join(dir, 'sink.yaml');
    writeFileSync(
      file,
      'name: s\nkind: clickhouse-sink\nkafka: { brokers: b:1 }\nconfig:\n  url: http://ch:8123\n  password: "${CH_PASSWORD}"\n  topics: [t]\n  maxRetryDelayMs: ${DELAY:-500}\n',
    );
    const [definition] = loadConnectorFiles([file], connectorKinds, { CH_PASSWORD: '123456' });
    expect(definition!.config).toMatchObject({ password: '123456', maxRetryDelayMs: 500 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports missing required fields of a file without a config block by their names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-noconfig-'));
    const file = join(dir, 'source.yaml');
    writeFileSync(file, 'name: s\nkind: postgres-source\nkafka: { brokers: b:1 }\n');
    try {
      loadConnectorFiles([file], connectorKinds, {});
      expect.unreachable('a file without config must be refused');
    } catch (error) {
      expect((error as ConfigError).problems.map((problem) => problem.path)).toEqual(['config.url', 'config.tables']);
    }
    rmSync(dir, { recursive: true, force: true });
  });
});
