/**
 * The sink's Kafka offsets, kept in ClickHouse next to the data
 * (`_tideline_sink_offsets`). Written after each batch's rows; on start each
 * partition resumes at the stored offset + 1. max(offset) per partition is the
 * position (ReplacingMergeTree(offset) keeps the max too), so a late write by
 * an instance that lost the partition never moves it back, and the table needs
 * no FINAL to be read.
 */
import { ClickHouseServer, serverErrorCode } from './server.js';
import type { ClickHouseSinkConfig } from './spec.js';
import type { StoredOffset as AdminOffset } from '../../core/connector.js';
import { qualified, quoteString } from './sql.js';
import { escapeTsv, formatMicros } from './type-mapping.js';
import type { StoredOffset } from '../runtime/writer.js';

export const SINK_OFFSETS_TABLE = '_tideline_sink_offsets';

export class SinkOffsetStore {
  private readonly table: string;

  constructor(private readonly server: ClickHouseServer, database: string, private readonly connector: string) {
    this.table = qualified(database, SINK_OFFSETS_TABLE);
  }

  async ensureTable(): Promise<void> {
    await this.server.command(
      `CREATE TABLE IF NOT EXISTS ${this.table} (connector String, topic String, partition UInt32, offset Int64, updated_at DateTime) ` +
        'ENGINE = ReplacingMergeTree(offset) ORDER BY (connector, topic, partition)',
    );
  }

  /** The last offset written per partition. */
  async load(): Promise<StoredOffset[]> {
    const rows = await this.server.rows<{ topic: string; partition: number; offset: string }>(
      `SELECT topic, partition, toString(max(offset)) AS offset FROM ${this.table} WHERE connector = ${quoteString(this.connector)} GROUP BY topic, partition`,
    );
    return rows.map((row) => ({ topic: row.topic, partition: Number(row.partition), offset: row.offset }));
  }

  async save(offsets: readonly StoredOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    const now = formatMicros(Date.now() * 1000, false);
    const lines = offsets
      .map((o) => [escapeTsv(this.connector), escapeTsv(o.topic), o.partition, o.offset, now].join('\t'))
      .join('\n');
    await this.server.insertTabSeparated(this.table, ['connector', 'topic', 'partition', 'offset', 'updated_at'], `${lines}\n`);
  }
}


/** ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE: the sink never stored offsets. */
const NOTHING_STORED = new Set([60, 81]);

/**
 * The offsets a sink stored, as the admin API shows them: per partition the
 * next offset to read (the stored last offset + 1, where the sink resumes).
 */
export async function readSinkOffsets(config: ClickHouseSinkConfig, connector: string): Promise<AdminOffset[]> {
  const server = new ClickHouseServer(config.url, config.username, config.password);
  try {
    const stored = await new SinkOffsetStore(server, config.database, connector).load();
    return stored.map((o) => ({ type: 'kafka', topic: o.topic, partition: o.partition, offset: (BigInt(o.offset) + 1n).toString() }));
  } catch (error) {
    if (NOTHING_STORED.has(serverErrorCode(error) ?? 0)) return [];
    throw error;
  } finally {
    await server.close();
  }
}
