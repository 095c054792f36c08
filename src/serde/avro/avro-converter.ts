/**
 * The `avro` format: Debezium's events as Confluent's AvroConverter writes
 * them (avro-schema.ts for the schemas), in Confluent's wire format
 * (wire-format.ts), with schemas registered in a SchemaRegistry under
 * TopicNameStrategy subjects `<topic>-key` / `<topic>-value`.
 *
 *  - Encoding: encoder() registers the schema (async, once per schema) and
 *    returns an encoder that writes with avsc's compiled writer.
 *  - Decoding: a message names its writer's schema by id. loadSchemas() fetches
 *    the ids a batch names that are not cached yet (async, rare); decodeKey and
 *    decodeValue are then synchronous. When the caller's hint is a newer schema
 *    of the same record (the sink's latest plan of a topic), the message is
 *    resolved to it (avsc's resolver), so older events come out in the shape
 *    the caller knows.
 *  - A Projection (converter.ts) reads some fields of a nested record and
 *    skips the others: the message is resolved (avsc's resolver, which skips
 *    a writer's field the reader lacks without decoding it) to the reader's
 *    schema with that record's other fields left out.
 *  - Messages that do not start with the magic byte are JSON (a topic written
 *    before the switch to Avro): they are decoded by a JsonConverter.
 */
import type avro from 'avsc';
import type { ConnectSchema } from '../../core/connect-schema.js';
import { SchemaNotFoundError, type SchemaRegistry } from '../../registry/schema-registry.js';
import { DecodeError, type ConnectData, type Converter, type MessagePart, type Projection, type SchemaEncoder, type SchemaEntry } from '../converter.js';
import { SchemalessJsonEncoder } from '../json/envelope.js';
import { JsonConverter } from '../json/json-converter.js';
import { toAvroSchema, toConnectSchema, type AvroSchema } from './avro-schema.js';
import { compileType } from './avsc-types.js';
import { HEADER_BYTES, isConfluentFramed, schemaIdOf, writeHeader } from './wire-format.js';

/** A registered schema the converter holds: its id, Connect and Avro forms, and compiled type. */
export interface AvroSchemaEntry extends SchemaEntry {
  readonly schema: ConnectSchema;
  /** The registry's id of the schema. */
  readonly registryId: number;
  readonly avroSchema: AvroSchema;
  readonly type: avro.Type;
  /** The record's full name (resolving to a newer schema only happens within one record name). */
  readonly recordName: string | undefined;
  /** Resolvers from older writers' types to this one, by writer registry id (null: incompatible). */
  readonly resolvers: Map<number, Resolver | null>;
  /** This schema with projections applied, by projection (null: the projection changes nothing here). */
  readonly projections: Map<Projection, ProjectedType | null>;
}

/** A schema with some fields of nested records left out, and its resolvers from writers' types, by writer registry id (null: none). */
interface ProjectedType {
  readonly type: avro.Type;
  readonly resolvers: Map<number, Resolver | null>;
}

type Resolver = ReturnType<avro.Type['createResolver']>;

/** A message names a schema id that was not loaded: call loadSchemas() with it first. */
export class SchemaNotLoadedError extends Error {
  override readonly name = 'SchemaNotLoadedError';
  constructor(readonly id: number) {
    super(`schema id ${id} is not loaded (loadSchemas() was not called for this message)`);
  }
}

const SCHEMALESS = new SchemalessJsonEncoder();
/** Start size of the shared buffer encoders write into (grown when a value needs more). */
const INITIAL_SCRATCH_BYTES = 64 * 1024;

export class AvroConverter implements Converter {
  readonly format = 'avro';
  private nextEntryId = 1;
  private readonly json = new JsonConverter(() => this.nextEntryId++);
  /** Schemas by registry id (the writer schemas of messages, and ours). */
  private readonly byId = new Map<number, AvroSchemaEntry>();
  /** Ids the registry does not know, or whose schema has no Connect mapping, and why: their messages fail to decode (DecodeError). */
  private readonly unreadable = new Map<number, string>();
  /** Registrations by subject and schema text, so each is sent to the registry once. */
  private readonly registrations = new Map<string, Promise<number>>();
  /** Compiled types by Avro schema text. */
  private readonly types = new Map<string, avro.Type>();
  private scratch = Buffer.alloc(INITIAL_SCRATCH_BYTES);

  constructor(private readonly registry: SchemaRegistry) {}

