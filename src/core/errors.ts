/** Errors a user can act on: configuration mistakes, refused connections, bad data. */
export class TidelineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A connector file (or several) that cannot be used; every problem is listed. */
export class ConfigError extends TidelineError {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

export interface ConfigProblem {
  file: string;
  /** Dotted path to the field, e.g. `config.tables[0]`; empty for the whole file. */
  path: string;
  message: string;
}

export function formatProblem(problem: ConfigProblem): string {
  return problem.path ? `${problem.file}: ${problem.path}: ${problem.message}` : `${problem.file}: ${problem.message}`;
}

/** Extract a message from anything thrown, for logs and status. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
