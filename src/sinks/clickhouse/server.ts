/**
 * The ClickHouse connection of a sink, through @clickhouse/client, plus what
 * the server version allows. Generated SQL must also run on 18.16 (Debian's
 * package): no DateTime64, no query parameters.
 */
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { quoteIdent } from './sql.js';

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

  /**
   * Inserts rows given as RowBinary bytes (in `columns` order and types).
   * @clickhouse/client's insert() takes text and JSON formats only; exec
   * sends the bytes as the request body and the statement in the URL.
   */
  async insertRowBinary(table: string, columns: readonly string[], bytes: Buffer): Promise<void> {
    const result = await this.client.exec({
      query: `INSERT INTO ${table} (${columns.map(quoteIdent).join(', ')}) FORMAT RowBinary`,
      values: Readable.from([bytes], { objectMode: false }),
    });
    // The answer of an insert is empty; reading it to the end frees the connection.
    for await (const _chunk of result.stream) void _chunk;
  }

  /** A query's result as TabSeparated text. */
  async text(sql: string): Promise<string> {
    const result = await this.client.query({ query: sql, format: 'TabSeparated' });
    return result.text();
  }

  async features(): Promise<ServerFeatures> {
    const [row] = await this.rows<{ version: string }>('SELECT version() AS version');
    return parseFeatures(row?.version ?? '0');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The error code when ClickHouse answered with an error (`Code: 27, ...` on
 * 18.16, which @clickhouse/client does not parse into a ClickHouseError, or a
 * ClickHouseError from newer servers); undefined for connection failures.
 */
export function serverErrorCode(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const match = /^(?:Code|Error): (\d+)[.,]/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

/**
 * Codes ClickHouse gives for data it cannot take: a row with such a value is
 * dead-lettered rather than retried (found by splitting the insert).
 */
const DATA_ERROR_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  32, // ATTEMPT_TO_READ_AFTER_EOF
  33, // CANNOT_READ_ALL_DATA
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  130, // CANNOT_READ_ARRAY_FROM_TEXT
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DOESNT_MATCH
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  376, // CANNOT_PARSE_UUID
  407, // DECIMAL_OVERFLOW
  691, // UNKNOWN_ELEMENT_OF_ENUM
]);

export function isDataError(error: unknown): boolean {
  const code = serverErrorCode(error);
  return code !== undefined && DATA_ERROR_CODES.has(code);
}

/**
 * ClickHouse error codes that mean "try again later" rather than "refused":
 * timeouts, network, memory, too many parts or queries, readonly replica.
 */
const TRANSIENT_CODES = new Set([159, 164, 202, 209, 210, 241, 242, 252, 285, 319, 425]);

/** ClickHouse answered and refused (a DDL, a truncate): retrying will not help. Connection failures are not refusals. */
export function isRefusal(error: unknown): boolean {
  const code = serverErrorCode(error);
  return code !== undefined && !TRANSIENT_CODES.has(code);
}
