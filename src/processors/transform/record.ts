/**
 * What transform steps work on: one Kafka record, decoded. Before an unwrap
 * step the value is Debezium's envelope ({before, after, source, op, ts_ms});
 * after it, a flat row. Steps that change columns apply to every row image
 * (before and after of an envelope, or the flat row) and to the key when the
 * key has that column, and describe the same change on the Connect schemas.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Row } from '../../core/events.js';

export type ValueShape = 'envelope' | 'row';

export interface TransformRecord {
  /** The input topic. */
  topic: string;
  /** Where the record goes, when a route step chose; otherwise the processor's output topic. */
  destination?: string;
  /** Key payload (the key columns), or null. */
  key: Row | null;
  /** Value payload; null is a tombstone. */
  value: Row | null;
}

/** The schemas a record carries; null where the message had none (schemaless JSON). */
export interface RecordSchemas {
  shape: ValueShape;
  key: ConnectSchema | null;
  value: ConnectSchema | null;
}

/** The row images of a value: before and after of an envelope (those not null), or the row itself. */
export function rowImages(shape: ValueShape, value: Row | null): Row[] {
  if (!value) return [];
  if (shape === 'row') return [value];
  const images: Row[] = [];
  if (value.before && typeof value.before === 'object') images.push(value.before as Row);
  if (value.after && typeof value.after === 'object') images.push(value.after as Row);
  return images;
}

/** Applies `change` to the row struct schema: the before/after structs of an envelope, or the value struct. */
export function mapRowSchema(shape: ValueShape, value: ConnectSchema | null, change: (row: ConnectSchema) => ConnectSchema): ConnectSchema | null {
  if (!value) return null;
  if (shape === 'row') return change(value);
  return {
    ...value,
    fields: value.fields?.map((field) => (field.field === 'before' || field.field === 'after' ? { ...change(field), field: field.field } : field)),
  };
}

/** Applies `change` to the key struct schema when it has the column `column`. */
export function mapKeySchemaIfHas(key: ConnectSchema | null, column: string, change: (key: ConnectSchema) => ConnectSchema): ConnectSchema | null {
  if (!key?.fields?.some((field) => field.field === column)) return key;
  return change(key);
}

/** The row struct of a value schema: `after` of an envelope, or the value struct. */
export function rowSchemaOf(schemas: RecordSchemas): ConnectSchema | null {
  if (!schemas.value) return null;
  if (schemas.shape === 'row') return schemas.value;
  return schemas.value.fields?.find((field) => field.field === 'after') ?? null;
}

/** A struct schema with `fields` replaced. */
export function withFields(struct: ConnectSchema, fields: ConnectSchema[]): ConnectSchema {
  return { ...struct, fields };
}

/** Replaces the schema of one field, keeping its name. */
export function replaceField(struct: ConnectSchema, column: string, replace: (field: ConnectSchema) => ConnectSchema): ConnectSchema {
  return withFields(
    struct,
    (struct.fields ?? []).map((field) => (field.field === column ? { ...replace(field), field: column } : field)),
  );
}
