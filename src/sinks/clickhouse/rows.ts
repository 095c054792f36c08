/**
 * Change events to TabSeparated rows of the upsert table.
 *   c, u, r: the after image, _deleted = 0
 *   d:       the before image (at least the key), _deleted = 1
 * `_version` is the change's LSN, so a row written twice (after a crash)
 * collapses under (key, _version) and an older change never wins over a newer.
 */
import { UNAVAILABLE_VALUE } from '../../core/connect-schema.js';
import type { ChangeEvent, Row } from '../../core/events.js';
import type { TablePlan } from './table-plan.js';
import { escapeTsv } from './type-mapping.js';

export class UnwritableEventError extends Error {}

export function eventToTsvLine(plan: TablePlan, event: ChangeEvent): string {
  const deleted = event.op === 'd';
  const image: Row | null = deleted ? event.before : event.after;
  if (!image) throw new UnwritableEventError(`op "${event.op}" event without ${deleted ? 'before' : 'after'} image`);
  const version = event.source.lsn;
  if (version === null || version === undefined) throw new UnwritableEventError('event without source.lsn (needed as the row version)');
  const fields: string[] = [];
  for (const column of plan.columns) {
    const value = image[column.name];
    if (value === null || value === undefined) {
      fields.push('\\N');
    } else if (value === UNAVAILABLE_VALUE) {
      // An unchanged TOASTed value the source did not receive must never
      // overwrite the stored one. Resolving it needs the stored row; until that
      // lands, refuse the event rather than write the placeholder.
      throw new UnwritableEventError(`column ${column.name} holds the unavailable-value placeholder (unchanged TOAST)`);
    } else {
      fields.push(escapeTsv(formatValue(column.name, column.mapping.format, value)));
    }
  }
  fields.push(String(version), deleted ? '1' : '0');
  return fields.join('\t');
}

/** A value the column cannot take (e.g. timestamptz 'infinity') makes the event unwritable, not the sink fail. */
function formatValue(column: string, format: (value: unknown) => string, value: unknown): string {
  try {
    return format(value);
  } catch (error) {
    throw new UnwritableEventError(`column ${column}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
