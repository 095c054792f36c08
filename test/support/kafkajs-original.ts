/**
 * A kafkajs module as kafkajs ships it, for comparing a patch with the
 * original: the test setup installs the patches (kafkajs-patches.ts), so
 * requiring a patched module's path gives the patch. This evaluates the
 * module's source file afresh, its own requires resolved from its directory
 * as usual except those named in `replacements` (by the request string the
 * source writes, e.g. '../record/v0/decoder').
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

export function loadKafkajsOriginal<T>(module: string, replacements: Record<string, unknown> = {}): T {
  const filename = require.resolve(module);
  const moduleRequire = createRequire(filename);
  const requireWithReplacements = (request: string): unknown => (request in replacements ? replacements[request] : moduleRequire(request));
  const evaluated = { exports: {} as unknown };
  // The CommonJS wrapper's parameters, as Node gives them to a module.
  const body = new Function('exports', 'require', 'module', '__filename', '__dirname', readFileSync(filename, 'utf8'));
  body(evaluated.exports, requireWithReplacements, evaluated, filename, dirname(filename));
  return evaluated.exports as T;
}
