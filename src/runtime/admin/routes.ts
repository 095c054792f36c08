/**
 * The admin API's endpoints: Prometheus metrics, health, the OpenAPI
 * document, and Kafka Connect's connector endpoints (reading: list, info,
 * status, config, offsets; acting: pause, resume, restart), and tideline's
 * POST /connectors/{name}/signals (Debezium signals, e.g. execute-snapshot).
 */
import type { StoredOffset } from '../../core/connector.js';
import { errorMessage, TidelineError } from '../../core/errors.js';
import { redactSecrets } from '../../core/redact.js';
import { registry } from '../../metrics/registry.js';
import { scrapeMetrics } from '../../metrics/thread-metrics.js';
import { SignalRefusedError, type ConnectorFailure, type ConnectorStatus, type RestartOutcome } from '../supervisor.js';
import { configBody, infoBody, offsetsBody, statusBody, type ConnectorFacts, type Insight } from './connect-shapes.js';
import { AdminError, unknownConnector } from './errors.js';
import { openApiDocument } from './openapi.js';
import type { AdminResponse, Route, RouteInput } from './router.js';

/** One connector as the admin API drives it (the daemon's supervisor of it). */
export interface AdminConnector {
  facts: ConnectorFacts;
  status(): ConnectorStatus;
  lastError(): ConnectorFailure | undefined;
  unreachableServices(): string[];
  /** Resolves once the run has stopped. */
  pause(): Promise<void>;
  resume(): void;
  restart(): RestartOutcome;
  offsets(): Promise<StoredOffset[]>;
  insight(): Promise<Insight>;
  /** Takes a throughput sample (every few seconds). */
  sample(): Promise<void>;
  /** Hands a Debezium signal to the running connector (SignalRefusedError: it takes none or is not running). */
  signal(type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }>;
}

export interface AdminBackend {
  /** Kafka Connect's worker_id: this daemon, as host:port. */
  workerId(): string;
  connectors(): AdminConnector[];
}

const json = (body: unknown, status = 200): AdminResponse => ({ status, body });

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw new AdminError(400, `query parameter ${name} must be true or false, not "${value}"`);
}

