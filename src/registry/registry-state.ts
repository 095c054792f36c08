/**
 * The registry's state as a pure function of its log: every reader that
 * applies the same records in the same (offset) order gets the same ids, the
 * same versions and the same refusals, so several registries share one topic
 * without a leader.
 *
 * Rules, applied per register record at its position in the log:
 * - ids are global and follow the first appearance of a schema text in any
 *   register record: the first record with a new text gets the next id (1, 2,
 *   ...). They depend on nothing else (not on the compatibility decision, nor on
 *   the configuration), so an id means one schema forever, whatever a later
 *   tideline decides about compatibility;
 * - a text already registered under the subject is a repeat: same id, same
 *   version, nothing changes;
 * - otherwise the subject's compatibility level at that position (the last
 *   config record before it) decides: accepted, the subject gets the next
 *   version with that id; refused, the subject is unchanged (the id stays
 *   assigned to the text, serving it by id harms nobody).
 */
import type avro from 'avsc';
import {
  compatibilityProblems,
  DEFAULT_COMPATIBILITY,
  parseAvroSchema,
  type CompatibilityLevel,
  type VersionedType,
} from './compatibility.js';
import { schemaNotFound, subjectNotFound, versionNotFound } from './errors.js';
import { decodeLogRecord, type LogRecord, type RegisterRecord } from './log-records.js';
import type { VersionRef } from './registry-service.js';

export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schema: string;
}

/** What became of a claim: a registration's id and version, or why it was refused. */
export type ClaimOutcome = { accepted: true; id: number; version: number } | { accepted: false; id: number; problems: string[] } | { accepted: true; config: true };

export class RegistryState {
  private nextId = 1;
  private readonly idsBySchema = new Map<string, number>();
  private readonly schemasById = new Map<number, string>();
  private readonly types = new Map<number, avro.Type>();
  private readonly subjects = new Map<string, SubjectVersion[]>();
  private globalLevel: CompatibilityLevel = DEFAULT_COMPATIBILITY;
  private readonly subjectLevels = new Map<string, CompatibilityLevel>();
  private readonly outcomes = new Map<string, ClaimOutcome>();
  private lastOffset = -1n;
  private frozen = false;
  /** Set when the topic holds records that are not ours or that this version cannot read; registering stops. */
  problem: string | null = null;

  /** The offset of the last record applied (-1 before any). */
  get appliedOffset(): bigint {
    return this.lastOffset;
  }

  /** Applies the record at `offset` (offsets only grow; a record seen again is skipped). */
  applyRaw(offset: bigint, key: Buffer | null, value: Buffer | null): void {
    if (offset <= this.lastOffset) return;
    this.lastOffset = offset;
    if (this.frozen) return;
    const decoded = decodeLogRecord(key, value);
    if (decoded.kind === 'record') {
      this.apply(decoded.record);
      return;
    }
    this.problem ??= `offset ${offset}: ${decoded.reason}`;
    // A record of ours that this version cannot read may have given ids (a
    // newer format): ids computed past it could be wrong, so the state stops
    // here; what it holds stays right. Another registry's records give none
    // of our ids and are passed over.
    if (decoded.kind === 'unreadable') this.frozen = true;
  }

  apply(record: LogRecord): void {
    if (record.type === 'config') {
      if (record.subject === null) this.globalLevel = record.compatibility;
      else this.subjectLevels.set(record.subject, record.compatibility);
      this.outcomes.set(record.claim, { accepted: true, config: true });
    } else {
      this.outcomes.set(record.claim, this.register(record));
    }
  }

  private register(record: RegisterRecord): ClaimOutcome {
    let id = this.idsBySchema.get(record.schema);
    if (id === undefined) {
      id = this.nextId++;
      this.idsBySchema.set(record.schema, id);
      this.schemasById.set(id, record.schema);
    }
    const versions = this.subjects.get(record.subject) ?? [];
    const repeat = versions.find((entry) => entry.schema === record.schema);
    if (repeat) return { accepted: true, id, version: repeat.version };
    const problems = this.problemsAgainst(record.subject, record.schema, this.levelOf(record.subject), versions);
    if (problems.length > 0) return { accepted: false, id, problems };
    const version = (versions.at(-1)?.version ?? 0) + 1;
    versions.push({ subject: record.subject, version, id, schema: record.schema });
    this.subjects.set(record.subject, versions);
    return { accepted: true, id, version };
  }

