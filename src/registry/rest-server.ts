/**
 * Serves a registry over HTTP with Confluent's content type, optionally
 * behind basic auth (every request must then carry the credentials).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';
import { ErrorCode } from './errors.js';
import { handleRegistryRequest, type ApiResponse } from './rest-api.js';
import type { RegistryService } from './registry-service.js';

export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
/** Larger request bodies are refused (a schema is a few kB; Debezium's envelopes ~10 kB). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface BasicCredentials {
  username: string;
  password: string;
}

export interface RegistryServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, requests without these credentials get 401. */
  credentials?: BasicCredentials;
  logger: Logger;
}

export interface RegistryServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startRegistryServer(service: RegistryService, options: RegistryServerOptions): Promise<RegistryServer> {
  const server: Server = createServer((request, response) => {
    void respond(service, options, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function respond(service: RegistryService, options: RegistryServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let reply: ApiResponse;
  try {
    if (options.credentials && !authorized(request.headers.authorization, options.credentials)) {
      response.setHeader('WWW-Authenticate', 'Basic realm="tideline-registry"');
      reply = { status: 401, body: { error_code: ErrorCode.unauthorized, message: 'Unauthorized: this registry needs basic auth credentials' } };
    } else {
      const body = await readBody(request);
      reply =
        body === null
          ? { status: 413, body: { error_code: 413, message: `request body larger than ${MAX_BODY_BYTES} bytes` } }
          : await handleRegistryRequest(service, { method: request.method ?? 'GET', url: request.url ?? '/', body });
    }
  } catch (error) {
    options.logger.error({ err: error }, 'schema registry request failed');
    reply = { status: 500, body: { error_code: 50001, message: 'internal error' } };
  }
  if (reply.status >= 500) options.logger.warn({ method: request.method, url: request.url, status: reply.status, body: reply.body }, 'schema registry request failed');
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  response.writeHead(reply.status, { 'Content-Type': REGISTRY_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function authorized(header: string | undefined, credentials: BasicCredentials): boolean {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!, 'base64');
  const expected = Buffer.from(`${credentials.username}:${credentials.password}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The request body as text, or null when it is too large. */
async function readBody(request: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
