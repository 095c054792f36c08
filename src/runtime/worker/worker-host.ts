/**
 * A ConnectorHost that runs the connector in a worker thread of its own, so
 * that sources, sinks and processors do not share one event loop. One worker
 * lives as long as its supervisor and runs every attempt (a failed run does
 * not end the thread, so the connector's metrics keep counting); a worker
 * that dies is replaced at the next attempt.
 *
 * The supervisor, its ConnectorHealth and the admin API stay in the main
 * thread: the worker's state changes, outage reports and snapshot progress
 * arrive as messages (protocol.ts) and are applied to the attempt's context
 * there, in the order the worker sent them.
 */
import { Worker } from 'node:worker_threads';
import type { ConnectorDefinition } from '../../config/load.js';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import type { Logger } from '../../core/logger.js';
import { addMetricsSource, removeMetricsSource, type MetricsJson, type MetricsSource } from '../../metrics/thread-metrics.js';
import type { SchemaRegistry } from '../../registry/schema-registry.js';
import { DEFAULT_FORMAT } from '../../serde/index.js';
import type { ConnectorHost } from '../connector-host.js';
import { connectorKinds } from '../registry.js';
import { SignalRefusedError } from '../supervisor.js';
import { deserializeError, serializeError, type FromWorker, type ToWorker, type WorkerDefinition } from './protocol.js';
import { workerEntry } from './worker-entry.js';

/**
 * The young generation of a connector's thread (V8 takes a third of it per
 * semi-space: 192 MB is what --max-semi-space-size=64 gives a main thread;
 * Node's default is 48 MB). A sink buffers a batch of up to maxBatchRows
 * decoded rows and a source a transaction's encoded records: with the
 * default, each scavenge found most of them alive and copied them, and
 * garbage collection took about a quarter of a sink's CPU. Larger, scavenges
 * are rarer and find more of what they scan dead. Measured on the bench's
 * 1M-row drains in one thread with the same young generation
 * (--max-semi-space-size=64): 15 % less CPU per row in the sink and per
 * event in the source, for about 100 MB more resident memory under load.
 */
const YOUNG_GENERATION_MB = 192;

/** How long a scrape waits for a worker's metrics before leaving it out. */
const METRICS_TIMEOUT_MS = 2_000;

interface Attempt {
  attempt: number;
  context: ConnectorContext<unknown>;
  resolve: () => void;
  reject: (error: Error) => void;
  takesSignals: boolean;
  snapshot: object | null;
}

/**
 * Why the definition cannot run in a worker (it is then run in the main
 * thread), or undefined: its kind must be a registered one (the worker finds
 * the kind's code by name) and its config must survive structured cloning.
 */
export function workerRefusal(definition: ConnectorDefinition): string | undefined {
  if (connectorKinds.get(definition.kind) !== definition.spec) return `kind ${definition.kind} is not one of the registered kinds`;
  try {
    structuredClone(definition.config);
  } catch (error) {
    return `its config cannot be sent to a thread: ${(error as Error).message}`;
  }
  return undefined;
}

export class WorkerHost implements ConnectorHost, MetricsSource {
  private worker: Worker | null = null;
  private nextAttempt = 1;
  private nextRequest = 1;
  private current: Attempt | null = null;
  private readonly requests = new Map<number, (message: FromWorker) => void>();
  /** The last metrics the worker gave: carried if it dies before giving its final ones. */
  private lastMetrics: MetricsJson | undefined;

  constructor(
    private readonly definition: ConnectorDefinition,
    private readonly logger: Logger,
    private readonly registry: SchemaRegistry | undefined,
  ) {}

  create(context: ConnectorContext<unknown>): Connector {
    return {
      run: (signal) => this.run(context, signal),
      signal: (type, data, id) => this.signal(type, data, id),
      snapshotStatus: () => this.current?.snapshot ?? null,
    };
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    // Its final counters, so the next worker of this connector (a reload) continues from them.
    const final = await this.collect().catch(() => this.lastMetrics);
    this.forget(worker, final);
    await worker.terminate();
  }

