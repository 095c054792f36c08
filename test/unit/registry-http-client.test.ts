/**
 * The HTTP client of Confluent-compatible registries, against a scripted HTTP
 * server on localhost: paths, content type and basic auth sent, error bodies
 * mapped, bounded retries, and the caches that carry it through an outage.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpSchemaRegistry, SchemaRegistryRequestError } from '../../src/registry/http-client.js';
import { IncompatibleSchemaError, SchemaNotFoundError } from '../../src/registry/schema-registry.js';
import { V1 } from '../support/registry-schemas.js';

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  accept?: string;
  authorization?: string;
  body: string;
}
type Reply = { status: number; body: unknown } | 'hang-up';

let server: Server | null = null;

async function serve(replies: (seen: Seen) => Reply): Promise<{ url: string; seen: Seen[]; stop(): Promise<void> }> {
  const seen: Seen[] = [];
  server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const entry = {
        method: request.method!,
        url: request.url!,
        contentType: request.headers['content-type'],
        accept: request.headers.accept,
        authorization: request.headers.authorization,
        body,
      };
      seen.push(entry);
      const reply = replies(entry);
      if (reply === 'hang-up') return response.socket?.destroy();
      response.writeHead(reply.status, { 'Content-Type': 'application/vnd.schemaregistry.v1+json' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const stopping = server;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () => new Promise<void>((resolve) => (stopping.closeAllConnections(), stopping.close(() => resolve()))),
  };
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

describe('HttpSchemaRegistry', () => {
  it("registers and fetches with Confluent's paths, content type and basic auth", async () => {
    const registry = await serve((seen) => (seen.method === 'POST' ? { status: 200, body: { id: 12 } } : { status: 200, body: { schema: V1 } }));
    const client = new HttpSchemaRegistry({ url: `${registry.url}/`, credentials: { username: 'svc', password: 's3cret' } });
    expect(await client.register('db.public.t/x-value', V1)).toBe(12);
    expect(await client.schemaById(40)).toBe(V1);
    expect(registry.seen).toEqual([
      {
        method: 'POST',
        url: '/subjects/db.public.t%2Fx-value/versions',
        contentType: 'application/vnd.schemaregistry.v1+json',
        accept: 'application/vnd.schemaregistry.v1+json',
        authorization: `Basic ${Buffer.from('svc:s3cret').toString('base64')}`,
        body: JSON.stringify({ schema: V1 }),
      },
      expect.objectContaining({ method: 'GET', url: '/schemas/ids/40', authorization: expect.stringMatching(/^Basic /) }),
    ]);
  });

  it('takes credentials from the URL and never names them in errors', async () => {
    const registry = await serve(() => ({ status: 401, body: { error_code: 401, message: 'Unauthorized' } }));
    const client = new HttpSchemaRegistry({ url: registry.url.replace('http://', 'http://svc:hunter2@') });
    const error = (await client.schemaById(1).catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(SchemaRegistryRequestError);
    expect(error.message).toContain('refused the configured credentials (HTTP 401)');
    expect(error.message).not.toContain('hunter2');
    expect(client.url).not.toContain('hunter2');
    expect(registry.seen[0]!.authorization).toBe(`Basic ${Buffer.from('svc:hunter2').toString('base64')}`);
  });

  it('maps 409 to IncompatibleSchemaError and 40403 to SchemaNotFoundError, without retrying', async () => {
    const registry = await serve((seen) =>
      seen.method === 'POST'
        ? { status: 409, body: { error_code: 409, message: 'Schema being registered is incompatible with an earlier schema' } }
        : { status: 404, body: { error_code: 40403, message: 'Schema 5 not found' } },
    );
    const client = new HttpSchemaRegistry({ url: registry.url });
    await expect(client.register('t-value', V1)).rejects.toEqual(expect.objectContaining({ name: 'IncompatibleSchemaError', subject: 't-value' }));
    await expect(client.register('t-value', V1)).rejects.toBeInstanceOf(IncompatibleSchemaError);
    await expect(client.schemaById(5)).rejects.toBeInstanceOf(SchemaNotFoundError);
    expect(registry.seen).toHaveLength(3);
  });

  it('reports another 4xx with its error code and message', async () => {
    const registry = await serve(() => ({ status: 422, body: { error_code: 42201, message: 'Invalid schema' } }));
    const client = new HttpSchemaRegistry({ url: registry.url });
    await expect(client.register('t-value', '"nope"')).rejects.toThrow(/POST http:\/\/127\.0\.0\.1:\d+\/subjects\/t-value\/versions: HTTP 422 \(error 42201\): Invalid schema/);
  });

  it('retries 5xx and network errors with backoff, a bounded number of times', async () => {
    let calls = 0;
    const registry = await serve(() => {
      calls += 1;
      if (calls === 1) return 'hang-up';
      if (calls === 2) return { status: 503, body: { error_code: 50003, message: 'forwarding' } };
      return { status: 200, body: { id: 3 } };
    });
    const client = new HttpSchemaRegistry({ url: registry.url, retryDelayMs: 10 });
    expect(await client.register('t-value', V1)).toBe(3);
    expect(calls).toBe(3);

    const always = new HttpSchemaRegistry({ url: registry.url, retries: 2, retryDelayMs: 10 });
    await registry.stop();
    await expect(always.schemaById(9)).rejects.toThrow(/unavailable after 3 attempts: ECONNREFUSED/);
  });

  it('answers from its caches while the registry is down, and shares one request among concurrent callers', async () => {
    let posts = 0;
    const registry = await serve((seen) => {
      if (seen.method === 'POST') posts += 1;
      return seen.method === 'POST' ? { status: 200, body: { id: 4 } } : { status: 200, body: { schema: V1 } };
    });
    const client = new HttpSchemaRegistry({ url: registry.url, retries: 0 });
    const ids = await Promise.all(Array.from({ length: 5 }, () => client.register('t-value', V1)));
    expect(ids).toEqual([4, 4, 4, 4, 4]);
    expect(posts).toBe(1);
    expect(await client.schemaById(8)).toBe(V1);
    await registry.stop();
    expect(await client.register('t-value', V1)).toBe(4);
    expect(await client.schemaById(8)).toBe(V1);
    expect(await client.schemaById(4)).toBe(V1); // learned from the registration
    await expect(client.schemaById(5)).rejects.toThrow(/unavailable after 1 attempt:/);
  });
});
