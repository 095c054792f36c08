/** Avro schemas for registry tests: a record that grows compatibly, and changes that break it. */

export function recordSchema(name: string, fields: Array<{ name: string; type: unknown; default?: unknown }>): string {
  return JSON.stringify({ type: 'record', name, fields });
}

/** v1: id. */
export const V1 = recordSchema('Row', [{ name: 'id', type: 'long' }]);
/** v2: v1 + an optional column with a default (backward and forward compatible). */
export const V2 = recordSchema('Row', [
  { name: 'id', type: 'long' },
  { name: 'note', type: ['null', 'string'], default: null },
]);
/** v1 + a required column without default: new readers cannot read v1 data (not BACKWARD). */
export const REQUIRED_ADDED = recordSchema('Row', [
  { name: 'id', type: 'long' },
  { name: 'amount', type: 'double' },
]);
/** id becomes a string: incompatible both ways. */
export const TYPE_CHANGED = recordSchema('Row', [{ name: 'id', type: 'string' }]);
