/**
 * tideline's own schema registry: Confluent-compatible, leaderless, its state
 * in a Kafka topic (default `_schemas`) that every instance reads in full.
 *
 * Registering a schema the state does not hold yet appends a claim to the
 * topic and reads the topic up to that claim: the state at that point
 * (registry-state.ts) decides its id and version, the same way in every
 * instance, so two daemons registering at the same moment agree without
 * talking to each other. A schema already in the state is answered from
 * memory, without Kafka: ids never change meaning.
 *
 * A daemon uses it in-process as its SchemaRegistry; rest-server.ts serves it
 * over HTTP. It starts (creates or reads the topic) on first use.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { KafkaClient } from '../kafka/client.js';
import { SharedLog } from '../kafka/shared-log.js';
import { canonicalSchema, parseAvroSchema, type CompatibilityLevel } from './compatibility.js';
import { storeError } from './errors.js';
import { encodeLogRecord, type LogRecord } from './log-records.js';
import { RegistryState, type ClaimOutcome, type SubjectVersion } from './registry-state.js';
import type { RegistryService, VersionRef } from './registry-service.js';
import { IncompatibleSchemaError, SchemaNotFoundError } from './schema-registry.js';

export const DEFAULT_REGISTRY_TOPIC = '_schemas';

/** Confluent's wording, with what avsc found. */
function incompatible(subject: string, problems: readonly string[]): IncompatibleSchemaError {
  return new IncompatibleSchemaError(subject, `Schema being registered is incompatible with an earlier schema for subject "${subject}": ${problems.join('; ')}`);
}

export interface EmbeddedRegistryOptions {
  /** The registry's topic (default `_schemas`). */
  topic?: string;
  /** Longest wait for Kafka in one operation (default 30 s). */
  timeoutMs?: number;
  logger: Logger;
}

export class EmbeddedRegistry implements RegistryService {
  private readonly state = new RegistryState();
  private readonly log: SharedLog;
  private readonly timeoutMs: number;
  private starting: Promise<void> | null = null;
  /** Registrations under way, so that concurrent callers of one schema share one claim. */
  private readonly registering = new Map<string, Promise<number>>();
  private problemLogged = false;

  constructor(kafka: KafkaClient, private readonly options: EmbeddedRegistryOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.log = new SharedLog(kafka, {
      topic: options.topic ?? DEFAULT_REGISTRY_TOPIC,
      // Compacted as Confluent's `_schemas` is: no record ever expires, and
      // since no key is written twice (log-records.ts) compaction removes none.
      topicConfigs: { 'cleanup.policy': 'compact' },
      groupPrefix: '_tideline-registry',
      onRecord: (offset, key, value) => this.state.applyRaw(offset, key, value),
      logger: options.logger,
    });
  }

  get topic(): string {
    return this.log.topic;
  }

  /** Creates the topic when missing and reads it to its end; later calls wait for the same start. */
  start(): Promise<void> {
    this.starting ??= this.log.start(this.timeoutMs).then(
      () => this.options.logger.info({ topic: this.topic, readTo: String(this.state.appliedOffset) }, 'schema registry ready'),
      async (error: unknown) => {
        this.starting = null;
        await this.log.close();
        throw storeError(`schema registry could not read its topic ${this.topic}: ${(error as Error).message}`);
      },
    );
    return this.starting;
  }

  /**
   * Closes the log without waiting for a start still in progress: after a
   * broker restart that start can wait up to timeoutMs (30 s) for Kafka, far
   * past a shutdown's deadline. Closing the clients makes it fail instead.
   */
  async close(): Promise<void> {
    const starting = this.starting;
    this.starting = null;
    await this.log.close();
    starting?.catch(() => undefined);
  }

  async register(subject: string, schema: string): Promise<number> {
    const canonical = canonicalSchema(schema);
    parseAvroSchema(canonical);
    const known = this.state.lookup(subject, canonical);
    if (known) return known.id;
    const key = `${subject}\u0000${canonical}`;
    let registration = this.registering.get(key);
    if (!registration) {
      registration = this.claim(subject, canonical).finally(() => this.registering.delete(key));
      this.registering.set(key, registration);
    }
    return registration;
  }

