/**
 * `${VAR}` and `${VAR:-default}` in connector files, resolved from the
 * environment. `$${` writes a literal `${`. Interpolation runs on parsed YAML
 * scalars (never on raw text), so a value cannot inject YAML structure. An
 * unquoted scalar that is exactly one reference is re-read as a YAML scalar, so
 * `partitions: ${PARTITIONS:-3}` yields the number 3; a quoted one stays text,
 * so `password: "${PASSWORD}"` is a string even when the password is digits.
 */
import { parse as parseYaml } from 'yaml';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface InterpolationProblem {
  path: string;
  message: string;
}

export function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
  onMissing: (variable: string) => void,
): string {
  return text.replace(REFERENCE, (match, variable: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const name = variable as string;
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    onMissing(name);
    return '';
  });
}

/** Interpolates every string in a parsed document; problems name the field path. */
export function interpolateDocument(
  document: unknown,
  env: NodeJS.ProcessEnv,
  problems: InterpolationProblem[],
  quoted: ReadonlySet<string> = new Set(),
  path = '',
): unknown {
  if (typeof document === 'string') {
    const missing: string[] = [];
    const result = interpolateString(document, env, (name) => missing.push(name));
    for (const name of missing) {
      problems.push({ path, message: `environment variable ${name} is not set (give a default with \${${name}:-value})` });
    }
    if (result !== document && WHOLE_REFERENCE.test(document) && !quoted.has(path)) return reparseScalar(result);
    return result;
  }
  if (Array.isArray(document)) {
    return document.map((item, index) => interpolateDocument(item, env, problems, quoted, `${path}[${index}]`));
  }
  if (document && typeof document === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(document)) {
      out[key] = interpolateDocument(value, env, problems, quoted, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return document;
}

function reparseScalar(text: string): unknown {
  try {
    const value: unknown = parseYaml(text);
    return value === null || typeof value === 'object' ? text : value;
  } catch {
    return text;
  }
}
