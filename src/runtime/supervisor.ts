/**
 * Runs one connector and restarts it with exponential backoff when it fails.
 * A fresh instance is created for each attempt, so no state of a failed run
 * (half-open transactions, stale caches) leaks into the next.
 *
 * An operator can pause, resume and restart it (admin API). Pausing stops the
 * run as a shutdown does (the open transaction or batch finishes or aborts;
 * nothing unacknowledged is confirmed upstream) and resuming starts a fresh
 * run from the stored position, so the exactly-once protocol that covers a
 * daemon restart covers a pause too.
 */
import type { Connector, ConnectorContext, ConnectorState } from '../core/connector.js';
import type { ConnectorDefinition } from '../config/load.js';
import { errorAction } from '../core/error-actions.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { isKafkaError, isUnreachable, type ServiceName } from '../core/service-health.js';
import { metrics } from '../metrics/registry.js';
import type { SchemaRegistry } from '../registry/schema-registry.js';
import { createConverter, DEFAULT_FORMAT } from '../serde/index.js';
import { ConnectorHealth } from './connector-health.js';
import { inThreadHost, type ConnectorHost } from './connector-host.js';
import { rowVersions } from './registry.js';

export interface ConnectorStatus {
  name: string;
  kind: string;
  state: ConnectorState;
  detail?: string;
  restarts: number;
  since: string;
  /** When this supervisor started: a hot reload that restarts the connector starts a new one; one it leaves alone keeps this. */
  startedAt?: string;
  /** Why the last hot reload could not use the connector's file; it runs its previous version meanwhile. */
  reloadError?: string;
  /** A snapshot the connector reads while it runs (incremental snapshot): its progress. */
  snapshot?: object;
}

/** A signal for a connector that takes none, or that is not running. */
export class SignalRefusedError extends Error {}
/** The last failure of a connector's run, kept after the next run started. */
export interface ConnectorFailure {
  message: string;
  /** The error's stack, secrets redacted. */
  trace: string;
  at: string;
}

/** What a request to restart did. */
export type RestartOutcome = 'restarting' | 'paused' | 'stopped';

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** How long a run must have been `running` for a service outage that ends it to restart the backoff. */
  healthyRunMs: number;
}

export class ConnectorSupervisor {
  private state: ConnectorState = 'starting';
  private detail: string | undefined;
  private since = new Date();
  private restarts = 0;
  private readonly abort = new AbortController();
  private done: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Outlives each run: an outage that fails runs spans the restarts. */
  private readonly health: ConnectorHealth;
  /** When the current run first reported `running` (null until it does). */
  private runningSince: number | null = null;
  /** Services whose outage failed the last run; reachable again once a run reports `running`. */
  private readonly failedOn = new Set<ServiceName>();
  private startedAt: Date | undefined;
  private reloadError: string | undefined;
  /** The current run's connector instance (for signals and snapshot progress). */
  private current: Connector | null = null;
  /** The current run's own abort: a pause or restart ends the run, not the supervisor. */
  private attempt: AbortController | null = null;
  /** Set by pause(): the loop holds, with no run, until resume() clears it. */
  private paused = false;
  private resumed: (() => void) | null = null;
  /** Waiters of pause(), told once the run has stopped. */
  private pausedWaiters: (() => void)[] = [];
  /** Set by restart(): the run ending (or a backoff wait) is not a failure; the next run starts at once. */
  private restartRequested = false;
  private lastFailure: ConnectorFailure | undefined;

