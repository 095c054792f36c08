/**
 * A SchemaRegistry held in memory: ids are global and increase, a schema
 * registered again under a subject gets its id back, and a new version is
 * checked against the subject's latest with avsc's resolver (BACKWARD, the
 * Confluent default: the new schema must read data written with the latest).
 * For unit tests, and the registry of a daemon with format avro that was
 * given none (ids then live as long as the process).
 */
import { compileType } from '../serde/avro/avsc-types.js';
import { IncompatibleSchemaError, SchemaNotFoundError, type SchemaRegistry } from './schema-registry.js';

export type Compatibility = 'BACKWARD' | 'NONE';

export class MemorySchemaRegistry implements SchemaRegistry {
  private readonly byId = new Map<number, string>();
  private readonly idBySchema = new Map<string, number>();
  /** Per subject, the ids of its versions in order. */
  private readonly subjects = new Map<string, number[]>();

  private nextId: number;

  /** `firstId`: the first id handed out (ids then count up from it). */
  constructor(
    private readonly compatibility: Compatibility = 'BACKWARD',
    firstId = 1,
  ) {
    this.nextId = firstId;
  }

  register(subject: string, schema: string): Promise<number> {
    try {
      return Promise.resolve(this.registerNow(subject, schema));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  schemaById(id: number): Promise<string> {
    const schema = this.byId.get(id);
    return schema === undefined ? Promise.reject(new SchemaNotFoundError(id)) : Promise.resolve(schema);
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
      id = this.nextId++;
      this.byId.set(id, schema);
      this.idBySchema.set(schema, id);
    }
    versions.push(id);
    this.subjects.set(subject, versions);
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
