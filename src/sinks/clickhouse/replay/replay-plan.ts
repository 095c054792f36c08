/**
 * The pure decisions of `tideline replay`: its scope and what overlaps it,
 * whether a claim's holder is alive, and where each partition starts (with
 * the refusal when a topic no longer holds the records the table needs, in
 * src/kafka/start-offsets.ts).
 */
import { CLAIM_EXPIRY_SECONDS, type ClaimRecord } from './replay-store.js';

// Where each partition starts, shared with the processor replay (src/kafka/start-offsets.ts).
export { describeGaps, partitionKey, planPartitions, type OffsetGap, type PartitionPlan, type PartitionRange } from '../../../kafka/start-offsets.js';

/** `*` for every table of the sink, else the listed tables sorted and comma-separated. */
export function scopeOf(tables: readonly string[] | undefined): string {
  return tables && tables.length > 0 ? [...new Set(tables)].sort().join(',') : '*';
}

/** The tables of a scope; null for `*`. */
export function scopeTables(scope: string): Set<string> | null {
  return scope === '*' ? null : new Set(scope.split(','));
}

export function scopesOverlap(a: string, b: string): boolean {
  const left = scopeTables(a);
  const right = scopeTables(b);
  if (!left || !right) return true;
  return [...left].some((table) => right.has(table));
}

export function describeScope(scope: string): string {
  return scope === '*' ? 'all tables' : `table${scope.includes(',') ? 's' : ''} ${scope.split(',').join(', ')}`;
}

/**
 * A claim's holder is alive while it heartbeats; on this host a holder whose
 * process is gone (SIGKILL) is dead at once, so a resume need not wait.
 */
export function claimAlive(claim: ClaimRecord, host: string, processAlive: (pid: number) => boolean): boolean {
  if (claim.silentFor >= CLAIM_EXPIRY_SECONDS) return false;
  return claim.host !== host || processAlive(claim.pid);
}

export function describeHolder(claim: ClaimRecord): string {
  return `${claim.host} pid ${claim.pid}, running since ${claim.startedAt}`;
}

/** Whether process `pid` exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

