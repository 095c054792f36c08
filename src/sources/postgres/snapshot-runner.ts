/**
 * The snapshot: reads the planned tables chunk by chunk in one consistent
 * view and writes each chunk as "r" events through the KafkaOutput, each chunk
 * in its own Kafka transaction with the snapshot position, so a crash resumes
 * after the last committed chunk.
 *
 * The "r" events carry source.lsn = the slot's restart LSN - 1 (or a resumed
 * snapshot's own): lower than every change the stream will deliver, so a sink
 * ordering by LSN lets each streamed change win over the snapshot row, even a
 * change of a transaction that was open when the snapshot was taken.
 */
import type { Lsn } from './lsn.js';
import type { Logger } from '../../core/logger.js';
import type { ConnectorState } from '../../core/connector.js';
import { metrics } from '../../metrics/registry.js';
import type { ChangeEventBuilder } from './change-events.js';
import type { KafkaOutput } from './kafka-output.js';
import { positionAt, type IncrementalPosition } from './position.js';
import type { SnapshotPlan } from './snapshot-plan.js';
import { SnapshotProgress } from './snapshot-progress.js';
import { beginSnapshot, describeTable, readTable, snapshotConnection, type SlotWithSnapshot } from './snapshot-reader.js';

/** Snapshot progress is logged at most this often. */
const PROGRESS_LOG_INTERVAL_MS = 5_000;

export interface SnapshotRunnerOptions {
  url: string;
  connector: string;
  plan: SnapshotPlan;
  /** The slot's exported snapshot (a slot created for this snapshot), else null: a fresh view after the slot's position. */
  exported: SlotWithSnapshot | null;
  /** Primary-key columns by "schema.table". */
  keys: ReadonlyMap<string, readonly string[]>;
  /** The slot's restart LSN: the snapshot's events get the one below it. */
  restartLsn: Lsn;
  /** The stored commit LSN, which snapshot chunks keep in the position. */
  storedLsn: Lsn;
  chunkRows: number;
  /** An incremental snapshot under way (stored), carried in every position until the stream takes it over. */
  incremental: IncrementalPosition | null;
  builder: ChangeEventBuilder;
  output: KafkaOutput;
  logger: Logger;
  setState(state: ConnectorState, detail?: string): void;
  /** The source's failure, if any (the snapshot then stops after its chunk). */
  failure(): Error | null;
  onError(error: Error): void;
}

export class SnapshotRunner {
  private done: string[];

  constructor(private readonly options: SnapshotRunnerOptions) {
    this.done = [...options.plan.snapshotted];
  }

  /** Tables whose snapshot is complete: the plan's, plus those read by run(). */
  get snapshotted(): string[] {
    return this.done;
  }

  /** Reads every planned table; false when stopped (signal or failure) before the end. */
  async run(signal: AbortSignal): Promise<boolean> {
    const { plan, exported, keys, logger, connector, output } = this.options;
    const reader = snapshotConnection(this.options.url, `tideline:${connector}:snapshot`);
    reader.on('error', (error) => this.options.onError(error));
    await reader.connect();
    try {
      await beginSnapshot(reader, exported?.snapshotName ?? null);
      // Imported: the exporting replication connection may go now.
      await exported?.connection.end();
      const version = plan.resume ? BigInt(plan.resume.lsn) : this.options.restartLsn - 1n;
      const startedAt = Date.now();
      const progress = new SnapshotProgress(startedAt);
      const tables = [];
      for (const qualified of plan.tables) {
        const table = await describeTable(reader, qualified, keys.get(qualified) ?? []);
        progress.estimate(qualified, table.estimate);
        metrics.snapshotRowsEstimate.set({ connector, table: qualified }, table.estimate ?? -1);
        metrics.snapshotRows.set({ connector, table: qualified }, 0);
        tables.push(table);
      }
      metrics.snapshotRunning.set({ connector }, 1);
      const tx = { xid: null, commitTimeMs: startedAt };
      let pending = [...plan.tables];
      let lastKey = plan.resume?.lastKey ?? null;
      let loggedAt = startedAt;
      for (const table of tables) {
        await this.options.builder.onRelation(table.relation);
        let rowsOfTable = 0;
        if (lastKey) logger.info({ table: table.qualified, after: lastKey }, 'snapshot resuming after the last committed key');
        // Columns the `columns` setting leaves out are not even read.
        for await (const chunk of readTable(reader, table, lastKey, this.options.chunkRows, this.options.builder.columnsOf(table.relation))) {
          for (const row of chunk.rows) {
            await output.write(this.options.builder.buildRead(table.relation, row, Number(version), tx, 'true'));
          }
          rowsOfTable += chunk.rows.length;
          progress.add(chunk.rows.length);
          metrics.snapshotRows.set({ connector, table: table.qualified }, rowsOfTable);
          lastKey = chunk.lastKey;
          await output.commit(positionAt(null, this.options.storedLsn, this.done, { lsn: version.toString(), pending, lastKey }, this.options.incremental));
          const report = progress.report(Date.now());
          metrics.snapshotRowsPerSecond.set({ connector }, report.rowsPerSecond);
          metrics.snapshotEtaSeconds.set({ connector }, report.etaSeconds ?? -1);
          if (Date.now() - loggedAt >= PROGRESS_LOG_INTERVAL_MS) {
            loggedAt = Date.now();
            this.options.setState('running', `reading snapshot: ${report.rowsDone} of ~${report.rowsEstimate ?? '?'} rows`);
            logger.info({ table: table.qualified, rowsDone: report.rowsDone, rowsEstimate: report.rowsEstimate, rowsPerSecond: Math.round(report.rowsPerSecond), etaSeconds: report.etaSeconds === null ? null : Math.round(report.etaSeconds) }, 'snapshot progress');
          }
          if (signal.aborted || this.options.failure()) return false;
        }
        logger.info({ table: table.qualified, rows: rowsOfTable }, 'snapshot of table complete');
        pending = pending.slice(1);
        lastKey = null;
        this.done = [...new Set([...this.done, table.qualified])];
      }
      await output.commit(positionAt(null, this.options.storedLsn, this.done, null, this.options.incremental));
      await reader.query('COMMIT');
      const report = progress.report(Date.now());
      metrics.snapshotEtaSeconds.set({ connector }, 0);
      logger.info({ rows: report.rowsDone, seconds: Math.round(report.elapsedSeconds), rowsPerSecond: Math.round(report.rowsPerSecond) }, 'snapshot complete');
      return true;
    } finally {
      metrics.snapshotRunning.set({ connector }, 0);
      await reader.end().catch(() => undefined);
    }
  }
}
