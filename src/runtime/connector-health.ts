/**
 * One connector's view of the services it depends on (core/service-health.ts):
 * which are unreachable now, since when and why. Each change of state is one
 * log line; repeated failures of an ongoing outage go to debug. The supervisor
 * reports the connector `degraded` while any outage lasts.
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
}

/** Every live health, so that a metrics scrape can account ongoing outages. */
const live = new Set<ConnectorHealth>();
onScrape(() => {
  for (const health of live) health.account(Date.now());
});

export class ConnectorHealth implements ServiceHealth {
  private readonly outages = new Map<ServiceName, Outage>();

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
      this.logger.debug({ service, attempt, reason }, line);
      return;
    }
    this.outages.set(service, { since: Math.min(since ?? now, now), reason, attempt, accountedUntil: now });
    metrics.serviceReachable.set({ connector: this.connector, service }, 0);
    metrics.serviceOutages.inc({ connector: this.connector, service });
    this.logger.warn({ service, attempt, reason, action: unreachableAction(service) }, line);
    this.onChange();
  }

  reachable(service: ServiceName, since = Date.now()): void {
    const outage = this.outages.get(service);
    if (!outage) return;
    this.accountOutage(service, outage, Date.now());
    this.outages.delete(service);
    metrics.serviceReachable.set({ connector: this.connector, service }, 1);
    const downMs = Math.max(0, since - outage.since);
    this.logger.info({ service, unreachableMs: downMs }, `${service} reachable again after ${seconds(downMs)}`);
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
