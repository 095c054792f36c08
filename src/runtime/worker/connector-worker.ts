/**
 * Entry of a connector's worker thread (worker-host.ts starts it). It runs
 * the connector's attempts, one at a time, as the supervisor in the main
 * thread asks (`run`, `abort`), with a context whose state, health and
 * schema registry are messages to the main thread, and answers requests for
 * its metrics (its own prom-client registry: this thread's copy of
 * metrics/registry.ts) and for signals.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import { createLogger } from '../../core/logger.js';
import type { RetryInfo, ServiceHealth, ServiceName } from '../../core/service-health.js';
import { metricNames, registry as metricsRegistry } from '../../metrics/registry.js';
import { createConverter } from '../../serde/index.js';
import { connectorKinds, rowVersions } from '../registry.js';
import { serializeError, type FromWorker, type ToWorker, type WorkerDefinition } from './protocol.js';
import { RemoteSchemaRegistry } from './remote-registry.js';

/** How often a running connector's snapshot progress is sent (status() in the main thread shows the last). */
const SNAPSHOT_STATUS_MS = 1_000;

const port = parentPort;
if (!port) throw new Error('connector-worker.ts runs only as a worker thread');
const definition = workerData as WorkerDefinition;
const spec = connectorKinds.get(definition.kind);
if (!spec) throw new Error(`connector ${definition.name}: unknown kind "${definition.kind}" in its worker`);

const post = (message: FromWorker): void => port.postMessage(message);
// Every line of the connector names its thread (the main thread's lines have none).
const logger = createLogger({ level: definition.logLevel }).child({ ...definition.logBindings, thread: threadId });
logger.info('connector thread started');
const registry = definition.hasRegistry ? new RemoteSchemaRegistry(port) : undefined;
const ownMetrics = new Set(metricNames);

interface Run {
  attempt: number;
  abort: AbortController;
  connector: Connector | null;
}
let current: Run | null = null;

/**
 * The connector's health as the worker sees it: reports go to the main
 * thread's ConnectorHealth, and isUnreachable (asked synchronously, e.g. by
 * kafka/reachability.ts to decide whether a working probe ends an outage)
 * answers from the set the main thread sent with the run, kept up to date by
 * the run's own reports. Outages outlive runs there, so a run that starts
 * during one must know it, or it would never report its end.
 */
function healthOf(attempt: number, unreachable: readonly ServiceName[]): ServiceHealth {
  const down = new Set<ServiceName>(unreachable);
  return {
    unreachable(service: ServiceName, reason: string, retry?: RetryInfo, since?: number) {
      down.add(service);
      post({ type: 'unreachable', attempt, service, reason, retry, since });
    },
    reachable(service: ServiceName, since?: number) {
      down.delete(service);
      post({ type: 'reachable', attempt, service, since });
    },
    isUnreachable: (service) => down.has(service),
  };
}

async function run(attempt: number, unreachable: readonly ServiceName[]): Promise<void> {
  const run: Run = { attempt, abort: new AbortController(), connector: null };
  current = run;
  let snapshots: NodeJS.Timeout | undefined;
  try {
    const context: ConnectorContext<unknown> = {
      name: definition.name,
      kind: definition.kind,
      config: definition.config,
      kafka: definition.kafka,
      converter: createConverter(definition.format, registry),
      registry,
      rowVersions,
      logger,
      setState: (state, detail) => post({ type: 'state', attempt, state, detail }),
      health: healthOf(attempt, unreachable),
    };
    const connector = spec!.create(context);
    run.connector = connector;
    post({ type: 'started', attempt, takesSignals: typeof connector.signal === 'function' });
    if (connector.snapshotStatus) {
      let last = 'null';
      snapshots = setInterval(() => {
        const status = connector.snapshotStatus?.() ?? null;
        const text = JSON.stringify(status);
        if (text === last) return;
        last = text;
        post({ type: 'snapshot', attempt, status });
      }, SNAPSHOT_STATUS_MS);
      snapshots.unref();
    }
    await connector.run(run.abort.signal);
    post({ type: 'ended', attempt });
  } catch (error) {
    post({ type: 'ended', attempt, error: serializeError(error) });
  } finally {
    clearInterval(snapshots);
    if (current === run) current = null;
  }
}

async function signal(message: Extract<ToWorker, { type: 'signal' }>): Promise<void> {
  try {
    const connector = current?.connector;
    if (!connector?.signal) throw new Error(connector ? `connector ${definition.name} (${definition.kind}) takes no signals` : `connector ${definition.name} is not running`);
    post({ type: 'signal-reply', request: message.request, value: await connector.signal(message.signalType, message.data, message.id) });
  } catch (error) {
    post({ type: 'signal-reply', request: message.request, error: serializeError(error) });
  }
}

async function metrics(request: number): Promise<void> {
  // Only tideline's own metrics: the process and Node.js metrics are the main thread's (summed over threads they would be wrong).
  const all = await metricsRegistry.getMetricsAsJSON();
  post({ type: 'metrics-reply', request, metrics: all.filter((metric) => ownMetrics.has(metric.name)) });
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'run':
      void run(message.attempt, message.unreachable);
      break;
    case 'abort':
      if (current?.attempt === message.attempt) current.abort.abort();
      break;
    case 'signal':
      void signal(message);
      break;
    case 'registry-reply':
      registry?.settle(message.request, message.value, message.error);
      break;
    case 'metrics':
      void metrics(message.request);
      break;
  }
});
