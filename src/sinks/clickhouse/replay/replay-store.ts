/**
 * What `tideline replay` keeps in ClickHouse, next to the sink's tables, so
 * that a replay killed at any point resumes (or is aborted) by the next run:
 *
 * - `_tideline_replays`: one row per replay (a new revision per change):
 *   its scope (`*` or the tables listed), the shadows made so far, `--from`,
 *   and its phase: copying, swapping, swapped, then done or aborted;
 * - `_tideline_replay_offsets`: the last offset written per partition, saved
 *   after the rows as the sink saves its own (max per partition);
 * - `_tideline_replay_claims`: who runs a replay (host, pid, heartbeat every
 *   2 s); the lock (replay-lock.ts).
 */
import { hostname } from 'node:os';
import type { ClickHouseServer } from '../server.js';
import { qualified, quoteString } from '../sql.js';
import { escapeTsv } from '../type-mapping.js';

export const REPLAYS_TABLE = '_tideline_replays';
export const REPLAY_OFFSETS_TABLE = '_tideline_replay_offsets';
export const REPLAY_CLAIMS_TABLE = '_tideline_replay_claims';

export type ReplayPhase = 'copying' | 'swapping' | 'swapped' | 'done' | 'aborted';

export interface ReplayRecord {
  id: string;
  /** `*` (every table of the sink) or the tables listed, sorted, comma-separated. */
  scope: string;
  /** Live tables that have a shadow (sorted). */
  tables: string[];
  /** --from in ms since the epoch; null: from the earliest offsets. */
  fromMs: number | null;
  phase: ReplayPhase;
  /** Uuids of the shadows before an EXCHANGE (to tell, on resume, whether it happened). */
  shadowUuids: Record<string, string>;
  createdAt: string;
}

export interface ClaimRecord {
  claim: string;
  replay: string;
  scope: string;
  host: string;
  pid: number;
  startedAt: string;
  /** Seconds since the last heartbeat, by the server's clock. */
  silentFor: number;
  released: boolean;
}

/** A claim's holder counts as gone after this long without a heartbeat. */
export const CLAIM_EXPIRY_SECONDS = 15;

let lastRevision = 0;
/** Increasing per process (ReplacingMergeTree keeps the highest). */
function nextRevision(): number {
  lastRevision = Math.max(lastRevision + 1, Date.now() * 1000);
  return lastRevision;
}

export class ReplayStore {
  readonly host = hostname();

  constructor(
    private readonly server: ClickHouseServer,
    private readonly database: string,
    private readonly connector: string,
  ) {}

  private table(name: string): string {
    return qualified(this.database, name);
  }

  async ensureTables(): Promise<void> {
    await this.server.command(
      `CREATE TABLE IF NOT EXISTS ${this.table(REPLAYS_TABLE)} (connector String, replay String, scope String, tables String, from_ms Int64, phase String, shadow_uuids String, created_at DateTime, revision UInt64) ` +
        'ENGINE = ReplacingMergeTree(revision) ORDER BY (connector, replay)',
    );
    await this.server.command(
      `CREATE TABLE IF NOT EXISTS ${this.table(REPLAY_OFFSETS_TABLE)} (connector String, replay String, topic String, partition UInt32, offset Int64) ` +
        'ENGINE = ReplacingMergeTree(offset) ORDER BY (connector, replay, topic, partition)',
    );
    await this.server.command(
      `CREATE TABLE IF NOT EXISTS ${this.table(REPLAY_CLAIMS_TABLE)} (connector String, claim String, replay String, scope String, host String, pid UInt32, started_at DateTime, heartbeat_at DateTime, released UInt8, revision UInt64) ` +
        'ENGINE = ReplacingMergeTree(revision) ORDER BY (connector, claim)',
    );
  }

  /** Replays of the connector that are neither done nor aborted. */
  async unfinished(): Promise<ReplayRecord[]> {
    const rows = await this.server.rows<{ replay: string; scope: string; tables: string; from_ms: string; phase: string; shadow_uuids: string; created_at: string }>(
      `SELECT replay, argMax(scope, revision) AS scope, argMax(tables, revision) AS tables, toString(argMax(from_ms, revision)) AS from_ms, ` +
        `argMax(phase, revision) AS phase, argMax(shadow_uuids, revision) AS shadow_uuids, toString(argMax(created_at, revision)) AS created_at ` +
        `FROM ${this.table(REPLAYS_TABLE)} WHERE connector = ${quoteString(this.connector)} GROUP BY replay ORDER BY created_at`,
    );
    return rows
      .map((row) => ({
        id: row.replay,
        scope: row.scope,
        tables: row.tables === '' ? [] : row.tables.split(','),
        fromMs: Number(row.from_ms) < 0 ? null : Number(row.from_ms),
        phase: row.phase as ReplayPhase,
        shadowUuids: row.shadow_uuids ? (JSON.parse(row.shadow_uuids) as Record<string, string>) : {},
        createdAt: row.created_at,
      }))
      .filter((replay) => replay.phase !== 'done' && replay.phase !== 'aborted');
  }