  private async claim(subject: string, schema: string): Promise<number> {
    await this.fresh();
    const known = this.state.lookup(subject, schema);
    if (known) return known.id;
    // Refuse before writing what the log would refuse anyway; a claim can
    // still be refused in the log when a concurrent change lands first.
    const problems = this.state.compatibilityProblems(subject, schema);
    if (problems.length > 0) throw incompatible(subject, problems);
    const outcome = await this.append({ type: 'register', claim: randomUUID(), subject, schema });
    if (!outcome.accepted) throw incompatible(subject, outcome.problems);
    if (!('id' in outcome)) throw new Error('a register claim came back as a config record');
    this.options.logger.info({ subject, id: outcome.id, version: outcome.version }, 'schema registered');
    return outcome.id;
  }

  /** Appends a record and reads the log through it; what the state made of it. */
  private async append(record: LogRecord): Promise<ClaimOutcome> {
    const { key, value } = encodeLogRecord(record);
    let offset: bigint;
    try {
      offset = await this.log.append(key, value);
      await this.log.readThrough(offset, this.timeoutMs);
    } catch (error) {
      throw storeError(`schema registry could not write to ${this.topic}: ${(error as Error).message}`);
    }
    const outcome = this.state.outcome(record.claim);
    this.state.forget(record.claim);
    if (!outcome) throw storeError(`the record at offset ${offset} of ${this.topic} was read but not applied`);
    return outcome;
  }

  /** Started, read to the end of the topic, and able to register. */
  private async fresh(): Promise<void> {
    await this.start();
    try {
      await this.log.sync(this.timeoutMs);
    } catch (error) {
      throw storeError(`schema registry could not read ${this.topic}: ${(error as Error).message}`);
    }
    if (this.state.problem) {
      if (!this.problemLogged) this.options.logger.error({ topic: this.topic, problem: this.state.problem }, 'schema registry stopped registering');
      this.problemLogged = true;
      throw storeError(
        `topic ${this.topic} holds a record tideline's registry cannot use (${this.state.problem}); ` +
          'if another registry (Confluent\'s) owns the topic, give tideline\'s registry its own topic',
      );
    }
  }

  /** Reads the topic to its end when possible; reads fall back to the state in memory while Kafka is away. */
  private async freshForReading(): Promise<void> {
    await this.start();
    await this.log.sync(this.timeoutMs).catch((error: unknown) => this.options.logger.warn({ err: error, topic: this.topic }, 'schema registry serves reads from memory: Kafka is unreachable'));
  }

  async schemaById(id: number): Promise<string> {
    const known = this.state.schemaById(id);
    if (known !== undefined) return known;
    await this.freshForReading();
    const schema = this.state.schemaById(id);
    if (schema === undefined) throw new SchemaNotFoundError(id);
    return schema;
  }

  async lookup(subject: string, schema: string): Promise<SubjectVersion> {
    const canonical = canonicalSchema(schema);
    await this.freshForReading();
    return this.state.findSchema(subject, canonical);
  }

  async subjects(): Promise<string[]> {
    await this.freshForReading();
    return this.state.subjectNames();
  }

  async versions(subject: string): Promise<number[]> {
    await this.freshForReading();
    return this.state.versionNumbers(subject);
  }

  async version(subject: string, version: VersionRef): Promise<SubjectVersion> {
    await this.freshForReading();
    return this.state.findVersion(subject, version);
  }

  async compatibilityProblems(subject: string, schema: string, version?: VersionRef): Promise<string[]> {
    const canonical = canonicalSchema(schema);
    parseAvroSchema(canonical);
    await this.freshForReading();
    return this.state.compatibilityWith(subject, canonical, version);
  }

  async compatibility(subject: string | null): Promise<CompatibilityLevel | undefined> {
    await this.freshForReading();
    return subject === null ? this.state.globalCompatibility : this.state.subjectLevel(subject);
  }

  async setCompatibility(subject: string | null, level: CompatibilityLevel): Promise<void> {
    await this.fresh();
    await this.append({ type: 'config', claim: randomUUID(), subject, compatibility: level });
    this.options.logger.info({ subject: subject ?? '(global)', compatibility: level }, 'compatibility level set');
  }
}
