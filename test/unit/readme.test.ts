/**
 * The README is the configuration reference: every field of every connector
 * kind must be documented there, and the README must open with the two
 * commands (demo, tests) that CI and users run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectorKinds } from '../../src/runtime/registry.js';

const readme = readFileSync('README.md', 'utf8');

describe('README', () => {
  it('opens with exactly the demo and test commands', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = firstBlock.split('\n').filter(Boolean).map((line) => line.replace(/\s+#.*$/, '').trim());
    expect(commands).toEqual(['npm run demo', 'npm test']);
    const scripts = JSON.parse(readFileSync('package.json', 'utf8')).scripts as Record<string, string>;
    expect(scripts.demo).toContain('stack/demo');
    expect(scripts.test).toContain('vitest run');
  });

  for (const spec of connectorKinds.values()) {
    it(`documents every config field of ${spec.kind}`, () => {
      const section = readme.split(`### \`${spec.kind}\``)[1]?.split('\n## ')[0] ?? '';
      expect(section, `README has no section for ${spec.kind}`).not.toBe('');
      const schema = z.toJSONSchema(spec.configSchema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
      const fields = Object.keys(schema.properties ?? {});
      expect(fields.length).toBeGreaterThan(3);
      const undocumented = fields.filter((field) => !section.includes(`| \`${field}\` |`));
      expect(undocumented).toEqual([]);
    });
  }
});
