/**
 * The worker's schema registry: every call is a request to the main thread's
 * registry (the daemon's one), answered by message. The converter caches ids
 * and schemas, so this is asked once per schema, not per message; one registry
 * per process keeps one cache, one embedded-registry reader of `_schemas` and
 * one set of compatibility decisions for the in-memory registry.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SchemaRegistry } from '../../registry/schema-registry.js';
import { deserializeError, type FromWorker, type SerializedError } from './protocol.js';

interface Pending {
  resolve: (value: number | string) => void;
  reject: (error: Error) => void;
}

export class RemoteSchemaRegistry implements SchemaRegistry {
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly port: Pick<MessagePort, 'postMessage'>) {}

  register(subject: string, schema: string): Promise<number> {
    return this.ask((request) => ({ type: 'registry', request, op: 'register', subject, schema })) as Promise<number>;
  }

  schemaById(id: number): Promise<string> {
    return this.ask((request) => ({ type: 'registry', request, op: 'schemaById', id })) as Promise<string>;
  }

  /** The main thread's answer to a request. */
  settle(request: number, value: number | string | undefined, error: SerializedError | undefined): void {
    const pending = this.pending.get(request);
    if (!pending) return;
    this.pending.delete(request);
    if (error) pending.reject(deserializeError(error));
    else if (value === undefined) pending.reject(new Error('schema registry request answered without a value'));
    else pending.resolve(value);
  }

  private ask(message: (request: number) => FromWorker): Promise<number | string> {
    const request = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(request, { resolve, reject });
      this.port.postMessage(message(request));
    });
  }
}
