import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readConnectorFiles, type ConnectorDefinition } from '../../src/config/load.js';
import type { ConfigProblem } from '../../src/core/errors.js';
import { canonicalJson, definitionFingerprint, planReload, type LoadedConnector } from '../../src/runtime/reload-plan.js';
import { connectorKinds } from '../../src/runtime/registry.js';

const DIR = '/etc/tideline';

function definition(name: string, config: Record<string, unknown> = {}, extra: Partial<ConnectorDefinition> = {}): ConnectorDefinition {
  return {
    file: `${DIR}/${name}.yaml`,
    name,
    kind: 'clickhouse-sink',
    enabled: true,
    kafka: { brokers: ['k:9092'], ssl: false },
    config: { url: 'http://ch:8123', ...config },
    spec: connectorKinds.get('clickhouse-sink')!,
    ...extra,
  };
}

/** What the daemon records for a running definition. */
function loaded(def: ConnectorDefinition): LoadedConnector {
  return { name: def.name, file: def.file, fingerprint: definitionFingerprint(def, 'avro') };
}

const names = (definitions: readonly { name: string }[]) => definitions.map((def) => def.name).sort();

describe('planReload', () => {
  it('sorts connectors into added, removed, changed and unchanged', () => {
    const running = [definition('a'), definition('b'), definition('c', { maxBatchRows: 10 })].map(loaded);
    const plan = planReload(running, { definitions: [definition('a'), definition('c', { maxBatchRows: 20 }), definition('d')], problems: [] }, 'avro');
    expect(names(plan.added)).toEqual(['d']);
    expect(plan.removed).toEqual(['b']);
    expect(names(plan.changed)).toEqual(['c']);
    expect(names(plan.unchanged)).toEqual(['a']);
    expect(plan.kept).toEqual([]);
    expect(plan.problems).toEqual([]);
  });

  it('treats a rename as a removal and an addition', () => {
    const plan = planReload([loaded(definition('old'))], { definitions: [definition('new', {}, { file: `${DIR}/old.yaml` })], problems: [] }, 'avro');
    expect(plan.removed).toEqual(['old']);
    expect(names(plan.added)).toEqual(['new']);
  });

  it('removes a connector whose file now says enabled: false', () => {
    const plan = planReload([loaded(definition('a'))], { definitions: [definition('a', {}, { enabled: false })], problems: [] }, 'avro');
    expect(plan.removed).toEqual(['a']);
    expect(plan.added).toEqual([]);
  });

  it('leaves a connector whose file moved but whose definition is the same unchanged', () => {
    const plan = planReload([loaded(definition('a'))], { definitions: [definition('a', {}, { file: `${DIR}/renamed.yaml` })], problems: [] }, 'avro');
    expect(names(plan.unchanged)).toEqual(['a']);
    expect(plan.unchanged[0]!.file).toBe(`${DIR}/renamed.yaml`);
  });

  it('compares the resolved format: naming the daemon default in the file changes nothing, another format does', () => {
    const running = [loaded(definition('a'))];
    expect(names(planReload(running, { definitions: [definition('a', {}, { format: 'avro' })], problems: [] }, 'avro').unchanged)).toEqual(['a']);
    expect(names(planReload(running, { definitions: [definition('a', {}, { format: 'json' })], problems: [] }, 'avro').changed)).toEqual(['a']);
  });

  it('counts a changed Kafka connection or kind as a change', () => {
    const running = [loaded(definition('a'))];
    const kafka = planReload(running, { definitions: [definition('a', {}, { kafka: { brokers: ['other:9092'], ssl: false } })], problems: [] }, 'avro');
    expect(names(kafka.changed)).toEqual(['a']);
    const kind = planReload(running, { definitions: [definition('a', {}, { kind: 'transform' })], problems: [] }, 'avro');
    expect(names(kind.changed)).toEqual(['a']);
  });

  it('keeps the running version of a connector whose file has a problem, and applies the other files', () => {
    const running = [definition('a'), definition('b'), definition('c')].map(loaded);
    const problem: ConfigProblem = { file: `${DIR}/b.yaml`, path: 'config.url', message: 'Invalid URL' };
    const plan = planReload(running, { definitions: [definition('a', { maxBatchRows: 5 }), definition('c'), definition('d')], problems: [problem] }, 'avro');
    expect(plan.kept).toEqual([{ name: 'b', problems: [problem] }]);
    expect(plan.removed).toEqual([]);
    expect(names(plan.changed)).toEqual(['a']);
    expect(names(plan.unchanged)).toEqual(['c']);
    expect(names(plan.added)).toEqual(['d']);
    expect(plan.problems).toEqual([problem]);
  });

  it('starts nothing for a new file with a problem, and reports it', () => {
    const problem: ConfigProblem = { file: `${DIR}/new.yaml`, path: '', message: 'invalid YAML: bad indentation' };
    const plan = planReload([loaded(definition('a'))], { definitions: [definition('a')], problems: [problem] }, 'avro');
    expect(plan.added).toEqual([]);
    expect(plan.kept).toEqual([]);
    expect(plan.problems).toEqual([problem]);
  });

  it('keeps every connector of a directory that lost all its files (a directory problem covers its files)', () => {
    const running = [definition('a'), definition('b'), definition('x', {}, { file: '/elsewhere/x.yaml' })].map(loaded);
    const problem: ConfigProblem = { file: DIR, path: '', message: 'directory holds no .yaml or .yml connector files' };
    const plan = planReload(running, { definitions: [definition('x', {}, { file: '/elsewhere/x.yaml' })], problems: [problem] }, 'avro');
    expect(plan.kept.map((kept) => kept.name)).toEqual(['a', 'b']);
    expect(plan.removed).toEqual([]);
    expect(names(plan.unchanged)).toEqual(['x']);
  });

  it('refuses a name defined by two files: neither is applied, the running version stays, both files are named', () => {
    const running = [loaded(definition('a', { maxBatchRows: 1 }))];
    const plan = planReload(
      running,
      { definitions: [definition('a', { maxBatchRows: 2 }), definition('a', { maxBatchRows: 3 }, { file: `${DIR}/copy.yaml` })], problems: [] },
      'avro',
    );
    expect(plan.changed).toEqual([]);
    expect(plan.added).toEqual([]);
    expect(plan.removed).toEqual([]);
    expect(plan.kept.map((kept) => kept.name)).toEqual(['a']);
    expect(plan.problems.map((problem) => `${problem.file}: ${problem.message}`)).toEqual([
      `${DIR}/a.yaml: connector name "a" is also defined in ${DIR}/copy.yaml; each name may be used by one file only`,
      `${DIR}/copy.yaml: connector name "a" is also defined in ${DIR}/a.yaml; each name may be used by one file only`,
    ]);
  });

  it('starts neither of two new files defining one name', () => {
    const plan = planReload([], { definitions: [definition('n'), definition('n', {}, { file: `${DIR}/other.yaml` })], problems: [] }, 'avro');
    expect(plan.added).toEqual([]);
    expect(plan.problems).toHaveLength(2);
  });

  it('does not start a name in a new file while its running version belongs to a broken file', () => {
    const running = [loaded(definition('a'))];
    const broken: ConfigProblem = { file: `${DIR}/a.yaml`, path: '', message: 'invalid YAML' };
    const plan = planReload(running, { definitions: [definition('a', { maxBatchRows: 9 }, { file: `${DIR}/moved.yaml` })], problems: [broken] }, 'avro');
    expect(plan.changed).toEqual([]);
    expect(plan.added).toEqual([]);
    expect(plan.kept).toHaveLength(1);
    expect(plan.kept[0]!.problems.map((problem) => problem.file)).toEqual([`${DIR}/a.yaml`, `${DIR}/moved.yaml`]);
  });
});

