/**
 * `mask` and `hash`, for personal data. `mask` replaces every non-null value
 * with a fixed text; `hash` with a hex digest of (salt + the value's text), so
 * equal values stay equal (joins and counts still work) without being
 * readable. Both apply to the key too when it holds the column; mask a key
 * column and every row shares one key, so hash key columns instead.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Row } from '../../core/events.js';
import { mapKeySchemaIfHas, mapRowSchema, replaceField, rowImages } from './record.js';
import type { TransformStep } from './step.js';

const columnList = z.array(z.string().min(1)).min(1, 'list at least one column');

export const maskStepSchema = z
  .object({
    type: z.literal('mask'),
    fields: columnList.describe('Columns whose non-null values are replaced (row images and key).'),
    replacement: z.string().default('****').describe('The text that replaces each value.'),
  })
  .strict();

export const hashStepSchema = z
  .object({
    type: z.literal('hash'),
    fields: columnList.describe('Columns whose non-null values are replaced by a hex digest (row images and key).'),
    algorithm: z.enum(['sha256', 'sha512', 'sha1', 'md5']).default('sha256').describe('Digest algorithm.'),
    salt: z.string().default('').describe('Text put before each value before hashing (use ${ENV}); without it, short values can be found by trying them all.'),
  })
  .strict();

function valueText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function replaceColumns(type: string, columns: readonly string[], replace: (value: unknown) => string): TransformStep {
  const toText = (struct: ConnectSchema, column: string) => replaceField(struct, column, (field) => ({ type: 'string', optional: field.optional }));
  const replaceRow = (row: Row) => {
    for (const column of columns) {
      const value = row[column];
      if (value !== null && value !== undefined) row[column] = replace(value);
    }
  };
  return {
    type,
    schemas(input) {
      let { key, value } = input;
      for (const column of columns) {
        key = mapKeySchemaIfHas(key, column, (struct) => toText(struct, column));
        value = mapRowSchema(input.shape, value, (struct) => toText(struct, column));
      }
      return { ...input, key, value };
    },
    apply(record, shape) {
      if (record.key) replaceRow(record.key);
      for (const image of rowImages(shape, record.value)) replaceRow(image);
      return record;
    },
  };
}

export function maskStep(config: z.output<typeof maskStepSchema>): TransformStep {
  return replaceColumns('mask', config.fields, () => config.replacement);
}

export function hashStep(config: z.output<typeof hashStepSchema>): TransformStep {
  return replaceColumns('hash', config.fields, (value) => createHash(config.algorithm).update(config.salt).update(valueText(value)).digest('hex'));
}
