/**
 * Runs one connector and restarts it with exponential backoff when it fails.
 * A fresh instance is created for each attempt, so no state of a failed run
 * (half-open transactions, stale caches) leaks into the next.
 */
import type { ConnectorContext, ConnectorState } from '../core/connector.js';
import type { ConnectorDefinition } from '../config/load.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { metrics } from '../metrics/registry.js';
import type { SchemaRegistry } from '../registry/schema-registry.js';
import { createConverter, DEFAULT_FORMAT } from '../serde/index.js';
import { rowVersions } from './registry.js';

export interface ConnectorStatus {
  name: string;
  kind: string;
  state: ConnectorState;
  detail?: string;
  restarts: number;
  since: string;
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export class ConnectorSupervisor {
  private state: ConnectorState = 'starting';
  private detail: string | undefined;
  private since = new Date();
  private restarts = 0;
  private readonly abort = new AbortController();
  private done: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly definition: ConnectorDefinition,
    private readonly logger: Logger,
    /** The daemon's schema registry (formats that register schemas need it). */
    private readonly registry?: SchemaRegistry,
    private readonly backoff: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000 },
  ) {}

  get name(): string {
    return this.definition.name;
  }

  status(): ConnectorStatus {
    const status: ConnectorStatus = {
      name: this.definition.name,
      kind: this.definition.kind,
      state: this.state,
      restarts: this.restarts,
      since: this.since.toISOString(),
    };
    if (this.detail) status.detail = redactSecrets(this.detail);
    return status;
  }

  start(): void {
    this.done ??= this.loop();
  }

  /** Asks the connector to stop and waits until it has. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.done;
  }

  private setState(state: ConnectorState, detail?: string): void {
    if (state !== this.state) this.since = new Date();
    this.state = state;
    this.detail = detail;
    const up = state === 'running' || state === 'degraded' ? 1 : 0;
    metrics.connectorUp.set({ connector: this.definition.name, kind: this.definition.kind }, up);
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let delay = this.backoff.initialMs;
    while (!signal.aborted) {
      const started = Date.now();
      this.setState(this.restarts === 0 ? 'starting' : 'restarting');
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
        };
        // Each attempt gets its own signal, so listeners a failed run left on it
        // are dropped with it instead of piling up on the daemon's signal.
        const attempt = new AbortController();
        const forward = (): void => attempt.abort();
        signal.addEventListener('abort', forward, { once: true });
        try {
          await this.definition.spec.create(context).run(attempt.signal);
        } finally {
          signal.removeEventListener('abort', forward);
        }
        if (signal.aborted) break;
        throw new Error('connector stopped without being asked to');
      } catch (error) {
        if (signal.aborted) {
          this.logger.warn({ err: error }, 'connector failed while stopping');
          break;
        }
        metrics.errors.inc({ connector: this.definition.name, kind: 'connector_failed' });
        // A run that lasted a while earns a fresh backoff.
        if (Date.now() - started > this.backoff.maxMs) delay = this.backoff.initialMs;
        this.setState('failed', errorMessage(error));
        this.logger.error({ err: error, retryInMs: delay }, 'connector failed; restarting after backoff');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        delay = Math.min(delay * 2, this.backoff.maxMs);
        if (!signal.aborted) {
          this.restarts += 1;
          metrics.connectorRestarts.inc({ connector: this.definition.name });
        }
      }
    }
    this.setState('stopped');
  }
}
