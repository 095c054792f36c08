/**
 * The daemon's admin HTTP server: node:http around the admin router
 * (src/runtime/admin/: routes, Kafka Connect's shapes, token, OpenAPI).
 * JSON in Kafka Connect's error shape for every failure.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactSecrets } from '../core/redact.js';
import { bindingProblem } from './admin/auth.js';
import { errorBody } from './admin/errors.js';
import type { AdminResponse, Router } from './admin/router.js';

export interface AdminServerOptions {
  host: string;
  port: number;
  /** With a token, every request needs it (checked by the router); without one, only loopback may be served. */
  token: string | undefined;
  router: Router;
  logger: Logger;
}

/** Request bodies are small JSON documents (signals); anything larger is refused. */
const MAX_BODY_BYTES = 64 * 1024;

/** The request's body as text, or null when it is over MAX_BODY_BYTES (the rest is drained, not kept). */
function readBody(request: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString()));
    request.on('error', reject);
  });
}

/** JSON.stringify for bodies that may hold bigints (config values, positions). */
function toJson(body: unknown): string {
  return `${JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)}\n`;
}

function write(response: ServerResponse, result: AdminResponse): void {
  const headers: Record<string, string> = { ...result.headers };
  if (result.body === undefined) {
    response.writeHead(result.status, headers);
    response.end();
    return;
  }
  const text = typeof result.body === 'string' ? result.body : toJson(result.body);
  headers['content-type'] = result.contentType ?? 'application/json';
  response.writeHead(result.status, headers);
  response.end(text);
}

export async function startAdminServer(options: AdminServerOptions): Promise<Server> {
  const problem = bindingProblem(options.host, options.token);
  if (problem) throw new Error(problem);
  const server = createServer((request, response) => {
    readBody(request)
      .then((body) => (body === null
        ? { status: 413, body: errorBody(413, `request body over ${MAX_BODY_BYTES} bytes`) }
        : options.router.handle({ method: request.method ?? 'GET', url: request.url ?? '/', authorization: request.headers.authorization, body })))
      .then(
        (result) => write(response, result),
        (error: unknown) => {
          options.logger.error({ err: error, url: request.url }, 'admin API request failed');
          write(response, { status: 500, body: errorBody(500, redactSecrets(errorMessage(error))) });
        },
      );
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
