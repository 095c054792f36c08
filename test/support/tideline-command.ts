/**
 * The `tideline` command as users run it: the built CLI in dist/. Tests that
 * spawn it (the CLI, daemons, the registry) run what `npm install` ships,
 * and a spawned daemon's connector worker threads start from JavaScript
 * (from TypeScript each worker would first load tsx and compile its module
 * graph). test/support/build-dist.ts, the global setup of both test
 * projects, builds dist/ first whenever a source is newer.
 */
import { resolve } from 'node:path';

export const TIDELINE_MAIN = resolve('dist/cli/main.js');

/**
 * node's arguments for `tideline <args>`. TIDELINE_NODE_ARGS adds node
 * options (space-separated) to every spawned daemon, e.g. to profile the
 * bench's daemon: TIDELINE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 * (node refuses --cpu-prof in NODE_OPTIONS).
 */
export function tidelineArgs(...args: string[]): string[] {
  const nodeArgs = (process.env.TIDELINE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...nodeArgs, TIDELINE_MAIN, ...args];
}
