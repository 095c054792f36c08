/**
 * The ClickHouse writer of the sink runtime: change events into
 * ReplacingMergeTree tables, offsets into `_tideline_sink_offsets`.
 *
 * A batch is decoded into steps (batch-steps.ts; new tables and columns are
 * created on the way, table-catalog.ts), then applied in stream order per
 * table: rows (insert.ts: TOAST placeholders resolved, split on refusal) and
 * truncates (truncate.ts). Rows written twice after a crash collapse under
 * (key, _version), which makes rewriting a batch harmless.
 */
import type { Logger } from '../../core/logger.js';
import { crashAt, failpointEnabled } from '../../core/failpoints.js';
import type { ConsumedRecord, SinkBatch, SinkWriter, StoredOffset, WriteContext, WriteResult } from '../runtime/writer.js';
import { prepareRecord, toSteps, type ClickHouseRun, type PendingRow, type Prepared } from './batch-steps.js';
import { EventDecoder, isKeyChangeDelete } from './event-decoder.js';
import type { Converter } from '../../serde/converter.js';
import type { RowVersions } from '../../core/row-versions.js';
import { RowInserter } from './insert.js';
import { SinkOffsetStore } from './offset-store.js';
import { ClickHouseServer } from './server.js';
import type { ClickHouseSinkConfig } from './spec.js';
import { quoteIdent } from './sql.js';
import { TableCatalog, type CatalogOptions } from './table-catalog.js';
import { applyTruncate } from './truncate.js';

const KEY_CHANGE_FAILPOINT = 'clickhouse-sink.crash-inside-key-change';

export class ClickHouseWriter implements SinkWriter<Prepared> {
  readonly name = 'ClickHouse';
  private readonly server: ClickHouseServer;
  private readonly offsets: SinkOffsetStore;
  private readonly inserter: RowInserter;
  /** Set by open(), once the server version is known. */
  private tables: { catalog: TableCatalog; decoder: EventDecoder } | null = null;

  constructor(
    private readonly config: ClickHouseSinkConfig,
    connector: string,
    private readonly logger: Logger,
    private readonly converter: Converter,
    private readonly rowVersions: RowVersions,
    /** Table creation hooks (`tideline replay`'s shadow tables); the sink passes none. */
    private readonly catalogOptions: CatalogOptions = {},
  ) {
    this.server = new ClickHouseServer(config.url, config.username, config.password);
    this.offsets = new SinkOffsetStore(this.server, config.database, connector);
    this.inserter = new RowInserter(this.server, logger, { connector });
  }