  /** The worker's metrics (MetricsSource: a scrape asks every live worker). */
  collect(): Promise<MetricsJson> {
    const worker = this.worker;
    if (!worker) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(request);
        reject(new Error(`connector ${this.definition.name}'s thread did not give its metrics within ${METRICS_TIMEOUT_MS} ms`));
      }, METRICS_TIMEOUT_MS);
      const request = this.request(worker, (reply) => {
        clearTimeout(timer);
        if (reply.type !== 'metrics-reply') return;
        this.lastMetrics = reply.metrics;
        resolve(reply.metrics);
      }, (request) => ({ type: 'metrics', request }));
    });
  }

  private run(context: ConnectorContext<unknown>, signal: AbortSignal): Promise<void> {
    const worker = this.ensureWorker();
    const attempt = this.nextAttempt++;
    return new Promise<void>((resolve, reject) => {
      this.current = { attempt, context, resolve, reject, takesSignals: false, snapshot: null };
      const abort = (): void => this.post(worker, { type: 'abort', attempt });
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
      this.post(worker, { type: 'run', attempt, unreachable: this.unreachableIn(context) });
    });
  }

  /** The services the context's health (the supervisor's, across runs) has as unreachable: Kafka's and the kind's own. */
  private unreachableIn(context: ConnectorContext<unknown>): string[] {
    const services = ['kafka', ...(this.definition.spec.service ? [this.definition.spec.service] : [])];
    return services.filter((service) => context.health.isUnreachable(service));
  }

  private async signal(type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }> {
    const worker = this.worker;
    if (!worker || !this.current) throw new SignalRefusedError(`connector ${this.definition.name} is not running`);
    if (!this.current.takesSignals) throw new SignalRefusedError(`connector ${this.definition.name} (${this.definition.kind}) takes no signals`);
    const reply = await new Promise<FromWorker>((resolve) => {
      this.request(worker, resolve, (request) => ({ type: 'signal', request, signalType: type, data, id }));
    });
    if (reply.type !== 'signal-reply') throw new Error('unexpected reply to a signal');
    if (reply.error) throw deserializeError(reply.error);
    return reply.value!;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const { definition } = this;
    const data: WorkerDefinition = {
      name: definition.name,
      kind: definition.kind,
      kafka: definition.kafka,
      format: definition.format ?? DEFAULT_FORMAT,
      config: definition.config,
      logLevel: this.logger.level,
      logBindings: this.logger.bindings(),
      hasRegistry: this.registry !== undefined,
    };
    const entry = workerEntry();
    const worker = new Worker(entry.source, {
      workerData: data,
      name: `tideline ${definition.name}`,
      eval: entry.eval,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    worker.on('message', (message: FromWorker) => this.receive(worker, message));
    worker.on('error', (error) => this.died(worker, error));
    worker.on('exit', (code) => this.died(worker, new Error(`connector ${definition.name}'s thread exited (code ${code})`)));
    this.worker = worker;
    addMetricsSource(this);
    return worker;
  }

  /** The worker is gone: its metrics are carried, the attempt it ran fails (the supervisor restarts with backoff in a new worker). */
  private died(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.forget(worker, this.lastMetrics);
    this.logger.error({ err: error }, 'connector thread ended');
    const current = this.current;
    this.current = null;
    current?.reject(error);
  }

  private forget(worker: Worker, metrics: MetricsJson | undefined): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.lastMetrics = undefined;
    removeMetricsSource(this, metrics);
    this.requests.clear();
  }

  private receive(worker: Worker, message: FromWorker): void {
    const current = this.current?.attempt === (message as { attempt?: number }).attempt ? this.current : null;
    switch (message.type) {
      case 'started':
        if (current) current.takesSignals = message.takesSignals;
        break;
      case 'state':
        current?.context.setState(message.state, message.detail);
        break;
      case 'unreachable':
        current?.context.health.unreachable(message.service, message.reason, message.retry, message.since);
        break;
      case 'reachable':
        current?.context.health.reachable(message.service, message.since);
        break;
      case 'snapshot':
        if (current) current.snapshot = message.status;
        break;
      case 'ended':
        if (!current) break;
        this.current = null;
        if (message.error) current.reject(deserializeError(message.error));
        else current.resolve();
        break;
      case 'registry':
        void this.answerRegistry(worker, message);
        break;
      case 'signal-reply':
      case 'metrics-reply': {
        const waiter = this.requests.get(message.request);
        this.requests.delete(message.request);
        waiter?.(message);
        break;
      }
    }
  }

  /** The worker's schema registry requests go to the daemon's registry. */
  private async answerRegistry(worker: Worker, message: Extract<FromWorker, { type: 'registry' }>): Promise<void> {
    try {
      if (!this.registry) throw new Error('the daemon has no schema registry');
      const value = message.op === 'register' ? await this.registry.register(message.subject, message.schema) : await this.registry.schemaById(message.id);
      this.post(worker, { type: 'registry-reply', request: message.request, value });
    } catch (error) {
      this.post(worker, { type: 'registry-reply', request: message.request, error: serializeError(error) });
    }
  }

  private request(worker: Worker, onReply: (message: FromWorker) => void, message: (request: number) => ToWorker): number {
    const request = this.nextRequest++;
    this.requests.set(request, onReply);
    this.post(worker, message(request));
    return request;
  }

  private post(worker: Worker, message: ToWorker): void {
    if (this.worker === worker) worker.postMessage(message);
  }
}
