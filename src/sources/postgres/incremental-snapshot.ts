/**
 * Incremental snapshots on signal, while the stream goes on (Debezium's
 * AbstractIncrementalSnapshotChangeEventSource with the DBLog watermarks).
 *
 * Everything that changes the snapshot's durable state happens in stream
 * order, inside the replication stream's handling of the signal table:
 *  - a signal row (execute-, stop-, pause-, resume-snapshot) changes the
 *    state in the transaction that inserted it;
 *  - a chunk is closed by its high watermark row, whose transaction then holds
 *    the chunk's "r" events and the state with the chunk's last key.
 * The stream commits that state with the events in one Kafka transaction
 * (IncrementalPosition in the stored position), and a restart skips the
 * transactions at or below the stored LSN, so each signal acts once and a
 * crash resumes at the chunk after the last committed one. Watermarks of a
 * chunk the process did not read (an earlier run's) are ignored.
 *
 * A chunk, read on its own connection beside the stream:
 *   1. INSERT the low watermark `<chunk>-open` into the signal table;
 *   2. read the next rows after the last key (chunk-reader.ts), cut before a
 *      row an in-progress transaction changed (snapshot-window.ts);
 *   3. INSERT the high watermark `<chunk>-close`.
 * Between the two watermarks in the stream, every key a change touches is
 * dropped from the chunk; the rest are emitted at the high watermark with the
 * low watermark's commit LSN as their row version.
 */
import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Pgoutput } from 'pg-logical-replication';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { metrics } from '../../metrics/registry.js';
import type { BuiltEvents, ChangeEventBuilder, ReadEncoding, RowMessage } from './change-events.js';
import { ChunkQueryError, estimateRows, readChunk, readMaxKey } from './chunk-reader.js';
import type { IncrementalPosition } from './position.js';
import { parseSignal, SignalError, USER_SIGNAL_TYPES, type Signal } from './signals.js';
import { insertSignal } from './signal-table.js';
import { snapshotConnection } from './snapshot-reader.js';
import { keyText, SnapshotWindow } from './snapshot-window.js';
import { qualifiedIdent } from './sql.js';

/**
 * Chunks in flight: the next chunk is read while the stream emits the one
 * before. Their windows never overlap in the stream: a chunk's low watermark
 * is inserted after the previous chunk's high watermark committed.
 */
const CHUNKS_IN_FLIGHT = 2;
/** Progress is logged at most this often. */
const PROGRESS_LOG_INTERVAL_MS = 5_000;
/** Wait before reading a chunk again whose first row an in-progress transaction holds (doubling up to the maximum). */
const BLOCKED_RETRY_MS = 100;
const BLOCKED_RETRY_MAX_MS = 2_000;
/** A chunk held this long by one transaction is worth a warning. */
const BLOCKED_WARNING_MS = 10_000;

/** The transaction a stream message belongs to. */
export interface StreamTransaction {
  xid: number;
  commitLsn: bigint;
  commitTimeMs: number;
}

/** What the transaction stream asks of the incremental snapshot. */
export interface StreamHooks {
  isSignalTable(relation: Pgoutput.MessageRelation): boolean;
  /** A change of the signal table; returns the events to write in its transaction (a closed chunk's), if any. */
  onSignalRow(message: RowMessage, tx: StreamTransaction): Promise<BuiltEvents | null>;
  /** A change of a captured table, before its events are built. */
  onChange(message: RowMessage): void;
  onTruncate(relation: Pgoutput.MessageRelation): void;
  /** The durable state, stored with every commit. */
  position(): IncrementalPosition | null;
}

/** What `/connectors` shows of a running incremental snapshot. */
export interface IncrementalSnapshotStatus {
  state: 'running' | 'paused';
  table: string;
  tables: string[];
  rowsDone: number;
  rowsEstimate: number | null;
  rowsPerSecond: number;
  etaSeconds: number | null;
}