export function adminRoutes(backend: AdminBackend): Route[] {
  const find = (name: string): AdminConnector => {
    const connector = backend.connectors().find((candidate) => candidate.facts.name === name);
    if (!connector) throw unknownConnector(name);
    return connector;
  };
  const status = async (connector: AdminConnector): Promise<Record<string, unknown>> =>
    statusBody({
      facts: connector.facts,
      status: connector.status(),
      workerId: backend.workerId(),
      lastError: connector.lastError(),
      unreachable: connector.unreachableServices(),
      insight: await connector.insight(),
    });
  const named = (handle: (connector: AdminConnector, input: RouteInput) => Promise<AdminResponse> | AdminResponse) => (input: RouteInput) =>
    handle(find(input.params.name!), input);

  const routes: Route[] = [
    {
      method: 'GET',
      path: '/metrics',
      handle: async () => ({ status: 200, contentType: registry.contentType, body: await scrapeMetrics() }),
    },
    {
      method: 'GET',
      path: '/healthz',
      // tideline's own shape (unchanged): healthy when every connector runs or was paused on purpose.
      handle: () => {
        const statuses = backend.connectors().map((connector) => connector.status());
        const healthy = statuses.every((entry) => entry.state === 'running' || entry.state === 'paused');
        return json({ healthy, connectors: statuses }, healthy ? 200 : 503);
      },
    },
    { method: 'GET', path: '/openapi.json', handle: () => json(openApiDocument()) },
    {
      method: 'GET',
      path: '/connectors',
      handle: async ({ query }) => {
        const connectors = backend.connectors();
        const expand = new Set(query.getAll('expand').flatMap((value) => value.split(',')));
        for (const value of expand) if (value !== 'status' && value !== 'info') throw new AdminError(400, `expand must be status or info, not "${value}"`);
        if (expand.size === 0) return json(connectors.map((connector) => connector.facts.name));
        const out: Record<string, Record<string, unknown>> = {};
        await Promise.all(
          connectors.map(async (connector) => {
            const entry: Record<string, unknown> = {};
            if (expand.has('info')) entry.info = infoBody(connector.facts);
            if (expand.has('status')) entry.status = await status(connector);
            out[connector.facts.name] = entry;
          }),
        );
        // In the connectors' order, whatever order their statuses finished in.
        return json(Object.fromEntries(connectors.map((connector) => [connector.facts.name, out[connector.facts.name]])));
      },
    },
    { method: 'GET', path: '/connectors/{name}', handle: named((connector) => json(infoBody(connector.facts))) },
    { method: 'GET', path: '/connectors/{name}/status', handle: named(async (connector) => json(await status(connector))) },
    { method: 'GET', path: '/connectors/{name}/config', handle: named((connector) => json(configBody(connector.facts))) },
    {
      method: 'GET',
      path: '/connectors/{name}/offsets',
      handle: named(async (connector) => {
        try {
          return json(offsetsBody(await connector.offsets()));
        } catch (error) {
          throw new AdminError(503, `could not read the offsets of ${connector.facts.name}: ${redactSecrets(errorMessage(error))}`);
        }
      }),
    },
    {
      method: 'PUT',
      path: '/connectors/{name}/pause',
      // 202 as Kafka Connect: the run stops in the background; /status says PAUSED once it has.
      handle: named((connector) => {
        void connector.pause();
        return { status: 202 };
      }),
    },
    {
      method: 'PUT',
      path: '/connectors/{name}/resume',
      handle: named((connector) => {
        connector.resume();
        return { status: 202 };
      }),
    },
    {
      method: 'POST',
      path: '/connectors/{name}/restart',
      handle: named(async (connector, { query }) => {
        const includeTasks = flag(query, 'includeTasks');
        const onlyFailed = flag(query, 'onlyFailed');
        const state = connector.status().state;
        const failed = state === 'failed';
        if (state === 'paused') throw new AdminError(409, `Connector ${connector.facts.name} is paused: resume it (PUT /connectors/${connector.facts.name}/resume) instead`);
        // Kafka Connect: without either parameter, 204 and no body; with one, 202 and the status to be.
        if (!includeTasks && !onlyFailed) {
          if (connector.restart() === 'stopped') throw new AdminError(409, `the daemon is stopping: ${connector.facts.name} is not restarted`);
          return { status: 204 };
        }
        // The connector's one task is its run: includeTasks restarts nothing more.
        const restarting = !onlyFailed || failed;
        if (restarting && connector.restart() === 'stopped') throw new AdminError(409, `the daemon is stopping: ${connector.facts.name} is not restarted`);
        const body = await status(connector);
        if (restarting) {
          const unit = { state: 'RESTARTING', worker_id: backend.workerId() };
          body.connector = unit;
          body.tasks = [{ id: 0, ...unit }];
        }
        return { status: 202, body };
      }),
    },
    {
      method: 'POST',
      path: '/connectors/{name}/signals',
      handle: named(async (connector, { body }) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch (error) {
          throw new AdminError(400, `the body must be JSON {"type": ..., "data": {...}}: ${errorMessage(error)}`);
        }
        const { type, data, id } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { type?: unknown; data?: unknown; id?: unknown };
        if (typeof type !== 'string') throw new AdminError(400, 'the body must be JSON {"type": ..., "data": {...}} with type a string');
        if (id !== undefined && typeof id !== 'string') throw new AdminError(400, 'id must be a string');
        try {
          return json(await connector.signal(type, data ?? null, id), 202);
        } catch (error) {
          if (error instanceof SignalRefusedError) throw new AdminError(409, error.message);
          if (error instanceof TidelineError) throw new AdminError(400, error.message);
          throw error;
        }
      }),
    },
  ];
  return routes;
}
