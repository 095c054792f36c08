/**
 * How a hot reload shows what it did: one info line summarising it, an error
 * line per problem (file and field path), and the config metrics. Problem
 * texts are cut to their first line (a YAML error's later lines quote the
 * file, which may hold a secret) and redacted.
 */
import { formatProblem, type ConfigProblem } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { metrics } from '../metrics/registry.js';
import type { ReloadPlan } from './reload-plan.js';

/** A problem as logs and the status show it: `file: path: message`, first line only, secrets redacted. */
export function problemText(problem: ConfigProblem): string {
  return redactSecrets(formatProblem(problem).split('\n')[0]!.replace(/:$/, ''));
}

/** What a reload did, by connector name. */
export interface ReloadSummary {
  trigger: string;
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  /** Connectors that kept their previous version because their file has a problem. */
  kept: string[];
  /** Every problem, as problemText gives it. */
  errors: string[];
}

export function summarise(trigger: string, plan: ReloadPlan): ReloadSummary {
  const names = (definitions: readonly { name: string }[]) => definitions.map((definition) => definition.name);
  return {
    trigger,
    added: names(plan.added),
    removed: plan.removed,
    changed: names(plan.changed),
    unchanged: names(plan.unchanged),
    kept: names(plan.kept),
    errors: plan.problems.map(problemText),
  };
}

/** Files whose problems the metric currently shows, so that a fixed file's series is removed. */
const filesWithProblems = new Set<string>();

export function reportReload(summary: ReloadSummary, problems: readonly ConfigProblem[], logger: Logger): void {
  for (const problem of problems) {
    logger.error({ file: problem.file, path: problem.path || undefined, action: 'fix the file; its connectors keep running their previous version meanwhile' }, `connector file refused on reload: ${problemText(problem)}`);
  }
  const ok = problems.length === 0;
  const counts = ['added', 'removed', 'changed', 'unchanged', 'kept'] as const;
  const tally = counts.map((key) => `${summary[key].length} ${key}`).join(', ');
  logger.info(summary, `connectors reloaded (${summary.trigger}): ${tally}${ok ? '' : `; ${problems.length} problem${problems.length === 1 ? '' : 's'}`}`);

  metrics.configReloads.inc({ result: ok ? 'success' : 'failure' });
  metrics.configLastReloadSuccessful.set(ok ? 1 : 0);
  if (ok) metrics.configLastReloadSuccessTimestamp.set(Date.now() / 1000);
  const perFile = new Map<string, number>();
  for (const problem of problems) perFile.set(problem.file, (perFile.get(problem.file) ?? 0) + 1);
  for (const file of filesWithProblems) if (!perFile.has(file)) metrics.configFileProblems.remove({ file });
  filesWithProblems.clear();
  for (const [file, count] of perFile) {
    metrics.configFileProblems.set({ file }, count);
    filesWithProblems.add(file);
  }
}

/** The files could not be read at all (not one file's problem): nothing was applied. */
export function reportReadFailure(trigger: string, error: unknown, logger: Logger): void {
  logger.error({ err: error, trigger, action: 'check that the connector paths can be read; every connector keeps running as it was' }, 'connector files could not be read for a reload; nothing changed');
  metrics.configReloads.inc({ result: 'failure' });
  metrics.configLastReloadSuccessful.set(0);
}
