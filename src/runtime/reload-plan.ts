/**
 * What a hot reload does: the connectors the daemon runs, compared with what
 * the connector files define now. Pure (no I/O), so every case is unit-tested.
 *
 * A file with a problem (YAML, schema, a name another file also uses) is
 * refused on its own: the connectors it defined keep running as they were,
 * and the other files are still applied. A problem with a directory (missing,
 * no connector files left) covers every connector loaded from it.
 */
import { createHash } from 'node:crypto';
import { resolve, sep } from 'node:path';
import type { ConnectorDefinition, ConnectorFiles } from '../config/load.js';
import type { ConfigProblem } from '../core/errors.js';
import type { FormatName } from '../serde/index.js';

/** A connector the daemon runs, as the plan compares it. */
export interface LoadedConnector {
  name: string;
  /** The absolute path of the file it was loaded from. */
  file: string;
  /** definitionFingerprint of the definition it runs. */
  fingerprint: string;
}

export interface ReloadPlan {
  /** Start these. */
  added: ConnectorDefinition[];
  /** Stop these (names). */
  removed: string[];
  /** Stop these and start their new definition. */
  changed: ConnectorDefinition[];
  /** Leave these running; their definition (its file may have moved) replaces the recorded one. */
  unchanged: ConnectorDefinition[];
  /** Running connectors whose file (or directory) has a problem: they keep running their old version. */
  kept: { name: string; problems: ConfigProblem[] }[];
  /** Every problem found, including those of files that define nothing running yet (nothing starts for them). */
  problems: ConfigProblem[];
}

/**
 * Identifies what a connector runs: kind, Kafka connection, format (the
 * daemon's when the file names none) and the parsed config, with `${ENV}`
 * values already interpolated. A hash of canonical JSON, so it can be kept
 * and compared without holding (or ever logging) secrets.
 */
export function definitionFingerprint(definition: ConnectorDefinition, defaultFormat: FormatName): string {
  const identity = { kind: definition.kind, kafka: definition.kafka, format: definition.format ?? defaultFormat, config: definition.config };
  return createHash('sha256').update(canonicalJson(identity)).digest('hex');
}

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (typeof value === 'bigint') return `"${value}n"`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Whether a problem reported for `problemFile` (a file or a directory) covers the connector loaded from `file`. */
function covers(problemFile: string, file: string): boolean {
  const path = resolve(problemFile);
  return file === path || file.startsWith(path.endsWith(sep) ? path : path + sep);
}

export function planReload(running: readonly LoadedConnector[], files: ConnectorFiles, defaultFormat: FormatName): ReloadPlan {
  const problems = [...files.problems];

  // A name defined by several files: all of them are refused, so the running
  // version (if any) stays, whichever file it came from.
  const filesByName = new Map<string, string[]>();
  for (const definition of files.definitions) filesByName.set(definition.name, [...(filesByName.get(definition.name) ?? []), definition.file]);
  for (const [name, defining] of filesByName) {
    if (defining.length < 2) continue;
    for (const file of defining) {
      const others = defining.filter((other) => other !== file);
      problems.push({ file, path: 'name', message: `connector name "${name}" is also defined in ${others.join(', ')}; each name may be used by one file only` });
    }
  }

  const refusedFiles = new Set(problems.map((problem) => resolve(problem.file)));
  const kept: ReloadPlan['kept'] = [];
  for (const connector of running) {
    const own = problems.filter((problem) => covers(problem.file, connector.file));
    if (own.length > 0) kept.push({ name: connector.name, problems: own });
  }
  const keptNames = new Set(kept.map((connector) => connector.name));
  const keptFrom = new Map(running.filter((connector) => keptNames.has(connector.name)).map((connector) => [connector.name, connector.file]));

  const wanted: ConnectorDefinition[] = [];
  for (const definition of files.definitions) {
    if (!definition.enabled || refusedFiles.has(resolve(definition.file))) continue;
    const keptFile = keptFrom.get(definition.name);
    if (keptFile !== undefined) {
      // The running version of this name belongs to a refused file; two
      // versions of one connector cannot run, so this one waits for that fix.
      const problem = { file: definition.file, path: 'name', message: `connector name "${definition.name}" is still run from ${keptFile}, which has a problem; fix or remove that file first` };
      problems.push(problem);
      kept.find((connector) => connector.name === definition.name)?.problems.push(problem);
      continue;
    }
    wanted.push(definition);
  }

  const runningByName = new Map(running.map((connector) => [connector.name, connector]));
  const plan: ReloadPlan = { added: [], removed: [], changed: [], unchanged: [], kept, problems };
  for (const definition of wanted) {
    const current = runningByName.get(definition.name);
    if (!current) plan.added.push(definition);
    else if (current.fingerprint === definitionFingerprint(definition, defaultFormat)) plan.unchanged.push(definition);
    else plan.changed.push(definition);
  }
  const wantedNames = new Set(wanted.map((definition) => definition.name));
  plan.removed = running.map((connector) => connector.name).filter((name) => !wantedNames.has(name) && !keptNames.has(name));
  return plan;
}
