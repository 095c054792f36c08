/**
 * The schema registry seam: what a format with registered schemas (Avro, in
 * the Confluent wire format) needs from a Confluent-compatible registry. Two
 * implementations plug in here: an HTTP client of any Confluent-compatible
 * registry (Confluent's, Apicurio's ccompat API, Karapace, Redpanda's), and
 * the embedded registry tideline runs itself (`registry: embedded`).
 *
 * Ids are global and never change meaning: a schema id read from a message
 * resolves to the same schema forever, so callers cache both directions.
 */
export interface SchemaRegistry {
  /**
   * Registers `schema` (Avro schema JSON text) under `subject` (TopicNameStrategy:
   * `<topic>-key` / `<topic>-value`) and returns its id; a schema already
   * registered under the subject returns its existing id. Rejects with
   * IncompatibleSchemaError when the subject's compatibility level refuses it.
   */
  register(subject: string, schema: string): Promise<number>;
  /** The schema (Avro schema JSON text) with global id `id`. Rejects with SchemaNotFoundError. */
  schemaById(id: number): Promise<string>;
}

/** The registry refused a schema as incompatible with the subject's earlier versions (HTTP 409). */
export class IncompatibleSchemaError extends Error {
  override readonly name = 'IncompatibleSchemaError';
  constructor(
    readonly subject: string,
    message: string,
  ) {
    super(message);
  }
}

/** No schema has the id (HTTP 404, error code 40403). */
export class SchemaNotFoundError extends Error {
  override readonly name = 'SchemaNotFoundError';
  constructor(readonly id: number) {
    super(`schema id ${id} is not registered`);
  }
}
