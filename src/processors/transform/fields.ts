/** `keep`, `drop` and `rename`: which columns a record carries and what they are called. */
import { z } from 'zod';
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Row } from '../../core/events.js';
import { mapKeySchemaIfHas, mapRowSchema, rowImages, withFields } from './record.js';
import type { TransformStep } from './step.js';

const columnList = (description: string) => z.array(z.string().min(1)).min(1, 'list at least one column').describe(description);

export const keepStepSchema = z.object({ type: z.literal('keep'), fields: columnList('Columns to keep; every other column is removed from the row images (the key is left as it is).') }).strict();
export const dropStepSchema = z.object({ type: z.literal('drop'), fields: columnList('Columns to remove from the row images (the key is left as it is).') }).strict();
export const renameStepSchema = z
  .object({
    type: z.literal('rename'),
    fields: z
      .record(z.string().min(1), z.string().min(1))
      .refine((map) => Object.keys(map).length > 0, 'name at least one column')
      .describe('Old name to new name; applies to the row images and to the key.'),
  })
  .strict();

function selectColumns(type: 'keep' | 'drop', columns: readonly string[]): TransformStep {
  const listed = new Set(columns);
  const wanted = (name: string | undefined) => (type === 'keep' ? listed.has(name ?? '') : !listed.has(name ?? ''));
  const select = (struct: ConnectSchema) => withFields(struct, (struct.fields ?? []).filter((field) => wanted(field.field)));
  return {
    type,
    schemas: (input) => ({ ...input, value: mapRowSchema(input.shape, input.value, select) }),
    apply(record, shape) {
      for (const image of rowImages(shape, record.value)) {
        for (const name of Object.keys(image)) if (!wanted(name)) delete image[name];
      }
      return record;
    },
  };
}

export function keepStep(config: z.output<typeof keepStepSchema>): TransformStep {
  return selectColumns('keep', config.fields);
}

export function dropStep(config: z.output<typeof dropStepSchema>): TransformStep {
  return selectColumns('drop', config.fields);
}

function renameRow(row: Row, renames: ReadonlyMap<string, string>): Row {
  const out: Row = {};
  for (const [name, value] of Object.entries(row)) out[renames.get(name) ?? name] = value;
  return out;
}

export function renameStep(config: z.output<typeof renameStepSchema>): TransformStep {
  const renames = new Map(Object.entries(config.fields));
  const renameStruct = (struct: ConnectSchema) =>
    withFields(struct, (struct.fields ?? []).map((field) => ({ ...field, field: renames.get(field.field ?? '') ?? field.field })));
  return {
    type: 'rename',
    schemas(input) {
      let key = input.key;
      for (const column of renames.keys()) key = mapKeySchemaIfHas(key, column, renameStruct);
      return { ...input, key, value: mapRowSchema(input.shape, input.value, renameStruct) };
    },
    apply(record, shape) {
      if (record.key) record.key = renameRow(record.key, renames);
      if (!record.value) return record;
      if (shape === 'row') {
        record.value = renameRow(record.value, renames);
      } else {
        // Renaming rebuilds the objects so that column order stays as in the schema.
        if (record.value.before) record.value.before = renameRow(record.value.before as Row, renames);
        if (record.value.after) record.value.after = renameRow(record.value.after as Row, renames);
      }
      return record;
    },
  };
}