export interface IncrementalSnapshotOptions {
  url: string;
  connector: string;
  /** "schema.table" */
  signalTable: string;
  chunkSize: number;
  /** The captured tables ("schema.table"). */
  tables: readonly string[];
  /** Primary-key columns by "schema.table". */
  keys: ReadonlyMap<string, readonly string[]>;
  builder: ChangeEventBuilder;
  logger: Logger;
  /** The stored state (a snapshot under way when the last run stopped), or null. */
  stored: IncrementalPosition | null;
  /** A failure that needs a restart (connection lost); the source fails with it. */
  onError(error: Error): void;
  /** Tables an execute-snapshot queued, called in stream order (in the transaction of its signal row). */
  onQueued?(tables: string[]): void;
}

/** What a chunk read found, kept with its window until the high watermark. */
interface ChunkResult {
  encoding: ReadEncoding | null;
  lastKey: string[] | null;
  maxKey: string[] | null;
  exhausted: boolean;
}

/** A chunk in flight: its window, and once read (high watermark inserted) what the read found. */
interface InFlight {
  window: SnapshotWindow;
  result: ChunkResult | null;
}

/** A signal row id for a Kafka signal: the same record always gives the same id (≤ 42 characters). */
export function kafkaSignalId(topic: string, partition: number, offset: string): string {
  return `kafka-${createHash('sha1').update(topic).digest('hex').slice(0, 8)}-${partition}-${offset}`;
}

export class IncrementalSnapshotter implements StreamHooks {
  private state: IncrementalPosition | null;
  /** Chunks in flight, oldest first (the one whose high watermark comes next). */
  private inFlight: InFlight[] = [];
  /** Chunk ids are unique per run: an earlier run's watermarks never match. */
  private readonly runId = randomUUID().slice(0, 8);
  private sequence = 0;
  private client: Promise<pg.Client> | null = null;
  private signalClient: Promise<pg.Client> | null = null;
  private chunks: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly estimates = new Map<string, number | null>();
  /** Rows emitted by this run, and since when: the rate. */
  private rowsThisRun = 0;
  private runStartedAt: number | null = null;
  private loggedAt = 0;

  constructor(private readonly options: IncrementalSnapshotOptions) {
    this.state = options.stored ? structuredClone(options.stored) : null;
    this.updateMetrics();
  }

  /** Starts reading (a stored snapshot resumes); call once the stream runs. */
  start(): void {
    if (this.state) {
      const { tables, rowsDone, lastKey, paused } = this.state;
      this.options.logger.info({ tables: tables.map((entry) => entry.table), rowsDone, after: lastKey, paused }, 'incremental snapshot resuming after the last committed chunk');
    }
    this.requestChunk();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.inFlight = [];
    await this.chunks.catch(() => undefined);
    for (const client of [this.client, this.signalClient]) await client?.then((connected) => connected.end()).catch(() => undefined);
    this.client = null;
    this.signalClient = null;
  }

  isSignalTable(relation: Pgoutput.MessageRelation): boolean {
    return `${relation.schema}.${relation.name}` === this.options.signalTable;
  }

  position(): IncrementalPosition | null {
    return this.state ? structuredClone(this.state) : null;
  }

