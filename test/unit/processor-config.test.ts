import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConnectorFiles } from '../../src/config/load.js';
import { ConfigError, type ConfigProblem } from '../../src/core/errors.js';
import { connectorKinds } from '../../src/runtime/registry.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tideline-processors-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(name: string, text: string): ConfigProblem[] {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    loadConnectorFiles([file], connectorKinds, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((problem) => ({ ...problem, file: problem.file.replace(`${dir}/`, '') }));
  }
  throw new Error('expected a ConfigError');
}

describe('processor config files', () => {
  it('load a valid transform and aggregate', () => {
    writeFileSync(join(dir, 't.yaml'), 'name: t\nkind: transform\nkafka: { brokers: "k:9092" }\nconfig:\n  topics: [a]\n  outputTopic: "{topic}.out"\n  steps:\n    - { type: filter, expression: "op = \'c\'" }\n    - { type: unwrap }\n');
    writeFileSync(join(dir, 'a.yaml'), 'name: a\nkind: aggregate\nkafka: { brokers: "k:9092" }\nconfig:\n  topics: [a]\n  outputTopic: out\n  groupBy: { c: after.c }\n  window: { type: hopping, size: 5m, advance: 1m }\n  aggregates: { n: { fn: count } }\n');
    const loaded = loadConnectorFiles([dir], connectorKinds, {});
    expect(loaded.map((definition) => definition.kind)).toEqual(['aggregate', 'transform']);
  });

  it('refuse a bad expression with the field, the expression and the position', () => {
    const problems = problemsOf(
      'bad.yaml',
      [
        'name: bad',
        'kind: transform',
        'kafka: { brokers: "k:9092" }',
        'config:',
        '  topics: [a]',
        '  outputTopic: out',
        '  steps:',
        '    - { type: filter, expression: "after.amount > " }',
        '    - { type: compute, fields: { x: { expression: "(1 + 2", type: int32 } } }',
        '    - { type: route, expression: "\'t.\' & " }',
      ].join('\n'),
    );
    expect(problems).toEqual([
      { file: 'bad.yaml', path: 'config.steps[0].expression', message: 'invalid expression "after.amount > " at position 15: Unexpected end of expression (JSONata S0207)' },
      { file: 'bad.yaml', path: 'config.steps[1].fields.x.expression', message: 'invalid expression "(1 + 2" at position 6: Expected ")" before end of expression (JSONata S0203)' },
      { file: 'bad.yaml', path: 'config.steps[2].expression', message: 'invalid expression "\'t.\' & " at position 7: Unexpected end of expression (JSONata S0207)' },
    ]);
  });

  it('refuse bad aggregate expressions and unknown steps', () => {
    const aggregate = problemsOf(
      'agg.yaml',
      'name: agg\nkind: aggregate\nkafka: { brokers: "k:9092" }\nconfig:\n  topics: [a]\n  outputTopic: out\n  groupBy: { c: "after.c ]" }\n  window: { type: tumbling, size: 1m }\n  aggregates: { total: { fn: sum, expression: "after.x +* 2" } }\n',
    );
    expect(aggregate.map((problem) => problem.path)).toEqual(['config.groupBy.c', 'config.aggregates.total.expression']);
    expect(aggregate[0]!.message).toBe('invalid expression "after.c ]" at position 9: Syntax error: "]" (JSONata S0201)');
    expect(aggregate[1]!.message).toMatch(/^invalid expression "after.x \+\* 2" at position \d+: /);
    const step = problemsOf('step.yaml', 'name: s\nkind: transform\nkafka: { brokers: "k:9092" }\nconfig:\n  topics: [a]\n  outputTopic: out\n  steps: [{ type: explode }]\n');
    expect(step.map((problem) => problem.path)).toEqual(['config.steps[0].type']);
  });
});
