/**
 * Retries with exponential backoff for a sink: a failing warehouse or Kafka
 * never skips a batch; the connector reports `degraded` with what failed
 * until an attempt succeeds, then `running` again. A failure to reach the
 * service is reported to the connector's health (one warn line per outage, one
 * info line when it ends); any other failure is logged at each attempt.
 */
import type { ConnectorState } from '../../core/connector.js';
import { errorAction } from '../../core/error-actions.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { isUnreachable, type ServiceHealth, type ServiceName } from '../../core/service-health.js';
import { metrics } from '../../metrics/registry.js';

export interface RetryOptions {
  connector: string;
  /** The `kind` label of tideline_errors_total. */
  errorKind: string;
  logger: Logger;
  setState(state: ConnectorState, detail?: string): void;
  health: ServiceHealth;
  firstDelayMs: number;
  maxDelayMs: number;
  /** True once the sink stops: a failure then ends the retries. */
  stopping(): boolean;
}

export class Retrier {
  /** Operations whose retry counter exists (at 0 until a retry), so that the first retry is an increase. */
  private readonly counted = new Set<string>();

  constructor(private readonly options: RetryOptions) {
    metrics.errors.inc({ connector: options.connector, kind: options.errorKind }, 0);
  }

  /**
   * Runs `task` until it succeeds; throws its error once `signal` is aborted or
   * the sink stops. `service`: whom the task talks to, for outage reports.
   */
  async run<T>(operation: string, signal: AbortSignal, task: () => Promise<T>, service?: ServiceName): Promise<T> {
    const { connector, logger, health } = this.options;
    if (!this.counted.has(operation)) {
      this.counted.add(operation);
      metrics.sinkRetries.inc({ connector, operation }, 0);
    }
    let delay = this.options.firstDelayMs;
    let outage = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await task();
        if (outage) health.reachable(service!);
        if (attempt > 1) this.options.setState('running');
        return result;
      } catch (error) {
        if (signal.aborted || this.options.stopping()) throw error;
        metrics.errors.inc({ connector, kind: this.options.errorKind });
        metrics.sinkRetries.inc({ connector, operation });
        this.options.setState('degraded', `${operation}: ${errorMessage(error)}`);
        if (service && isUnreachable(error)) {
          outage = true;
          health.unreachable(service, `${operation}: ${errorMessage(error)}`, { attempt, nextInMs: delay });
        } else {
          logger.warn({ err: error, attempt, retryInMs: delay, action: errorAction(error, service) }, `${operation} failed; retrying`);
        }
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.options.maxDelayMs);
      }
    }
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
