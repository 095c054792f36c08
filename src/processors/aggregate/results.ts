/**
 * Aggregation results as Debezium-shaped upserts, so the ClickHouse sink (or
 * any Debezium consumer) writes them like a table: key = the group columns and
 * window_start; after = those, window_end and the aggregates; op `c` for a
 * window's first result and `u` after; source.lsn = the window's update
 * sequence, which the sink uses as the row version (the newest result wins in
 * its ReplacingMergeTree). Window bounds are io.debezium.time.MicroTimestamp.
 * In mode table a group whose rows were all retracted from a window is
 * deleted: op `d` with the row (aggregates as of the delete) as `before`,
 * followed by a tombstone, as Debezium does; if rows come back, op `c` again.
 */
import { SemanticType, type ConnectSchema } from '../../core/connect-schema.js';
import { envelopeSchema, keySchema, SOURCE_VERSION, type ChangeEvent, type ColumnSchema, type Row } from '../../core/events.js';
import type { Converter, SchemaEncoder } from '../../serde/index.js';
import { RESULT_CONNECTOR, resultSourceBlock, resultVersion, type ResultSourceBlock } from './result-source.js';
import type { AggregateFunction, Aggregator } from './aggregators.js';
import type { GroupColumn } from './extract.js';
import type { WindowEntry } from './state-store.js';

export interface ResultColumn {
  name: string;
  fn: AggregateFunction;
  type: 'int64' | 'double';
  aggregator: Aggregator;
}

const microTimestamp: ConnectSchema = { type: 'int64', optional: false, name: SemanticType.MicroTimestamp, version: 1 };

export function resultColumns(group: readonly GroupColumn[], aggregates: readonly ResultColumn[]): ColumnSchema[] {
  return [
    ...group.map((column) => ({ name: column.name, schema: { type: column.type, optional: false } as ConnectSchema, key: true })),
    { name: 'window_start', schema: microTimestamp, key: true },
    { name: 'window_end', schema: microTimestamp, key: false },
    ...aggregates.map((column) => ({
      name: column.name,
      // count and countDistinct always have a value; the others are null until a non-null input.
      schema: { type: column.type, optional: column.fn !== 'count' && column.fn !== 'countDistinct' } as ConnectSchema,
      key: false,
    })),
  ];
}

export class ResultEncoder {
  /**
   * Makes the encoders of the result schemas (a registry format registers them
   * under `<topic>-key` and `<topic>-value`; a refusal rejects: the result
   * schema follows the config, so only a config change can make it incompatible).
   */
  static async create(
    converter: Converter,
    topic: string,
    group: readonly GroupColumn[],
    aggregates: readonly ResultColumn[],
    sizeMs: number,
    names: { processor: string; table: string },
  ): Promise<ResultEncoder> {
    const columns = resultColumns(group, aggregates);
    const keyEncoder = await converter.encoder(topic, 'key', keySchema(topic, columns));
    const valueEncoder = await converter.encoder(topic, 'value', envelopeSchema(topic, columns, resultSourceBlock.schema));
    return new ResultEncoder(keyEncoder, valueEncoder, group, aggregates, sizeMs, names);
  }

  private constructor(
    private readonly keyEncoder: SchemaEncoder,
    private readonly valueEncoder: SchemaEncoder,
    private readonly group: readonly GroupColumn[],
    private readonly aggregates: readonly ResultColumn[],
    private readonly sizeMs: number,
    private readonly names: { processor: string; table: string },
  ) {}

  /**
   * The result of a window as op `op` (default: `c` for its first version, `u`
   * after), versioned in state generation `generation` (resultVersion).
   */
  encode(entry: WindowEntry, now: number, op: 'c' | 'u' | 'd' = entry.seq === 1 ? 'c' : 'u', generation = 0): { key: Buffer; value: Buffer } {
    const key: Row = {};
    this.group.forEach((column, index) => (key[column.name] = entry.group[index]));
    key.window_start = entry.start * 1000;
    const after: Row = { ...key, window_end: (entry.start + this.sizeMs) * 1000 };
    this.aggregates.forEach((column, index) => {
      const value = column.aggregator.result(entry.accumulators[index]!);
      after[column.name] = value !== null && column.type === 'int64' ? Math.round(value) : value;
    });
    return { key: this.keyEncoder.encode(key), value: this.encodeEvent(op, after, resultVersion(generation, entry.seq), entry.maxTs, now) };
  }

  /**
   * The delete (op `d`) of a result row emitted earlier, from that row (its
   * `after`) and its `source.ts_ms`, with version `version`: a processor
   * replay deletes so the results its recomputation no longer has.
   */
  encodeDelete(row: Row, version: number, tsMs: number, now: number): Buffer {
    return this.encodeEvent('d', row, version, tsMs, now);
  }

  private encodeEvent(op: 'c' | 'u' | 'd', after: Row, version: number, tsMs: number, now: number): Buffer {
    const event: ChangeEvent<ResultSourceBlock> = {
      before: op === 'd' ? after : null,
      after: op === 'd' ? null : after,
      source: {
        version: SOURCE_VERSION,
        connector: RESULT_CONNECTOR,
        name: this.names.processor,
        ts_ms: tsMs,
        snapshot: 'false',
        db: '',
        schema: 'tideline',
        table: this.names.table,
        txId: null,
        lsn: version,
        xmin: null,
      },
      op,
      ts_ms: now,
    };
    return this.valueEncoder.encode(event);
  }
}
