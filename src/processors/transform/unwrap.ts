/**
 * `unwrap`: Debezium's ExtractNewRecordState. The envelope becomes its after
 * image, plus `__<field>` columns for the envelope fields listed in
 * `addFields` (`op` → `__op`, `source.ts_ms` → `__source_ts_ms`). Deletes:
 * `rewrite` (Debezium's delete.handling.mode=rewrite) emits the before image
 * with `__deleted: "true"` (and "false" on every other record), `drop` drops
 * them, `none` emits a null value. Tombstones are dropped unless
 * `dropTombstones` is false. Truncate events are dropped.
 */
import { z } from 'zod';
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Row } from '../../core/events.js';
import { withFields } from './record.js';
import type { TransformStep } from './step.js';

const ENVELOPE_FIELDS = ['op', 'ts_ms'] as const;
const SOURCE_FIELDS = ['version', 'connector', 'name', 'ts_ms', 'snapshot', 'db', 'schema', 'table', 'txId', 'lsn'] as const;
const ADDABLE = [...ENVELOPE_FIELDS, ...SOURCE_FIELDS.map((field) => `source.${field}`)];

export const unwrapStepSchema = z
  .object({
    type: z.literal('unwrap'),
    deleteHandling: z.enum(['rewrite', 'drop', 'none']).default('rewrite').describe('Deletes: rewrite (before image + __deleted "true"), drop, or none (a null value).'),
    addFields: z
      .array(z.enum(ADDABLE as [string, ...string[]]))
      .default(['op', 'source.ts_ms'])
      .describe(`Envelope fields added as __<field> columns (dots become _): ${ADDABLE.join(', ')}.`),
    dropTombstones: z.boolean().default(true).describe('Drop tombstones (null values); false passes them on.'),
  })
  .strict();

interface AddedField {
  column: string;
  read: (envelope: Row) => unknown;
  path: string[];
}

export const DELETED_FIELD = '__deleted';

function addedFields(paths: readonly string[]): AddedField[] {
  return paths.map((path) => {
    const parts = path.split('.');
    return {
      column: `__${parts.join('_')}`,
      path: parts,
      read: parts.length === 1 ? (envelope) => envelope[parts[0]!] : (envelope) => (envelope.source as Row | undefined)?.[parts[1]!],
    };
  });
}

function fieldSchema(envelope: ConnectSchema, path: readonly string[]): ConnectSchema {
  let schema: ConnectSchema | undefined = envelope;
  for (const part of path) schema = schema?.fields?.find((field) => field.field === part);
  const found: ConnectSchema = schema ?? { type: 'string', optional: true };
  return { type: found.type, optional: true, ...(found.name ? { name: found.name } : {}), ...(found.parameters ? { parameters: found.parameters } : {}) };
}

export function unwrapStep(config: z.output<typeof unwrapStepSchema>): TransformStep {
  const added = addedFields(config.addFields);
  const rewrite = config.deleteHandling === 'rewrite';
  return {
    type: 'unwrap',
    schemas(input) {
      if (input.shape !== 'envelope') return input;
      const envelope = input.value;
      const after = envelope?.fields?.find((field) => field.field === 'after');
      if (!envelope || !after) return { ...input, shape: 'row' };
      const { field: _field, ...row } = after;
      const columns = [
        ...(row.fields ?? []),
        ...added.map((field) => ({ ...fieldSchema(envelope, field.path), field: field.column })),
        ...(rewrite ? [{ type: 'string' as const, optional: true, field: DELETED_FIELD }] : []),
      ];
      return { ...input, shape: 'row', value: withFields({ ...row, optional: false }, columns) };
    },
    apply(record, shape) {
      if (shape !== 'envelope') return record;
      const envelope = record.value;
      if (envelope === null) return config.dropTombstones ? null : record;
      const op = envelope.op;
      if (op === 't') return null;
      let row: Row | null;
      if (op === 'd') {
        if (config.deleteHandling === 'drop') return null;
        if (config.deleteHandling === 'none') {
          record.value = null;
          return record;
        }
        row = (envelope.before as Row | null) ?? { ...record.key };
      } else {
        row = envelope.after as Row | null;
        if (!row) return null;
      }
      for (const field of added) row[field.column] = field.read(envelope) ?? null;
      if (rewrite) row[DELETED_FIELD] = op === 'd' ? 'true' : 'false';
      record.value = row;
      return record;
    },
  };
}
