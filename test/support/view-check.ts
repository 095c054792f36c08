/**
 * The check most integration tests end with: a ClickHouse query (the view of
 * a table) returns exactly the rows expected, usually PostgreSQL's, once the
 * pipeline has caught up. On timeout it fails with the difference, not only
 * the timeout.
 */
import { expect } from 'vitest';
import { eventually } from './pipeline.js';

interface RowSource {
  rows<T>(sql: string): Promise<T[]>;
}

export async function expectViewToEqual(clickhouse: RowSource, query: string, expected: unknown[], timeoutMs = 60_000): Promise<void> {
  await eventually('the ClickHouse view to equal the PostgreSQL table', async () => {
    const rows = await clickhouse.rows(query);
    return JSON.stringify(rows) === JSON.stringify(expected) ? true : undefined;
  }, timeoutMs).catch(async (error: unknown) => {
    expect(await clickhouse.rows(query)).toEqual(expected);
    throw error;
  });
}
