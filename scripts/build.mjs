/**
 * Builds dist/: the CLI and the connector worker as two bundles side by side,
 * dist/cli/main.js and dist/cli/connector-worker.js (esbuild, from src/).
 *
 * Why bundles: Node loads one file where it loaded some 300 modules, which
 * took about 0.5 s in the main thread and again in each connector thread
 * before a connector could start (a sink's first batch, a restart's recovery).
 * The worker thread's entry is the sibling connector-worker.js of the module
 * that starts it (src/runtime/worker/worker-entry.ts), hence one directory.
 *
 * Types are checked by `npm run build` (tsc --noEmit) before this runs.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });

await build({
  entryPoints: { 'cli/main': 'src/cli/main.ts', 'cli/connector-worker': 'src/runtime/worker/connector-worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // Class and function names as written: error names and logs show them.
  keepNames: true,
  external: [
    // Not bundled: src/kafka/kafkajs-patches.ts replaces modules in kafkajs's
    // require cache before it loads, which a bundled copy would never read.
    'kafkajs',
    // pg's optional native binding, required only when asked for (never here).
    'pg-native',
  ],
  // CommonJS dependencies call require() (Node's built-ins among others), which an ES module does not have.
  banner: { js: "import { createRequire as __tidelineRequire } from 'node:module'; const require = __tidelineRequire(import.meta.url);" },
  logLevel: 'warning',
});
