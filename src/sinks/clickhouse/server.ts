/**
 * The ClickHouse connection of a sink, through @clickhouse/client, plus what
 * the server version allows. Generated SQL must also run on 18.16 (Debian's
 * package): no DateTime64, no query parameters.
 */
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';

export interface ServerFeatures {
  version: string;
  /** DateTime64 exists from 20.1. */
  dateTime64: boolean;
}

export function parseFeatures(version: string): ServerFeatures {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return { version, dateTime64: major > 20 || (major === 20 && minor >= 1) };
}

export class ClickHouseServer {
  readonly client: ClickHouseClient;

  constructor(url: string, username: string, password: string | undefined) {
    this.client = createClient({
      url,
      username,
      password: password ?? '',
      request_timeout: 60_000,
      compression: { request: false, response: false },
      clickhouse_settings: {},
      // Failures reach the caller as exceptions and are logged there, once,
      // through the daemon's logger; the client's own console logging is off.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async command(sql: string): Promise<void> {
    await this.client.command({ query: sql });
  }

  async rows<T>(sql: string): Promise<T[]> {
    const result = await this.client.query({ query: sql, format: 'JSONEachRow' });
    return result.json<T>();
  }

  /** Inserts rows given as TabSeparated text (one line per row, in `columns` order). */
  async insertTabSeparated(table: string, columns: readonly string[], tsv: string): Promise<void> {
    await this.client.insert({
      table,
      columns: columns as [string, ...string[]],
      format: 'TabSeparated',
      values: Readable.from([Buffer.from(tsv)], { objectMode: false }),
    });
  }

  async features(): Promise<ServerFeatures> {
    const [row] = await this.rows<{ version: string }>('SELECT version() AS version');
    return parseFeatures(row?.version ?? '0');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
