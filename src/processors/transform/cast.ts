/** `cast`: changes column types; the schema follows (semantic names such as Decimal's are dropped). */
import { z } from 'zod';
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Row } from '../../core/events.js';
import { mapKeySchemaIfHas, mapRowSchema, replaceField, rowImages } from './record.js';
import { TransformError, type TransformStep } from './step.js';

export const CAST_TYPES = ['string', 'int32', 'int64', 'float', 'double', 'boolean'] as const;
export type CastType = (typeof CAST_TYPES)[number];

export const castStepSchema = z
  .object({
    type: z.literal('cast'),
    fields: z
      .record(z.string().min(1), z.enum(CAST_TYPES))
      .refine((map) => Object.keys(map).length > 0, 'name at least one column')
      .describe(`Column to target type (${CAST_TYPES.join(', ')}); applies to the row images and to the key.`),
  })
  .strict();

/** The plain Connect schema of a cast column (optional as before). */
export function castSchema(type: CastType, optional: boolean): ConnectSchema {
  return { type, optional };
}

const INTEGER_TEXT = /^[-+]?\d+$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Converts one value; null and undefined stay null. Throws TransformError when the value has no such form. */
export function castValue(value: unknown, type: CastType, column: string): unknown {
  if (value === null || value === undefined) return null;
  const fail = (): never => {
    throw new TransformError(`column ${column}: cannot cast ${JSON.stringify(typeof value === 'bigint' ? value.toString() : value)} to ${type}`);
  };
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'object') return JSON.stringify(value);
      return String(value);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'number' || typeof value === 'bigint') return value != 0;
      if (typeof value === 'string') {
        const text = value.trim().toLowerCase();
        if (['true', 't', '1', 'yes', 'y'].includes(text)) return true;
        if (['false', 'f', '0', 'no', 'n'].includes(text)) return false;
      }
      return fail();
    case 'float':
    case 'double': {
      const number = typeof value === 'boolean' ? Number(value) : typeof value === 'string' && value.trim() === '' ? NaN : Number(value);
      return typeof value !== 'object' && Number.isFinite(number) ? number : fail();
    }
    case 'int32':
    case 'int64': {
      let integer: number | bigint;
      if (typeof value === 'bigint') integer = value;
      else if (typeof value === 'boolean') integer = value ? 1 : 0;
      else if (typeof value === 'number' && Number.isFinite(value)) integer = Math.trunc(value);
      else if (typeof value === 'string' && INTEGER_TEXT.test(value.trim())) {
        const big = BigInt(value.trim());
        integer = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      } else if (typeof value === 'string' && Number.isFinite(Number(value)) && value.trim() !== '') integer = Math.trunc(Number(value));
      else return fail();
      if (type === 'int32' && (typeof integer === 'bigint' || integer < INT32_MIN || integer > INT32_MAX)) return fail();
      if (typeof integer === 'bigint' && (integer < -(2n ** 63n) || integer >= 2n ** 63n)) return fail();
      return integer;
    }
  }
}

function castRow(row: Row, casts: ReadonlyMap<string, CastType>): void {
  for (const [column, type] of casts) if (column in row) row[column] = castValue(row[column], type, column);
}

export function castStep(config: z.output<typeof castStepSchema>): TransformStep {
  const casts = new Map(Object.entries(config.fields));
  return {
    type: 'cast',
    schemas(input) {
      let { key, value } = input;
      for (const [column, type] of casts) {
        const change = (struct: ConnectSchema) => replaceField(struct, column, (field) => castSchema(type, field.optional));
        key = mapKeySchemaIfHas(key, column, change);
        value = mapRowSchema(input.shape, value, change);
      }
      return { ...input, key, value };
    },
    apply(record, shape) {
      if (record.key) castRow(record.key, casts);
      for (const image of rowImages(shape, record.value)) castRow(image, casts);
      return record;
    },
  };
}
