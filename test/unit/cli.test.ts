/**
 * The `tideline` command as a user runs it: validate reports every mistake
 * (file, field, problem) and exits 3; run refuses to start on the same file with
 * the same messages; --help works on every command.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tideline } from '../support/cli.js';

const THREE_MISTAKES = `
name: bad source
kind: postgres-source
kafka:
  brokers: 127.0.0.1:59092
config:
  url: mysql://root@localhost/shop
  tables: [public.orders]
  maxBatchEvents: -5
`;

describe('tideline validate / run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, THREE_MISTAKES);

  it('validate prints all three mistakes with file and field, and exits 3', async () => {
    const result = await tideline(['validate', bad]);
    expect(result.code).toBe(3);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^${bad}: name: must start with a letter or digit`)),
      expect.stringMatching(new RegExp(`^${bad}: config\\.url: must be a postgres:// or postgresql:// connection string`)),
      expect.stringMatching(new RegExp(`^${bad}: config\\.maxBatchEvents: .*>=1`)),
      '3 problems found',
    ]);
  }, 60_000);

  it('run refuses to start on the same file with the same messages', async () => {
    const validate = await tideline(['validate', bad]);
    const run = await tideline(['run', bad, '--admin-port', '-1']);
    expect(run.code).toBe(3);
    const problems = (text: string) => text.trim().split('\n').slice(0, 3);
    expect(problems(run.stderr)).toEqual(problems(validate.stderr));
    expect(run.stderr).toContain('refusing to start: 3 problems in connector files');
  }, 60_000);

  it('validate accepts the example connectors and names each', async () => {
    const result = await tideline(['validate', 'connectors']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('demo-postgres (postgres-source)');
    expect(result.stdout).toContain('demo-clickhouse (clickhouse-sink)');
  }, 60_000);

  it('reports an unset environment variable and where it is used', async () => {
    const file = join(dir, 'env.yaml');
    writeFileSync(file, `name: s\nkind: clickhouse-sink\nkafka: { brokers: "\${TL_TEST_UNSET_BROKERS}" }\nconfig: { url: "http://x:8123", topics: [t] }\n`);
    const result = await tideline(['validate', file], { TL_TEST_UNSET_BROKERS: '' });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`${file}: kafka.brokers: environment variable TL_TEST_UNSET_BROKERS is not set`);
  }, 60_000);

  it('run refuses an unknown --format or TIDELINE_FORMAT', async () => {
    const flag = await tideline(['run', 'connectors', '--admin-port', '-1', '--format', 'protobuf']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--format (or TIDELINE_FORMAT): unknown format "protobuf"; known formats: json, avro');
    const env = await tideline(['run', 'connectors', '--admin-port', '-1'], { TIDELINE_FORMAT: 'xml' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('unknown format "xml"');
  }, 60_000);

  it('has --help on every command and exits 2 on an unknown one', async () => {
    for (const command of ['run', 'validate', 'kinds', 'slots', 'demo-writer', 'status']) {
      const result = await tideline([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: tideline ${command}`);
    }
    const unknown = await tideline(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  }, 120_000);
});