  status(): IncrementalSnapshotStatus | null {
    const state = this.state;
    const current = state?.tables[0];
    if (!state || !current) return null;
    const { rowsEstimate, rowsPerSecond, etaSeconds } = this.progress(state);
    return {
      state: state.paused ? 'paused' : 'running',
      table: current.table,
      tables: state.tables.map((entry) => entry.table),
      rowsDone: state.rowsDone,
      rowsEstimate,
      rowsPerSecond: Math.round(rowsPerSecond),
      etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds),
    };
  }

  /**
   * Inserts a user signal into the signal table (admin API, Kafka signal
   * topic); it acts when the stream delivers it. Checked first: a bad signal
   * throws SignalError and is not inserted. Returns false when a row with
   * this id was there already.
   */
  async send(id: string, type: string, data: unknown): Promise<boolean> {
    if (!USER_SIGNAL_TYPES.includes(type as Signal['type'])) throw new SignalError(`signal "${id}": type ${JSON.stringify(type)} cannot be sent (known: ${USER_SIGNAL_TYPES.join(', ')})`);
    const signal = parseSignal(id, type, data, `signal "${id}"`);
    if (signal.type === 'execute-snapshot') for (const { table } of signal.tables) this.refusal(table, true);
    const text = data === null || data === undefined ? null : typeof data === 'string' ? data : JSON.stringify(data);
    // Its own connection: the chunk reader's is inside a read-only transaction at times.
    this.signalClient ??= this.connect('signals').catch((error: unknown) => {
      this.signalClient = null;
      throw error;
    });
    return insertSignal(await this.signalClient, this.options.signalTable, id, type, text);
  }

  async onSignalRow(message: RowMessage, tx: StreamTransaction): Promise<BuiltEvents | null> {
    // Signals are inserted; updates and deletes of the table (clean-ups) mean nothing.
    if (message.tag !== 'insert') return null;
    const row = message.new as Record<string, unknown>;
    const id = typeof row.id === 'string' ? row.id : String(row.id);
    const type = typeof row.type === 'string' ? row.type : '';
    let signal: Signal;
    try {
      signal = parseSignal(id, type, row.data ?? null, `signal table ${this.options.signalTable} row "${id}"`);
    } catch (error) {
      if (!(error instanceof SignalError)) throw error;
      metrics.signals.inc({ connector: this.options.connector, type: 'invalid' });
      this.options.logger.error({ signal: id, type }, `signal ignored: ${error.message}`);
      return null;
    }
    if (signal.type !== 'snapshot-window-open' && signal.type !== 'snapshot-window-close') metrics.signals.inc({ connector: this.options.connector, type: signal.type });
    switch (signal.type) {
      case 'snapshot-window-open':
        this.inFlight.find((chunk) => chunk.window.openId === signal.id)?.window.open(tx.commitLsn);
        return null;
      case 'snapshot-window-close':
        // Windows close in the order they opened; another id is an earlier run's.
        return this.inFlight[0]?.window.closeId === signal.id ? this.closeWindow(tx) : null;
      case 'execute-snapshot':
        this.execute(signal.id, signal.tables, tx);
        return null;
      case 'stop-snapshot':
        this.stopSnapshot(signal.id, signal.tables);
        return null;
      case 'pause-snapshot':
      case 'resume-snapshot':
        if (!this.state) {
          this.options.logger.warn({ signal: signal.id }, `${signal.type} ignored: no incremental snapshot is running`);
          return null;
        }
        this.state.paused = signal.type === 'pause-snapshot';
        this.options.logger.info({ signal: signal.id, table: this.state.tables[0]?.table, rowsDone: this.state.rowsDone }, signal.type === 'pause-snapshot' ? 'incremental snapshot paused' : 'incremental snapshot resumed');
        this.updateMetrics();
        this.requestChunk();
        return null;
    }
  }

  onChange(message: RowMessage): void {
    const window = this.openWindow();
    if (!window) return;
    const relation = message.relation;
    if (`${relation.schema}.${relation.name}` !== window.table) return;
    const key = this.options.keys.get(window.table) ?? [];
    switch (message.tag) {
      case 'insert':
        window.touch(keyText(key, message.new));
        break;
      case 'update':
        window.touch(keyText(key, message.new));
        if (message.key) window.touch(keyText(key, message.key));
        if (message.old) window.touch(keyText(key, message.old));
        break;
      case 'delete':
        window.touch(keyText(key, message.old ?? message.key));
        break;
    }
  }

  onTruncate(relation: Pgoutput.MessageRelation): void {
    const window = this.openWindow();
    if (window && `${relation.schema}.${relation.name}` === window.table) window.truncate();
  }

  /** The window between its watermarks in the stream now (at most one: windows follow each other). */
  private openWindow(): SnapshotWindow | null {
    for (const chunk of this.inFlight) if (chunk.window.isOpen) return chunk.window;
    return null;
  }

  /** Why a table cannot be snapshotted incrementally, or null; `raise` throws it as a SignalError instead. */
  private refusal(table: string, raise = false): string | null {
    let why: string | null = null;
    if (!this.options.tables.includes(table)) why = `${table} is not a captured table (tables: ${this.options.tables.join(', ')})`;
    else if (!this.options.keys.has(table)) why = `${table} has no primary key: incremental snapshots read in primary-key chunks (add a primary key)`;
    if (why && raise) throw new SignalError(`execute-snapshot: ${why}`);
    return why;
  }

  private execute(id: string, requested: readonly { table: string; filter: string | null }[], tx: StreamTransaction): void {
    const accepted = requested.filter(({ table }) => {
      const why = this.refusal(table);
      if (why) this.options.logger.error({ signal: id, table }, `execute-snapshot: table skipped: ${why}`);
      return why === null;
    });
    if (accepted.length === 0) return;
    this.state ??= { tables: [], lastKey: null, maxKey: null, paused: false, rowsDone: 0, tableRowsDone: 0, startedAt: tx.commitTimeMs };
    const queued = new Set(this.state.tables.map((entry) => entry.table));
    const added = accepted.filter(({ table }) => !queued.has(table));
    for (const { table } of accepted) if (queued.has(table)) this.options.logger.warn({ signal: id, table }, 'execute-snapshot: table already in the running incremental snapshot');
    this.state.tables.push(...added.map(({ table, filter }) => ({ table, filter })));
    if (added.length > 0) this.options.onQueued?.(added.map(({ table }) => table));
    if (added.length > 0) {
      this.options.logger.info({ signal: id, tables: added.map(({ table }) => table), filters: added.filter(({ filter }) => filter).map(({ table, filter }) => `${table}: ${filter}`), chunkSize: this.options.chunkSize }, 'incremental snapshot requested');
    }
    this.updateMetrics();
    this.requestChunk();
  }

  private stopSnapshot(id: string, tables: string[] | null): void {
    const state = this.state;
    if (!state) {
      this.options.logger.warn({ signal: id }, 'stop-snapshot ignored: no incremental snapshot is running');
      return;
    }
    const current = state.tables[0]?.table;
    const stopped = tables === null ? state.tables.map((entry) => entry.table) : state.tables.filter((entry) => tables.includes(entry.table)).map((entry) => entry.table);
    state.tables = state.tables.filter((entry) => !stopped.includes(entry.table));
    if (current !== undefined && stopped.includes(current)) {
      // The chunks in flight are abandoned: their watermarks will match nothing.
      this.inFlight = [];
      state.lastKey = null;
      state.maxKey = null;
      state.tableRowsDone = 0;
    }
    this.options.logger.info({ signal: id, stopped, rowsDone: state.rowsDone, remaining: state.tables.map((entry) => entry.table) }, 'incremental snapshot stopped');
    if (state.tables.length === 0) this.state = null;
    this.updateMetrics();
    this.requestChunk();
  }

  /** The high watermark of the chunk in flight: its remaining rows as events, and the state after it. */
  private async closeWindow(tx: StreamTransaction): Promise<BuiltEvents | null> {
    const { window, result } = this.inFlight.shift()!;
    const state = this.state!;
    const closed = window.close();
    const { connector, logger } = this.options;
    metrics.incrementalSnapshotChunks.inc({ connector });
    metrics.incrementalSnapshotRowsDropped.inc({ connector }, closed.dropped);
    const built: BuiltEvents = { records: [], events: [] };
    if (closed.retry || !result) {
      logger.debug({ chunk: window.id, table: window.table }, 'incremental snapshot chunk read again: a change inside its window had no readable key');
      // The next chunk in flight starts after this one's rows, which were not emitted: read both again.
      this.inFlight = [];
    } else {
      const version = Number(window.lowLsn!);
      const context = { xid: null, commitTimeMs: tx.commitTimeMs };
      for (const row of closed.rows) {
        const events = this.options.builder.buildIncrementalRead(result.encoding!, row.tuple, version, context);
        built.records.push(...events.records);
        built.events.push(...events.events);
        if (events.deadLettered) (built.deadLettered ??= []).push(...events.deadLettered);
      }
      state.rowsDone += closed.rows.length;
      state.tableRowsDone += closed.rows.length;
      this.rowsThisRun += closed.rows.length;
      state.maxKey = result.maxKey;
      if (result.exhausted) {
        logger.info({ table: window.table, rows: state.tableRowsDone }, 'incremental snapshot of table complete');
        state.tables.shift();
        state.lastKey = null;
        state.maxKey = null;
        state.tableRowsDone = 0;
      } else {
        state.lastKey = result.lastKey;
      }
      if (state.tables.length === 0) {
        const seconds = (Date.now() - state.startedAt) / 1000;
        logger.info({ rows: state.rowsDone, seconds: Math.round(seconds) }, 'incremental snapshot complete');
        this.state = null;
      } else {
        this.logProgress(state);
      }
    }
    this.updateMetrics();
    this.requestChunk();
    return built.records.length > 0 ? built : null;
  }

  /**
   * Starts reading the next chunk, after the last one in flight once that one
   * is read (not past the end of a table), unless CHUNKS_IN_FLIGHT are, the
   * snapshot is paused, or there is none.
   */
  private requestChunk(): void {
    const state = this.state;
    const current = state?.tables[0];
    if (this.stopped || !state || !current || state.paused || this.inFlight.length >= CHUNKS_IN_FLIGHT) return;
    const previous = this.inFlight.at(-1);
    if (previous && (!previous.result || previous.result.exhausted)) return;
    const after = previous ? previous.result!.lastKey : state.lastKey;
    const maxKey = previous ? previous.result!.maxKey : state.maxKey;
    const chunk: InFlight = { window: new SnapshotWindow(`${this.runId}-${++this.sequence}`, current.table), result: null };
    this.inFlight.push(chunk);
    this.runStartedAt ??= Date.now();
    // Chained: the chunks share one connection, one after the other.
    this.chunks = this.chunks
      .then(() => this.readChunk(chunk, state, current, after, maxKey))
      .catch((error: unknown) => this.chunkFailed(chunk.window, error));
  }

  private async readChunk(chunk: InFlight, state: IncrementalPosition, current: { table: string; filter: string | null }, after: string[] | null, knownMax: string[] | null): Promise<void> {
    const { window } = chunk;
    const live = (): boolean => !this.stopped && this.inFlight.includes(chunk);
    if (!live()) return;
    const { signalTable, chunkSize, logger } = this.options;
    const client = await this.connection();
    const primaryKey = this.options.keys.get(current.table) ?? [];
    if (!this.estimates.has(current.table)) await this.estimate(client, state);
    const maxKey = knownMax ?? (await readMaxKey(client, current.table, primaryKey, current.filter));
    if (!live()) return;
    await insertSignal(client, signalTable, window.openId, 'snapshot-window-open', JSON.stringify({ openWindowTimestamp: new Date().toISOString() }));
    let result: ChunkResult = { encoding: null, lastKey: null, maxKey, exhausted: true };
    const blockedSince = Date.now();
    let warned = false;
    let wait = BLOCKED_RETRY_MS;
    while (maxKey) {
      const read = await readChunk(client, { table: current.table, primaryKey, filter: current.filter, after, max: maxKey, limit: chunkSize });
      if (!live()) return;
      if (read.blockedBy === null) {
        window.fill(read.rows);
        result = { encoding: await this.options.builder.readEncoding(read.table.relation), lastKey: read.lastKey, maxKey, exhausted: read.exhausted };
        break;
      }
      // The next row was changed by a transaction still in progress: read again once it ended.
      if (!warned && Date.now() - blockedSince >= BLOCKED_WARNING_MS) {
        warned = true;
        logger.warn({ table: current.table, after, xid: read.blockedBy }, 'incremental snapshot waiting: the next row is held by a long transaction (changed or locked); the chunk is read once it ends');
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, BLOCKED_RETRY_MAX_MS);
      if (!live()) return;
    }
    if (!maxKey) window.fill([]);
    // Before the high watermark is written: the stream may deliver it before this insert returns.
    chunk.result = result;
    await insertSignal(client, signalTable, window.closeId, 'snapshot-window-close', JSON.stringify({ closeWindowTimestamp: new Date().toISOString() }));
    // The next chunk's read is chained after this one, so its low watermark follows this high watermark.
    if (live()) this.requestChunk();
  }

  /** A bad additional condition (or a table that lost its key) drops the table from the snapshot; anything else fails the source. */
  private chunkFailed(window: SnapshotWindow, error: unknown): void {
    if (this.stopped) return;
    if (!(error instanceof ChunkQueryError)) {
      this.options.onError(error instanceof Error ? error : new Error(errorMessage(error)));
      return;
    }
    metrics.errors.inc({ connector: this.options.connector, kind: 'incremental_snapshot_query' });
    const state = this.state;
    const current = state?.tables[0];
    this.options.logger.error({ table: window.table, filter: current?.filter ?? null }, `incremental snapshot of ${window.table} abandoned: its chunk query failed: ${error.message}`);
    if (!this.inFlight.some((chunk) => chunk.window === window)) return;
    this.inFlight = [];
    if (state && current?.table === window.table) {
      state.tables.shift();
      state.lastKey = null;
      state.maxKey = null;
      state.tableRowsDone = 0;
      if (state.tables.length === 0) this.state = null;
    }
    this.updateMetrics();
    this.requestChunk();
  }

  private connection(): Promise<pg.Client> {
    this.client ??= this.connect('incremental');
    return this.client;
  }

  private async connect(purpose: string): Promise<pg.Client> {
    const client = snapshotConnection(this.options.url, `tideline:${this.options.connector}:${purpose}`);
    client.on('error', (error) => {
      if (!this.stopped) this.options.onError(error);
    });
    await client.connect();
    return client;
  }

  /** Row estimates of the snapshot's tables: reltuples, else an exact count of the table being read. */
  private async estimate(client: pg.Client, state: IncrementalPosition): Promise<void> {
    const tables = state.tables.map((entry) => entry.table);
    const found = await estimateRows(client, tables);
    const current = tables[0];
    if (current && found.get(current) === null) {
      // A table dropped meanwhile has no count: its chunk query says so (and the table is dropped from the snapshot).
      const counted = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${qualifiedIdent(current)}`).catch(() => null);
      found.set(current, counted ? Number(counted.rows[0]?.n ?? 0) : null);
    }
    for (const [table, rows] of found) this.estimates.set(table, rows);
  }

  private progress(state: IncrementalPosition): { rowsEstimate: number | null; rowsPerSecond: number; etaSeconds: number | null } {
    let remaining: number | null = 0;
    state.tables.forEach(({ table }, index) => {
      const estimate = this.estimates.get(table);
      if (estimate === undefined || estimate === null || remaining === null) remaining = null;
      else remaining += index === 0 ? Math.max(0, estimate - state.tableRowsDone) : estimate;
    });
    const seconds = this.runStartedAt === null ? 0 : (Date.now() - this.runStartedAt) / 1000;
    const rowsPerSecond = seconds > 0 ? this.rowsThisRun / seconds : 0;
    const rowsEstimate = remaining === null ? null : state.rowsDone + remaining;
    const etaSeconds = remaining === null || rowsPerSecond === 0 ? null : remaining / rowsPerSecond;
    return { rowsEstimate, rowsPerSecond, etaSeconds };
  }

  private logProgress(state: IncrementalPosition): void {
    if (Date.now() - this.loggedAt < PROGRESS_LOG_INTERVAL_MS) return;
    this.loggedAt = Date.now();
    const { rowsEstimate, rowsPerSecond, etaSeconds } = this.progress(state);
    this.options.logger.info(
      { table: state.tables[0]?.table, rowsDone: state.rowsDone, rowsEstimate, rowsPerSecond: Math.round(rowsPerSecond), etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds) },
      'incremental snapshot progress',
    );
  }

  private updateMetrics(): void {
    const { connector } = this.options;
    const state = this.state;
    metrics.incrementalSnapshotState.set({ connector }, state ? (state.paused ? 2 : 1) : 0);
    metrics.incrementalSnapshotRows.set({ connector }, state?.rowsDone ?? 0);
    const { rowsEstimate, rowsPerSecond, etaSeconds } = state ? this.progress(state) : { rowsEstimate: 0, rowsPerSecond: 0, etaSeconds: 0 };
    metrics.incrementalSnapshotRowsEstimate.set({ connector }, rowsEstimate ?? -1);
    metrics.incrementalSnapshotRowsPerSecond.set({ connector }, rowsPerSecond);
    metrics.incrementalSnapshotEtaSeconds.set({ connector }, etaSeconds ?? -1);
  }
}
