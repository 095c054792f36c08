/**
 * TRUNCATE in stream order: every live row of the table older than the
 * truncate (by _version) is written again as deleted with the truncate's
 * version. Rows after it in the stream have higher versions and stay.
 */
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { RefusedRow, Step } from './batch-steps.js';
import { isRefusal, type ClickHouseServer } from './server.js';
import { existingColumns } from './table-catalog.js';
import { truncateSql } from './table-plan.js';

/** Applies a truncate step; returns a dead letter if ClickHouse refuses it. */
export async function applyTruncate(server: ClickHouseServer, step: Extract<Step, { kind: 'truncate' }>, logger: Logger): Promise<RefusedRow | undefined> {
  const columns = await existingColumns(server, step.database, step.table);
  if (columns.size === 0) return undefined; // never written: nothing to truncate
  try {
    await server.command(truncateSql(step.database, step.table, [...columns.keys()], step.version));
    logger.info({ table: step.table, version: step.version }, 'truncate applied');
    return undefined;
  } catch (error) {
    if (!isRefusal(error)) throw error;
    return { run: step.run, record: step.record, error: `ClickHouse refused the truncate of ${step.database}.${step.table}: ${errorMessage(error).split('\n')[0]}` };
  }
}
