/**
 * Avro schema compatibility, as Confluent's registry defines its levels, decided
 * by avsc's resolver: `reader.createResolver(writer)` throws when data written
 * with `writer` cannot be read as `reader`.
 */
import avro from 'avsc';
import { invalidSchema } from './errors.js';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;

export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

/** Confluent's default. */
export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';

export function isCompatibilityLevel(value: unknown): value is CompatibilityLevel {
  return typeof value === 'string' && (COMPATIBILITY_LEVELS as readonly string[]).includes(value);
}

/**
 * The form a schema is stored and compared in: its JSON without insignificant
 * whitespace (properties and their order kept, as Confluent keeps them).
 * Throws InvalidSchema (42201) when the text is not JSON.
 */
export function canonicalSchema(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch (error) {
    throw invalidSchema(`not JSON (${(error as Error).message})`);
  }
}

/** The avsc type of a schema; throws InvalidSchema (42201) naming what avsc refused. */
export function parseAvroSchema(text: string): avro.Type {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalidSchema(`not JSON (${(error as Error).message})`);
  }
  try {
    // Wrapped unions resolve without the ambiguity checks of unwrapped ones;
    // a fresh name registry per schema keeps schemas independent.
    return avro.Type.forSchema(json as avro.Schema, { wrapUnions: true, registry: {} });
  } catch (error) {
    throw invalidSchema((error as Error).message);
  }
}

/** Why data written with `writer` cannot be read with `reader`, or null when it can. */
function readProblem(reader: avro.Type, writer: avro.Type): string | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A registered version of a subject, parsed. */
export interface VersionedType {
  version: number;
  type: avro.Type;
}

/**
 * The problems that make `candidate` incompatible with the subject's existing
 * versions (oldest first) under `level`; empty when it is compatible.
 * BACKWARD: the candidate reads the latest version's data; FORWARD: the latest
 * reads the candidate's; FULL: both. The _TRANSITIVE levels check every
 * earlier version instead of the latest only.
 */
export function compatibilityProblems(level: CompatibilityLevel, candidate: avro.Type, existing: readonly VersionedType[]): string[] {
  if (level === 'NONE' || existing.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? existing : [existing.at(-1)!];
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const problems: string[] = [];
  for (const { type, version: number } of against) {
    const version = `version ${number}`;
    if (backward) {
      const problem = readProblem(candidate, type);
      if (problem) problems.push(`the new schema cannot read data written with ${version} (${level}): ${problem}`);
    }
    if (forward) {
      const problem = readProblem(type, candidate);
      if (problem) problems.push(`${version} cannot read data written with the new schema (${level}): ${problem}`);
    }
  }
  return problems;
}