  async encoder(topic: string, part: MessagePart, schema: ConnectSchema | null): Promise<SchemaEncoder> {
    if (!schema) return SCHEMALESS;
    const avroSchema = toAvroSchema(schema);
    const text = JSON.stringify(avroSchema);
    const subject = `${topic}-${part}`;
    const key = `${subject}\u0000${text}`;
    let registration = this.registrations.get(key);
    if (!registration) {
      registration = this.registry.register(subject, text);
      this.registrations.set(key, registration);
      // A refused or failed registration is tried again by the next encoder() call.
      registration.catch(() => this.registrations.delete(key));
    }
    const id = await registration;
    const entry = this.byId.get(id) ?? this.addEntry(id, avroSchema, text, schema);
    return new AvroEncoder(this, entry);
  }

  nullKey(): Buffer {
    // A truncate has no key; compacted topics need key bytes: JsonConverter's null envelope, as the json format writes it.
    return this.json.nullKey();
  }

  loadSchemas(messages: Iterable<Buffer | null | undefined>): Promise<void> | null {
    let wanted: Set<number> | null = null;
    for (const bytes of messages) {
      if (!bytes || !isConfluentFramed(bytes)) continue;
      const id = schemaIdOf(bytes);
      if (id === undefined || this.byId.has(id) || this.unreadable.has(id)) continue;
      (wanted ??= new Set()).add(id);
    }
    return wanted ? this.fetch([...wanted]) : null;
  }

  decodeKey<T = unknown>(bytes: Buffer, hint?: SchemaEntry): ConnectData<T> {
    return isConfluentFramed(bytes) ? this.decodeAvro<T>(bytes, hint) : this.json.decodeKey<T>(bytes, hint);
  }

  decodeValue<T = unknown>(bytes: Buffer, hint?: SchemaEntry, projection?: Projection): ConnectData<T> {
    return isConfluentFramed(bytes) ? this.decodeAvro<T>(bytes, hint, projection) : this.json.decodeValue<T>(bytes, hint);
  }

  /** The shared buffer an encoder writes into, at least `bytes` long. */
  scratchBuffer(bytes = 0): Buffer {
    if (this.scratch.length < bytes) this.scratch = Buffer.alloc(Math.max(bytes, this.scratch.length * 2));
    return this.scratch;
  }