  async open(): Promise<void> {
    const features = await this.server.features();
    await this.server.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(this.config.database)}`);
    await this.offsets.ensureTable();
    const catalog = new TableCatalog(this.server, this.config, features, this.logger, this.catalogOptions);
    this.tables = { catalog, decoder: new EventDecoder(catalog, this.converter, this.rowVersions) };
    this.logger.info({ version: features.version, dateTime64: features.dateTime64, topics: this.config.topics, database: this.config.database }, 'connected to ClickHouse');
  }

  prepare(topic: string, record: ConsumedRecord): Prepared | undefined {
    return this.tables ? prepareRecord(this.tables.decoder, topic, record) : undefined;
  }

  async write(batch: SinkBatch<Prepared>, context: WriteContext): Promise<WriteResult<Prepared>> {
    if (failpointEnabled(KEY_CHANGE_FAILPOINT)) {
      const cut = endAtKeyChangeDelete(batch.runs);
      if (cut) await this.writeAndCrash(cut, batch, context);
    }
    return this.writeRuns(batch.runs, batch.owned, context);
  }

  private async writeRuns(runs: readonly ClickHouseRun[], owned: (run: ClickHouseRun) => boolean, context: WriteContext): Promise<WriteResult<Prepared>> {
    const { catalog, decoder } = this.tables!;
    await this.loadSchemas(runs, context);
    const { steps, deadLetters } = await context.retry('prepare tables in ClickHouse', () => toSteps(runs, decoder, catalog, this.config.database));
    let rows = 0;
    const rowsByTable = new Map<string, number>();
    const latencies = new Map<string, Map<number, number>>();
    for (const step of steps) {
      if (step.kind === 'truncate') {
        if (!owned(step.run)) continue;
        const refused = await context.retry('truncate in ClickHouse', () => applyTruncate(this.server, step, this.logger));
        if (refused) deadLetters.push(refused);
        continue;
      }
      let written: PendingRow[] = [];
      const refused = await context.retry('write rows to ClickHouse', () => {
        written = step.rows.filter((row) => owned(row.run)); // ownership just before the insert
        return this.inserter.write(written);
      });
      const acknowledgedAt = Date.now();
      deadLetters.push(...refused);
      const refusedRecords = new Set(refused.map((letter) => letter.record));
      let tableLatencies = latencies.get(step.table);
      if (!tableLatencies) latencies.set(step.table, (tableLatencies = new Map()));
      let count = 0;
      for (const row of written) {
        if (refusedRecords.has(row.record)) continue;
        count++;
        // Rows of one source transaction share a latency: a few map entries per batch, nothing allocated per row.
        const latencyMs = Math.max(0, acknowledgedAt - row.commitMs);
        tableLatencies.set(latencyMs, (tableLatencies.get(latencyMs) ?? 0) + 1);
      }
      rows += count;
      rowsByTable.set(step.table, (rowsByTable.get(step.table) ?? 0) + count);
    }
    return { deadLetters, rows, rowsByTable, latencies };
  }

  /**
   * Fetches the schemas the batch names by registry id and the converter does
   * not hold (format avro; rare: a new schema version), retried while the
   * registry is unreachable. Nothing to do for json.
   */
  private async loadSchemas(runs: readonly ClickHouseRun[], context: WriteContext): Promise<void> {
    let pending = this.converter.loadSchemas(recordBytes(runs));
    if (!pending) return;
    await context.retry('fetch schemas from the schema registry', async () => {
      const loading = pending ?? this.converter.loadSchemas(recordBytes(runs));
      pending = null;
      await loading;
    });
  }

  /**
   * The failpoint: writes the batch up to the delete half of a key change,
   * stores that offset, and dies before the create half (the next run writes
   * it, with the values from ClickHouse). Dead letters of the cut are not sent.
   */
  private async writeAndCrash(cut: ClickHouseRun, batch: SinkBatch<Prepared>, context: WriteContext): Promise<never> {
    await this.writeRuns([cut], batch.owned, context);
    await context.retry('store offsets in ClickHouse', () => this.saveOffsets([{ topic: cut.topic, partition: cut.partition, offset: cut.lastOffset }]));
    crashAt(KEY_CHANGE_FAILPOINT, this.logger);
  }

  loadOffsets(): Promise<StoredOffset[]> {
    return this.offsets.load();
  }

  saveOffsets(offsets: readonly StoredOffset[]): Promise<void> {
    return this.offsets.save(offsets);
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}

/**
 * Keys, values and header values of the runs' records that were not
 * prepared on arrival: what may name a schema not loaded yet (a prepared
 * record was decoded, so its schemas are loaded).
 */
function* recordBytes(runs: readonly ClickHouseRun[]): Iterable<Buffer | null> {
  for (const run of runs) {
    for (let index = 0; index < run.records.length; index++) {
      if (run.prepared[index] !== undefined) continue;
      const record = run.records[index]!;
      yield record.key;
      yield record.value;
      for (const header of Object.values(record.headers ?? {})) {
        if (Buffer.isBuffer(header)) yield header;
        else if (Array.isArray(header)) for (const item of header) if (Buffer.isBuffer(item)) yield item;
      }
    }
  }
}

/** The first run cut right after the delete of a key change that has more records after it (its tombstone and create). */
function endAtKeyChangeDelete(runs: readonly ClickHouseRun[]): ClickHouseRun | undefined {
  for (const run of runs) {
    const index = run.records.findIndex(isKeyChangeDelete);
    if (index < 0 || index === run.records.length - 1) continue;
    return { ...run, records: run.records.slice(0, index + 1), prepared: run.prepared.slice(0, index + 1), lastOffset: run.records[index]!.offset };
  }
  return undefined;
}
