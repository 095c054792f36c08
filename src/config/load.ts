import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../core/errors.js';
import type { KafkaConnection } from '../core/kafka-connection.js';
import type { ConnectorSpec } from '../core/connector.js';
import type { FormatName } from '../serde/index.js';
import { interpolateDocument, type InterpolationProblem } from './interpolate.js';
import { quotedScalarPaths } from './quoted-scalars.js';
import { connectorFileSchema } from './schema.js';
import { zodProblems } from './zod-problems.js';

/** A connector file that passed validation. */
export interface ConnectorDefinition {
  file: string;
  name: string;
  kind: string;
  enabled: boolean;
  kafka: KafkaConnection;
  /** The file's `format`; absent: the daemon's format applies. */
  format?: FormatName;
  /** The kind's config, parsed by its schema (defaults applied). */
  config: unknown;
  spec: ConnectorSpec;
}

const CONNECTOR_FILE = new Set(['.yaml', '.yml']);

/** Expands files and directories (non-recursive) into connector file paths, sorted. */
export function listConnectorFiles(paths: readonly string[]): { files: string[]; problems: ConfigProblem[] } {
  const files: string[] = [];
  const problems: ConfigProblem[] = [];
  for (const given of paths) {
    const path = resolve(given);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      problems.push({ file: given, path: '', message: 'no such file or directory' });
      continue;
    }
    if (isDirectory) {
      const found = readdirSync(path)
        .filter((entry) => CONNECTOR_FILE.has(extname(entry)))
        .sort()
        .map((entry) => join(path, entry));
      if (found.length === 0) problems.push({ file: given, path: '', message: 'directory holds no .yaml or .yml connector files' });
      files.push(...found);
    } else {
      files.push(path);
    }
  }
  return { files, problems };
}

/**
 * Reads, interpolates and validates connector files against the registry of
 * kinds. Collects every problem in every file before failing, so one run of
 * `tideline validate` shows all mistakes.
 */
export function loadConnectorFiles(
  paths: readonly string[],
  kinds: ReadonlyMap<string, ConnectorSpec>,
  env: NodeJS.ProcessEnv = process.env,
): ConnectorDefinition[] {
  const { definitions, problems } = readConnectorFiles(paths, kinds, env);
  const firstFileByName = new Map<string, string>();
  for (const definition of definitions) {
    const first = firstFileByName.get(definition.name);
    if (first) {
      problems.push({ file: definition.file, path: 'name', message: `connector name "${definition.name}" is already used in ${first}` });
    } else {
      firstFileByName.set(definition.name, definition.file);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return definitions;
}

/** What the connector files hold: the definitions of the valid files and the problems of the others. */
export interface ConnectorFiles {
  definitions: ConnectorDefinition[];
  problems: ConfigProblem[];
}

/**
 * Every file's definition or problems, without failing: what a hot reload
 * needs (a broken file keeps its old version running). Names used by several
 * files are not checked here (loadConnectorFiles and the reload plan do).
 */
export function readConnectorFiles(
  paths: readonly string[],
  kinds: ReadonlyMap<string, ConnectorSpec>,
  env: NodeJS.ProcessEnv = process.env,
): ConnectorFiles {
  const { files, problems } = listConnectorFiles(paths);
  const definitions: ConnectorDefinition[] = [];
  for (const file of files) {
    const definition = loadConnectorFile(file, kinds, env, problems);
    if (definition) definitions.push(definition);
  }
  return { definitions, problems };
}

function loadConnectorFile(
  file: string,
  kinds: ReadonlyMap<string, ConnectorSpec>,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
): ConnectorDefinition | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push({ file, path: '', message: `cannot read: ${(error as Error).message}` });
    return undefined;
  }
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    for (const error of document.errors) problems.push({ file, path: '', message: `invalid YAML: ${error.message}` });
    return undefined;
  }
  const interpolationProblems: InterpolationProblem[] = [];
  const raw = interpolateDocument(document.toJS(), env, interpolationProblems, quotedScalarPaths(document));
  problems.push(...interpolationProblems.map((problem) => ({ file, ...problem })));

  const envelope = connectorFileSchema.safeParse(raw);
  if (!envelope.success) problems.push(...zodProblems(file, envelope.error));

  const kind = raw && typeof raw === 'object' ? (raw as { kind?: unknown }).kind : undefined;
  const spec = typeof kind === 'string' ? kinds.get(kind) : undefined;
  if (typeof kind === 'string' && !spec) {
    problems.push({ file, path: 'kind', message: `unknown kind "${kind}"; known kinds: ${[...kinds.keys()].join(', ')}` });
  }
  const config = spec ? parseKindConfig(file, spec.configSchema, (raw as { config?: unknown }).config, problems) : undefined;

  if (!envelope.success || !spec || config === undefined || interpolationProblems.length > 0) return undefined;
  return {
    file,
    name: envelope.data.name,
    kind: spec.kind,
    enabled: envelope.data.enabled,
    kafka: envelope.data.kafka,
    ...(envelope.data.format ? { format: envelope.data.format as FormatName } : {}),
    config: config.value,
    spec,
  };
}

function parseKindConfig(
  file: string,
  schema: z.ZodType,
  value: unknown,
  problems: ConfigProblem[],
): { value: unknown } | undefined {
  const result = schema.safeParse(value ?? {});
  if (result.success) return { value: result.data };
  problems.push(...zodProblems(file, result.error, 'config'));
  return undefined;
}

