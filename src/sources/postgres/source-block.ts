/**
 * The `source` block of the PostgreSQL source's events, as Debezium's
 * PostgreSQL connector writes it, and its row version: the LSN of the change
 * (for snapshot reads, one LSN below everything the stream delivers after; for
 * incremental snapshot reads, the commit LSN of the chunk's low watermark).
 */
import { sourceBlockSchema, type SourceBlock } from '../../core/events.js';
import type { SourceBlockSpec } from '../../core/row-versions.js';

export interface PostgresSourceBlock extends SourceBlock {
  connector: 'postgresql';
  snapshot: 'true' | 'false' | 'last' | 'first' | 'incremental';
  schema: string;
  table: string;
  txId: number | null;
  /** LSN of this change: the row version. */
  lsn: number | null;
  xmin: null;
}

export const POSTGRES_CONNECTOR = 'postgresql';

export const postgresSourceBlock: SourceBlockSpec<PostgresSourceBlock> = {
  connector: POSTGRES_CONNECTOR,
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