  private problemsAgainst(subject: string, schema: string, level: CompatibilityLevel, versions: readonly SubjectVersion[]): string[] {
    let candidate: avro.Type;
    try {
      candidate = parseAvroSchema(schema);
    } catch (error) {
      return [(error as Error).message];
    }
    if (level === 'NONE' || versions.length === 0) return [];
    const existing: VersionedType[] = versions.map((entry) => ({ version: entry.version, type: this.typeOf(entry.id) }));
    return compatibilityProblems(level, candidate, existing).map((problem) => `subject '${subject}': ${problem}`);
  }

  private typeOf(id: number): avro.Type {
    let type = this.types.get(id);
    if (!type) {
      type = parseAvroSchema(this.schemasById.get(id)!);
      this.types.set(id, type);
    }
    return type;
  }

  /** What became of claim `claim`, once its record was applied. */
  outcome(claim: string): ClaimOutcome | undefined {
    return this.outcomes.get(claim);
  }

  /** Forgets a claim's outcome once its registrar has read it. */
  forget(claim: string): void {
    this.outcomes.delete(claim);
  }

  schemaById(id: number): string | undefined {
    return this.schemasById.get(id);
  }

  subjectNames(): string[] {
    return [...this.subjects.keys()].sort();
  }

  versionsOf(subject: string): SubjectVersion[] | undefined {
    return this.subjects.get(subject);
  }

  /** The version of `subject` holding `schema` (canonical text), if registered there. */
  lookup(subject: string, schema: string): SubjectVersion | undefined {
    return this.subjects.get(subject)?.find((entry) => entry.schema === schema);
  }

  levelOf(subject: string): CompatibilityLevel {
    return this.subjectLevels.get(subject) ?? this.globalLevel;
  }

  subjectLevel(subject: string): CompatibilityLevel | undefined {
    return this.subjectLevels.get(subject);
  }

  get globalCompatibility(): CompatibilityLevel {
    return this.globalLevel;
  }

  /**
   * Why `schema` (canonical text) could not be registered under `subject` now:
   * checked against `version` alone when given, else by the subject's level.
   * Empty when it can.
   */
  compatibilityProblems(subject: string, schema: string, version?: number): string[] {
    const versions = this.subjects.get(subject) ?? [];
    const level = this.levelOf(subject);
    if (version === undefined) return this.problemsAgainst(subject, schema, level, versions);
    const only = versions.filter((entry) => entry.version === version);
    return this.problemsAgainst(subject, schema, level.endsWith('_TRANSITIVE') ? (level.replace('_TRANSITIVE', '') as CompatibilityLevel) : level, only);
  }

  // The REST API's questions, answered with Confluent's errors.

  /** The version numbers of `subject`; 40401 when it has none. */
  versionNumbers(subject: string): number[] {
    return this.subjectVersions(subject).map((entry) => entry.version);
  }

  /** 40401 / 40402 when missing. */
  findVersion(subject: string, version: VersionRef): SubjectVersion {
    const versions = this.subjectVersions(subject);
    const found = version === 'latest' ? versions.at(-1) : versions.find((entry) => entry.version === version);
    if (!found) throw versionNotFound(subject, version);
    return found;
  }

  /** The version of `subject` holding `schema` (canonical text); 40401 / 40403 when none. */
  findSchema(subject: string, schema: string): SubjectVersion {
    const found = this.subjectVersions(subject).find((entry) => entry.schema === schema);
    if (!found) throw schemaNotFound(`Schema not found under subject '${subject}'.`);
    return found;
  }

  /**
   * Compatibility of `schema` (canonical text) with one version of `subject`,
   * or by the subject's level when `version` is undefined. As Confluent's:
   * anything is compatible with the latest version of a subject that has none.
   */
  compatibilityWith(subject: string, schema: string, version?: VersionRef): string[] {
    if (version === undefined) return this.compatibilityProblems(subject, schema);
    if (version === 'latest' && !this.subjects.has(subject)) return [];
    return this.compatibilityProblems(subject, schema, this.findVersion(subject, version).version);
  }

  private subjectVersions(subject: string): SubjectVersion[] {
    const versions = this.subjects.get(subject);
    if (!versions) throw subjectNotFound(subject);
    return versions;
  }
}
