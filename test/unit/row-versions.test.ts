/**
 * The row-version lookup: each kind's source block names its row version,
 * the registry collects them by `source.connector`, and the sink's decoder
 * turns a missing one into a dead letter naming the connector.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeEvent, SourceBlock } from '../../src/core/events.js';
import { RowVersionError, RowVersions, type SourceBlockSpec } from '../../src/core/row-versions.js';
import { resultSourceBlock } from '../../src/processors/aggregate/result-source.js';
import { rowVersions } from '../../src/runtime/registry.js';
import { createConverter } from '../../src/serde/index.js';
import { EventDecoder } from '../../src/sinks/clickhouse/event-decoder.js';
import { UnwritableEventError } from '../../src/sinks/clickhouse/rows.js';
import type { TableCatalog } from '../../src/sinks/clickhouse/table-catalog.js';
import { postgresSourceBlock } from '../../src/sources/postgres/source-block.js';

const common = { version: '0.1.0', name: 'shop', ts_ms: 1_700_000_000_000, snapshot: 'false' as const, db: 'app' };
const postgres = (lsn: unknown) => ({ ...common, connector: 'postgresql', schema: 'public', table: 'orders', txId: 7, lsn, xmin: null }) as SourceBlock;
const mysql = { ...common, connector: 'mysql', table: 'orders', file: 'binlog.000003', pos: 4_711, row: 0 } as SourceBlock;

describe('RowVersions', () => {
  const versions = new RowVersions([postgresSourceBlock, resultSourceBlock]);

  it('takes the LSN of a PostgreSQL block and the update sequence of an aggregation result', () => {
    expect(versions.of(postgres(24_000_000_123))).toBe(24_000_000_123);
    expect(versions.of({ ...common, connector: 'tideline', schema: 'tideline', table: 'per_minute', txId: null, lsn: 3, xmin: null } as SourceBlock)).toBe(3);
  });

  it('refuses a block without its version, naming the field', () => {
    expect(() => versions.of(postgres(null))).toThrow(new RowVersionError('event without source.lsn (needed as the row version)'));
    expect(() => versions.of(postgres(undefined))).toThrow('event without source.lsn (needed as the row version)');
    expect(() => versions.of(postgres('123'))).toThrow(RowVersionError);
  });

  it('refuses a version that is no non-negative integer', () => {
    expect(() => versions.of(postgres(-1))).toThrow('source.lsn -1 is not a row version (a non-negative integer)');
    expect(() => versions.of(postgres(1.5))).toThrow(RowVersionError);
  });

  it('refuses the block of a connector no kind declares, naming it', () => {
    expect(() => versions.of(mysql)).toThrow('no row version known for events of connector "mysql" (source.connector); known: "postgresql", "tideline"');
    expect(() => versions.of({ ...common } as unknown as SourceBlock)).toThrow('connector null');
  });

  it('lets another kind add its connector without touching the others', () => {
    const binlog: SourceBlockSpec<SourceBlock & { file: string; pos: number; row: number }> = {
      connector: 'mysql',
      schema: postgresSourceBlock.schema,
      rowVersionFields: ['file', 'pos'],
      rowVersion: (source) => Number(source.file.slice(source.file.lastIndexOf('.') + 1)) * 2 ** 32 + source.pos,
    };
    const both = new RowVersions([postgresSourceBlock, binlog]);
    expect(both.of(mysql)).toBe(3 * 2 ** 32 + 4_711);
    // What a sink that projects the source block reads of it.
    expect(both.sourceFields).toEqual(['connector', 'lsn', 'file', 'pos']);
    const noVersion = new RowVersions([{ ...binlog, rowVersion: () => null }]);
    expect(() => noVersion.of(mysql)).toThrow('event without source.file, source.pos (needed as the row version)');
  });

  it('refuses two specs for one connector', () => {
    expect(() => new RowVersions([postgresSourceBlock, { ...postgresSourceBlock }])).toThrow('two source block specs for connector "postgresql"');
  });

  it('is collected by the registry from the kinds that declare source blocks', () => {
    expect(rowVersions.connectors.sort()).toEqual(['postgresql', 'tideline']);
  });
});

describe('the sink decoder', () => {
  const decoder = new EventDecoder({} as TableCatalog, createConverter('json'), rowVersions);
  const event = (source: SourceBlock): ChangeEvent => ({ before: null, after: { id: 1 }, source, op: 'c', ts_ms: 1 });

  it('gives the row version of a known connector', () => {
    expect(decoder.rowVersion(event(postgres(42)))).toBe(42);
  });

  it('makes an unknown connector an unwritable event (a dead letter) naming it', () => {
    expect(() => decoder.rowVersion(event(mysql))).toThrow(UnwritableEventError);
    expect(() => decoder.rowVersion(event(mysql))).toThrow('connector "mysql"');
    expect(() => decoder.rowVersion(event(postgres(null)))).toThrow(new UnwritableEventError('event without source.lsn (needed as the row version)'));
  });
});
