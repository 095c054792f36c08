/**
 * A client of any Confluent-compatible schema registry (Confluent's,
 * Apicurio's ccompat API, Karapace, Redpanda's, tideline's embedded one),
 * over HTTP with Node's fetch.
 *
 * Both directions are cached in memory (subject + schema → id, id → schema):
 * ids never change meaning, so a pipeline that has its ids keeps running
 * while the registry restarts. Network errors, 5xx and 429 are retried with
 * backoff a bounded number of times. Credentials go in the Authorization
 * header only; no message names them (the URL in messages has none).
 */
import { canonicalSchema } from './compatibility.js';
import { ErrorCode } from './errors.js';
import { REGISTRY_CONTENT_TYPE, type BasicCredentials } from './rest-server.js';
import { IncompatibleSchemaError, SchemaNotFoundError, type SchemaRegistry } from './schema-registry.js';

export interface HttpRegistryOptions {
  /** Base URL, e.g. `http://registry:8081` (credentials in it are taken as basic auth and removed). */
  url: string;
  credentials?: BasicCredentials;
  /** Attempts after the first on network errors, 5xx and 429 (default 5). */
  retries?: number;
  /** First wait between attempts, doubled each time up to 5 s (default 200 ms). */
  retryDelayMs?: number;
  /** Timeout of one request (default 10 s). */
  requestTimeoutMs?: number;
}

/** The registry answered with an error other than incompatible or not found. */
export class SchemaRegistryRequestError extends Error {
  override readonly name = 'SchemaRegistryRequestError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly errorCode: number | undefined,
  ) {
    super(message);
  }
}

const MAX_RETRY_DELAY_MS = 5_000;

export class HttpSchemaRegistry implements SchemaRegistry {
  private readonly baseUrl: string;
  private readonly authorization: string | undefined;
  private readonly ids = new Map<string, number>();
  private readonly schemas = new Map<number, string>();
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly requestTimeoutMs: number;

  constructor(options: HttpRegistryOptions) {
    const url = new URL(options.url);
    let credentials = options.credentials;
    if (url.username || url.password) {
      credentials ??= { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
      url.username = '';
      url.password = '';
    }
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.authorization = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    this.retries = options.retries ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** The registry's address, without credentials. */
  get url(): string {
    return this.baseUrl;
  }

  async register(subject: string, schema: string): Promise<number> {
    const key = `${subject}\u0000${schema}`;
    const cached = this.ids.get(key);
    if (cached !== undefined) return cached;
    return this.once(`register\u0000${key}`, async () => {
      const body = await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema }, subject);
      const id = (body as { id?: unknown }).id;
      if (typeof id !== 'number' || !Number.isInteger(id)) throw new SchemaRegistryRequestError(`registry at ${this.baseUrl} answered the registration of subject ${subject} without an id`, 200, undefined);
      this.ids.set(key, id);
      if (!this.schemas.has(id)) this.schemas.set(id, canonicalOrSame(schema));
      return id;
    });
  }

  async schemaById(id: number): Promise<string> {
    const cached = this.schemas.get(id);
    if (cached !== undefined) return cached;
    return this.once(`id\u0000${id}`, async () => {
      const body = await this.request('GET', `/schemas/ids/${id}`, undefined, undefined, id);
      const schema = (body as { schema?: unknown }).schema;
      if (typeof schema !== 'string') throw new SchemaRegistryRequestError(`registry at ${this.baseUrl} answered schema id ${id} without a schema`, 200, undefined);
      this.schemas.set(id, schema);
      return schema;
    });
  }

  /** One request at a time per key: concurrent callers of one schema share it. */
  private once<T>(key: string, work: () => Promise<T>): Promise<T> {
    let running = this.pending.get(key) as Promise<T> | undefined;
    if (!running) {
      running = work().finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    return running;
  }

  private async request(method: string, path: string, body: unknown, subject?: string, id?: number): Promise<unknown> {
    const what = `${method} ${this.baseUrl}${path}`;
    let lastProblem = '';
    for (let attempt = 0; attempt <= this.retries; attempt += 1) {
      if (attempt > 0) await sleep(Math.min(this.retryDelayMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS));
      let response: Response;
      try {
        response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: {
            Accept: REGISTRY_CONTENT_TYPE,
            ...(body === undefined ? {} : { 'Content-Type': REGISTRY_CONTENT_TYPE }),
            ...(this.authorization ? { Authorization: this.authorization } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.requestTimeoutMs),
        });
      } catch (error) {
        lastProblem = networkProblem(error);
        continue;
      }
      const text = await response.text().catch(() => '');
      if (response.ok) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new SchemaRegistryRequestError(`${what}: the registry's answer is not JSON`, response.status, undefined);
        }
      }
      const refusal = errorBody(text);
      const detail = refusal.message ?? (text.slice(0, 300) || response.statusText);
      if (response.status >= 500 || response.status === 429) {
        lastProblem = `HTTP ${response.status}${refusal.errorCode ? ` (error ${refusal.errorCode})` : ''}: ${detail}`;
        continue;
      }
      if (response.status === 409 && subject !== undefined) throw new IncompatibleSchemaError(subject, detail);
      if (refusal.errorCode === ErrorCode.schemaNotFound && id !== undefined) throw new SchemaNotFoundError(id);
      if (response.status === 401 || response.status === 403) {
        throw new SchemaRegistryRequestError(
          `${what}: the registry refused ${this.authorization ? 'the configured credentials' : 'a request without credentials'} (HTTP ${response.status}): ${detail}`,
          response.status,
          refusal.errorCode,
        );
      }
      throw new SchemaRegistryRequestError(`${what}: HTTP ${response.status}${refusal.errorCode ? ` (error ${refusal.errorCode})` : ''}: ${detail}`, response.status, refusal.errorCode);
    }
    throw new SchemaRegistryRequestError(`${what}: the registry is unavailable after ${this.retries + 1} attempt${this.retries === 0 ? '' : 's'}: ${lastProblem}`, undefined, undefined);
  }
}

function errorBody(text: string): { errorCode?: number; message?: string } {
  try {
    const body = JSON.parse(text) as { error_code?: unknown; message?: unknown };
    return {
      errorCode: typeof body.error_code === 'number' ? body.error_code : undefined,
      message: typeof body.message === 'string' ? body.message : undefined,
    };
  } catch {
    return {};
  }
}

/** Why fetch failed (undici puts the reason, e.g. ECONNREFUSED, in the cause). */
function networkProblem(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'request timed out';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

function canonicalOrSame(schema: string): string {
  try {
    return canonicalSchema(schema);
  } catch {
    return schema;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
