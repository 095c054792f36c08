import type { z } from 'zod';
import type { ConfigProblem } from '../core/errors.js';

/** Turns zod issues into problems that name the file and the dotted field path. */
export function zodProblems(file: string, error: z.ZodError, prefix = ''): ConfigProblem[] {
  return error.issues.map((issue) => ({
    file,
    path: formatPath(prefix, issue.path),
    message: issue.message,
  }));
}

export function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}
