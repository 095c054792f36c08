/**
 * Where the worker's code is. Built, this module is part of the bundle
 * dist/cli/main.js, and the worker's bundle beside it, connector-worker.js,
 * runs as is (scripts/build.mjs puts them side by side). From sources (tsx: `npm run
 * tideline`, the tests, the bench) it is TypeScript, and Node 20 does not
 * apply a loader given by `--import tsx` (inherited or in the worker's
 * execArgv) to a worker's entry: the worker then starts from a short script
 * that registers tsx's loader in the worker and imports connector-worker.ts.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface WorkerEntry {
  /** The entry file, or the script that loads it (eval). */
  source: URL | string;
  eval: boolean;
}

export function workerEntry(moduleUrl: string = import.meta.url, tsxApi: () => string = findTsxApi): WorkerEntry {
  const typescript = /\.[cm]?ts$/.test(new URL(moduleUrl).pathname);
  if (!typescript) return { source: new URL('./connector-worker.js', moduleUrl), eval: false };
  const entry = new URL('./connector-worker.ts', moduleUrl).href;
  const script = `import(${JSON.stringify(tsxApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return { source: script, eval: true };
}

/** tsx's ESM API (its `register()`), found from this module: a dev dependency, present wherever the sources run. */
function findTsxApi(): string {
  const tsxPackage = createRequire(import.meta.url).resolve('tsx/package.json');
  return pathToFileURL(join(dirname(tsxPackage), 'dist/esm/api/index.mjs')).href;
}