  async save(replay: ReplayRecord): Promise<void> {
    const line = [
      this.connector,
      replay.id,
      replay.scope,
      [...replay.tables].sort().join(','),
      String(replay.fromMs ?? -1),
      replay.phase,
      JSON.stringify(replay.shadowUuids),
      replay.createdAt,
      String(nextRevision()),
    ];
    await this.server.insertTabSeparated(this.table(REPLAYS_TABLE), ['connector', 'replay', 'scope', 'tables', 'from_ms', 'phase', 'shadow_uuids', 'created_at', 'revision'], `${line.map(escapeTsv).join('\t')}\n`);
  }

  /** The last offset written per partition (`topic\0partition`). */
  async loadOffsets(replay: string): Promise<Map<string, bigint>> {
    const rows = await this.server.rows<{ topic: string; partition: number; offset: string }>(
      `SELECT topic, partition, toString(max(offset)) AS offset FROM ${this.table(REPLAY_OFFSETS_TABLE)} ` +
        `WHERE connector = ${quoteString(this.connector)} AND replay = ${quoteString(replay)} GROUP BY topic, partition`,
    );
    return new Map(rows.map((row) => [`${row.topic}\u0000${Number(row.partition)}`, BigInt(row.offset)]));
  }

  async saveOffset(replay: string, topic: string, partition: number, offset: bigint): Promise<void> {
    const line = [this.connector, replay, topic, String(partition), offset.toString()].map(escapeTsv).join('\t');
    await this.server.insertTabSeparated(this.table(REPLAY_OFFSETS_TABLE), ['connector', 'replay', 'topic', 'partition', 'offset'], `${line}\n`);
  }

  /** Every claim of the connector not released, with how long its holder has been silent. */
  async claims(): Promise<ClaimRecord[]> {
    const rows = await this.server.rows<{ claim: string; replay: string; scope: string; host: string; pid: number; started_at: string; silent: string; released: number }>(
      `SELECT claim, argMax(replay, revision) AS replay, argMax(scope, revision) AS scope, argMax(host, revision) AS host, argMax(pid, revision) AS pid, ` +
        `toString(argMax(started_at, revision)) AS started_at, toString(now() - argMax(heartbeat_at, revision)) AS silent, argMax(released, revision) AS released ` +
        `FROM ${this.table(REPLAY_CLAIMS_TABLE)} WHERE connector = ${quoteString(this.connector)} GROUP BY claim`,
    );
    return rows
      .map((row) => ({
        claim: row.claim,
        replay: row.replay,
        scope: row.scope,
        host: row.host,
        pid: Number(row.pid),
        startedAt: row.started_at,
        silentFor: Number(row.silent),
        released: Number(row.released) === 1,
      }))
      .filter((claim) => !claim.released);
  }

  /** Writes (or refreshes: a heartbeat) this process's claim; `released` gives it up. */
  async writeClaim(claim: { claim: string; replay: string; scope: string; startedAt: string }, released = false): Promise<void> {
    const q = quoteString;
    const values = [q(this.connector), q(claim.claim), q(claim.replay), q(claim.scope), q(this.host), process.pid, `toDateTime(${q(claim.startedAt)})`, 'now()', released ? 1 : 0, nextRevision()];
    // heartbeat_at is the server's now(): expiry is judged by one clock.
    await this.server.command(
      `INSERT INTO ${this.table(REPLAY_CLAIMS_TABLE)} (connector, claim, replay, scope, host, pid, started_at, heartbeat_at, released, revision) SELECT ${values.join(', ')}`,
    );
  }
}

/** The server's clock, as `YYYY-MM-DD hh:mm:ss` (DateTime columns). */
export async function serverNow(server: ClickHouseServer): Promise<string> {
  const [row] = await server.rows<{ now: string }>('SELECT toString(now()) AS now');
  return row!.now;
}
