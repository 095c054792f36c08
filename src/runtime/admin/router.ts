/**
 * Routing of the admin API, independent of node:http: a request (method,
 * path, query, authorization) in, a response (status, headers, body) out.
 * Paths are templates such as `/connectors/{name}/status`; the OpenAPI
 * document lists the same templates (openapi.ts; a unit test keeps them equal).
 */
import { authorize } from './auth.js';
import { AdminError, errorBody } from './errors.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface AdminRequest {
  method: string;
  /** The path and query as sent, e.g. `/connectors?expand=status`. */
  url: string;
  authorization?: string | undefined;
  /** The request body as text (read by the server, bounded); empty when none. */
  body?: string;
}

export interface AdminResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON bodies are objects; text bodies (Prometheus metrics) strings; none for 204. */
  body?: unknown;
  contentType?: string;
}

export interface RouteInput {
  params: Record<string, string>;
  query: URLSearchParams;
  body: string;
}

export interface Route {
  method: Method;
  path: string;
  handle(input: RouteInput): Promise<AdminResponse> | AdminResponse;
}

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

export class Router {
  private readonly routes: CompiledRoute[];

  constructor(routes: readonly Route[], private readonly token: string | undefined) {
    this.routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      return { ...route, names, pattern: new RegExp(`^${source}/?$`) };
    });
  }

  /** Every method and path template served. */
  get templates(): { method: Method; path: string }[] {
    return this.routes.map(({ method, path }) => ({ method, path }));
  }

  async handle(request: AdminRequest): Promise<AdminResponse> {
    try {
      authorize(request.authorization, this.token);
      const url = new URL(request.url, 'http://admin');
      const matches = this.routes
        .map((route) => ({ route, found: route.pattern.exec(url.pathname) }))
        .filter((match): match is { route: CompiledRoute; found: RegExpExecArray } => match.found !== null);
      if (matches.length === 0) throw new AdminError(404, `no such endpoint: ${url.pathname} (the API is described at /openapi.json)`);
      const match = matches.find(({ route }) => route.method === request.method);
      if (!match) {
        const allowed = [...new Set(matches.map(({ route }) => route.method))].join(', ');
        throw new AdminError(405, `${request.method} is not allowed on ${url.pathname}; allowed: ${allowed}`, { allow: allowed });
      }
      const params: Record<string, string> = {};
      match.route.names.forEach((name, index) => (params[name] = decodeURIComponent(match.found[index + 1]!)));
      return await match.route.handle({ params, query: url.searchParams, body: request.body ?? '' });
    } catch (error) {
      if (error instanceof AdminError) return { status: error.status, headers: error.headers, body: errorBody(error.status, error.message) };
      if (error instanceof URIError) return { status: 400, body: errorBody(400, `malformed path: ${request.url}`) };
      throw error;
    }
  }
}