  private async fetch(ids: number[]): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        let text: string;
        try {
          text = await this.registry.schemaById(id);
        } catch (error) {
          if (!(error instanceof SchemaNotFoundError)) throw error; // unreachable registry: the caller retries
          this.unreadable.set(id, 'which the schema registry does not have');
          return;
        }
        try {
          if (!this.byId.has(id)) this.addEntry(id, JSON.parse(text) as AvroSchema, text, null);
        } catch (error) {
          // A schema of another writer tideline cannot map (an Avro map, a union of several types): its messages are dead letters.
          this.unreadable.set(id, `whose schema cannot be read: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
  }

  private addEntry(registryId: number, avroSchema: AvroSchema, text: string, schema: ConnectSchema | null): AvroSchemaEntry {
    let type = this.types.get(text);
    if (!type) {
      type = compileType(avroSchema as avro.Schema);
      this.types.set(text, type);
    }
    const entry: AvroSchemaEntry = {
      id: this.nextEntryId++,
      // Our own schemas keep the Connect schema they came from; others' are mapped as AvroData maps them.
      schema: schema ?? toConnectSchema(avroSchema),
      registryId,
      avroSchema,
      type,
      recordName: typeof avroSchema === 'object' && !Array.isArray(avroSchema) && avroSchema['type'] === 'record' ? type.name : undefined,
      resolvers: new Map(),
      projections: new Map(),
    };
    this.byId.set(registryId, entry);
    return entry;
  }

  private decodeAvro<T>(bytes: Buffer, hint: SchemaEntry | undefined, projection?: Projection): ConnectData<T> {
    const id = schemaIdOf(bytes);
    if (id === undefined) throw new DecodeError(`Avro message of ${bytes.length} bytes is shorter than the Confluent header (5 bytes)`);
    const writer = this.byId.get(id);
    if (!writer) {
      const unreadable = this.unreadable.get(id);
      if (unreadable) throw new DecodeError(`Avro message names schema id ${id}, ${unreadable}`);
      throw new SchemaNotLoadedError(id);
    }
    const reader = this.readerFor(writer, hint);
    const projected = projection && this.projectedResolver(reader, writer, projection);
    try {
      const decoded = projected
        ? projected.type.decode(bytes, HEADER_BYTES, projected.resolver)
        : reader === writer
          ? writer.type.decode(bytes, HEADER_BYTES)
          : reader.type.decode(bytes, HEADER_BYTES, reader.resolvers.get(id)!);
      if (decoded.offset !== bytes.length) throw new Error(decoded.offset < 0 ? 'truncated message' : `${bytes.length - decoded.offset} bytes after the value`);
      return { schema: reader, value: decoded.value as T };
    } catch (error) {
      throw new DecodeError(`Avro message with schema id ${id} does not decode: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * The reader's schema with the projection applied and its resolver from the
   * writer's type; undefined when the projection leaves nothing out of this
   * schema, or avsc cannot resolve (the message is then read whole).
   */
  private projectedResolver(reader: AvroSchemaEntry, writer: AvroSchemaEntry, projection: Projection): { type: avro.Type; resolver: Resolver } | undefined {
    let projected = reader.projections.get(projection);
    if (projected === undefined) {
      const schema = projectSchema(reader.avroSchema, projection);
      projected = schema ? { type: compileType(schema as avro.Schema), resolvers: new Map() } : null;
      reader.projections.set(projection, projected);
    }
    if (!projected) return undefined;
    const resolver = cachedResolver(projected.resolvers, projected.type, writer);
    return resolver ? { type: projected.type, resolver } : undefined;
  }

  /**
   * The schema to read a message with: the hint when it is a newer schema of
   * the same record that can read the writer's data, else the writer's own.
   */
  private readerFor(writer: AvroSchemaEntry, hint: SchemaEntry | undefined): AvroSchemaEntry {
    if (!hint || hint === writer || !isAvroEntry(hint) || hint.registryId < writer.registryId) return writer;
    if (hint.recordName === undefined || hint.recordName !== writer.recordName) return writer;
    return cachedResolver(hint.resolvers, hint.type, writer) ? hint : writer;
  }
}

/** avsc's resolver from the writer's type to `reader`, made once per writer id in `cache`; null when avsc cannot resolve them. */
function cachedResolver(cache: Map<number, Resolver | null>, reader: avro.Type, writer: AvroSchemaEntry): Resolver | null {
  let resolver = cache.get(writer.registryId);
  if (resolver === undefined) {
    try {
      resolver = reader.createResolver(writer.type);
    } catch {
      resolver = null;
    }
    cache.set(writer.registryId, resolver);
  }
  return resolver;
}

/**
 * A record schema with the projected fields' records cut to the fields named
 * (those they have); null when that leaves the schema as it is. The records
 * keep their names, so a writer's schema resolves to the cut one.
 */
export function projectSchema(schema: AvroSchema, projection: Projection): AvroSchema | null {
  if (typeof schema !== 'object' || Array.isArray(schema) || schema['type'] !== 'record' || !Array.isArray(schema['fields'])) return null;
  let changed = false;
  const fields = (schema['fields'] as { name: string; type: AvroSchema }[]).map((field) => {
    const keep = Object.hasOwn(projection, field.name) ? projection[field.name]! : undefined;
    const type = field.type;
    if (!keep || typeof type !== 'object' || Array.isArray(type) || type['type'] !== 'record' || !Array.isArray(type['fields'])) return field;
    const kept = (type['fields'] as { name: string }[]).filter((inner) => keep.includes(inner.name));
    if (kept.length === (type['fields'] as unknown[]).length) return field;
    changed = true;
    return { ...field, type: { ...type, fields: kept } };
  });
  return changed ? { ...schema, fields } : null;
}

function isAvroEntry(entry: SchemaEntry): entry is AvroSchemaEntry {
  return 'registryId' in entry;
}

/** Writes values of one registered schema: header, then avsc's compiled writer, into one buffer. */
class AvroEncoder implements SchemaEncoder {
  readonly schema: ConnectSchema;

  constructor(
    private readonly converter: AvroConverter,
    private readonly entry: AvroSchemaEntry,
  ) {
    this.schema = entry.schema;
  }

  encode(value: unknown): Buffer {
    let target = this.converter.scratchBuffer();
    let end = this.entry.type.encode(value, target, HEADER_BYTES);
    if (end < 0) {
      target = this.converter.scratchBuffer(target.length - end);
      end = this.entry.type.encode(value, target, HEADER_BYTES);
    }
    writeHeader(target, this.entry.registryId);
    return Buffer.from(target.subarray(0, end));
  }
}
