/**
 * The daemon's admin HTTP API: /metrics (Prometheus), /healthz (200 when every
 * connector is running, 503 otherwise) and /connectors (JSON status; no config
 * values, so no secrets); POST /connectors/{name}/signals sends a Debezium
 * signal (body `{"type": ..., "data": {...}, "id"?: ...}`) to a connector.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { errorMessage, TidelineError } from '../core/errors.js';
import { registry } from '../metrics/registry.js';
import { SignalRefusedError, type ConnectorStatus } from './supervisor.js';

export interface AdminServerOptions {
  host: string;
  port: number;
  statuses(): ConnectorStatus[];
  /** Sends a signal to a connector; undefined when no connector has that name. */
  signal?(connector: string, type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }> | undefined;
}

/** Signal bodies are small JSON documents. */
const MAX_SIGNAL_BODY_BYTES = 64 * 1024;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_SIGNAL_BODY_BYTES) {
        reject(new TidelineError(`request body over ${MAX_SIGNAL_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString()));
    request.on('error', reject);
  });
}

/** POST /connectors/{name}/signals: 202 {id, inserted}; 400 bad body or refused signal; 404 no such connector; 409 not running or takes no signals. */
async function postSignal(options: AdminServerOptions, name: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const reply = (status: number, body: object): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(`${JSON.stringify(body)}\n`);
  };
  const refuse = (status: number, message: string): void => reply(status, { error_code: status, message });
  try {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch (error) {
      return refuse(400, `the body must be JSON {"type": ..., "data": {...}}: ${errorMessage(error)}`);
    }
    const { type, data, id } = (typeof body === 'object' && body !== null ? body : {}) as { type?: unknown; data?: unknown; id?: unknown };
    if (typeof type !== 'string') return refuse(400, 'the body must be JSON {"type": ..., "data": {...}} with type a string');
    if (id !== undefined && typeof id !== 'string') return refuse(400, 'id must be a string');
    const sent = options.signal?.(name, type, data ?? null, id);
    if (!sent) return refuse(404, `no connector named ${name}`);
    reply(202, await sent);
  } catch (error) {
    if (error instanceof SignalRefusedError) return refuse(409, error.message);
    if (error instanceof TidelineError) return refuse(400, error.message);
    refuse(500, errorMessage(error));
  }
}

export async function startAdminServer(options: AdminServerOptions): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    const signalRoute = /^\/connectors\/([^/]+)\/signals$/.exec(path ?? '');
    if (signalRoute && request.method === 'POST') {
      void postSignal(options, decodeURIComponent(signalRoute[1]!), request, response);
      return;
    }
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
