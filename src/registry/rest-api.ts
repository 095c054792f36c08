/**
 * Confluent's Schema Registry REST API, the subset a client needs: routing,
 * request bodies and error codes, with no HTTP in it (rest-server.ts serves it).
 *
 *   POST /subjects/{s}/versions                        register          {id}
 *   POST /subjects/{s}                                 look up           {subject, id, version, schema}
 *   GET  /schemas/ids/{id}[/schema]                    schema by id      {schema} (or the text)
 *   GET  /schemas/types                                                  ["AVRO"]
 *   GET  /subjects, /subjects/{s}/versions, /subjects/{s}/versions/{v|latest}[/schema]
 *   POST /compatibility/subjects/{s}/versions[/{v|latest}]               {is_compatible[, messages]}
 *   GET/PUT /config, /config/{s}                       compatibility level
 */
import { isCompatibilityLevel } from './compatibility.js';
import {
  ErrorCode,
  invalidCompatibilityLevel,
  invalidSchema,
  invalidVersion,
  RegistryApiError,
  schemaNotFound,
} from './errors.js';
import type { RegistryService, VersionRef } from './registry-service.js';
import type { SubjectVersion } from './registry-state.js';
import { IncompatibleSchemaError, SchemaNotFoundError } from './schema-registry.js';

export interface ApiRequest {
  method: string;
  /** Path and query, as in the request line (`/subjects/a%2Fb/versions?normalize=false`). */
  url: string;
  body: string;
}

export interface ApiResponse {
  status: number;
  /** JSON body; a string is sent as it is (the `/schema` endpoints' raw schema text). */
  body: unknown;
}

const MAX_VERSION = 2 ** 31 - 1;

export async function handleRegistryRequest(service: RegistryService, request: ApiRequest): Promise<ApiResponse> {
  try {
    return await route(service, request);
  } catch (error) {
    const refusal = apiError(error);
    return { status: refusal.status, body: refusal.body() };
  }
}

/** Any error as the API reports it; errors of no known kind are the store's (500, 50001). */
export function apiError(error: unknown): RegistryApiError {
  if (error instanceof RegistryApiError) return error;
  if (error instanceof IncompatibleSchemaError) return new RegistryApiError(409, ErrorCode.incompatible, error.message);
  if (error instanceof SchemaNotFoundError) return schemaNotFound(`Schema ${error.id} not found`);
  return new RegistryApiError(500, ErrorCode.storeError, `Error in the backend data store: ${(error as Error).message ?? String(error)}`);
}

async function route(service: RegistryService, request: ApiRequest): Promise<ApiResponse> {
  const parsed = new URL(request.url, 'http://registry');
  const segments = parsed.pathname.split('/').filter(Boolean).map(decodeSegment);
  const method = request.method.toUpperCase();
  const query = parsed.searchParams;
  const [head, a, b, c, d] = segments;
  const n = segments.length;

  if (n === 0 && method === 'GET') return ok({});

  if (head === 'schemas') {
    if (n === 2 && a === 'types' && method === 'GET') return ok(['AVRO']);
    if (a === 'ids' && (n === 3 || (n === 4 && c === 'schema')) && method === 'GET') {
      const id = Number(b);
      if (!Number.isInteger(id) || id < 1) throw schemaNotFound(`Schema ${b} not found`);
      const schema = await service.schemaById(id);
      return ok(n === 4 ? schema : { schema });
    }
  }

  if (head === 'subjects' && a !== undefined) {
    if (n === 2 && method === 'POST') {
      const found = await service.lookup(a, schemaOf(request.body));
      return ok(versionBody(found));
    }
    if (n === 3 && b === 'versions' && method === 'POST') return ok({ id: await service.register(a, schemaOf(request.body)) });
    if (n === 3 && b === 'versions' && method === 'GET') return ok(await service.versions(a));
    if (b === 'versions' && (n === 4 || (n === 5 && d === 'schema')) && method === 'GET') {
      const found = await service.version(a, versionRef(c!));
      return ok(n === 5 ? found.schema : versionBody(found));
    }
  }
  if (head === 'subjects' && n === 1 && method === 'GET') return ok(await service.subjects());

  if (head === 'compatibility' && a === 'subjects' && b !== undefined && c === 'versions' && (n === 4 || n === 5) && method === 'POST') {
    const problems = await service.compatibilityProblems(b, schemaOf(request.body), n === 5 ? versionRef(d!) : undefined);
    const verbose = query.get('verbose') === 'true';
    return ok(verbose ? { is_compatible: problems.length === 0, messages: problems } : { is_compatible: problems.length === 0 });
  }

  if (head === 'config' && n <= 2) {
    const subject = a ?? null;
    if (method === 'GET') {
      const level = await service.compatibility(subject);
      if (level) return ok({ compatibilityLevel: level });
      if (query.get('defaultToGlobal') === 'true') return ok({ compatibilityLevel: await service.compatibility(null) });
      throw new RegistryApiError(404, ErrorCode.subjectCompatibilityNotConfigured, `Subject '${subject}' does not have subject-level compatibility configured`);
    }
    if (method === 'PUT') {
      const level = jsonBody(request.body).compatibility;
      if (!isCompatibilityLevel(level)) throw invalidCompatibilityLevel(level);
      await service.setCompatibility(subject, level);
      return ok({ compatibility: level });
    }
  }

  if (method === 'DELETE') throw new RegistryApiError(405, ErrorCode.methodNotAllowed, "tideline's registry does not delete subjects, versions or configs");
  throw new RegistryApiError(404, ErrorCode.notFound, `HTTP 404 Not Found: ${method} ${parsed.pathname}`);
}

function ok(body: unknown): ApiResponse {
  return { status: 200, body };
}

function versionBody(found: SubjectVersion): Record<string, unknown> {
  return { subject: found.subject, id: found.id, version: found.version, schema: found.schema };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RegistryApiError(404, ErrorCode.notFound, `HTTP 404 Not Found: malformed path segment ${segment}`);
  }
}

function versionRef(text: string): VersionRef {
  if (text === 'latest' || text === '-1') return 'latest';
  const version = Number(text);
  if (!/^\d+$/.test(text) || version < 1 || version > MAX_VERSION) throw invalidVersion(text);
  return version;
}

function jsonBody(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new RegistryApiError(422, ErrorCode.unprocessable, 'The request body is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new RegistryApiError(422, ErrorCode.unprocessable, 'The request body is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** The `schema` of a register, lookup or compatibility request (Avro only, no references). */
function schemaOf(body: string): string {
  const request = jsonBody(body);
  if (typeof request.schema !== 'string' || request.schema.trim() === '') throw invalidSchema('the request has no "schema" text');
  if (request.schemaType !== undefined && request.schemaType !== 'AVRO') throw invalidSchema(`schemaType ${JSON.stringify(request.schemaType)}: tideline's registry holds AVRO schemas only`);
  if (Array.isArray(request.references) && request.references.length > 0) throw invalidSchema("schema references are not supported by tideline's registry");
  return request.schema;
}
