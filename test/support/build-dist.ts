/**
 * Global setup of both test projects: builds dist/ (npm run build) when it is
 * missing or a file under src/ is newer, the rule stack/bootstrap applies, so
 * the spawned `tideline` (test/support/tideline-command.ts) is the code under
 * test also when a developer runs vitest straight after an edit.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TIDELINE_MAIN } from './tideline-command.js';

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const time = entry.isDirectory() ? newestSource(path) : entry.name.endsWith('.ts') ? statSync(path).mtimeMs : 0;
    newest = Math.max(newest, time);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(TIDELINE_MAIN).mtimeMs;
  } catch {
    return -1;
  }
}

export default function setup(): void {
  if (builtAt() >= newestSource('src')) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // What `npm run build` runs: the type check, then the bundles (scripts/build.mjs).
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit', timeout: 120_000 });
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit', timeout: 60_000 });
}
