/**
 * The `source` block of aggregation results (connector `tideline`): which
 * processor and table they come from, and the window's update sequence as
 * `lsn`, the row version (each new result of a window gets the next one, so
 * the newest result wins in a sink).
 *
 * Its Connect schema keeps the name and fields results have had from the
 * start (those of the PostgreSQL source's block), so topics and consumers see
 * no schema change; `connector` tells the two apart.
 */
import { sourceBlockSchema, type SourceBlock } from '../../core/events.js';
import type { SourceBlockSpec } from '../../core/row-versions.js';

export interface ResultSourceBlock extends SourceBlock {
  connector: 'tideline';
  snapshot: 'false';
  /** Always `tideline`. */
  schema: string;
  /** The results' table (the aggregate's `table` setting). */
  table: string;
  txId: null;
  /** The row version: the window's update sequence (1, 2, ...) in its state generation (resultVersion). */
  lsn: number;
  xmin: null;
}

export const RESULT_CONNECTOR = 'tideline';

/** Versions of one generation: a window's update sequence stays below this. */
export const GENERATION_SPAN = 2 ** 32;

/**
 * The row version of a window's `seq`-th result in state generation
 * `generation`. A processor replay rebuilds the state in the next
 * generation, so every result it emits sorts after every result emitted
 * before it (a sink's ReplacingMergeTree keeps the rebuilt one), whatever
 * sequence the rebuilt window starts at. Generation 0 (never replayed) is the
 * sequence itself. Exact in a double while generation < 2^21.
 */
export function resultVersion(generation: number, seq: number): number {
  return generation * GENERATION_SPAN + seq;
}

export const resultSourceBlock: SourceBlockSpec<ResultSourceBlock> = {
  connector: RESULT_CONNECTOR,
  schema: sourceBlockSchema('io.debezium.connector.postgresql.Source', [
    { type: 'string', optional: false, field: 'schema' },
    { type: 'string', optional: false, field: 'table' },
    { type: 'int64', optional: true, field: 'txId' },
    { type: 'int64', optional: true, field: 'lsn' },
    { type: 'int64', optional: true, field: 'xmin' },
  ]),
  rowVersionFields: ['lsn'],
  rowVersion: (source) => (typeof source.lsn === 'number' ? source.lsn : null),
};