describe('definitionFingerprint', () => {
  it('does not depend on key order, and never contains the config values', () => {
    const a = definition('a', { password: 'hunter2', nested: { x: 1, y: 2 } });
    const b = definition('a', { nested: { y: 2, x: 1 }, password: 'hunter2' });
    expect(definitionFingerprint(a, 'avro')).toBe(definitionFingerprint(b, 'avro'));
    expect(definitionFingerprint(a, 'avro')).toMatch(/^[0-9a-f]{64}$/);
    expect(definitionFingerprint(definition('a', { password: 'other', nested: { x: 1, y: 2 } }), 'avro')).not.toBe(definitionFingerprint(a, 'avro'));
  });

  it('canonical JSON sorts keys at every level and drops undefined fields', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: undefined, e: 10n })).toBe('{"b":[{"c":2,"d":1}],"e":"10n"}');
  });
});

describe('planReload on files read from disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tideline-reload-plan-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sink = (name: string, extra = '') => `name: ${name}\nkind: clickhouse-sink\nkafka: { brokers: "k:9092" }\nconfig:\n  url: \${CH_URL}\n  topics: [t]\n${extra}`;

  it('sees a changed ${ENV} value as a change of the connector', () => {
    writeFileSync(join(dir, 'a.yaml'), sink('a'));
    const first = readConnectorFiles([dir], connectorKinds, { CH_URL: 'http://one:8123' });
    const running = first.definitions.map(loaded);
    expect(names(planReload(running, readConnectorFiles([dir], connectorKinds, { CH_URL: 'http://one:8123' }), 'avro').unchanged)).toEqual(['a']);
    expect(names(planReload(running, readConnectorFiles([dir], connectorKinds, { CH_URL: 'http://two:8123' }), 'avro').changed)).toEqual(['a']);
  });

  it('keeps a connector whose file got a YAML error and one whose file got a schema error', () => {
    writeFileSync(join(dir, 'a.yaml'), sink('a'));
    writeFileSync(join(dir, 'b.yaml'), sink('b'));
    const env = { CH_URL: 'http://one:8123' };
    const running = readConnectorFiles([dir], connectorKinds, env).definitions.map(loaded);
    writeFileSync(join(dir, 'a.yaml'), `${sink('a')}  maxBatchRows: [unclosed\n`);
    writeFileSync(join(dir, 'b.yaml'), sink('b', '  maxBatchRows: many\n'));
    const plan = planReload(running, readConnectorFiles([dir], connectorKinds, env), 'avro');
    expect(plan.kept.map((kept) => kept.name)).toEqual(['a', 'b']);
    expect(plan.kept[0]!.problems[0]!.message).toMatch(/^invalid YAML/);
    expect(plan.kept[1]!.problems[0]).toMatchObject({ file: join(dir, 'b.yaml'), path: 'config.maxBatchRows' });
    expect(plan.removed).toEqual([]);
  });
});
