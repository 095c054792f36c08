/**
 * One connector's view of the services it depends on (core/service-health.ts):
 * which are unreachable now, since when and why. Each change of state is one
 * log line; repeated failures of an ongoing outage go to debug. The supervisor
 * reports the connector `degraded` while any outage lasts.
 *
 * A relapse right after an outage ended (within RELAPSE_MS) is taken as its
 * tail, not a new outage: a run can fail after the service is back with what
 * the outage left (a send that failed during it, a connection refused by a
 * broker still starting). Such a relapse is logged at debug, and so is its
 * end; if it lasts past RELAPSE_MS it is a real outage and gets its warn line.
 */
import type { Logger } from '../core/logger.js';
import { unreachableAction } from '../core/error-actions.js';
import type { RetryInfo, ServiceHealth, ServiceName } from '../core/service-health.js';
import { metrics, onScrape } from '../metrics/registry.js';

interface Outage {
  since: number;
  reason: string;
  attempt: number;
  /** Up to when the outage's time was added to the degraded-seconds counter. */
  accountedUntil: number;
  /** A relapse within RELAPSE_MS of the last outage's end, not announced (yet). */
  quiet: boolean;
}

/** How soon after an outage's end a new failure counts as its tail. */
const RELAPSE_MS = 5_000;

/** Every live health, so that a metrics scrape can account ongoing outages. */
const live = new Set<ConnectorHealth>();
onScrape(() => {
  for (const health of live) health.account(Date.now());
});

export class ConnectorHealth implements ServiceHealth {
  private readonly outages = new Map<ServiceName, Outage>();
  /** When each service's last outage ended. */
  private readonly recoveredAt = new Map<ServiceName, number>();

  constructor(
    private readonly connector: string,
    private readonly logger: Logger,
    /** Called after every change of state (an outage begins or ends). */
    private readonly onChange: () => void = () => undefined,
  ) {
    live.add(this);
    // Every connector talks to Kafka: its outage counters exist (at 0) from the start, so the first outage is an increase.
    metrics.serviceOutages.inc({ connector, service: 'kafka' }, 0);
    metrics.serviceDegradedSeconds.inc({ connector, service: 'kafka' }, 0);
  }

  unreachable(service: ServiceName, reason: string, retry?: RetryInfo, since?: number): void {
    const now = Date.now();
    const outage = this.outages.get(service);
    const attempt = retry?.attempt ?? (outage ? outage.attempt + 1 : 1);
    const next = retry?.nextInMs === undefined ? '' : `, next in ${seconds(retry.nextInMs)}`;
    const line = `${service} unreachable, retrying (attempt ${attempt}${next})`;
    if (outage) {
      outage.attempt = attempt;
      outage.reason = reason;
      if (outage.quiet && now - outage.since >= RELAPSE_MS) {
        // Not the tail of the last outage after all: a new one, announced now.
        outage.quiet = false;
        this.announce(service, attempt, reason, line);
        return;
      }
      this.logger.debug({ service, attempt, reason }, line);
      return;
    }
    const recoveredAt = this.recoveredAt.get(service);
    const quiet = recoveredAt !== undefined && now - recoveredAt < RELAPSE_MS;
    this.outages.set(service, { since: Math.min(since ?? now, now), reason, attempt, accountedUntil: now, quiet });
    metrics.serviceReachable.set({ connector: this.connector, service }, 0);
    if (quiet) this.logger.debug({ service, attempt, reason }, `${line} (right after the last outage ended: taken as its tail)`);
    else this.announce(service, attempt, reason, line);
    this.onChange();
  }

  private announce(service: ServiceName, attempt: number, reason: string, line: string): void {
    metrics.serviceOutages.inc({ connector: this.connector, service });
    this.logger.warn({ service, attempt, reason, action: unreachableAction(service) }, line);
  }

  reachable(service: ServiceName, since = Date.now()): void {
    const outage = this.outages.get(service);
    if (!outage) return;
    this.accountOutage(service, outage, Date.now());
    this.outages.delete(service);
    this.recoveredAt.set(service, Date.now());
    metrics.serviceReachable.set({ connector: this.connector, service }, 1);
    const downMs = Math.max(0, since - outage.since);
    const line = `${service} reachable again after ${seconds(downMs)}`;
    if (outage.quiet) this.logger.debug({ service, unreachableMs: downMs }, line);
    else this.logger.info({ service, unreachableMs: downMs }, line);
    this.onChange();
  }

  /** What is unreachable and why, for the connector's status; undefined when nothing is. */
  degradedReason(): string | undefined {
    if (this.outages.size === 0) return undefined;
    return [...this.outages].map(([service, outage]) => `${service} unreachable since ${new Date(outage.since).toISOString()}: ${outage.reason}`).join('; ');
  }

  /** The services unreachable now. */
  unreachableServices(): ServiceName[] {
    return [...this.outages.keys()];
  }

  isUnreachable(service: ServiceName): boolean {
    return this.outages.has(service);
  }

  /** Adds the time of ongoing outages, up to `now`, to the degraded-seconds counter. */
  account(now: number): void {
    for (const [service, outage] of this.outages) this.accountOutage(service, outage, now);
  }

  /** The connector is gone: its outages end without a recovery line. */
  close(): void {
    this.account(Date.now());
    this.outages.clear();
    live.delete(this);
  }

  private accountOutage(service: ServiceName, outage: Outage, now: number): void {
    if (now <= outage.accountedUntil) return;
    metrics.serviceDegradedSeconds.inc({ connector: this.connector, service }, (now - outage.accountedUntil) / 1000);
    outage.accountedUntil = now;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
