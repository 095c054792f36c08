/** Runs the built `tideline` command, as a user would, and collects its output. */
import { execFile } from 'node:child_process';
import { tidelineArgs } from './tideline-command.js';

export function tideline(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      tidelineArgs(...args),
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}