  constructor(
    private readonly definition: ConnectorDefinition,
    private readonly logger: Logger,
    /** The daemon's schema registry (formats that register schemas need it). */
    private readonly registry?: SchemaRegistry,
    private readonly backoff: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, healthyRunMs: 10_000 },
    /** Where each attempt's connector runs (worker/worker-host.ts: its own thread); default: this thread. */
    private readonly host: ConnectorHost = inThreadHost(definition),
  ) {
    this.health = new ConnectorHealth(definition.name, logger);
  }

  get name(): string {
    return this.definition.name;
  }

  /** The connector file it runs. */
  get connector(): ConnectorDefinition {
    return this.definition;
  }

  /** Services the connector cannot reach now (none while paused or stopped). */
  unreachableServices(): ServiceName[] {
    return this.state === 'stopped' || this.state === 'paused' ? [] : this.health.unreachableServices();
  }

  status(): ConnectorStatus {
    // An outage shows as `degraded` with its reason, whatever the connector last reported.
    const outage = this.state === 'stopped' || this.state === 'paused' ? undefined : this.health.degradedReason();
    const status: ConnectorStatus = {
      name: this.definition.name,
      kind: this.definition.kind,
      state: outage ? 'degraded' : this.state,
      restarts: this.restarts,
      since: this.since.toISOString(),
    };
    const detail = outage ?? this.detail;
    if (detail) status.detail = redactSecrets(detail);
    if (this.startedAt) status.startedAt = this.startedAt.toISOString();
    if (this.reloadError) status.reloadError = redactSecrets(this.reloadError);
    const snapshot = this.current?.snapshotStatus?.();
    if (snapshot) status.snapshot = snapshot;
    return status;
  }

  /** Hands a signal to the running connector (admin API). */
  async signal(type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }> {
    const connector = this.current;
    if (!connector?.signal) throw new SignalRefusedError(connector ? `connector ${this.name} (${this.definition.kind}) takes no signals` : `connector ${this.name} is not running`);
    return connector.signal(type, data, id);
  }

  start(): void {
    zeroFailureCounters(this.definition.name);
    this.startedAt ??= new Date();
    this.done ??= this.loop();
  }

  /** Set by a hot reload that refused the connector's file (undefined clears it). */
  setReloadError(message: string | undefined): void {
    this.reloadError = message;
  }

  /** The last failure of a run (also after a later run recovered), if any. */
  lastError(): ConnectorFailure | undefined {
    return this.lastFailure;
  }

  /**
   * Stops the connector's run and keeps it stopped (state `paused`) until
   * resume(). Resolves once the run has stopped: nothing flows from then on.
   */
  async pause(): Promise<void> {
    if (this.abort.signal.aborted) return;
    if (this.paused && this.state === 'paused') return;
    this.paused = true;
    const stopped = new Promise<void>((resolve) => this.pausedWaiters.push(resolve));
    this.attempt?.abort();
    this.wake?.();
    await stopped;
  }

  /** Starts a paused connector again, from its stored position. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // A pause still stopping the run is over too: its waiters must not hang.
    this.settlePauseWaiters();
    this.resumed?.();
  }

  /**
   * Ends the current run and starts a fresh one at once (no backoff); a run
   * waiting out its backoff after a failure starts now. A paused or stopped
   * connector is left as it is (the outcome says so).
   */
  restart(): RestartOutcome {
    if (this.abort.signal.aborted) return 'stopped';
    if (this.paused) return 'paused';
    this.restartRequested = true;
    this.attempt?.abort();
    this.wake?.();
    return 'restarting';
  }

  /** Asks the connector to stop and waits until it has. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    this.resumed?.();
    await this.done;
    this.settlePauseWaiters();
  }

  private settlePauseWaiters(): void {
    for (const waiter of this.pausedWaiters.splice(0)) waiter();
  }

  /** Holds the loop while paused: no run, state `paused`, until resume() or stop(). */
  private async holdWhilePaused(signal: AbortSignal): Promise<void> {
    this.setState('paused');
    this.logger.info('connector paused');
    this.settlePauseWaiters();
    await new Promise<void>((resolve) => {
      this.resumed = resolve;
      if (!this.paused || signal.aborted) resolve();
    });
    this.resumed = null;
    if (!signal.aborted) this.logger.info('connector resumed');
  }

  private setState(state: ConnectorState, detail?: string): void {
    if (state !== this.state) this.since = new Date();
    setStateMetric(this.definition, this.state, state);
    this.state = state;
    this.detail = detail;
    if (state === 'running') {
      this.runningSince ??= Date.now();
      for (const service of this.failedOn) this.health.reachable(service);
      this.failedOn.clear();
    }
    const up = state === 'running' || state === 'degraded' ? 1 : 0;
    metrics.connectorUp.set({ connector: this.definition.name, kind: this.definition.kind }, up);
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let delay = this.backoff.initialMs;
    while (!signal.aborted) {
      if (this.paused) {
        await this.holdWhilePaused(signal);
        delay = this.backoff.initialMs;
        continue;
      }
      const started = Date.now();
      this.runningSince = null;
      this.restartRequested = false;
      this.setState(this.restarts === 0 ? 'starting' : 'restarting');
      // Each attempt gets its own signal, so listeners a failed run left on it
      // are dropped with it instead of piling up on the daemon's signal; a
      // pause or restart aborts only this one.
      const attempt = new AbortController();
      this.attempt = attempt;
      try {
        const context: ConnectorContext<unknown> = {
          name: this.definition.name,
          kind: this.definition.kind,
          config: this.definition.config,
          kafka: this.definition.kafka,
          converter: createConverter(this.definition.format ?? DEFAULT_FORMAT, this.registry),
          registry: this.registry,
          rowVersions,
          logger: this.logger,
          setState: (state, detail) => this.setState(state, detail),
          health: this.health,
        };
        const forward = (): void => attempt.abort();
        signal.addEventListener('abort', forward, { once: true });
        try {
          this.current = this.host.create(context);
          await this.current.run(attempt.signal);
        } finally {
          this.current = null;
          signal.removeEventListener('abort', forward);
          this.attempt = null;
        }
        if (signal.aborted) break;
        if (attempt.signal.aborted) {
          this.logger.info(this.paused ? 'connector run stopped for a pause' : 'connector run stopped for a restart');
          continue;
        }
        throw new Error('connector stopped without being asked to');
      } catch (error) {
        if (signal.aborted) {
          this.logger.warn({ err: error }, 'connector failed while stopping');
          break;
        }
        if (attempt.signal.aborted) {
          // Asked to pause or restart: the run's failure while stopping is no crash to back off from.
          this.logger.warn({ err: error }, 'connector failed while stopping for a pause or restart');
          continue;
        }
        metrics.errors.inc({ connector: this.definition.name, kind: 'connector_failed' });
        const service = this.unreachableService(error);
        // A run that lasted a while earns a fresh backoff; so does one that ran
        // healthy for a while before a service went away (a new outage, not a
        // crash loop: its first retry should come soon).
        const ranHealthy = this.runningSince !== null && Date.now() - this.runningSince > this.backoff.healthyRunMs;
        if (Date.now() - started > this.backoff.maxMs || (service && ranHealthy)) delay = this.backoff.initialMs;
        if (service) {
          // One warn line for the outage (ConnectorHealth), not an error per attempt.
          this.failedOn.add(service);
          this.setState('restarting', errorMessage(error));
          this.health.unreachable(service, errorMessage(error), { nextInMs: delay });
          this.logger.debug({ err: error, retryInMs: delay }, 'connector stopped: service unreachable; restarting after backoff');
        } else {
          this.lastFailure = { message: redactSecrets(errorMessage(error)), trace: redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error)), at: new Date().toISOString() };
          this.setState('failed', errorMessage(error));
          this.logger.error({ err: error, retryInMs: delay, action: errorAction(error, this.definition.spec.service) }, 'connector failed; restarting after backoff');
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        delay = Math.min(delay * 2, this.backoff.maxMs);
        // An operator's restart or pause ended the wait: not a restart after backoff.
        if (this.restartRequested || this.paused) {
          if (this.restartRequested) delay = this.backoff.initialMs;
          continue;
        }
        if (!signal.aborted) {
          this.restarts += 1;
          metrics.connectorRestarts.inc({ connector: this.definition.name });
        }
      }
    }
    this.setState('stopped');
    await this.host.close().catch((error: unknown) => this.logger.warn({ err: error }, 'connector host did not close cleanly'));
    this.health.close();
    this.settlePauseWaiters();
  }

  /** The service whose unreachability failed a run, if that is why it failed. */
  private unreachableService(error: unknown): ServiceName | undefined {
    if (!isUnreachable(error)) return undefined;
    if (isKafkaError(error)) return 'kafka';
    return this.definition.spec.service;
  }
}

/** tideline_connector_state: 1 for the state the connector is in, 0 for the one it left. */
function setStateMetric(definition: ConnectorDefinition, previous: ConnectorState, state: ConnectorState): void {
  const labels = { connector: definition.name, kind: definition.kind };
  if (previous !== state) metrics.connectorState.set({ ...labels, state: previous }, 0);
  metrics.connectorState.set({ ...labels, state }, 1);
}

/** Failure counters exist from the start (at 0), so that the first failure is an increase for rate() and alerts. */
function zeroFailureCounters(connector: string): void {
  metrics.connectorRestarts.inc({ connector }, 0);
  metrics.errors.inc({ connector, kind: 'connector_failed' }, 0);
}
