/**
 * The messages between a connector's worker thread and the main thread
 * (src/runtime/worker/). One MessagePort carries them, in order, so a state
 * change posted before a run ends arrives before its end.
 *
 * Errors cross as plain data (SerializedError): the fields the runtime's
 * classifiers read (name, message, code, cause, AggregateError's errors) are
 * kept, so isUnreachable, isKafkaError and errorAction decide in the main
 * thread as they would have in the worker.
 */
import type { ConnectorState } from '../../core/connector.js';
import { TidelineError } from '../../core/errors.js';
import type { KafkaConnection } from '../../core/kafka-connection.js';
import type { MetricsJson } from '../../metrics/thread-metrics.js';
import type { RetryInfo, ServiceName } from '../../core/service-health.js';
import { IncompatibleSchemaError, SchemaNotFoundError } from '../../registry/schema-registry.js';
import type { FormatName } from '../../serde/index.js';

/** What a worker is started with (workerData): all of it structured-cloneable. */
export interface WorkerDefinition {
  name: string;
  kind: string;
  kafka: KafkaConnection;
  format: FormatName;
  /** The kind's parsed config. */
  config: unknown;
  /** The main thread's log level and the connector's log bindings. */
  logLevel: string;
  logBindings: Record<string, unknown>;
  /** The main thread has a schema registry: the worker asks it by message (registry requests). */
  hasRegistry: boolean;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  /** IncompatibleSchemaError's subject, SchemaNotFoundError's id. */
  subject?: string;
  id?: number;
  /** A TidelineError (an error a user can act on: the admin API answers 400 with it). */
  tideline?: boolean;
  cause?: SerializedError;
  errors?: SerializedError[];
}

export type ToWorker =
  /** `unreachable`: the services the connector's health in the main thread has as unreachable now (outages outlive runs). */
  | { type: 'run'; attempt: number; unreachable: ServiceName[] }
  | { type: 'abort'; attempt: number }
  | { type: 'signal'; request: number; signalType: string; data: unknown; id?: string | undefined }
  | { type: 'registry-reply'; request: number; value?: number | string; error?: SerializedError }
  | { type: 'metrics'; request: number };

export type FromWorker =
  | { type: 'started'; attempt: number; takesSignals: boolean }
  | { type: 'state'; attempt: number; state: ConnectorState; detail?: string | undefined }
  | { type: 'unreachable'; attempt: number; service: ServiceName; reason: string; retry?: RetryInfo | undefined; since?: number | undefined }
  | { type: 'reachable'; attempt: number; service: ServiceName; since?: number | undefined }
  | { type: 'snapshot'; attempt: number; status: object | null }
  | { type: 'ended'; attempt: number; error?: SerializedError }
  | { type: 'signal-reply'; request: number; value?: { id: string; inserted: boolean }; error?: SerializedError }
  | { type: 'registry'; request: number; op: 'register'; subject: string; schema: string }
  | { type: 'registry'; request: number; op: 'schemaById'; id: number }
  | { type: 'metrics-reply'; request: number; metrics: MetricsJson };

const MAX_DEPTH = 6;

/** An error as data, with its causes (bounded: a cycle or a deep chain is cut). */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const serialized: SerializedError = { name: error.name, message: error.message };
  if (error.stack !== undefined) serialized.stack = error.stack;
  const { code, subject, id } = error as { code?: unknown; subject?: unknown; id?: unknown };
  if (typeof code === 'string' || typeof code === 'number') serialized.code = code;
  if (error instanceof IncompatibleSchemaError && typeof subject === 'string') serialized.subject = subject;
  if (error instanceof SchemaNotFoundError && typeof id === 'number') serialized.id = id;
  if (error instanceof TidelineError) serialized.tideline = true;
  if (depth < MAX_DEPTH) {
    if (error.cause !== undefined) serialized.cause = serializeError(error.cause, depth + 1);
    if (error instanceof AggregateError) serialized.errors = error.errors.map((inner) => serializeError(inner, depth + 1));
  }
  return serialized;
}

/**
 * The error again: the registry's two errors as their classes (callers test
 * them with instanceof), a TidelineError as one, any other as an Error (or AggregateError) with the
 * original name, message, stack, code and causes.
 */
export function deserializeError(serialized: SerializedError): Error {
  let error: Error;
  if (serialized.name === 'IncompatibleSchemaError' && serialized.subject !== undefined) {
    error = new IncompatibleSchemaError(serialized.subject, serialized.message);
  } else if (serialized.name === 'SchemaNotFoundError' && serialized.id !== undefined) {
    error = new SchemaNotFoundError(serialized.id);
  } else {
    const cause = serialized.cause ? { cause: deserializeError(serialized.cause) } : undefined;
    if (serialized.errors) error = new AggregateError(serialized.errors.map(deserializeError), serialized.message, cause);
    else if (serialized.tideline) error = new TidelineError(serialized.message, cause);
    else error = new Error(serialized.message, cause);
    Object.defineProperty(error, 'name', { value: serialized.name, configurable: true, writable: true });
    if (serialized.code !== undefined) Object.assign(error, { code: serialized.code });
  }
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}
