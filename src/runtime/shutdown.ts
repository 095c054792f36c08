/**
 * A shutdown that ends the process within a deadline, whatever state the
 * connectors are in (connecting, retrying, mid-transaction, mid-batch,
 * mid-snapshot). systemd and Kubernetes SIGKILL a process that outlives its
 * grace period; ending ourselves first lets us say what was still pending.
 *
 * A forced exit is as safe as a crash: every step that makes data durable is
 * exactly-once by itself (a Kafka transaction never committed is aborted when
 * the next incarnation fences the producer; a sink batch whose offsets were
 * not stored is written again and replaces itself), so nothing is committed
 * half-way by leaving early.
 */
import type { Logger } from '../core/logger.js';

export interface Stoppable {
  stop(): Promise<void>;
  /** Connectors that have not stopped yet, by name and state, for the deadline's report. */
  statuses(): { name: string; state: string }[];
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * Time kept back from the deadline for the exit itself (flushing the log,
 * tearing down the process), so that the process is gone within the deadline.
 */
const EXIT_MARGIN_MS = 1_000;

/**
 * Stops `daemon` and returns the exit code: 0 when everything stopped cleanly
 * in time, 1 when the deadline forced the stop (after logging what was still
 * pending). The caller exits with it at once: a library's timer or socket
 * left behind (kafkajs retries scheduled before the disconnect) must not keep
 * a stopped daemon alive.
 */
export async function stopWithin(daemon: Stoppable, logger: Logger, timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), Math.max(0, timeoutMs - EXIT_MARGIN_MS));
  });
  const stopped = daemon.stop().then(
    () => 'stopped' as const,
    (error: unknown) => {
      logger.error({ err: error }, 'stopping failed');
      return 'failed' as const;
    },
  );
  const outcome = await Promise.race([stopped, deadline]);
  clearTimeout(timer);
  if (outcome === 'deadline') {
    const pending = daemon.statuses().filter((status) => status.state !== 'stopped');
    logger.error(
      { timeoutMs, connectors: pending, resources: activeResources() },
      `shutdown deadline (${timeoutMs / 1000} s) reached with ${pending.length} connector(s) still stopping; exiting without them (safe as a crash: nothing uncommitted is kept)`,
    );
    return 1;
  }
  const leftover = activeResources();
  if (Object.keys(leftover).length > 0) logger.debug({ resources: leftover }, 'resources still open after the stop; exiting regardless');
  return outcome === 'stopped' ? 0 : 1;
}

/** What keeps the event loop alive, by kind and count (Node's own accounting). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}
