/**
 * The daemon's admin HTTP API: /metrics (Prometheus), /healthz (200 when every
 * connector is running, 503 otherwise) and /connectors (JSON status; no config
 * values, so no secrets).
 */
import { createServer, type Server } from 'node:http';
import { registry } from '../metrics/registry.js';
import type { ConnectorStatus } from './supervisor.js';

export interface AdminServerOptions {
  host: string;
  port: number;
  statuses(): ConnectorStatus[];
}

export async function startAdminServer(options: AdminServerOptions): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    if (request.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        (error: unknown) => send(500, 'text/plain', `${String(error)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const statuses = options.statuses();
      const healthy = statuses.every((status) => status.state === 'running');
      return send(healthy ? 200 : 503, 'application/json', `${JSON.stringify({ healthy, connectors: statuses })}\n`);
    }
    if (path === '/connectors') return send(200, 'application/json', `${JSON.stringify(options.statuses(), null, 2)}\n`);
    return send(404, 'text/plain', 'not found: try /metrics, /healthz or /connectors\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
