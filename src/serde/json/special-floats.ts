/**
 * Float and double values JSON has no number for, as Kafka's JsonConverter
 * writes them: its Jackson ObjectMapper keeps QUOTE_NON_NUMERIC_NUMBERS on (the
 * default), so NaN, Infinity and -Infinity become the JSON strings "NaN",
 * "Infinity" and "-Infinity", and a negative zero the number -0.0.
 * JSON.stringify would write null, null, null and 0.
 *
 * Per schema the float (FLOAT32/FLOAT64) fields are found once. Encoding: a
 * payload with such a value in one of them takes a slower path that writes
 * Jackson's form; every other payload is one JSON.stringify as before.
 * Decoding: the strings in float fields become numbers again (Kafka's own
 * JsonConverter reads them as 0.0, through Jackson's TextNode.doubleValue(),
 * which would lose them). Values elsewhere are never touched.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import { stringifyJson } from './lossless.js';

/** Where a schema has float fields: a float leaf, a struct's fields holding some, an array of them. */
type FloatFields = { kind: 'float' } | { kind: 'struct'; fields: [string, FloatFields][] } | { kind: 'array'; items: FloatFields };

/** The float fields of `schema`; null when it has none (the common case: nothing to do per message). */
export function floatFieldsOf(schema: ConnectSchema | null | undefined): FloatFields | null {
  if (!schema) return null;
  switch (schema.type) {
    case 'float':
    case 'double':
      return { kind: 'float' };
    case 'struct': {
      const fields: [string, FloatFields][] = [];
      for (const field of schema.fields ?? []) {
        const inner = floatFieldsOf(field);
        if (inner && field.field !== undefined) fields.push([field.field, inner]);
      }
      return fields.length > 0 ? { kind: 'struct', fields } : null;
    }
    case 'array': {
      const items = floatFieldsOf(schema.items);
      return items ? { kind: 'array', items } : null;
    }
    default:
      return null;
  }
}

const isSpecial = (value: unknown): boolean => typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0));

function hasSpecial(fields: FloatFields, value: unknown): boolean {
  if (value === null || value === undefined) return false;
  switch (fields.kind) {
    case 'float':
      return isSpecial(value);
    case 'struct':
      if (typeof value !== 'object') return false;
      for (const [name, inner] of fields.fields) if (hasSpecial(inner, (value as Record<string, unknown>)[name])) return true;
      return false;
    case 'array':
      return Array.isArray(value) && value.some((item) => hasSpecial(fields.items, item));
  }
}

/** Marks a negative zero in the JSON.stringify text, replaced by -0.0 after it (text columns cannot hold NUL). */
const NEGATIVE_ZERO_MARK = '\u0000-0.0';
const NEGATIVE_ZERO_TOKEN = /"\\u0000-0\.0"/g;

function jacksonForm(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  return Object.is(value, -0) ? NEGATIVE_ZERO_MARK : value;
}

/** A copy of `value` (along the float fields only) with the special values in Jackson's form. */
function marked(fields: FloatFields, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  switch (fields.kind) {
    case 'float':
      return typeof value === 'number' ? jacksonForm(value) : value;
    case 'struct': {
      if (typeof value !== 'object') return value;
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [name, inner] of fields.fields) if (name in copy) copy[name] = marked(inner, copy[name]);
      return copy;
    }
    case 'array':
      return Array.isArray(value) ? value.map((item) => marked(fields.items, item)) : value;
  }
}

/** The JSON text of `value` (whose float fields are `fields`), with NaN, ±Infinity and -0 as JsonConverter writes them. */
export function stringifyWithFloats(fields: FloatFields | null, value: unknown): string {
  if (!fields || !hasSpecial(fields, value)) return stringifyJson(value);
  const text = stringifyJson(marked(fields, value));
  return text.includes('\\u0000-0.0') ? text.replace(NEGATIVE_ZERO_TOKEN, '-0.0') : text;
}

const FROM_TEXT: ReadonlyMap<unknown, number> = new Map([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);

/**
 * Turns "NaN", "Infinity" and "-Infinity" in the float fields of a decoded
 * value back into numbers, in place; and a double JSON.stringify wrote without
 * exponent beyond 2^53 (69398487000000000000), which the exact-integer parse
 * (lossless.ts) read as a bigint, into the double again (exact: that text is
 * the double's shortest form padded with zeros).
 */
export function reviveFloats(fields: FloatFields, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  switch (fields.kind) {
    case 'float':
      return typeof value === 'string' ? (FROM_TEXT.get(value) ?? value) : typeof value === 'bigint' ? Number(value) : value;
    case 'struct':
      if (typeof value === 'object') {
        const record = value as Record<string, unknown>;
        for (const [name, inner] of fields.fields) {
          const field = record[name];
          if (field !== null && field !== undefined && (inner.kind !== 'float' || typeof field !== 'number')) record[name] = reviveFloats(inner, field);
        }
      }
      return value;
    case 'array':
      if (Array.isArray(value)) for (let index = 0; index < value.length; index++) value[index] = reviveFloats(fields.items, value[index]);
      return value;
  }
}
