/**
 * A SchemaRegistry held in memory: ids are global, a schema registered again
 * under a subject gets its id back, and a new version is checked against the
 * subject's latest with avsc's resolver (BACKWARD, the Confluent default: the
 * new schema must read data written with the latest). For unit tests, and
 * the registry of a daemon with format avro that was given none.
 *
 * Ids are `sequential` (1, 2, ...) or derived from the schema text
 * (`content`: 31 bits of its SHA-256), so that a restarted daemon, or another
 * one, gives a schema the id it had before and messages written before a
 * restart still decode. Only the subjects' version lists (what compatibility
 * is checked against) start empty again. In that mode an unknown id is not
 * SchemaNotFoundError (a dead letter) but a retryable error: after a restart
 * the id is known again once its writer registers the schema again (the
 * source, at the table's first change), and a reader waits for that.
 */
import { createHash } from 'node:crypto';
import { compileType } from '../serde/avro/avsc-types.js';
import { IncompatibleSchemaError, SchemaNotFoundError, type SchemaRegistry } from './schema-registry.js';

export type Compatibility = 'BACKWARD' | 'NONE';
export type IdScheme = 'sequential' | 'content';

const MAX_ID = 0x7fffffff;

/** 31 bits of the schema text's SHA-256 (never 0). */
export function contentId(schema: string): number {
  return (createHash('sha256').update(schema).digest().readUInt32BE(0) & MAX_ID) || 1;
}

export class MemorySchemaRegistry implements SchemaRegistry {
  private readonly byId = new Map<number, string>();
  private readonly idBySchema = new Map<string, number>();
  /** Per subject, the ids of its versions in order. */
  private readonly subjects = new Map<string, number[]>();

  private nextId = 1;

  constructor(
    private readonly compatibility: Compatibility = 'BACKWARD',
    private readonly ids: IdScheme = 'sequential',
  ) {}

  register(subject: string, schema: string): Promise<number> {
    try {
      return Promise.resolve(this.registerNow(subject, schema));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  schemaById(id: number): Promise<string> {
    const schema = this.byId.get(id);
    if (schema !== undefined) return Promise.resolve(schema);
    if (this.ids === 'content') return Promise.reject(new Error(`schema id ${id} is not registered in this process yet (in-memory registry: known again once its writer registers it)`));
    return Promise.reject(new SchemaNotFoundError(id));
  }

  /** The ids of a subject's versions, oldest first. */
  versions(subject: string): readonly number[] {
    return this.subjects.get(subject) ?? [];
  }

  private registerNow(subject: string, schema: string): number {
    const versions = this.subjects.get(subject) ?? [];
    const known = this.idBySchema.get(schema);
    if (known !== undefined && versions.includes(known)) return known;
    const latest = versions.at(-1);
    if (latest !== undefined && this.compatibility === 'BACKWARD') this.checkBackward(subject, schema, this.byId.get(latest)!);
    let id = known;
    if (id === undefined) {
      id = this.newId(schema);
      this.byId.set(id, schema);
      this.idBySchema.set(schema, id);
    }
    versions.push(id);
    this.subjects.set(subject, versions);
    return id;
  }

  private newId(schema: string): number {
    if (this.ids === 'sequential') return this.nextId++;
    let id = contentId(schema);
    // Two schemas with the same 31 bits (about one in 2^31 per pair): the next free id.
    while (this.byId.has(id)) id = (id % MAX_ID) + 1;
    return id;
  }

  private checkBackward(subject: string, schema: string, latest: string): void {
    const reader = compileType(JSON.parse(schema) as never);
    const writer = compileType(JSON.parse(latest) as never);
    try {
      reader.createResolver(writer);
    } catch (error) {
      throw new IncompatibleSchemaError(subject, `Schema being registered is incompatible with an earlier schema for subject "${subject}": ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
