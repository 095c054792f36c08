/**
 * What the REST API serves (rest-api.ts): the registry operations of
 * Confluent's REST subset. The embedded registry implements it.
 */
import type { CompatibilityLevel } from './compatibility.js';
import type { SubjectVersion } from './registry-state.js';
import type { SchemaRegistry } from './schema-registry.js';

/** A subject's version by number, or its latest. */
export type VersionRef = number | 'latest';

export interface RegistryService extends SchemaRegistry {
  /** The version of `subject` holding `schema`; RegistryApiError 40401 / 40403 when none. */
  lookup(subject: string, schema: string): Promise<SubjectVersion>;
  subjects(): Promise<string[]>;
  /** The version numbers of `subject`; 40401 when it has none. */
  versions(subject: string): Promise<number[]>;
  /** 40401 / 40402 when missing. */
  version(subject: string, version: VersionRef): Promise<SubjectVersion>;
  /**
   * Why `schema` is incompatible with `version` of `subject` (with the
   * subject's level applied to all its versions when `version` is undefined);
   * empty when compatible.
   */
  compatibilityProblems(subject: string, schema: string, version?: VersionRef): Promise<string[]>;
  /** The subject's own level (undefined when it has none), or the global level when subject is null. */
  compatibility(subject: string | null): Promise<CompatibilityLevel | undefined>;
  setCompatibility(subject: string | null, level: CompatibilityLevel): Promise<void>;
}
