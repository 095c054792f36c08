/** `compute`: adds (or replaces) columns with the value of an expression over each row image. */
import { z } from 'zod';
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Row } from '../../core/events.js';
import { expressionText } from '../config.js';
import { Expression } from '../expression.js';
import { CAST_TYPES, castSchema, castValue, type CastType } from './cast.js';
import { mapRowSchema, rowImages, withFields, type ValueShape } from './record.js';
import type { TransformStep } from './step.js';

export const computeStepSchema = z
  .object({
    type: z.literal('compute'),
    fields: z
      .record(
        z.string().min(1),
        z
          .object({
            expression: expressionText('Evaluated on each row image (before and after of an envelope, or the flat row); $op, $source, $topic and $key are bound.'),
            type: z.enum(CAST_TYPES).default('string').describe('Type of the new column; the result is cast to it.'),
          })
          .strict(),
      )
      .refine((map) => Object.keys(map).length > 0, 'name at least one column')
      .describe('New column name to {expression, type}.'),
  })
  .strict();

interface ComputedColumn {
  name: string;
  expression: Expression;
  type: CastType;
}

export function computeStep(config: z.output<typeof computeStepSchema>): TransformStep {
  const columns: ComputedColumn[] = Object.entries(config.fields).map(([name, field]) => ({
    name,
    expression: Expression.compile(field.expression),
    type: field.type,
  }));
  const addColumns = (struct: ConnectSchema) => {
    const added = new Set(columns.map((column) => column.name));
    return withFields(struct, [
      ...(struct.fields ?? []).filter((field) => !added.has(field.field ?? '')),
      ...columns.map((column) => ({ ...castSchema(column.type, true), field: column.name })),
    ]);
  };
  return {
    type: 'compute',
    schemas: (input) => ({ ...input, value: mapRowSchema(input.shape, input.value, addColumns) }),
    async apply(record, shape: ValueShape) {
      const value = record.value;
      if (!value) return record;
      const bindings = {
        op: shape === 'envelope' ? value.op : value.__op,
        source: shape === 'envelope' ? value.source : undefined,
        topic: record.topic,
        key: record.key,
      };
      for (const image of rowImages(shape, value)) await computeColumns(image, columns, bindings);
      return record;
    },
  };
}

async function computeColumns(image: Row, columns: readonly ComputedColumn[], bindings: Record<string, unknown>): Promise<void> {
  // Every expression sees the row as it came in, not the columns computed before it.
  const results: unknown[] = [];
  for (const column of columns) results.push(castValue(await column.expression.evaluate(image, bindings), column.type, column.name));
  columns.forEach((column, index) => {
    delete image[column.name]; // a replaced column moves to the end, as in the schema
    image[column.name] = results[index];
  });
}
